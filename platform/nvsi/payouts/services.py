"""Premium payouts: plan and generate a moment's batch over every municipality, and settle its
items from the bank statement or by hand.

**What is paid.** At payment moment *M* (:mod:`nvsi.payouts.moments`), candidate *c* of
municipality *t* is paid ``Σ accrued_cents`` of *c*'s premium accruals with a work date up to and
including *M*'s day (accruals are within the yearly cap; the flagged excess is never accrued)
**minus** every amount of *c* in a payout that is pending or confirmed. Rejected and returned
payouts do not count, so their amount is paid again at the next moment. Only positive amounts
are paid; a candidate without a valid SEPA IBAN is *skipped*: listed in the batch with the reason,
not in the file, nothing booked.

**Generating** (:func:`generate`) is a job over all tenants, so it takes ``db`` and makes its own
sessions: first one read-only session per municipality (its accruals, its candidates' names and
IBANs), then one shared session that, under a lock (PostgreSQL: an advisory transaction lock;
the unique key on the moment is the final guard on both backends), finds no batch for the
moment, subtracts what is paid or pending, writes the batch, its items, the encrypted file, the
pending ledger postings (Dr 1600/t, Cr 1605/t per municipality) and the audit rows, and commits.

**Settling** an item (:func:`confirm_from_statement`, :func:`confirm_items`, :func:`void_item`)
works on a session of the shared level (or a tenant-bound one: the tables are shared); those
functions flush, never commit. Confirmed: Dr 1605/t, Cr 1000. Rejected before payment: Dr 1605/t,
Cr 1600/t. Returned after payment: Dr 1000, Cr 1600/t.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy.orm import Session, undefer

from nvsi.audit.services import record
from nvsi.crypto import mask
from nvsi.db import ObjectNotFound, utcnow
from nvsi.ledger import chart
from nvsi.ledger.services import Line, Posting, closed_period_on, post_many
from nvsi.payouts import moments, sepa
from nvsi.payouts.models import COMMITTED, BatchStatus, ItemStatus, PayoutBatch, PayoutItem
from nvsi.payouts.moments import Moment
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.naming import slug_for_schema
from nvsi.tenancy.routing import TENANT_KEY, RoutingSession, TenantRef, for_each_tenant

log = logging.getLogger(__name__)

#: The advisory lock (PostgreSQL) that serialises batch generation ("PAYO").
LOCK_KEY = 0x5041594F
#: Who the audit log names when no user acted.
SYSTEM_ACTOR = "system:premium-payout"
#: Why an item was skipped, in the user's language (see :func:`skip_reason_label`).
SKIP_REASONS = ("iban_missing", "iban_invalid", "iban_outside_sepa")


class PayoutRefused(RuleViolations):
    """A payout action was refused; each reason is a violation (422)."""


class BatchNotFound(ObjectNotFound):
    """No payout batch with this id."""


class ItemNotFound(ObjectNotFound):
    """No payout item with this id (or not this municipality's)."""


# -- identifiers ----------------------------------------------------------------------------------


def payment_info_id(moment: Moment) -> str:
    """The file's message id and payment information id: ``NVSI-PREMIE-2026-H1``."""
    return f"NVSI-PREMIE-{moment.label}"


def end_to_end_id(moment: Moment, tenant_id: int, candidate_id: int) -> str:
    """The end-to-end id of one payment: ``NVSI-2026-H1-<tenant>-<candidate>`` (unique: one
    payment per candidate per moment). The candidate's bank shows it; it names no person."""
    value = f"NVSI-{moment.label}-{tenant_id}-{candidate_id}"
    if len(value) > 35:
        raise ValueError("end-to-end id longer than 35 characters")
    return value


def remittance(moment: Moment, tenant_name: str) -> str:
    """What the candidate reads on the bank statement."""
    return f"Premie Flextensie t/m {moment.day:%d-%m-%Y}, {tenant_name}"[:140]


def validated_iban(raw: str | None) -> tuple[str | None, str | None]:
    """``(IBAN in compact form, None)`` when ``raw`` is a valid IBAN in the SEPA zone (checked with
    schwifty), else ``(None, reason)`` with the reason it cannot be paid to."""
    if raw is None or not str(raw).strip():
        return None, "iban_missing"
    try:
        iban = IBAN(str(raw))
    except SchwiftyException:
        return None, "iban_invalid"
    if not iban.in_sepa_zone:
        return None, "iban_outside_sepa"
    return iban.compact, None


# -- the plan -------------------------------------------------------------------------------------


@dataclass
class PlannedItem:
    """A candidate to pay at the moment (or to skip, with the reason)."""

    tenant: TenantRef
    candidate_id: int
    name: str
    iban: str | None
    amount_cents: int
    skip_reason: str | None = None

    @property
    def iban_masked(self) -> str:
        return mask(self.iban, 4)


@dataclass
class TenantTotal:
    """One municipality's share of a batch."""

    tenant: TenantRef
    count: int = 0
    cents: int = 0
    skipped: int = 0


@dataclass
class Plan:
    """What generating the moment's batch would pay (nothing written), or the batch made before."""

    moment: Moment
    execution_date: dt.date
    items: list[PlannedItem] = field(default_factory=list)
    skipped: list[PlannedItem] = field(default_factory=list)
    refusals: list[Violation] = field(default_factory=list)
    batch_id: int | None = None

    @property
    def total_cents(self) -> int:
        return sum(i.amount_cents for i in self.items)

    @property
    def by_tenant(self) -> list[TenantTotal]:
        totals: dict[int, TenantTotal] = {}
        for item in self.items:
            row = totals.setdefault(item.tenant.id, TenantTotal(item.tenant))
            row.count, row.cents = row.count + 1, row.cents + item.amount_cents
        for item in self.skipped:
            totals.setdefault(item.tenant.id, TenantTotal(item.tenant)).skipped += 1
        return sorted(totals.values(), key=lambda t: t.tenant.name)


@dataclass(frozen=True)
class Generated:
    """The outcome of :func:`generate`: the moment's batch and whether this call made it."""

    batch_id: int
    created: bool
    moment: Moment
    item_count: int
    total_cents: int
    skipped_count: int
    file_sha256: str


@dataclass(frozen=True)
class _Accrued:
    """A candidate's premium accrued up to the moment, with what the file needs."""

    candidate_id: int
    cents: int
    name: str
    iban: str | None


def payable_tenants(session: Session) -> list[TenantRef]:
    """The municipalities whose candidates are paid: active and suspended (a suspended or leaving
    member's candidates keep their premium), whose schema still exists."""
    from nvsi.tenancy.services import schema_dropped, tenant_ref

    rows = session.scalars(sa.select(Tenant).where(Tenant.status.in_((TenantStatus.ACTIVE, TenantStatus.SUSPENDED)),
                                                   ~schema_dropped()).order_by(Tenant.slug))
    return [tenant_ref(t) for t in rows]


def accrued_up_to(session: Session, up_to: dt.date) -> list[_Accrued]:
    """In a tenant-bound session: per candidate with a positive premium accrued for work up to
    ``up_to`` (reversals included), the cents and the name and IBAN the payment needs."""
    from tenants.candidates.models import Candidate
    from tenants.premiums.models import PremiumAccrual

    totals = {
        candidate_id: int(total)
        for candidate_id, total in session.execute(
            sa.select(PremiumAccrual.candidate_id, sa.func.sum(PremiumAccrual.accrued_cents))
            .where(PremiumAccrual.work_date <= up_to).group_by(PremiumAccrual.candidate_id))
        if total and total > 0
    }
    if not totals:
        return []
    people = session.execute(sa.select(Candidate.id, Candidate.first_name, Candidate.last_name, Candidate.iban)
                             .where(Candidate.id.in_(list(totals))).order_by(Candidate.id))
    return [_Accrued(id_, totals[id_], f"{first} {last}".strip(), iban) for id_, first, last, iban in people]


def committed_cents(session: Session, tenant_id: int | None = None) -> dict[tuple[int, int], int]:
    """Per (municipality, candidate): the cents paid or in payment (pending and confirmed items);
    of one municipality, or of all."""
    query = (sa.select(PayoutItem.tenant_id, PayoutItem.candidate_id, sa.func.sum(PayoutItem.amount_cents))
             .where(PayoutItem.status.in_(COMMITTED)).group_by(PayoutItem.tenant_id, PayoutItem.candidate_id))
    if tenant_id is not None:
        query = query.where(PayoutItem.tenant_id == tenant_id)
    return {(t, c): int(total) for t, c, total in session.execute(query)}


def committed_by_candidate(session: Session, tenant_id: int | None = None) -> dict[int, int]:
    """Per candidate of one municipality: the cents paid or in payment. Without ``tenant_id``,
    the municipality is the one the (tenant-bound) session serves. Used by
    :func:`tenants.premiums.services.payable_by_candidate`, so nothing is paid twice."""
    if tenant_id is None:
        schema = session.info.get(TENANT_KEY)
        if schema is None:
            raise ValueError("committed_by_candidate needs a tenant-bound session or a tenant_id")
        tenant_id = session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug_for_schema(schema)))
        if tenant_id is None:
            return {}
    return {c: cents for (_, c), cents in committed_cents(session, tenant_id).items()}


def _read_accruals(db, moment: Moment, tenants: list[TenantRef], router=None,
                   progress: Callable[[TenantRef], None] | None = None) -> dict[int, tuple[TenantRef, list[_Accrued]]]:
    """Every municipality's accrued premium up to the moment: one read-only session each."""
    found: dict[int, tuple[TenantRef, list[_Accrued]]] = {}

    def work(session, tenant):
        found[tenant.id] = (tenant, accrued_up_to(session, moment.day))
        if progress is not None:
            progress(tenant)

    for_each_tenant(db, work, tenants=tenants, router=router)
    return found


def _items(accrued: dict[int, tuple[TenantRef, list[_Accrued]]], committed: dict[tuple[int, int], int],
           plan: Plan) -> None:
    """Fill ``plan`` with what is payable: accrued minus committed, positive, by IBAN validity."""
    for tenant, rows in sorted(accrued.values(), key=lambda v: v[0].slug):
        for row in rows:
            cents = row.cents - committed.get((tenant.id, row.candidate_id), 0)
            if cents <= 0:
                continue
            iban, reason = validated_iban(row.iban)
            item = PlannedItem(tenant, row.candidate_id, row.name, iban, cents, reason)
            (plan.skipped if reason else plan.items).append(item)


def refusals(session: Session, moment: Moment, execution_date: dt.date, today: dt.date, config) -> list[Violation]:
    """Why the moment's batch cannot be generated now (empty: it can)."""
    problems: list[Violation] = []
    if not moments.is_payment_moment(session, moment):
        days = ", ".join(d.strftime("%d-%m-%Y") for d in moments.moment_days(session, moment.year))
        problems.append(violation(
            "not_a_payment_moment", "moment", "premium_payment_moments", None,
            "%(moment)s is geen betaalmoment: de regelset kent in %(year)s deze betaalmomenten: %(days)s.",
            moment=moment.label, year=str(moment.year), days=days))
    elif today < moment.day:
        problems.append(violation(
            "moment_not_reached", "moment", None, None,
            "Het betaalmoment %(moment)s valt op %(day)s; de batch kan vanaf die dag worden gemaakt.",
            moment=moment.label, day=moment.day.strftime("%d-%m-%Y")))
    if execution_date < today:
        problems.append(violation("execution_date_past", "execution_date", None, None,
                                  "De uitvoeringsdatum ligt in het verleden; kies vandaag of later."))
    elif (execution_date - today).days > moments.MAX_EXECUTION_LEAD_DAYS and not problems:
        problems.append(violation(
            "execution_date_too_far", "execution_date", None, None,
            "De uitvoeringsdatum ligt meer dan %(days)s dagen na vandaag.", days=str(moments.MAX_EXECUTION_LEAD_DAYS)))
    try:
        sepa.debtor_from_config(config)
    except sepa.DebtorAccountInvalid:
        problems.append(violation("debtor_account_invalid", None, None, None,
                                  "Het IBAN van de NVSI-rekening (INVOICE_SELLER_IBAN) ontbreekt of is ongeldig."))
    return problems


def _nothing_to_pay(moment: Moment, skipped: int) -> Violation:
    return violation("nothing_to_pay", "moment", None, None,
                     "Bij het betaalmoment %(moment)s is aan niemand premie uit te betalen "
                     "(%(skipped)s kandidaten overgeslagen wegens een ontbrekend of ongeldig IBAN).",
                     moment=moment.label, skipped=str(skipped))


def batch_for_moment(session: Session, moment: Moment) -> PayoutBatch | None:
    """The batch of ``moment``, if it was generated."""
    return session.scalar(sa.select(PayoutBatch).where(PayoutBatch.moment == moment.label))


def _config(config):
    if config is not None:
        return config
    from flask import current_app

    return current_app.config


def preview(db, moment: Moment, execution_date: dt.date | None = None, *, today: dt.date | None = None,
            config=None, router=None) -> Plan:
    """What generating ``moment``'s batch would pay now, and why it would be refused; nothing is
    written. A moment generated before answers with its batch id (and no items)."""
    today = today or dt.date.today()
    execution_date = execution_date or moments.default_execution_date(moment, today)
    plan = Plan(moment, execution_date)
    listing = RoutingSession(db, router=router)
    try:
        existing = batch_for_moment(listing, moment)
        if existing is not None:
            plan.batch_id = existing.id
            return plan
        plan.refusals = refusals(listing, moment, execution_date, today, _config(config))
        tenants = payable_tenants(listing)
    finally:
        listing.close()
    accrued = _read_accruals(db, moment, tenants, router)
    check = RoutingSession(db, router=router)
    try:
        _items(accrued, committed_cents(check), plan)
    finally:
        check.close()
    if not plan.items and not any(v.field == "moment" for v in plan.refusals):
        plan.refusals.append(_nothing_to_pay(moment, len(plan.skipped)))
    return plan


def _lock(session: Session) -> None:
    """One generation at a time (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY, 0)))


def _generated(batch: PayoutBatch, created: bool) -> Generated:
    return Generated(batch.id, created, Moment.parse(batch.moment), batch.item_count, batch.total_cents,
                     batch.skipped_count, batch.file_sha256)


def generate(db, moment: Moment, execution_date: dt.date | None = None, user_id: int | None = None, *,
             today: dt.date | None = None, config=None, router=None,
             progress: Callable[[TenantRef], None] | None = None) -> Generated:
    """Generate the batch of ``moment`` over every municipality (see the module's docstring) and
    commit it. One batch per moment: when it exists (also made concurrently), it is returned with
    ``created`` False and nothing else happens. :class:`PayoutRefused` when the moment is not a
    payment moment of the rule set or not reached, the execution date is not today–30 days ahead,
    the NVSI account is not set up, or nobody is to be paid."""
    today = today or dt.date.today()
    config = _config(config)
    execution_date = execution_date or moments.default_execution_date(moment, today)
    listing = RoutingSession(db, router=router)
    try:
        existing = batch_for_moment(listing, moment)
        if existing is not None:
            return _generated(existing, False)
        problems = refusals(listing, moment, execution_date, today, config)
        tenants = payable_tenants(listing)
    finally:
        listing.close()
    if problems:
        raise PayoutRefused(problems)
    accrued = _read_accruals(db, moment, tenants, router, progress)

    session = RoutingSession(db, router=router)
    try:
        _lock(session)
        existing = batch_for_moment(session, moment)
        if existing is not None:
            return _generated(existing, False)
        plan = Plan(moment, execution_date)
        _items(accrued, committed_cents(session), plan)
        if not plan.items:
            raise PayoutRefused([_nothing_to_pay(moment, len(plan.skipped))])
        try:
            batch = _write(session, plan, sepa.debtor_from_config(config), today, user_id)
            result = _generated(batch, True)
            session.commit()
        except sa.exc.IntegrityError:
            # A concurrent generation (SQLite: no advisory lock) committed this moment first.
            session.rollback()
            existing = batch_for_moment(session, moment)
            if existing is None:
                raise
            return _generated(existing, False)
    finally:
        session.close()
    log.info("premium payout batch generated", extra={"fields": {
        "moment": moment.label, "batch": result.batch_id, "items": result.item_count, "skipped": result.skipped_count}})
    return result


def _write(session: Session, plan: Plan, debtor: sepa.Debtor, today: dt.date, user_id: int | None) -> PayoutBatch:
    """Write the batch, its items, the file, the pending postings and the audit rows (flushed)."""
    moment = plan.moment
    ids = payment_info_id(moment)
    transfers = [sepa.Transfer(end_to_end_id(moment, i.tenant.id, i.candidate_id), i.name, i.iban, i.amount_cents,
                               remittance(moment, i.tenant.name)) for i in plan.items]
    document = sepa.build(debtor, ids, ids, plan.execution_date, transfers)
    batch = PayoutBatch(
        moment=moment.label, moment_date=moment.day, execution_date=plan.execution_date, status=BatchStatus.GENERATED,
        message_id=ids, payment_info_id=ids, item_count=len(plan.items), total_cents=plan.total_cents,
        skipped_count=len(plan.skipped), debtor_name=debtor.name[:70], debtor_iban=debtor.iban, debtor_bic=debtor.bic,
        file_xml=document.decode("utf-8"), file_sha256=sepa.sha256(document), generated_on=today,
        created_by_user_id=user_id,
    )
    session.add(batch)
    session.flush()

    postings: dict[int, Posting] = {}
    for share in plan.by_tenant:
        if share.cents:
            postings[share.tenant.id] = Posting(
                f"premium-payout:{moment.label}:{share.tenant.id}", today,
                [Line(chart.PREMIUMS_PAYABLE, share.cents), Line(chart.PREMIUMS_IN_PAYMENT, -share.cents)],
                share.tenant.id, "premium_payout",
                f"Premie-uitbetaling {moment.label}: {share.count} kandidaten (in betaling)",
                ("premium_payout_batch", str(batch.id)), user_id=user_id)
    rows = [dict(batch_id=batch.id, tenant_id=i.tenant.id, candidate_id=i.candidate_id, status=ItemStatus.PENDING,
                 amount_cents=i.amount_cents, end_to_end_id=t.end_to_end_id, creditor_name=i.name[:140], iban=i.iban,
                 pending_transaction_id=postings[i.tenant.id].id)
            for i, t in zip(plan.items, transfers, strict=True)]
    rows += [dict(batch_id=batch.id, tenant_id=i.tenant.id, candidate_id=i.candidate_id, status=ItemStatus.SKIPPED,
                  amount_cents=i.amount_cents, creditor_name=i.name[:140], iban=None, skip_reason=i.skip_reason)
             for i in plan.skipped]
    session.execute(sa.insert(PayoutItem), rows)
    post_many(session, list(postings.values()))

    actor = {} if user_id is not None else {"actor_label": SYSTEM_ACTOR}
    record(session, "payouts.generate", object_type="premium_payout_batch", object_id=batch.id, changes={
        "moment": moment.label, "execution_date": plan.execution_date.isoformat(), "items": batch.item_count,
        "total_cents": batch.total_cents, "skipped": batch.skipped_count, "file_sha256": batch.file_sha256}, **actor)
    for share in plan.by_tenant:
        record(session, "payouts.generate", tenant_id=share.tenant.id, object_type="premium_payout_batch",
               object_id=batch.id, changes={"moment": moment.label, "items": share.count, "total_cents": share.cents,
                                            "skipped": share.skipped}, **actor)
    session.flush()
    return batch


# -- reading --------------------------------------------------------------------------------------


def list_batches(session: Session, limit: int = 100) -> list[PayoutBatch]:
    """Batches, newest moment first."""
    return list(session.scalars(sa.select(PayoutBatch).order_by(PayoutBatch.moment_date.desc()).limit(limit)))


def get_batch(session: Session, batch_id: int) -> PayoutBatch:
    """The batch ``batch_id``; :class:`BatchNotFound` otherwise."""
    batch = session.get(PayoutBatch, batch_id)
    if batch is None:
        raise BatchNotFound(batch_id)
    return batch


def batch_items(session: Session, batch: PayoutBatch, *, tenant_id: int | None = None,
                status: ItemStatus | None = None, with_iban: bool = True) -> list[PayoutItem]:
    """The items of ``batch`` (optionally of one municipality or status), by municipality and name;
    ``with_iban`` loads (decrypts) their IBANs in the same query, for pages that show them masked."""
    query = (sa.select(PayoutItem).join(Tenant, Tenant.id == PayoutItem.tenant_id)
             .where(PayoutItem.batch_id == batch.id).order_by(Tenant.name, PayoutItem.creditor_name, PayoutItem.id))
    if with_iban:
        query = query.options(undefer(PayoutItem.iban))
    if tenant_id is not None:
        query = query.where(PayoutItem.tenant_id == tenant_id)
    if status is not None:
        query = query.where(PayoutItem.status == status)
    return list(session.scalars(query))


def status_counts(session: Session, batch: PayoutBatch) -> dict[ItemStatus, tuple[int, int]]:
    """Per item status of ``batch``: (number, cents)."""
    rows = session.execute(sa.select(PayoutItem.status, sa.func.count(), sa.func.sum(PayoutItem.amount_cents))
                           .where(PayoutItem.batch_id == batch.id).group_by(PayoutItem.status))
    return {status: (int(n), int(c or 0)) for status, n, c in rows}


def get_item(session: Session, item_id: int, tenant_id: int | None = None) -> PayoutItem:
    """The item ``item_id`` (of municipality ``tenant_id`` when given); :class:`ItemNotFound`
    otherwise, the same for missing and for another municipality's."""
    item = session.get(PayoutItem, item_id)
    if item is None or (tenant_id is not None and item.tenant_id != tenant_id):
        raise ItemNotFound(item_id)
    return item


def tenant_items(session: Session, tenant_id: int, limit: int = 500) -> list[PayoutItem]:
    """One municipality's payout items (paid, pending, rejected and skipped), newest moment first."""
    return list(session.scalars(
        sa.select(PayoutItem).join(PayoutBatch, PayoutBatch.id == PayoutItem.batch_id)
        .options(undefer(PayoutItem.iban)).where(PayoutItem.tenant_id == tenant_id)
        .order_by(PayoutBatch.moment_date.desc(), PayoutItem.creditor_name, PayoutItem.id).limit(limit)))


def download(session: Session, batch: PayoutBatch, user_id: int | None) -> bytes:
    """The batch's pain.001 file, decrypted and checked against its SHA-256; the download is
    recorded in the audit log (the file names candidates and their IBANs)."""
    data = batch.file_xml.encode("utf-8")
    if sepa.sha256(data) != batch.file_sha256:
        raise RuntimeError(f"payout batch {batch.id}: the stored file does not match its SHA-256")
    record(session, "payouts.download", object_type="premium_payout_batch", object_id=batch.id,
           changes={"moment": batch.moment, "file_sha256": batch.file_sha256},
           **({} if user_id is not None else {"actor_label": SYSTEM_ACTOR}))
    return data


def mark_sent(session: Session, batch: PayoutBatch, user_id: int | None) -> PayoutBatch:
    """Record that the file was handed to the bank (once; again changes nothing)."""
    if batch.sent_at is None:
        batch.sent_at, batch.sent_by_user_id = utcnow(), user_id
        if batch.status is BatchStatus.GENERATED:
            batch.status = BatchStatus.SENT
        record(session, "payouts.mark_sent", object_type="premium_payout_batch", object_id=batch.id,
               changes={"moment": batch.moment}, **({} if user_id is not None else {"actor_label": SYSTEM_ACTOR}))
        session.flush()
    return batch


# -- settling items -------------------------------------------------------------------------------


def _refresh(session: Session, batch: PayoutBatch) -> None:
    """The batch's status from its items: open while any is pending, else by outcome."""
    session.flush()
    counts = status_counts(session, batch)
    if counts.get(ItemStatus.PENDING):
        batch.status = BatchStatus.SENT if batch.sent_at is not None else BatchStatus.GENERATED
        batch.settled_at = None
        return
    paid = counts.get(ItemStatus.CONFIRMED, (0, 0))[0]
    failed = counts.get(ItemStatus.REJECTED, (0, 0))[0] + counts.get(ItemStatus.RETURNED, (0, 0))[0]
    batch.status = (BatchStatus.CONFIRMED if not failed else
                    BatchStatus.REJECTED if not paid else BatchStatus.PARTLY_REJECTED)
    batch.settled_at = batch.settled_at or utcnow()


def _booking_date(session: Session, tenant_id: int, wanted: dt.date, today: dt.date) -> dt.date:
    """``wanted``, unless the municipality's period containing it is settled: then today."""
    return today if closed_period_on(session, tenant_id, wanted) is not None else wanted


def _locked(session: Session, ids: list[int]) -> list[PayoutItem]:
    """The items ``ids``, re-read and locked for this transaction (PostgreSQL: FOR UPDATE)."""
    if not ids:
        return []
    return list(session.scalars(sa.select(PayoutItem).where(PayoutItem.id.in_(ids)).order_by(PayoutItem.id)
                                .with_for_update(of=PayoutItem).execution_options(populate_existing=True)))


def _post(session: Session, action: str, items: list[PayoutItem], booked_on: dt.date, today: dt.date,
          user_id: int | None) -> dict[int, object]:
    """One ledger transaction per municipality for ``items`` (action: confirm, reject, return)."""
    by_tenant: dict[int, list[PayoutItem]] = defaultdict(list)
    for item in items:
        by_tenant[item.tenant_id].append(item)
    postings = []
    for tenant_id, group in sorted(by_tenant.items()):
        cents = sum(i.amount_cents for i in group)
        lines = {
            "confirm": [Line(chart.PREMIUMS_IN_PAYMENT, cents), Line(chart.BANK, -cents)],
            "reject": [Line(chart.PREMIUMS_IN_PAYMENT, cents), Line(chart.PREMIUMS_PAYABLE, -cents)],
            "return": [Line(chart.BANK, cents), Line(chart.PREMIUMS_PAYABLE, -cents)],
        }[action]
        digest = hashlib.sha256(",".join(str(i.id) for i in group).encode()).hexdigest()[:16]
        batch = group[0].batch
        text = {"confirm": "betaald", "reject": "geweigerd door de bank", "return": "teruggeboekt door de bank"}[action]
        postings.append(Posting(
            f"premium-payout-{action}:{batch.moment}:{tenant_id}:{digest}",
            _booking_date(session, tenant_id, booked_on, today), lines, tenant_id, "premium_payout",
            f"Premie-uitbetaling {batch.moment}: {len(group)} kandidaten {text}",
            ("premium_payout_batch", str(batch.id)), user_id=user_id))
    transactions = post_many(session, postings)
    return {p.tenant_id: t.id for p, t in zip(postings, transactions, strict=True)}


def _audit(session: Session, action: str, items: list[PayoutItem], user_id: int | None, **changes) -> None:
    """One audit row per item; for a whole batch at once (a batch-booked debit), one per
    municipality with the count and the total, so a statement line does not write thousands."""
    actor = {} if user_id is not None else {"actor_label": SYSTEM_ACTOR}
    if len(items) == 1:
        item = items[0]
        record(session, f"payouts.{action}", tenant_id=item.tenant_id, object_type="premium_payout_item",
               object_id=item.id, changes={"moment": item.batch.moment, "amount_cents": item.amount_cents, **changes},
               **actor)
        return
    by_tenant: dict[int, list[PayoutItem]] = defaultdict(list)
    for item in items:
        by_tenant[item.tenant_id].append(item)
    for tenant_id, group in sorted(by_tenant.items()):
        batch = group[0].batch
        record(session, f"payouts.{action}", tenant_id=tenant_id, object_type="premium_payout_batch", object_id=batch.id,
               changes={"moment": batch.moment, "items": len(group), "amount_cents": sum(i.amount_cents for i in group),
                        **changes}, **actor)


def confirm_items(session: Session, items: Iterable[PayoutItem], booked_on: dt.date, *, ref: str = "manual",
                  user_id: int | None = None, today: dt.date | None = None) -> list[PayoutItem]:
    """Confirm the pending ones of ``items`` as paid on ``booked_on``: Dr 1605/t, Cr 1000 (one
    transaction per municipality). Items not pending are left as they are. Returns those confirmed."""
    today = today or dt.date.today()
    locked = [i for i in _locked(session, [i.id for i in items]) if i.status is ItemStatus.PENDING]
    if not locked:
        return []
    transactions = _post(session, "confirm", locked, booked_on, today, user_id)
    for item in locked:
        item.status, item.confirmed_on, item.confirmed_by_ref = ItemStatus.CONFIRMED, booked_on, ref[:200]
        item.confirm_transaction_id, item.settled_by_user_id = transactions[item.tenant_id], user_id
        item.updated_at = utcnow()
    _audit(session, "confirm", locked, user_id, booked_on=booked_on.isoformat(), ref=ref)
    for batch in {i.batch for i in locked}:
        _refresh(session, batch)
    session.flush()
    return locked


def void_item(session: Session, item: PayoutItem, booked_on: dt.date, *, reason: str | None = None,
              note: str | None = None, ref: str = "manual", user_id: int | None = None,
              today: dt.date | None = None) -> PayoutItem | None:
    """The bank refused (pending: Dr 1605/t, Cr 1600/t; ``rejected``) or returned (confirmed:
    Dr 1000, Cr 1600/t; ``returned``) the payment: the amount is payable again at the next moment.
    Returns the item, or None when it was rejected or returned before (nothing changes)."""
    today = today or dt.date.today()
    [locked] = _locked(session, [item.id])
    if locked.status not in (ItemStatus.PENDING, ItemStatus.CONFIRMED):
        return None
    action = "reject" if locked.status is ItemStatus.PENDING else "return"
    transactions = _post(session, action, [locked], booked_on, today, user_id)
    locked.status = ItemStatus.REJECTED if action == "reject" else ItemStatus.RETURNED
    locked.voided_on, locked.voided_by_ref, locked.void_transaction_id = booked_on, ref[:200], transactions[locked.tenant_id]
    locked.return_reason, locked.note = reason, (note or None) and note[:500]
    locked.settled_by_user_id, locked.updated_at = user_id, utcnow()
    _audit(session, "reject" if action == "reject" else "return", [locked], user_id,
           booked_on=booked_on.isoformat(), reason=reason, note=note, ref=ref)
    _refresh(session, locked.batch)
    session.flush()
    return locked


def _manual_date(booked_on: dt.date | None, generated_on: dt.date, today: dt.date) -> dt.date:
    """The booking date of a confirmation or rejection by hand: given or today; not in the future,
    not before the batch was generated."""
    booked_on = booked_on or today
    problems = []
    if booked_on > today:
        problems.append(violation("booked_on_future", "booked_on", None, None,
                                  "De boekdatum ligt in de toekomst; kies vandaag of eerder."))
    elif booked_on < generated_on:
        problems.append(violation("booked_on_before_batch", "booked_on", None, None,
                                  "De boekdatum ligt vóór het maken van de batch (%(day)s).",
                                  day=generated_on.strftime("%d-%m-%Y")))
    if problems:
        raise PayoutRefused(problems)
    return booked_on


def confirm_by_hand(session: Session, item: PayoutItem, booked_on: dt.date | None, user_id: int | None,
                    today: dt.date | None = None) -> PayoutItem:
    """The backoffice confirms one payment from the bank's own report (audited). Only a pending
    item; anything else is refused with the reason."""
    today = today or dt.date.today()
    day = _manual_date(booked_on, item.batch.generated_on, today)
    if item.status is not ItemStatus.PENDING:
        raise PayoutRefused([violation("item_not_pending", None, None, None,
                                       "Deze betaling wacht niet (meer) op de bank: ze is al verwerkt.")])
    if not confirm_items(session, [item], day, user_id=user_id, today=today):
        raise PayoutRefused([violation("item_not_pending", None, None, None,
                                       "Deze betaling wacht niet (meer) op de bank: ze is al verwerkt.")])
    return item


def confirm_batch_by_hand(session: Session, batch: PayoutBatch, booked_on: dt.date | None, user_id: int | None,
                          today: dt.date | None = None) -> list[PayoutItem]:
    """The backoffice confirms every pending payment of ``batch`` (the bank debited the batch)."""
    today = today or dt.date.today()
    day = _manual_date(booked_on, batch.generated_on, today)
    pending = batch_items(session, batch, status=ItemStatus.PENDING, with_iban=False)
    if not pending:
        raise PayoutRefused([violation("nothing_pending", None, None, None,
                                       "Er wachten geen betalingen van deze batch op de bank.")])
    return confirm_items(session, pending, day, user_id=user_id, today=today)


#: ISO 20022 return reasons a person chooses from (a bank may give others).
RETURN_REASONS = ("AC01", "AC04", "AC06", "AG01", "AM05", "BE04", "MD07", "MS02", "MS03", "RC01", "RR01")


def reject_by_hand(session: Session, item: PayoutItem, booked_on: dt.date | None, reason: str | None, note: str,
                   user_id: int | None, today: dt.date | None = None) -> PayoutItem:
    """The backoffice records that the bank refused or returned a payment (audited), with the
    bank's reason code (optional) and a note (required)."""
    today = today or dt.date.today()
    note = " ".join((note or "").split())
    problems = []
    if not 3 <= len(note) <= 500:
        problems.append(violation("note_required", "note", None, None,
                                  "Schrijf een toelichting (3 tot 500 tekens), bijvoorbeeld wat de bank meldde."))
    if reason is not None and not re.fullmatch(r"[A-Z0-9]{4}", reason):
        problems.append(violation("reason_format", "reason", None, None,
                                  "Een redencode heeft vier hoofdletters of cijfers, bijvoorbeeld AC04."))
    if item.status not in (ItemStatus.PENDING, ItemStatus.CONFIRMED):
        problems.append(violation("item_not_open", None, None, None,
                                  "Deze betaling is al geweigerd of teruggeboekt, of stond niet in het bestand."))
    try:
        day = _manual_date(booked_on, item.batch.generated_on, today)
    except PayoutRefused as exc:
        problems += exc.violations
    if problems:
        raise PayoutRefused(problems)
    if void_item(session, item, day, reason=reason or None, note=note, user_id=user_id, today=today) is None:
        raise PayoutRefused([violation("item_not_open", None, None, None,
                                       "Deze betaling is al geweigerd of teruggeboekt, of stond niet in het bestand.")])
    return item


# -- the bank statement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    """A parsed line of the NVSI account's statement, as the bank import passes it.

    ``ref`` identifies the line for good (e.g. ``camt:<statement>:<entry key>``): a line confirms
    or rejects once. ``direction`` is ``debit`` (money out: a payment, or the whole batch) or
    ``credit`` (money in: a return). Amounts in cents, never negative.
    """

    ref: str
    direction: str
    amount_cents: int
    booking_date: dt.date
    end_to_end_id: str | None = None
    payment_info_id: str | None = None
    return_reason: str | None = None
    remittance_info: str | None = None


@dataclass(frozen=True)
class LineOutcome:
    """What a statement line did. ``outcome``: ``confirmed``, ``rejected``, ``returned`` (it
    changed something), ``already`` (this very line was applied before), ``duplicate`` (another
    line settled these items before: for the review queue), ``unmatched`` (not a premium payout,
    or the amount differs: ``reason`` says which)."""

    ref: str
    outcome: str
    batch_id: int | None = None
    item_ids: tuple[int, ...] = ()
    reason: str | None = None

    @property
    def matched(self) -> bool:
        """Whether the line belongs to a premium payout (the import marks it matched)."""
        return self.outcome in ("confirmed", "rejected", "returned", "already")


def _as_line(line) -> StatementLine:
    """A :class:`StatementLine` from one, or from any object with the same attributes (the
    bank import's own line rows: ``ref`` then falls back to ``bank-line:<id>``)."""
    if isinstance(line, StatementLine):
        return line
    ref = getattr(line, "ref", None) or (f"bank-line:{line.id}" if getattr(line, "id", None) is not None else None)
    if not ref:
        raise ValueError("a statement line needs a ref (or an id)")
    direction = getattr(line, "direction", None)
    direction = str(getattr(direction, "value", direction) or "").lower()
    return StatementLine(ref=ref, direction=direction, amount_cents=int(line.amount_cents),
                         booking_date=line.booking_date, end_to_end_id=getattr(line, "end_to_end_id", None),
                         payment_info_id=getattr(line, "payment_info_id", None),
                         return_reason=getattr(line, "return_reason", None),
                         remittance_info=getattr(line, "remittance_info", None))


def _batch_of(session: Session, line: StatementLine) -> PayoutBatch | None:
    """The batch a batch-booked debit names: by its payment information id (or, where the bank
    puts it, in the end-to-end id or the description)."""
    for value in (line.payment_info_id, line.end_to_end_id):
        if value:
            batch = session.scalar(sa.select(PayoutBatch).where(PayoutBatch.payment_info_id == value.strip()))
            if batch is not None:
                return batch
    text = (line.remittance_info or "").upper()
    if "NVSI-PREMIE-" in text:
        for batch in session.scalars(sa.select(PayoutBatch)):
            if batch.payment_info_id in text:
                return batch
    return None


def _apply(session: Session, line: StatementLine, today: dt.date) -> LineOutcome:
    item = None
    if line.end_to_end_id:
        item = session.scalar(sa.select(PayoutItem).where(PayoutItem.end_to_end_id == line.end_to_end_id.strip()))
    if line.direction == "credit":
        if item is None:
            return LineOutcome(line.ref, "unmatched", reason="not_a_payout")
        if item.voided_by_ref == line.ref:
            return LineOutcome(line.ref, "already", item.batch_id, (item.id,))
        if item.status not in (ItemStatus.PENDING, ItemStatus.CONFIRMED):
            return LineOutcome(line.ref, "duplicate", item.batch_id, (item.id,), reason="voided_before")
        if line.amount_cents != item.amount_cents:
            return LineOutcome(line.ref, "unmatched", item.batch_id, (item.id,), reason="amount_differs")
        done = void_item(session, item, line.booking_date, reason=(line.return_reason or None) and line.return_reason[:10],
                         ref=line.ref, today=today)
        if done is None:  # settled by someone else since it was read
            return LineOutcome(line.ref, "duplicate", item.batch_id, (item.id,), reason="voided_before")
        return LineOutcome(line.ref, "rejected" if done.status is ItemStatus.REJECTED else "returned",
                           item.batch_id, (item.id,))
    if line.direction != "debit":
        return LineOutcome(line.ref, "unmatched", reason="direction")
    if item is not None:
        if item.confirmed_by_ref == line.ref:
            return LineOutcome(line.ref, "already", item.batch_id, (item.id,))
        if item.status is not ItemStatus.PENDING:
            return LineOutcome(line.ref, "duplicate", item.batch_id, (item.id,), reason=f"item_{item.status.value}")
        if line.amount_cents != item.amount_cents:
            return LineOutcome(line.ref, "unmatched", item.batch_id, (item.id,), reason="amount_differs")
        if not confirm_items(session, [item], line.booking_date, ref=line.ref, today=today):
            return LineOutcome(line.ref, "duplicate", item.batch_id, (item.id,), reason="item_settled")
        return LineOutcome(line.ref, "confirmed", item.batch_id, (item.id,))
    batch = _batch_of(session, line)
    if batch is None:
        return LineOutcome(line.ref, "unmatched", reason="not_a_payout")
    items = batch_items(session, batch, with_iban=False)
    if any(i.confirmed_by_ref == line.ref for i in items):
        return LineOutcome(line.ref, "already", batch.id, tuple(i.id for i in items if i.confirmed_by_ref == line.ref))
    # The bank debits the whole file, or what is left after it refused some payments up front.
    paid = [i for i in items if i.status is not ItemStatus.SKIPPED]
    accepted = [i for i in paid if i.status is not ItemStatus.REJECTED]
    if line.amount_cents not in (sum(i.amount_cents for i in paid), sum(i.amount_cents for i in accepted)):
        return LineOutcome(line.ref, "unmatched", batch.id, reason="amount_differs")
    pending = [i for i in items if i.status is ItemStatus.PENDING]
    if not pending:
        return LineOutcome(line.ref, "duplicate", batch.id, reason="batch_settled_before")
    done = confirm_items(session, pending, line.booking_date, ref=line.ref, today=today)
    if not done:
        return LineOutcome(line.ref, "duplicate", batch.id, reason="batch_settled_before")
    return LineOutcome(line.ref, "confirmed", batch.id, tuple(i.id for i in done))


def confirm_from_statement(session: Session, lines: Iterable, *, today: dt.date | None = None) -> list[LineOutcome]:
    """Apply the debit and return lines of a bank statement to the premium payouts, in the
    caller's transaction (flushed, not committed): a debit with an item's end-to-end id confirms
    that item; a debit with a batch's payment information id and its total confirms the batch's
    pending items; a credit with an item's end-to-end id is a return (pending → rejected,
    confirmed → returned). Debits are applied before returns. Idempotent: a line applied before
    answers ``already`` and changes nothing. Returns one :class:`LineOutcome` per line, in the
    order given. See :class:`StatementLine` for what a line carries."""
    today = today or dt.date.today()
    parsed = [_as_line(line) for line in lines]
    order = sorted(range(len(parsed)), key=lambda i: (parsed[i].direction != "debit", parsed[i].booking_date, i))
    outcomes: dict[int, LineOutcome] = {}
    for index in order:
        outcomes[index] = _apply(session, parsed[index], today)
    session.flush()
    return [outcomes[i] for i in range(len(parsed))]


def skip_reason_label(reason: str | None) -> str:
    """Why a candidate was skipped, in the user's language."""
    from flask_babel import gettext as _

    return {
        "iban_missing": _("geen IBAN bekend"),
        "iban_invalid": _("IBAN ongeldig"),
        "iban_outside_sepa": _("IBAN buiten het SEPA-gebied"),
    }.get(reason or "", reason or "")


def unpayable(session: Session, tenant: TenantRef) -> list[PlannedItem]:
    """In the municipality's session: candidates who are owed premium now but could not be paid
    at a moment (IBAN missing, invalid or outside SEPA), for the municipality to fix."""
    from tenants.candidates.models import Candidate
    from tenants.premiums.services import payable_by_candidate

    owed = {c: cents for c, cents in payable_by_candidate(session).items() if cents > 0}
    if not owed:
        return []
    found = []
    for id_, first, last, iban in session.execute(
            sa.select(Candidate.id, Candidate.first_name, Candidate.last_name, Candidate.iban)
            .where(Candidate.id.in_(list(owed))).order_by(Candidate.last_name, Candidate.first_name, Candidate.id)):
        _valid, reason = validated_iban(iban)
        if reason:
            found.append(PlannedItem(tenant, id_, f"{first} {last}".strip(), None, owed[id_], reason))
    return found
