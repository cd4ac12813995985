"""Bank statements of the NVSI account (camt.053): reading, storing once, matching, the review queue.

**Reading** (:func:`parse_statements`) uses pycamt, which parses with lxml without resolving
entities and without network access; a file with a DTD is refused before it is parsed at all,
and one larger than :data:`MAX_STATEMENT_BYTES` is never read. Everything wrong with a file is
reported at once, naming the statement and line (:class:`StatementRejected`, a 422).

**Storing** (:func:`store`): a statement is unique on its identification at the bank plus the
account IBAN, and on the file's SHA-256 plus its place in the file; a line on the statement
plus its entry key (the bank's reference, or a stable hash of the entry). The same statement
imported again is found ("al ingelezen") and nothing changes.

**Matching** (:func:`match_new_lines`), per line, each in its own transaction:

* a credit whose structured creditor reference, or a reference or invoice number in its free
  text, is an invoice's ``payment_reference`` is booked with
  :func:`tenants.payments.services.apply_payment` (Dr BANK / Cr RECEIVABLES, an overpayment to
  EMPLOYER_CREDIT) in a session of that municipality, together with marking the line matched.
  The municipality is found from the reference itself: the invoice number (and so the
  reference) starts with the municipality's CBS code (its slug without one), so one query in one
  schema finds the invoice — no lookup over every tenant, no shared copy of every reference;
* a credit from Stripe whose text says it is a payout is booked Dr BANK / Cr PAYMENTS_IN_TRANSIT;
* debits and returns go to the premium payouts (``nvsi.payouts.services.confirm_from_statement``)
  when that module is present;
* anything else — no reference, an unknown one, an invoice already settled, a booking that
  failed — goes to the review queue (``unmatched``), where the backoffice matches it by hand
  (:func:`match_by_hand`) or sets it aside with a note (:func:`ignore_line`). Both are audited.

Services flush; the callers commit (matching opens and commits its own sessions: a tenant's
booking and the shared line row must be one transaction, in a session bound to that tenant).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session
from stdnum import iso11649

from nvsi.audit.services import record
from nvsi.db import ObjectNotFound, savepoint, utcnow
from nvsi.ledger import chart
from nvsi.ledger.services import LedgerError, Line, post
from nvsi.payments.bank_models import BankLine, BankStatement, Direction, LineStatus, MatchKind
from nvsi.rules.violations import N_, RuleViolations, Violation, violation
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.routing import RoutingSession, TenantRef, tenant_session
from nvsi.tenancy.services import tenant_ref

log = logging.getLogger(__name__)

#: The largest statement file read (bytes). A day of the NVSI account is a few hundred lines,
#: some hundred kilobytes; 5 MiB leaves room for a month in one file.
MAX_STATEMENT_BYTES = 5 * 1024 * 1024
#: At most this many problems of one file are reported.
MAX_PROBLEMS = 20
#: Municipalities whose invoices can be paid (a suspended member's employers still pay).
PAYABLE_TENANTS = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
#: A Stripe payout: the other party is Stripe and the text names a payout (``po_…``) or Stripe.
STRIPE_NAME = re.compile(r"\bstripe\b", re.IGNORECASE)
STRIPE_PAYOUT_TEXT = re.compile(r"\bpo_[A-Za-z0-9]+\b|\bstripe\b", re.IGNORECASE)
#: A creditor reference in free text, also typed in groups of four (``RF58 GM90 01F2 …``).
_RF_IN_TEXT = re.compile(r"\bRF\d{2}(?:\s?[A-Z0-9]{1,4}){1,6}\b")
#: An invoice number in free text (``GM0344-F2026-000123``).
_NUMBER_IN_TEXT = re.compile(r"\b([A-Z0-9_]{2,41}-F\d{4}-\d{6})\b")
#: Why a line is in the review queue (shown to the backoffice).
REVIEW_REASONS = {
    "no_reference": N_("Geen betalingskenmerk of factuurnummer gevonden."),
    "unknown_reference": N_("Het kenmerk hoort bij geen openstaande factuur."),
    "invoice_settled": N_("De factuur is al betaald of gecrediteerd."),
    "not_an_invoice": N_("Het kenmerk hoort bij een creditnota."),
    "debit": N_("Uitgaande betaling: niet automatisch te verwerken."),
    "payout_return": N_("Terugboeking van een uitbetaling: niet automatisch te verwerken."),
    "payout_duplicate": N_("Deze premie-uitbetaling is al door een andere regel verwerkt."),
    "booking_failed": N_("Boeken lukte niet; controleer en letter met de hand af."),
    "not_booked": N_("De bank heeft dit bedrag nog niet geboekt."),
}


class StatementRejected(RuleViolations):
    """The file is not a camt.053 statement this platform can read; each problem is named."""


class MatchRefused(RuleViolations):
    """A manual match or an ignore that cannot be done (the field says which input)."""


class LineNotFound(ObjectNotFound):
    """No such statement line."""


class StatementNotFound(ObjectNotFound):
    """No such statement."""


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedLine:
    """One booked amount as read from the file (before it is stored)."""

    position: int
    entry_key: str
    account_servicer_ref: str | None
    end_to_end_id: str | None
    payment_info_id: str | None
    direction: Direction
    reversal: bool
    amount_cents: int
    currency: str
    booking_date: dt.date
    value_date: dt.date | None
    bank_transaction_code: str | None
    return_reason: str | None
    counterparty_name: str | None
    counterparty_iban: str | None
    remittance_info: str | None
    creditor_reference: str | None
    booked: bool = True


@dataclass(frozen=True)
class ParsedStatement:
    """One ``Stmt`` of a file with its lines."""

    index: int
    statement_ref: str
    sequence_number: str | None
    message_id: str | None
    account_iban: str
    issued_on: dt.date | None
    opening_balance_cents: int | None
    closing_balance_cents: int | None
    lines: list[ParsedLine]


class _Problems:
    """Collects what is wrong with a file, to report it all at once."""

    def __init__(self):
        self.items: list[Violation] = []

    def add(self, code: str, message: str, **params) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(violation(code, "file", None, None, message, **params))

    def raise_if_any(self) -> None:
        if self.items:
            raise StatementRejected(self.items)


def _reject(code: str, message: str, **params) -> StatementRejected:
    return StatementRejected([violation(code, "file", None, None, message, **params)])


def _text(element, path: str, ns: dict) -> str | None:
    if element is None:
        return None
    found = element.find(path, ns)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _date(value: str | None) -> dt.date | None:
    """The day of an ISO date or date-time (``2026-03-20``, ``2026-03-20T06:00:00+01:00``)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _cents(value: str | None) -> int | None:
    """Cents of a decimal amount with at most two places, never through a float."""
    if value is None:
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        return None
    return int(cents)


def normalise_reference(value: str | None) -> str | None:
    """A reference as the invoices store it: upper case, without spaces."""
    if not value:
        return None
    return re.sub(r"\s+", "", value).upper()[:40] or None


def _balance(stmt, code: str, ns: dict) -> int | None:
    for bal in stmt.findall("Bal", ns):
        if _text(bal, "Tp/CdOrPrtry/Cd", ns) == code:
            cents = _cents(_text(bal, "Amt", ns))
            if cents is not None and _text(bal, "CdtDbtInd", ns) == "DBIT":
                cents = -cents
            return cents
    return None


def _details(entry, ns: dict) -> list:
    """The entry's transaction details, in the order pycamt reads them."""
    return [tx for detail in entry.findall(".//NtryDtls", ns) for tx in detail.findall(".//TxDtls", ns)]


def parse_statements(content: bytes) -> list[ParsedStatement]:
    """Read every statement of a camt.053 file; :class:`StatementRejected` names every problem."""
    from pycamt.parser import Camt053Parser

    if not content or not content.strip():
        raise _reject("empty", "Het bestand is leeg.")
    if len(content) > MAX_STATEMENT_BYTES:
        raise _reject("too_large", "Het bestand is groter dan %(max)s MB.", max=MAX_STATEMENT_BYTES // (1024 * 1024))
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        # camt.053 files never carry a DTD: one that does is refused before any parsing.
        raise _reject("dtd", "Het bestand bevat een DTD (<!DOCTYPE of <!ENTITY); dat is bij een camt.053-afschrift "
                             "niet toegestaan.")
    try:
        parser = Camt053Parser(content)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else "?"
        raise _reject("not_xml", "Het bestand is geen geldige XML (regel %(line)s): %(error)s.", line=line,
                      error=str(exc.msg or exc).split(" (line")[0]) from None
    root = parser.tree
    tag = etree.QName(root)
    if tag.localname != "Document" or "camt.053." not in (tag.namespace or ""):
        raise _reject("not_camt053", "Dit is geen camt.053-bankafschrift (gevonden: %(found)s).",
                      found=tag.namespace or tag.localname)
    ns = parser.namespaces
    statements = root.findall(".//Stmt", ns)
    if not statements:
        raise _reject("no_statement", "Het bestand bevat geen afschrift (Stmt).")
    message_id = _text(root, ".//GrpHdr/MsgId", ns)
    problems = _Problems()
    parsed, seen = [], set()
    for index, stmt in enumerate(statements):
        ref, iban = _text(stmt, "Id", ns), _text(stmt, "Acct/Id/IBAN", ns)
        label = ref or str(index + 1)
        if not ref:
            problems.add("statement_id", "Afschrift %(n)s: de identificatie (Stmt/Id) ontbreekt.", n=index + 1)
        if not iban:
            problems.add("statement_iban", "Afschrift %(statement)s: het IBAN van de rekening (Acct/Id/IBAN) "
                                           "ontbreekt.", statement=label)
        if (ref, iban) in seen:
            problems.add("statement_twice", "Afschrift %(statement)s staat twee keer in het bestand.", statement=label)
        seen.add((ref, iban))
        lines = _parse_lines(parser, stmt, ns, label, problems)
        parsed.append(ParsedStatement(
            index=index, statement_ref=(ref or "")[:140], sequence_number=_text(stmt, "ElctrncSeqNb", ns),
            message_id=(message_id or "")[:140] or None, account_iban=normalise_reference(iban) or "",
            issued_on=_date(_text(stmt, "CreDtTm", ns)), opening_balance_cents=_balance(stmt, "OPBD", ns),
            closing_balance_cents=_balance(stmt, "CLBD", ns), lines=lines,
        ))
    problems.raise_if_any()
    return parsed


def _parse_lines(parser, stmt, ns: dict, label: str, problems: _Problems) -> list[ParsedLine]:
    lines: list[ParsedLine] = []
    hashes: Counter = Counter()
    for number, entry in enumerate(stmt.findall("Ntry", ns), start=1):
        # pycamt reads the entry: one dict per transaction detail (a batch has several).
        rows = parser._extract_transaction(entry, stmt)  # noqa: SLF001 - per statement, not per file
        details = _details(entry, ns)
        if len(details) != len(rows):
            details = [None] * len(rows)
        base = _text(entry, "AcctSvcrRef", ns) or _text(entry, "NtryRef", ns)
        if not base or len(base) > 140:
            digest = hashlib.sha256(etree.tostring(entry, method="c14n")).hexdigest()[:40]
            hashes[digest] += 1
            base = f"h:{digest}" + (f"#{hashes[digest]}" if hashes[digest] > 1 else "")
        for sub, (row, detail) in enumerate(zip(rows, details, strict=True), start=1):
            where = dict(statement=label, n=number)
            indicator = row.get("CreditDebitIndicator")
            cents = _cents(row.get("Amount"))
            booked_on = _date(row.get("BookingDate"))
            currency = row.get("Currency")
            if indicator not in ("CRDT", "DBIT"):
                problems.add("indicator", "Afschrift %(statement)s, post %(n)s: credit of debet (CdtDbtInd) "
                                          "ontbreekt of is onbekend.", **where)
            if cents is None or cents < 0:
                problems.add("amount", "Afschrift %(statement)s, post %(n)s: het bedrag ontbreekt of is geen bedrag "
                                       "met hoogstens twee decimalen.", **where)
            if booked_on is None:
                problems.add("booking_date", "Afschrift %(statement)s, post %(n)s: de boekdatum (BookgDt) ontbreekt "
                                             "of is ongeldig.", **where)
            if cents is not None and currency != "EUR":
                problems.add("currency", "Afschrift %(statement)s, post %(n)s: valuta %(currency)s; alleen EUR wordt "
                                         "verwerkt.", currency=currency or "?", **where)
            if indicator not in ("CRDT", "DBIT") or cents is None or cents < 0 or booked_on is None \
                    or currency != "EUR":
                continue
            direction = Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT
            party = "Debtor" if direction is Direction.CREDIT else "Creditor"
            text = row.get("RemittanceInformationFull") or row.get("AdditionalEntryInformation")
            structured = _text(detail, ".//RmtInf/Strd/CdtrRefInf/Ref", ns) if detail is not None else None
            code = "/".join(c for c in (row.get("BankTransactionCode"), row.get("TransactionFamilyCode"),
                                        row.get("TransactionSubFamilyCode")) if c) or None
            lines.append(ParsedLine(
                position=len(lines) + 1, entry_key=base if len(rows) == 1 else f"{base}/{sub}",
                account_servicer_ref=(row.get("TransactionID") or "")[:140] or None,
                end_to_end_id=(row.get("EndToEndId") or "")[:140] or None,
                payment_info_id=((_text(detail, "Refs/PmtInfId", ns) if detail is not None else None)
                                 or _text(entry, "NtryDtls/Btch/PmtInfId", ns) or "")[:140] or None,
                direction=direction, reversal=(row.get("ReversalIndicator") or "").lower() == "true",
                amount_cents=cents, currency=currency, booking_date=booked_on, value_date=_date(row.get("ValueDate")),
                bank_transaction_code=code and code[:40],
                return_reason=(_text(detail, ".//RtrInf/Rsn/Cd", ns) if detail is not None else None),
                counterparty_name=(row.get(f"{party}Name") or "")[:140] or None,
                counterparty_iban=normalise_reference(row.get(f"{party}IBAN")),
                remittance_info=(text or "")[:500] or None, creditor_reference=normalise_reference(structured),
                booked=(row.get("Status") or "BOOK") == "BOOK",
            ))
    return lines


# -- storing ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did: the statements stored now, those found stored before, and the
    outcome of matching."""

    file_sha256: str
    new_statement_ids: list[int] = field(default_factory=list)
    known_statement_ids: list[int] = field(default_factory=list)
    matching: MatchSummary | None = None

    @property
    def already_imported(self) -> bool:
        """Every statement of the file was imported before ("al ingelezen")."""
        return not self.new_statement_ids and bool(self.known_statement_ids)

    @property
    def statement_ids(self) -> list[int]:
        return self.new_statement_ids + self.known_statement_ids


def _existing(session: Session, sha: str, statement: ParsedStatement) -> BankStatement | None:
    return session.scalars(sa.select(BankStatement).where(sa.or_(
        sa.and_(BankStatement.statement_ref == statement.statement_ref,
                BankStatement.account_iban == statement.account_iban),
        sa.and_(BankStatement.file_sha256 == sha, BankStatement.file_index == statement.index),
    ))).first()


class _AlreadyStored(Exception):
    pass


def store(session: Session, content: bytes, file_name: str, statements: list[ParsedStatement],
          user_id: int | None) -> ImportResult:
    """Store the statements of a file that are not stored yet, with their lines (status
    ``new``); flushes. A statement stored before — by its id and IBAN, or as the same place in
    the same file — is reported as known and left as it is."""
    sha = hashlib.sha256(content).hexdigest()
    result = ImportResult(sha)
    for parsed in statements:
        known = _existing(session, sha, parsed)
        if known is not None:
            result.known_statement_ids.append(known.id)
            continue
        lines = [line for line in parsed.lines if line.booked]
        dates = [line.booking_date for line in lines]
        statement = BankStatement(
            statement_ref=parsed.statement_ref, sequence_number=parsed.sequence_number, message_id=parsed.message_id,
            account_iban=parsed.account_iban, issued_on=parsed.issued_on,
            first_booking_date=min(dates, default=None), last_booking_date=max(dates, default=None),
            opening_balance_cents=parsed.opening_balance_cents, closing_balance_cents=parsed.closing_balance_cents,
            file_name=(file_name or "afschrift.xml")[:255], file_sha256=sha, file_index=parsed.index,
            line_count=len(lines), credit_cents=sum(x.amount_cents for x in lines if x.direction is Direction.CREDIT),
            debit_cents=sum(x.amount_cents for x in lines if x.direction is Direction.DEBIT),
            imported_by_user_id=user_id,
        )
        try:
            with savepoint(session, lambda exc: _AlreadyStored()):
                session.add(statement)
                session.flush()
                session.add_all(BankLine(
                    statement_id=statement.id, position=line.position, entry_key=line.entry_key,
                    account_servicer_ref=line.account_servicer_ref, end_to_end_id=line.end_to_end_id,
                    payment_info_id=line.payment_info_id,
                    direction=line.direction, reversal=line.reversal, amount_cents=line.amount_cents,
                    currency=line.currency, booking_date=line.booking_date, value_date=line.value_date,
                    bank_transaction_code=line.bank_transaction_code, return_reason=line.return_reason,
                    counterparty_name=line.counterparty_name, counterparty_iban=line.counterparty_iban,
                    remittance_info=line.remittance_info, creditor_reference=line.creditor_reference,
                    status=LineStatus.NEW,
                ) for line in lines)
        except _AlreadyStored:
            # Imported at this very moment by someone else: theirs stands.
            known = _existing(session, sha, parsed)
            if known is not None:
                result.known_statement_ids.append(known.id)
            continue
        result.new_statement_ids.append(statement.id)
        record(session, "bank.statement_imported", object_type="bank_statement", object_id=statement.id,
               changes={"statement": statement.statement_ref, "lines": statement.line_count,
                        "credit_cents": statement.credit_cents, "debit_cents": statement.debit_cents,
                        "file_sha256": sha}, actor_label="system:bank-import")
    return result


def import_file(db, content: bytes, file_name: str, user_id: int | None = None, router=None) -> ImportResult:
    """Read, store and match a statement file: the whole import (the CLI and the pages use it).

    Works in sessions of its own (a request closes its own first: on SQLite a writer waits for
    every reader). Raises :class:`StatementRejected` before anything is stored."""
    statements = parse_statements(content)
    session = RoutingSession(db, router=router)
    try:
        result = store(session, content, file_name, statements, user_id)
        session.commit()
        ids = result.statement_ids
    finally:
        session.close()
    # Lines a crashed import left "new" are matched now too (normally there are none).
    result.matching = match_new_lines(db, ids, router=router)
    return result


# -- matching -------------------------------------------------------------------------------------


@dataclass
class MatchSummary:
    """What matching did with the new lines of the statements."""

    matched: int = 0
    unmatched: int = 0
    stripe_payouts: int = 0
    payouts: int = 0

    @property
    def total(self) -> int:
        return self.matched + self.unmatched + self.stripe_payouts + self.payouts


def _alnum(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


def tenant_prefixes(session: Session) -> list[tuple[str, TenantRef]]:
    """(reference prefix, municipality) of every municipality whose invoices can be paid,
    longest prefix first: the alphanumeric part of its invoice numbers' prefix (the CBS code,
    see :func:`tenants.invoicing.services.number_prefix`; its slug without one)."""
    tenants = session.scalars(sa.select(Tenant).where(Tenant.status.in_(PAYABLE_TENANTS))).all()
    pairs = [(_alnum(t.cbs_code or t.slug), tenant_ref(t)) for t in tenants]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def references_in(line: BankLine) -> list[str]:
    """The payment references a line carries, most reliable first: the structured creditor
    reference, creditor references in the free text (also typed in groups), and the
    references of invoice numbers in the free text. Only valid ISO 11649 references."""
    from tenants.invoicing.services import payment_reference

    found: list[str] = []
    if line.creditor_reference:
        found.append(normalise_reference(line.creditor_reference))
    text = (line.remittance_info or "").upper()
    for match in _RF_IN_TEXT.finditer(text):
        # The groups may run into the next word ("RF15 GM90 … 01 DANK"): drop words from the end.
        words = match.group(0).split()
        found += ["".join(words[:n]) for n in range(len(words), 0, -1)]
    for match in _NUMBER_IN_TEXT.finditer(text):
        found.append(payment_reference(match.group(1)))
    unique = []
    for ref in found:
        if ref and ref not in unique and iso11649.is_valid(ref):
            unique.append(ref)
    return unique


def candidates(references: list[str], prefixes: list[tuple[str, TenantRef]]) -> list[tuple[str, TenantRef]]:
    """(reference, municipality) pairs to look up: each reference with the municipalities
    whose prefix its body starts with."""
    pairs = []
    for ref in references:
        body = ref[4:]
        for prefix, tenant in prefixes:
            if prefix and body.startswith(prefix) and (ref, tenant) not in pairs:
                pairs.append((ref, tenant))
    return pairs


def _is_stripe_payout(line: BankLine) -> bool:
    return (line.direction is Direction.CREDIT and not line.return_reason
            and bool(STRIPE_NAME.search(line.counterparty_name or ""))
            and bool(STRIPE_PAYOUT_TEXT.search(line.remittance_info or "")))


def _locked_line(session: Session, line_id: int) -> BankLine:
    line = session.scalar(sa.select(BankLine).where(BankLine.id == line_id).with_for_update())
    if line is None:
        raise LineNotFound(line_id)
    return line


def payment_ref_for(line: BankLine) -> str:
    """The external reference of the payment a line books: ``camt:<statement>:<line>``."""
    return f"camt:{line.statement_id}:{line.id}"


def _to_queue(line: BankLine, reason: str) -> None:
    line.status, line.review_reason = LineStatus.UNMATCHED, reason


def _book_invoice(session: Session, tenant: TenantRef, line: BankLine, invoice, user_id: int | None,
                  note: str | None = None) -> None:
    """Book ``line`` as a payment of ``invoice`` and mark it matched (the caller's transaction)."""
    from tenants.payments.models import PaymentMethod
    from tenants.payments.services import apply_payment

    payment = apply_payment(session, tenant, invoice, line.amount_cents, method=PaymentMethod.BANK_TRANSFER,
                            external_ref=payment_ref_for(line), received_on=line.booking_date,
                            clearing=chart.BANK, user_id=user_id)
    line.status, line.review_reason, line.match_kind = LineStatus.MATCHED, None, MatchKind.INVOICE
    line.tenant_id, line.invoice_id, line.invoice_number = tenant.id, invoice.id, invoice.number
    line.payment_ref, line.note = payment.external_ref, note or line.note
    line.resolved_at, line.resolved_by_user_id = utcnow(), user_id
    session.flush()
    record(session, "bank.line_matched", tenant_id=tenant.id, object_type="bank_line", object_id=line.id,
           changes={"invoice": invoice.number, "amount_cents": line.amount_cents,
                    "applied_cents": payment.applied_cents, "excess_cents": payment.excess_cents,
                    "by_hand": user_id is not None, "note": note},
           actor_label=None if user_id is not None else "system:bank-import")


def _try_invoice(db, router, line_id: int, pairs: list[tuple[str, TenantRef]]) -> str | None:
    """Book the line to the first invoice one of ``pairs`` finds; returns None when booked,
    else why not (a review reason)."""
    from tenants.invoicing.models import DocumentType, Invoice

    reason = "unknown_reference"
    for ref, tenant in pairs:
        with tenant_session(db, tenant, router=router) as session:
            invoice = session.scalars(sa.select(Invoice).where(Invoice.payment_reference == ref)).first()
            if invoice is None:
                continue
            line = _locked_line(session, line_id)
            if line.status is not LineStatus.NEW:
                return None  # another import got here first
            if invoice.doc_type is not DocumentType.INVOICE:
                reason = "not_an_invoice"
                continue
            if invoice.outstanding_cents <= 0:
                reason = "invoice_settled"
                continue
            try:
                _book_invoice(session, tenant, line, invoice, None)
                session.commit()
            except (LedgerError, sa.exc.SQLAlchemyError, ValueError):
                session.rollback()
                log.exception("bank line could not be booked", extra={"fields": {"line_id": line_id,
                                                                                 "tenant": tenant.slug}})
                return "booking_failed"
            return None
    return reason


def _payout_confirmer():
    """Engineer Z's ``confirm_from_statement(session, lines)``, if the payouts module exists."""
    try:
        from nvsi.payouts.services import confirm_from_statement
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("nvsi.payouts"):
            log.exception("premium payouts unavailable: debits stay in the review queue")
        return None
    except ImportError:
        return None
    return confirm_from_statement


def match_new_lines(db, statement_ids: list[int], router=None) -> MatchSummary:
    """Match every ``new`` line of the statements (see the module's docstring); each booking is
    its own transaction with its line, so a failure leaves the others booked."""
    summary = MatchSummary()
    if not statement_ids:
        return summary
    listing = RoutingSession(db, router=router)
    try:
        lines = list(listing.scalars(sa.select(BankLine).where(BankLine.statement_id.in_(statement_ids),
                                                              BankLine.status == LineStatus.NEW)
                                     .order_by(BankLine.statement_id, BankLine.position)))
        prefixes = tenant_prefixes(listing)
        work = [(line.id, line.direction, line.return_reason, _is_stripe_payout(line),
                 candidates(references_in(line), prefixes),
                 (line.end_to_end_id or "").upper() not in ("", "NOTPROVIDED")) for line in lines]
    finally:
        listing.close()
    outgoing, queue = [], {}
    for line_id, direction, return_reason, stripe, pairs, end_to_end in work:
        if direction is Direction.DEBIT or return_reason:
            outgoing.append(line_id)
            queue[line_id] = "debit" if direction is Direction.DEBIT else "payout_return"
        elif stripe:
            if _book_stripe_payout(db, router, line_id):
                summary.stripe_payouts += 1
            else:
                queue[line_id] = "booking_failed"
        elif not pairs:
            queue[line_id] = "no_reference"
            if end_to_end:
                outgoing.append(line_id)  # perhaps a premium payout coming back without a reason code
        else:
            reason = _try_invoice(db, router, line_id, pairs)
            if reason is None:
                summary.matched += 1
            else:
                queue[line_id] = reason
    if outgoing:
        summary.payouts += _hand_to_payouts(db, router, outgoing, queue)
    if queue:
        session = RoutingSession(db, router=router)
        try:
            for line_id, reason in queue.items():
                line = _locked_line(session, line_id)
                if line.status is LineStatus.NEW:
                    _to_queue(line, reason)
                    summary.unmatched += 1
            session.commit()
        finally:
            session.close()
    return summary


def _book_stripe_payout(db, router, line_id: int) -> bool:
    """Dr BANK / Cr PAYMENTS_IN_TRANSIT for a Stripe payout line, with the line, in one
    transaction. Stripe's fees stay on 1050 (booked by hand, see docs/bank-and-dunning.md)."""
    session = RoutingSession(db, router=router)
    try:
        line = _locked_line(session, line_id)
        if line.status is not LineStatus.NEW:
            return True
        txn = post(session, key=f"stripe-payout:{line.statement_id}:{line.id}", booking_date=line.booking_date,
                   lines=[Line(chart.BANK, line.amount_cents), Line(chart.PAYMENTS_IN_TRANSIT, -line.amount_cents)],
                   tenant_id=None, kind="stripe_payout", description="Uitbetaling Stripe",
                   source=("bank_line", str(line.id)))
        line.status, line.match_kind, line.ledger_transaction_id = LineStatus.MATCHED, MatchKind.STRIPE_PAYOUT, txn.id
        line.resolved_at = utcnow()
        record(session, "bank.stripe_payout_booked", object_type="bank_line", object_id=line.id,
               changes={"amount_cents": line.amount_cents}, actor_label="system:bank-import")
        session.commit()
        return True
    except (LedgerError, sa.exc.SQLAlchemyError):
        session.rollback()
        log.exception("Stripe payout line could not be booked", extra={"fields": {"line_id": line_id}})
        return False
    finally:
        session.close()


def _hand_to_payouts(db, router, line_ids: list[int], queue: dict[int, str]) -> int:
    """Offer debits and returns to the premium payouts
    (:func:`nvsi.payouts.services.confirm_from_statement`, in the same transaction as marking
    the lines); a line they confirm, reject or return is matched, the others stay queued with
    their reason. Returns how many were theirs."""
    confirm = _payout_confirmer()
    if confirm is None:
        return 0
    from nvsi.payouts.services import StatementLine

    session = RoutingSession(db, router=router)
    try:
        lines = [line for line in session.scalars(sa.select(BankLine).where(BankLine.id.in_(line_ids))
                                                  .order_by(BankLine.id).with_for_update())
                 if line.status is LineStatus.NEW]
        outcomes = confirm(session, [StatementLine(
            ref=payment_ref_for(line), direction=line.direction.value, amount_cents=line.amount_cents,
            booking_date=line.booking_date, end_to_end_id=line.end_to_end_id, payment_info_id=line.payment_info_id,
            return_reason=line.return_reason, remittance_info=line.remittance_info) for line in lines])
        theirs = 0
        for line, outcome in zip(lines, outcomes, strict=True):
            if outcome.matched:
                line.status, line.match_kind, line.review_reason = LineStatus.MATCHED, MatchKind.PREMIUM_PAYOUT, None
                line.resolved_at = utcnow()
                queue.pop(line.id, None)
                theirs += 1
            elif outcome.outcome == "duplicate":
                queue[line.id] = "payout_duplicate"
        session.commit()
        return theirs
    except Exception:  # noqa: BLE001 - the payouts' failure must not lose the statement's lines
        session.rollback()
        log.exception("premium payouts could not apply statement lines")
        return 0
    finally:
        session.close()


# -- the review queue -------------------------------------------------------------------------------


def get_line(session: Session, line_id: int) -> BankLine:
    """The statement line ``line_id``; :class:`LineNotFound` otherwise."""
    line = session.get(BankLine, line_id)
    if line is None:
        raise LineNotFound(line_id)
    return line


def get_statement(session: Session, statement_id: int) -> BankStatement:
    """The statement ``statement_id`` (its lines load with it); :class:`StatementNotFound` otherwise."""
    statement = session.get(BankStatement, statement_id)
    if statement is None:
        raise StatementNotFound(statement_id)
    return statement


def _refuse(code: str, field_name: str, message: str, **params) -> MatchRefused:
    return MatchRefused([violation(code, field_name, None, None, message, **params)])


def _open_for_review(line: BankLine) -> None:
    if line.status not in (LineStatus.UNMATCHED, LineStatus.NEW):
        raise _refuse("line_resolved", "line", "Deze regel is al verwerkt (%(status)s).", status=line.status.value)


def payable_tenant(session: Session, slug: str | None) -> TenantRef:
    """The municipality ``slug`` for a manual match; a field error on ``tenant`` otherwise."""
    tenant = session.scalars(sa.select(Tenant).where(Tenant.slug == (slug or ""),
                                                     Tenant.status.in_(PAYABLE_TENANTS))).first()
    if tenant is None:
        raise _refuse("unknown_tenant", "tenant", "Kies een gemeente.")
    return tenant_ref(tenant)


def match_by_hand(db, line_id: int, tenant: TenantRef, invoice_number: str, user_id: int,
                  note: str | None = None, router=None) -> None:
    """Book the line ``line_id`` as a payment of invoice ``invoice_number`` of ``tenant`` (the
    backoffice's choice, audited), in a session of that municipality; commits. A paid invoice
    may be chosen: the amount is then held as the employer's credit. :class:`MatchRefused`
    names the field that is wrong."""
    from tenants.invoicing.models import DocumentType, Invoice

    number = (invoice_number or "").strip().upper()
    if not number:
        raise _refuse("required", "invoice_number", "Vul het factuurnummer in.")
    with tenant_session(db, tenant, router=router) as session:
        line = _locked_line(session, line_id)
        _open_for_review(line)
        if line.direction is not Direction.CREDIT:
            raise _refuse("not_a_credit", "line", "Alleen ontvangen bedragen kunnen met een factuur worden "
                                                  "afgeletterd.")
        invoice = session.scalars(sa.select(Invoice).where(Invoice.number == number)).first()
        if invoice is None:
            raise _refuse("unknown_invoice", "invoice_number", "%(municipality)s heeft geen factuur %(number)s.",
                          municipality=tenant.name, number=number)
        if invoice.doc_type is not DocumentType.INVOICE:
            raise _refuse("not_an_invoice", "invoice_number", "%(number)s is een creditnota; kies de factuur.",
                          number=number)
        try:
            _book_invoice(session, tenant, line, invoice, user_id, note=(note or "").strip()[:500] or None)
        except LedgerError as exc:
            raise _refuse("booking_failed", "line", "Boeken lukte niet: %(error)s", error=str(exc)) from None
        session.commit()


def ignore_line(session: Session, line_id: int, note: str, user_id: int) -> BankLine:
    """Set the line aside as not the platform's money or handled elsewhere, with a note
    (required; audited). Flushes; the caller commits."""
    note = (note or "").strip()
    if len(note) < 3:
        raise _refuse("required", "note", "Schrijf in een notitie waarom deze regel niet wordt afgeletterd "
                                          "(minstens 3 tekens).")
    line = _locked_line(session, line_id)
    _open_for_review(line)
    line.status, line.note = LineStatus.IGNORED, note[:500]
    line.resolved_at, line.resolved_by_user_id = utcnow(), user_id
    session.flush()
    record(session, "bank.line_ignored", object_type="bank_line", object_id=line.id,
           changes={"amount_cents": line.amount_cents, "note": line.note})
    return line


# -- reading for the pages -----------------------------------------------------------------------


@dataclass
class Page:
    """One page of a list."""

    items: list
    page: int
    per_page: int
    total: int


def list_statements(session: Session, page: int = 1, per_page: int = 50) -> Page:
    """Statements, the latest imported first."""
    total = session.scalar(sa.select(sa.func.count()).select_from(BankStatement))
    items = session.scalars(sa.select(BankStatement).order_by(BankStatement.id.desc())
                            .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), page, per_page, total)


def list_lines(session: Session, *, status: LineStatus | None = None, statement_id: int | None = None,
               page: int = 1, per_page: int = 50) -> Page:
    """Statement lines (by status, of a statement), oldest booking first."""
    query = sa.select(BankLine)
    if status is not None:
        query = query.where(BankLine.status == status)
    if statement_id is not None:
        query = query.where(BankLine.statement_id == statement_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(BankLine.booking_date, BankLine.id)
                            .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), page, per_page, total)


def queue_count(session: Session) -> int:
    """How many lines wait in the review queue."""
    return session.scalar(sa.select(sa.func.count()).select_from(BankLine)
                          .where(BankLine.status == LineStatus.UNMATCHED))
