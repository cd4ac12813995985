"""The invoice run and credit notes, set-based, in the caller's transaction (flush, never commit).

:func:`run_tenant` turns a municipality's approved, not yet invoiced hours into one collective
invoice per employer (a line per placement), credits the invoiced hours that an approved
correction replaced, and posts every document to the ledger. :func:`run_all` does that for every
tenant, one transaction each. :func:`credit_invoice` is the backoffice's manual correction: a
credit note for what is left of an open invoice.

How it stays correct when things go wrong (see docs/invoicing.md):

* the series row of the year is locked (``FOR UPDATE``) before anything is read, so two runs of
  one tenant take turns, and the second finds the hours invoiced by the first;
* the unique ``(entry_id, role)`` of :class:`InvoicedEntry` refuses an hour invoiced twice
  whatever else happens;
* everything of a tenant (numbers, documents, ledger postings) is one transaction: a crash
  leaves no half invoice and no number used, and the next run picks up what is left.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from babel.dates import format_date
from flask import current_app
from sqlalchemy.orm import Session, aliased
from stdnum.iso7064 import mod_97_10

from nvsi.audit.services import record
from nvsi.ledger.chart import RECEIVABLES, REVENUE, VAT_PAYABLE
from nvsi.ledger.services import LedgerError, Line, Posting, post_many
from nvsi.rules.violations import RuleViolations, violation
from nvsi.tenancy.models import Tenant
from nvsi.tenancy.routing import TenantRef, for_each_tenant
from tenants.assignments.models import Assignment
from tenants.candidates.models import Candidate
from tenants.employers.models import Employer
from tenants.frameworks.services import rules_for
from tenants.invoicing.models import (
    DocumentType,
    EntryRole,
    Invoice,
    InvoicedEntry,
    InvoiceLine,
    InvoiceSeries,
    PaymentStatus,
)
from tenants.placements.models import Placement
from tenants.timesheets.models import EntryStatus, TimesheetEntry
from tenants.timesheets.services import counts

log = logging.getLogger(__name__)

#: UNCL5305 code of the standard VAT rate (the only category the instrument invoices).
VAT_STANDARD = "S"
HOURS = Decimal("0.01")
#: A run that lost a race with an approval (the hours changed between reading and writing)
#: starts over this many times inside its savepoint before it gives up.
ATTEMPTS = 3


class InvoiceRunError(RuntimeError):
    """The run could not take a consistent picture of the hours (retry later)."""


class CreditRefused(RuleViolations):
    """The invoice cannot be credited (not an open invoice, or nothing left to credit)."""


@dataclass
class RunResult:
    """What a run made in one tenant."""

    invoices: int = 0
    credit_notes: int = 0
    #: Timesheet entries invoiced, and credited.
    entries: int = 0
    credited_entries: int = 0
    #: Totals of the new invoices (cents), and of the new credit notes (cents, negative).
    net_cents: int = 0
    vat_cents: int = 0
    gross_cents: int = 0
    credited_cents: int = 0
    #: Numbers of the documents made, in order.
    numbers: list[str] = field(default_factory=list)
    #: Invoices e-mailed after the commit (by the delivery module, when present).
    mailed: int = 0


# -- figures ------------------------------------------------------------------------------------


def round_cents(amount: Decimal) -> int:
    """``amount`` (in cents) rounded half-up to whole cents (half away from zero, so a credit
    note mirrors its invoice exactly)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_net_cents(hours: Decimal, rate_cents: int) -> int:
    """hours × rate, rounded half-up to cents once (the one rounding of a line)."""
    return round_cents(Decimal(hours) * rate_cents)


def vat_total_cents(lines: list[tuple[str, Decimal, int]]) -> int:
    """The VAT of a document from its lines ``(category, rate %, net cents)``: per VAT category
    and rate the nets are summed, and the VAT on that sum is rounded half-up once."""
    per_category: dict[tuple[str, Decimal], int] = defaultdict(int)
    for category, rate, net in lines:
        per_category[(category, Decimal(rate))] += net
    return sum(round_cents(net * rate / 100) for (_, rate), net in per_category.items())


def payment_reference(number: str) -> str:
    """The structured creditor reference (ISO 11649, ``RF`` + check digits) made of the
    document number: unique as the number is, and checked by the bank on entry."""
    body = "".join(ch for ch in number.upper() if ch.isalnum())[:21]
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def seller_snapshot() -> dict:
    """The NVSI as seller, from the ``INVOICE_SELLER_*`` settings (config/defaults.toml)."""
    c = current_app.config
    return {key: c[f"INVOICE_SELLER_{key.upper()}"]
            for key in ("name", "street", "postal_code", "city", "country", "kvk", "vat_id", "iban", "bic", "email")}


def buyer_snapshot(employer: Employer) -> dict:
    """The employer as buyer, as it is today (the document keeps this copy)."""
    return {"employer_id": employer.id, "name": employer.name, "street": employer.street_address,
            "postal_code": employer.postal_code, "city": employer.city, "country": "NL",
            "kvk": employer.kvk_number, "vat_id": employer.vat_id, "email": employer.contact_email}


def service_dates(start: dt.date, end: dt.date) -> str:
    """Dutch dates of a service: "2 maart 2026", "2–8 maart 2026", "27 februari – 5 maart 2026"."""
    if start == end:
        return format_date(start, "d MMMM y", locale="nl")
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{format_date(end, 'd MMMM y', locale='nl')}"
    first = format_date(start, "d MMMM" if start.year == end.year else "d MMMM y", locale="nl")
    return f"{first} – {format_date(end, 'd MMMM y', locale='nl')}"


def _line_description(title: str, first_name: str, last_name: str, start: dt.date, end: dt.date) -> str:
    initial = f" {last_name.strip()[:1]}." if last_name and last_name.strip() else ""
    return f"{title} – {first_name}{initial}, {service_dates(start, end)}"[:300]


def _hours(value) -> Decimal:
    return Decimal(str(value)).quantize(HOURS)


# -- numbers ------------------------------------------------------------------------------------


def number_prefix(session: Session, tenant: TenantRef) -> str:
    """The tenant's part of a document number: its CBS code (e.g. ``GM0344``), else its slug."""
    code = session.scalar(sa.select(Tenant.cbs_code).where(Tenant.id == tenant.id))
    return code or tenant.slug.upper()


def lock_series(session: Session, code: str) -> tuple[int, int]:
    """Lock the series ``code`` (made if new) for the rest of the transaction; returns its id
    and last number. Whoever holds it is the only one numbering in that series."""
    query = (sa.select(InvoiceSeries.id, InvoiceSeries.last_number)
             .where(InvoiceSeries.code == code).with_for_update())
    row = session.execute(query).first()
    if row is None:
        try:
            with session.begin_nested():
                session.execute(sa.insert(InvoiceSeries).values(code=code, last_number=0))
        except sa.exc.IntegrityError:
            pass  # a concurrent run made it just now; the lock below waits for it
        row = session.execute(query).one()
    return row.id, row.last_number


def _take_numbers(session: Session, series_id: int, last: int, count: int) -> None:
    session.execute(sa.update(InvoiceSeries).where(InvoiceSeries.id == series_id)
                    .values(last_number=last + count).execution_options(synchronize_session=False))


@dataclass
class _Document:
    """A document about to be written: its header row and its lines."""

    row: dict
    lines: list[dict]
    #: For the entry links: per line, what selects its entries (see the callers).
    keys: list[object]


def _write(session: Session, tenant: TenantRef, docs: list[_Document], series_code: str, prefix: str,
           kind: str, user_id: int | None) -> tuple[list[int], list[list[int]], list[Posting]]:
    """Number, insert (one INSERT for all headers, one for all lines) and post ``docs`` to the
    ledger. Returns the new ids, the line ids per document and the postings."""
    series_id, last = lock_series(session, series_code)
    postings = []
    for i, doc in enumerate(docs, start=1):
        number = f"{prefix}-{series_code}-{last + i:06d}"
        posting = _posting(tenant, doc.row, number, kind, user_id)
        doc.row.update(series_id=series_id, sequence=last + i, number=number,
                       payment_reference=payment_reference(number),
                       ledger_transaction_id=posting.id if posting else None)
        postings.append(posting)
    _take_numbers(session, series_id, last, len(docs))
    # One multi-row INSERT each; the new ids are matched by number, and by (document, placement),
    # which are unique (a line per placement on an invoice, per original line on a credit note).
    by_number = dict(session.execute(sa.insert(Invoice).returning(Invoice.number, Invoice.id),
                                     [doc.row for doc in docs]).all())
    ids = [by_number[doc.row["number"]] for doc in docs]
    rows = [dict(line, invoice_id=invoice_id) for doc, invoice_id in zip(docs, ids, strict=True) for line in doc.lines]
    by_placement = {(invoice_id, placement_id): line_id for line_id, invoice_id, placement_id in session.execute(
        sa.insert(InvoiceLine).returning(InvoiceLine.id, InvoiceLine.invoice_id, InvoiceLine.placement_id), rows)}
    per_doc = [[by_placement[(invoice_id, line["placement_id"])] for line in doc.lines]
               for doc, invoice_id in zip(docs, ids, strict=True)]
    for posting, invoice_id in zip(postings, ids, strict=True):
        if posting is not None:
            posting.source = ("invoice", f"{tenant.slug}/{invoice_id}")
    wanted = [p for p in postings if p is not None]
    posted = post_many(session, wanted)
    if [t.id for t in posted] != [p.id for p in wanted]:
        # A key of a number being issued now was posted before (a tenant registered again with
        # the same slug?): the documents would point at someone else's transaction.
        raise LedgerError(f"{tenant.slug}: a ledger key of a new document was used before")
    return ids, per_doc, postings


def _posting(tenant: TenantRef, row: dict, number: str, kind: str, user_id: int | None) -> Posting | None:
    """The ledger transaction of a document: Dr receivables gross, Cr revenue net, Cr VAT
    payable VAT (a credit note has negative amounts, which mirrors it)."""
    lines = [Line(code, cents) for code, cents in ((RECEIVABLES, row["gross_cents"]), (REVENUE, -row["net_cents"]),
                                                   (VAT_PAYABLE, -row["vat_cents"])) if cents]
    if len(lines) < 2:
        return None
    label = "Factuur" if kind == "invoice" else "Creditnota"
    return Posting(f"invoice:{tenant.slug}:{number}", row["issue_date"], lines, tenant.id, kind,
                   f"{label} {number} – {row['buyer']['name']}", user_id=user_id)


# -- the run ------------------------------------------------------------------------------------


def _uninvoiced(period_end: dt.date):
    """SQL condition: an entry that counts, up to ``period_end``, with hours, not invoiced yet."""
    invoiced = sa.exists().where(InvoicedEntry.entry_id == TimesheetEntry.id, InvoicedEntry.role == EntryRole.INVOICED)
    return sa.and_(counts(), TimesheetEntry.work_date <= period_end, TimesheetEntry.hours > 0, ~invoiced)


def _to_credit():
    """SQL condition: an invoiced entry that an approved correction replaced, not credited yet."""
    correction = aliased(TimesheetEntry)
    credited = aliased(InvoicedEntry)
    return sa.and_(
        TimesheetEntry.status == EntryStatus.APPROVED,
        sa.exists().where(correction.corrects_entry_id == TimesheetEntry.id, correction.status == EntryStatus.APPROVED),
        ~sa.exists().where(credited.entry_id == TimesheetEntry.id, credited.role == EntryRole.CREDITED),
    )


class _Raced(Exception):
    """The hours changed between reading and writing; the attempt is rolled back."""


def run_tenant(session: Session, tenant: TenantRef, period_start: dt.date, period_end: dt.date,
               issue_date: dt.date, *, user_id: int | None = None) -> RunResult:
    """The invoice run of one tenant for the period ``period_start``–``period_end`` (inclusive).

    Every approved, counting, not yet invoiced entry worked up to ``period_end`` (late approvals
    and corrections of earlier weeks included, on their own service dates) goes on one invoice
    per employer, a line per placement; invoiced hours replaced by an approved correction since
    go on a credit note per invoice. Each document is posted to the ledger on ``issue_date``.
    Idempotent: run again, it makes nothing. Flushes; the caller commits.
    """
    if period_end < period_start:
        raise ValueError("the period ends before it starts")
    rules = rules_for(session, tenant, issue_date)
    prefix = number_prefix(session, tenant)
    result = RunResult()
    # The series of the year is the tenant's run lock: taken before anything is read, so a
    # second run waits here and then reads what the first one committed.
    lock_series(session, f"F{issue_date.year}")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with session.begin_nested():
                attempt_result = RunResult()
                _invoice(session, tenant, prefix, rules, period_start, period_end, issue_date, user_id, attempt_result)
                _credit_corrections(session, tenant, prefix, issue_date, user_id, attempt_result)
            result = attempt_result
            break
        except _Raced:
            log.warning("invoice run raced with an approval; trying again", extra={"fields": {"attempt": attempt}})
    else:
        raise InvoiceRunError(f"{tenant.slug}: the hours kept changing during the run")
    if result.invoices or result.credit_notes:
        record(session, "invoices.run", tenant_id=tenant.id, object_type="invoice_run",
               object_id=f"{period_start.isoformat()}/{period_end.isoformat()}",
               changes={"issue_date": issue_date.isoformat(), "invoices": result.invoices,
                        "credit_notes": result.credit_notes, "entries": result.entries,
                        "credited_entries": result.credited_entries, "net_cents": result.net_cents,
                        "vat_cents": result.vat_cents, "gross_cents": result.gross_cents,
                        "credited_cents": result.credited_cents, "numbers": result.numbers},
               actor_label="system:invoice-run")
    return result


def _invoice(session: Session, tenant: TenantRef, prefix: str, rules: dict, period_start: dt.date,
             period_end: dt.date, issue_date: dt.date, user_id: int | None, result: RunResult) -> None:
    E = TimesheetEntry
    query = (
        sa.select(Assignment.employer_id, E.placement_id, Assignment.title, Assignment.hourly_rate_cents,
                  Candidate.first_name, Candidate.last_name, sa.func.sum(E.hours), sa.func.count(),
                  sa.func.min(E.work_date), sa.func.max(E.work_date))
        .select_from(E)
        .join(Placement, Placement.id == E.placement_id)
        .join(Assignment, Assignment.id == Placement.assignment_id)
        .join(Candidate, Candidate.id == Placement.candidate_id)
        .where(_uninvoiced(period_end))
        .group_by(Assignment.employer_id, E.placement_id, Assignment.title, Assignment.hourly_rate_cents,
                  Candidate.first_name, Candidate.last_name)
        .order_by(Assignment.employer_id, E.placement_id)
    )
    per_employer: dict[int, list] = defaultdict(list)
    for row in session.execute(query):
        per_employer[row[0]].append(row)
    if not per_employer:
        return
    vat_rate = rules["vat_rate_pct"].value
    due_date = issue_date + dt.timedelta(days=int(rules["employer_payment_term_days"].value))
    employers = {e.id: e for e in session.scalars(sa.select(Employer).where(Employer.id.in_(list(per_employer))))}
    seller = seller_snapshot()
    docs, expected = [], []
    for employer_id, rows in per_employer.items():
        lines, keys = [], []
        for _, placement_id, title, rate, first, last, hours, count, first_day, last_day in rows:
            hours = _hours(hours)
            lines.append(dict(placement_id=placement_id, description=_line_description(title, first, last, first_day, last_day),
                              service_start=first_day, service_end=last_day, hours=hours, rate_cents=rate,
                              net_cents=line_net_cents(hours, rate), vat_category=VAT_STANDARD, vat_rate=vat_rate))
            keys.append(placement_id)
            expected.append((hours, count))
        net = sum(line["net_cents"] for line in lines)
        vat = vat_total_cents([(VAT_STANDARD, vat_rate, line["net_cents"]) for line in lines])
        docs.append(_Document(dict(
            doc_type=DocumentType.INVOICE, employer_id=employer_id, credits_invoice_id=None,
            period_start=min(period_start, *(line["service_start"] for line in lines)), period_end=period_end,
            issue_date=issue_date, due_date=due_date, net_cents=net, vat_cents=vat, gross_cents=net + vat,
            seller=seller, buyer=buyer_snapshot(employers[employer_id]), rules_version=rules["vat_rate_pct"].version,
            created_by_user_id=user_id, status=PaymentStatus.OPEN, paid_cents=0, credited_cents=0, version=1,
        ), lines, keys))
    _, line_ids, _ = _write(session, tenant, docs, f"F{issue_date.year}", prefix, "invoice", user_id)
    all_lines = [line_id for ids in line_ids for line_id in ids]
    # The entries, linked to their line in one INSERT … SELECT (the same condition as above).
    link = (
        sa.select(E.id, InvoiceLine.id, sa.literal(EntryRole.INVOICED.value), E.hours)
        .select_from(E)
        .join(InvoiceLine, sa.and_(InvoiceLine.placement_id == E.placement_id, InvoiceLine.id.in_(all_lines)))
        .where(_uninvoiced(period_end))
    )
    session.execute(sa.insert(InvoicedEntry).from_select(["entry_id", "line_id", "role", "hours"], link))
    inserted = _check_links(session, all_lines, EntryRole.INVOICED, expected)
    result.invoices += len(docs)
    result.entries += inserted
    result.net_cents += sum(d.row["net_cents"] for d in docs)
    result.vat_cents += sum(d.row["vat_cents"] for d in docs)
    result.gross_cents += sum(d.row["gross_cents"] for d in docs)
    result.numbers += [d.row["number"] for d in docs]


def _check_links(session: Session, line_ids: list[int], role: EntryRole, expected: list[tuple[Decimal, int]]) -> int:
    """Every line's entries add up to the hours and the number of entries it was written with;
    else an approval or a correction came in between reading and writing, and the attempt starts
    over. Returns the number of entries linked."""
    found = session.execute(
        sa.select(InvoicedEntry.line_id, sa.func.sum(InvoicedEntry.hours), sa.func.count())
        .where(InvoicedEntry.line_id.in_(line_ids), InvoicedEntry.role == role)
        .group_by(InvoicedEntry.line_id)
    ).all()
    by_line = {line_id: (_hours(hours), count) for line_id, hours, count in found}
    if [by_line.get(i) for i in line_ids] != [(abs(h), c) for h, c in expected]:
        raise _Raced()
    return sum(count for _, count in by_line.values())


def _credit_corrections(session: Session, tenant: TenantRef, prefix: str, issue_date: dt.date,
                        user_id: int | None, result: RunResult) -> None:
    """A credit note per invoice for its hours that an approved correction replaced."""
    E = TimesheetEntry
    if not session.scalar(sa.select(sa.exists().where(
            _to_credit(), sa.exists().where(InvoicedEntry.entry_id == E.id, InvoicedEntry.role == EntryRole.INVOICED)))):
        return
    series_code = f"C{issue_date.year}"
    lock_series(session, series_code)  # before reading: a manual credit note cannot cross it
    original = aliased(InvoicedEntry)
    query = (
        sa.select(InvoiceLine.invoice_id, InvoiceLine.id, InvoiceLine.placement_id, InvoiceLine.description,
                  InvoiceLine.rate_cents, InvoiceLine.vat_category, InvoiceLine.vat_rate, sa.func.sum(E.hours),
                  sa.func.count(), sa.func.min(E.work_date), sa.func.max(E.work_date))
        .select_from(E)
        .join(original, sa.and_(original.entry_id == E.id, original.role == EntryRole.INVOICED))
        .join(InvoiceLine, InvoiceLine.id == original.line_id)
        .where(_to_credit())
        .group_by(InvoiceLine.invoice_id, InvoiceLine.id, InvoiceLine.placement_id, InvoiceLine.description,
                  InvoiceLine.rate_cents, InvoiceLine.vat_category, InvoiceLine.vat_rate)
        .order_by(InvoiceLine.invoice_id, InvoiceLine.id)
    )
    per_invoice: dict[int, list] = defaultdict(list)
    for row in session.execute(query):
        per_invoice[row[0]].append(row)
    lines_of = {}
    for invoice_id, rows in per_invoice.items():
        lines_of[invoice_id] = [
            (line_id, _credit_line(placement_id, f"Correctie uren: {description}", -_hours(hours), rate, category,
                                   vat_rate, first_day, last_day, -line_net_cents(_hours(hours), rate)), count)
            for _, line_id, placement_id, description, rate, category, vat_rate, hours, count, first_day, last_day in rows
        ]
    made = _credit_notes(session, tenant, prefix, issue_date, user_id, lines_of, series_code, reason=None)
    # The replaced entries, linked to the credit-note line made from their original line.
    target = {original_id: credit_id for original_id, credit_id in made.line_map}
    mapping = sa.case(target, value=original.line_id) if target else sa.null()
    link = (
        sa.select(E.id, mapping, sa.literal(EntryRole.CREDITED.value), E.hours)
        .select_from(E)
        .join(original, sa.and_(original.entry_id == E.id, original.role == EntryRole.INVOICED,
                                original.line_id.in_(list(target))))
        .where(_to_credit())
    )
    session.execute(sa.insert(InvoicedEntry).from_select(["entry_id", "line_id", "role", "hours"], link))
    inserted = _check_links(session, [credit_id for _, credit_id in made.line_map], EntryRole.CREDITED,
                            made.expected)
    result.credit_notes += made.count
    result.credited_entries += inserted
    result.credited_cents += made.gross_cents
    result.numbers += made.numbers


def _credit_line(placement_id, description, hours, rate, category, vat_rate, start, end, net) -> dict:
    return dict(placement_id=placement_id, description=f"{description}"[:300], service_start=start,
                service_end=end, hours=hours, rate_cents=rate, net_cents=net, vat_category=category,
                vat_rate=vat_rate)


@dataclass
class _Made:
    count: int
    gross_cents: int
    numbers: list[str]
    #: (original line id, credit-note line id), in the order of the credit-note lines.
    line_map: list[tuple[int, int]]
    #: Per credit-note line: (hours, entries).
    expected: list[tuple[Decimal, int]]


def _credit_notes(session: Session, tenant: TenantRef, prefix: str, issue_date: dt.date, user_id: int | None,
                  lines_of: dict[int, list], series_code: str, reason: str | None,
                  vat_left: dict[int, int] | None = None) -> _Made:
    """Write a credit note per original invoice (``lines_of``: invoice id → [(original line id,
    credit line, entries)]), post it, and move the originals' credited amount and status.
    ``vat_left`` (invoice id → cents) gives the VAT of a credit note that takes all that is left
    of an invoice, instead of computing it from the lines."""
    originals = {i.id: i for i in session.scalars(
        sa.select(Invoice).where(Invoice.id.in_(list(lines_of))).with_for_update()
        .execution_options(populate_existing=True))}
    employers = {e.id: e for e in session.scalars(
        sa.select(Employer).where(Employer.id.in_({i.employer_id for i in originals.values()})))}
    seller = seller_snapshot()
    docs = []
    for invoice_id, items in lines_of.items():
        invoice = originals[invoice_id]
        lines = [line for _, line, _ in items]
        net = sum(line["net_cents"] for line in lines)
        vat = vat_total_cents([(line["vat_category"], line["vat_rate"], line["net_cents"]) for line in lines])
        if vat_left and invoice_id in vat_left:
            vat = -vat_left[invoice_id]
        docs.append(_Document(dict(
            doc_type=DocumentType.CREDIT_NOTE, employer_id=invoice.employer_id, credits_invoice_id=invoice.id,
            period_start=invoice.period_start, period_end=invoice.period_end, issue_date=issue_date,
            due_date=issue_date, net_cents=net, vat_cents=vat, gross_cents=net + vat, seller=seller,
            buyer=buyer_snapshot(employers[invoice.employer_id]), rules_version=invoice.rules_version,
            created_by_user_id=user_id, status=PaymentStatus.CREDITED, paid_cents=0, credited_cents=0, version=1,
        ), lines, [original_line for original_line, _, _ in items]))
    ids, line_ids, _ = _write(session, tenant, docs, series_code, prefix, "credit_note", user_id)
    for doc, credit_id in zip(docs, ids, strict=True):
        invoice = originals[doc.row["credits_invoice_id"]]
        invoice.credited_cents += -doc.row["gross_cents"]
        invoice.status = payment_status(invoice)
        record(session, "invoice.credited", tenant_id=tenant.id, object_type="invoice", object_id=invoice.id,
               changes={"number": invoice.number, "credit_note": doc.row["number"], "credit_note_id": credit_id,
                        "gross_cents": doc.row["gross_cents"], "reason": reason or "correction of hours"},
               actor_label="system:invoice-run" if user_id is None else None)
    session.flush()
    line_map, expected = [], []
    for doc, ids_of_doc, (_, items) in zip(docs, line_ids, lines_of.items(), strict=True):
        for original_line, credit_id, (_, line, count) in zip(doc.keys, ids_of_doc, items, strict=True):
            line_map.append((original_line, credit_id))
            expected.append((line["hours"], count))
    return _Made(len(docs), sum(d.row["gross_cents"] for d in docs), [d.row["number"] for d in docs],
                 line_map, expected)


def payment_status(invoice: Invoice) -> PaymentStatus:
    """The status that follows from what was paid and credited."""
    settled = invoice.paid_cents + invoice.credited_cents
    if invoice.credited_cents >= invoice.gross_cents:
        return PaymentStatus.CREDITED
    if settled >= invoice.gross_cents:
        return PaymentStatus.PAID
    if invoice.paid_cents > 0:
        return PaymentStatus.PARTIALLY_PAID
    return PaymentStatus.OPEN


# -- manual credit note -------------------------------------------------------------------------


def credit_invoice(session: Session, tenant: TenantRef, invoice: Invoice, reason: str,
                   user_id: int | None, issue_date: dt.date | None = None) -> Invoice:
    """Credit what is left of an open, unpaid invoice (the backoffice's correction): a credit
    note naming it, with a line per line of the invoice, posted to the ledger as the mirror of
    the invoice. The hours stay invoiced (they are not invoiced again by a later run). Returns
    the credit note. Flushes; the caller commits."""
    issue_date = issue_date or dt.date.today()
    reason = " ".join((reason or "").split())
    if not 3 <= len(reason) <= 200:
        raise CreditRefused([violation("reason_required", "reason", None, None,
                                       "Geef een reden voor de creditnota (3 tot 200 tekens).")])
    series_code = f"C{issue_date.year}"
    lock_series(session, series_code)
    session.refresh(invoice, with_for_update=True)
    if invoice.doc_type is not DocumentType.INVOICE or invoice.status is not PaymentStatus.OPEN or invoice.paid_cents:
        raise CreditRefused([violation("invoice_not_open", "invoice", None, None,
                                       "Alleen een openstaande, onbetaalde factuur kan worden gecrediteerd.")])
    E = TimesheetEntry
    credited = aliased(InvoicedEntry)
    remaining = (
        sa.select(InvoiceLine.id, InvoiceLine.placement_id, InvoiceLine.description, InvoiceLine.rate_cents,
                  InvoiceLine.vat_category, InvoiceLine.vat_rate, InvoiceLine.net_cents,
                  sa.func.coalesce(sa.func.sum(E.hours), 0), sa.func.count(E.id),
                  sa.func.min(E.work_date), sa.func.max(E.work_date))
        .select_from(InvoiceLine)
        .join(InvoicedEntry, sa.and_(InvoicedEntry.line_id == InvoiceLine.id, InvoicedEntry.role == EntryRole.INVOICED))
        .join(E, E.id == InvoicedEntry.entry_id)
        .where(InvoiceLine.invoice_id == invoice.id,
               ~sa.exists().where(credited.entry_id == E.id, credited.role == EntryRole.CREDITED))
        .group_by(InvoiceLine.id, InvoiceLine.placement_id, InvoiceLine.description, InvoiceLine.rate_cents,
                  InvoiceLine.vat_category, InvoiceLine.vat_rate, InvoiceLine.net_cents)
        .order_by(InvoiceLine.id)
    )
    rows = session.execute(remaining).all()
    if not rows:
        raise CreditRefused([violation("nothing_to_credit", "invoice", None, None,
                                       "Alles op deze factuur is al gecrediteerd.")])
    before = _credited_net_per_line(session, [r[0] for r in rows])
    items = []
    for line_id, placement_id, description, rate, category, vat_rate, net, hours, count, first_day, last_day in rows:
        # What is left of the line: its net less what credit notes took off it before, so that
        # the credit notes of a line add up to that line exactly.
        left = net + before.get(line_id, 0)
        items.append((line_id, _credit_line(placement_id, f"Creditering: {description}", -_hours(hours), rate, category,
                                            vat_rate, first_day, last_day, -left), count))
    prefix = number_prefix(session, tenant)
    # The VAT too is what is left (the invoice's less earlier credit notes'), so that the invoice
    # ends at exactly zero; with one VAT category per invoice, as the run makes them.
    vat_left = None
    if len({(line.vat_category, line.vat_rate) for line in invoice.lines}) == 1:
        earlier = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Invoice.vat_cents), 0))
                                 .where(Invoice.credits_invoice_id == invoice.id))
        vat_left = {invoice.id: invoice.vat_cents + int(earlier)}
    made = _credit_notes(session, tenant, prefix, issue_date, user_id, {invoice.id: items}, series_code, reason,
                         vat_left)
    target = dict(made.line_map)
    link = (
        sa.select(E.id, sa.case(target, value=InvoicedEntry.line_id), sa.literal(EntryRole.CREDITED.value), E.hours)
        .select_from(E)
        .join(InvoicedEntry, sa.and_(InvoicedEntry.entry_id == E.id, InvoicedEntry.role == EntryRole.INVOICED,
                                     InvoicedEntry.line_id.in_(list(target))))
        .where(~sa.exists().where(credited.entry_id == E.id, credited.role == EntryRole.CREDITED))
    )
    session.execute(sa.insert(InvoicedEntry).from_select(["entry_id", "line_id", "role", "hours"], link))
    _check_links(session, [c for _, c in made.line_map], EntryRole.CREDITED, made.expected)
    return session.scalars(sa.select(Invoice).where(Invoice.number == made.numbers[0])).one()


def _credited_net_per_line(session: Session, line_ids: list[int]) -> dict[int, int]:
    """Per invoice line: the net (negative) of the credit-note lines made from it before."""
    original, credited = aliased(InvoicedEntry), aliased(InvoicedEntry)
    credit_lines = (
        sa.select(original.line_id.label("original"), credited.line_id.label("credit"))
        .join(credited, sa.and_(credited.entry_id == original.entry_id, credited.role == EntryRole.CREDITED))
        .where(original.role == EntryRole.INVOICED, original.line_id.in_(line_ids))
        .distinct().subquery()
    )
    rows = session.execute(
        sa.select(credit_lines.c.original, sa.func.sum(InvoiceLine.net_cents))
        .join(InvoiceLine, InvoiceLine.id == credit_lines.c.credit)
        .group_by(credit_lines.c.original)
    )
    return {line_id: int(total) for line_id, total in rows}


# -- all tenants ----------------------------------------------------------------------------------


@dataclass
class TenantOutcome:
    """A tenant's part of :func:`run_all`: its result, or the error that rolled it back."""

    slug: str
    result: RunResult | None = None
    error: str | None = None


def run_all(db, period_start: dt.date, period_end: dt.date, issue_date: dt.date,
            progress: Callable[[TenantOutcome], None] | None = None, tenants: list[TenantRef] | None = None,
            router=None, deliver: bool = True) -> dict[str, TenantOutcome]:
    """The invoice run over every active tenant: one transaction per tenant (a failure rolls
    back that tenant only and the run goes on; the next run completes it), then the new
    invoices are e-mailed (``tenants.invoicing.delivery.send_pending``, when present, unless
    ``deliver`` is false). ``progress`` is called after each tenant. Returns the outcome per
    tenant slug."""
    from nvsi.tenancy.routing import RoutingSession
    from nvsi.tenancy.services import active_tenants

    if tenants is None:
        listing = RoutingSession(db, router=router)
        try:
            tenants = active_tenants(listing)
        finally:
            listing.close()
    send_pending = _delivery() if deliver else None
    outcomes: dict[str, TenantOutcome] = {}
    for tenant in tenants:
        outcome = TenantOutcome(tenant.slug)
        try:
            outcome.result = for_each_tenant(
                db, lambda s, t: run_tenant(s, t, period_start, period_end, issue_date), [tenant], router
            )[tenant.slug]
        except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
            log.exception("invoice run failed for a tenant", extra={"fields": {"tenant": tenant.slug}})
            outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if outcome.result is not None and send_pending is not None:
            try:
                outcome.result.mailed = for_each_tenant(db, send_pending, [tenant], router)[tenant.slug] or 0
            except Exception:  # noqa: BLE001 - the invoices stand; mailing is retried next run
                log.exception("mailing invoices failed for a tenant", extra={"fields": {"tenant": tenant.slug}})
        outcomes[tenant.slug] = outcome
        if progress is not None:
            progress(outcome)
    return outcomes


def _delivery():
    """Engineer P's ``send_pending(session, tenant) -> int``, if that module exists yet."""
    try:
        from tenants.invoicing.delivery import send_pending
    except ModuleNotFoundError as exc:
        if exc.name != "tenants.invoicing.delivery":
            # The module is there but cannot load: the invoices are made all the same (and stay
            # unmailed, for the next run); the error is logged for the operator.
            log.exception("invoice delivery unavailable: invoices are not mailed by this run")
        return None
    return send_pending
