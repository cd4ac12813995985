"""Premiums and travel costs. Sessions are bound to one tenant (the ledger's shared tables are
reached through the same session, so tenant rows and postings commit together); functions
flush, never commit.

The accrual run (:func:`accrue`) is set-based: one query finds the entries to accrue, one the
accruals whose entry was corrected, one the totals accrued so far per candidate and year; the
cap is then applied in memory over those rows, and everything is written with bulk INSERTs and
one ledger :func:`~nvsi.ledger.services.post_many`. A re-run accrues nothing new: an entry is
accrued at most once (a unique key on entry and kind).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from nvsi.audit.services import record
from nvsi.db import ObjectNotFound, utcnow
from nvsi.ledger import chart
from nvsi.ledger.services import Line, PeriodClosed, Posting, closed_period_on, post, post_many
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.routing import TenantRef
from tenants.candidates.models import Candidate
from tenants.frameworks.services import rules_for
from tenants.placements.models import Placement, PlacementStatus
from tenants.premiums.models import AccrualKind, FlagStatus, PremiumAccrual, PremiumFlag, TravelCost
from tenants.timesheets.models import TimesheetEntry
from tenants.timesheets.services import counts

CENT = Decimal("1")


class FlagNotFound(ObjectNotFound):
    """No flagged premium with this id in this tenant."""


class TravelCostNotFound(ObjectNotFound):
    """No travel cost with this id in this tenant."""


class PremiumError(RuleViolations):
    """A premium review or travel cost was refused; ``violations`` names each field."""


def cents(euros: Decimal) -> int:
    """Euros to whole cents, half a cent rounded up (the one rounding point of premiums)."""
    return int((Decimal(euros) * 100).quantize(CENT, rounding=ROUND_HALF_UP))


# -- the accrual run ------------------------------------------------------------------------------


@dataclass
class AccrualRun:
    """What one run did in one tenant (cents)."""

    entries: int = 0
    accrued_cents: int = 0
    flagged_cents: int = 0
    reversed_entries: int = 0
    reversed_cents: int = 0
    transactions: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.entries or self.reversed_entries)


class _Rules:
    """The premium per hour and the yearly cap in force per work date (asked once per date)."""

    def __init__(self, session: Session, tenant: TenantRef):
        self.session, self.tenant, self.cache = session, tenant, {}

    def on(self, day: dt.date) -> tuple[int, int, int]:
        """(premium per hour in cents, yearly cap in cents, rule-set version) on ``day``."""
        if day not in self.cache:
            rules = rules_for(self.session, self.tenant, day)
            rate = rules["premium_per_hour"]
            self.cache[day] = (cents(rate.value), cents(rules["premium_yearly_cap"].value), rate.version)
        return self.cache[day]


def _lock(session: Session, tenant: TenantRef) -> None:
    """One run per tenant at a time on PostgreSQL (a transaction-scoped advisory lock); the
    second waits, then finds the first one's rows and accrues nothing twice. SQLite has one
    writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(0x5052454D, tenant.id)))  # "PREM"


def accrue(session: Session, tenant: TenantRef, up_to: dt.date, *, today: dt.date | None = None) -> AccrualRun:
    """Accrue the premium of every entry that counts (approved, not replaced by an approved
    correction) worked on or before ``up_to`` and not accrued yet, up to each candidate's yearly
    cap; flag the excess for review; reverse the accruals of entries an approved correction
    replaced. Books on ``today`` (the accrual date): Dr premium expense / Cr premiums payable,
    one transaction per run (and one for the reversals). :class:`PeriodClosed` when ``today``
    lies in a settled period. Idempotent."""
    today = today or dt.date.today()
    closed = closed_period_on(session, tenant.id, today)
    if closed is not None:
        raise PeriodClosed(tenant.id, today, closed)
    _lock(session, tenant)
    run = AccrualRun()
    acc, rev = PremiumAccrual, aliased(PremiumAccrual)
    reversed_ = ~sa.exists().where(rev.entry_id == acc.entry_id, rev.kind == AccrualKind.REVERSAL)

    # 1. Accruals whose entry no longer counts (an approved correction took its place).
    stale = session.execute(
        sa.select(acc.id, acc.entry_id, acc.candidate_id, acc.placement_id, acc.work_date, acc.year, acc.hours,
                  acc.rate_cents, acc.amount_cents, acc.accrued_cents, acc.flagged_cents, acc.rules_version)
        .join(TimesheetEntry, TimesheetEntry.id == acc.entry_id)
        .where(acc.kind == AccrualKind.ACCRUAL, reversed_, sa.not_(counts()))
        .order_by(acc.id)
    ).all()
    # 2. Entries that count and were never accrued, in the order the cap is filled.
    pending = session.execute(
        sa.select(TimesheetEntry.id, TimesheetEntry.placement_id, Placement.candidate_id, TimesheetEntry.work_date,
                  TimesheetEntry.hours)
        .join(Placement, Placement.id == TimesheetEntry.placement_id)
        .where(counts(), TimesheetEntry.work_date <= up_to,
               ~sa.exists().where(acc.entry_id == TimesheetEntry.id, acc.kind == AccrualKind.ACCRUAL))
        .order_by(Placement.candidate_id, TimesheetEntry.work_date, TimesheetEntry.id)
    ).all()
    if not stale and not pending:
        return run

    # 3. What each candidate has accrued per year so far (reversals included).
    keys = {(r.candidate_id, r.work_date.year) for r in pending}
    so_far: dict[tuple[int, int], int] = defaultdict(int)
    if keys:
        candidates = {c for c, _ in keys}
        for candidate_id, year, total in session.execute(
            sa.select(acc.candidate_id, acc.year, sa.func.sum(acc.accrued_cents))
            .where(acc.candidate_id.in_(candidates)).group_by(acc.candidate_id, acc.year)
        ):
            so_far[(candidate_id, year)] = int(total or 0)

    reversal_post = Posting("", today, [], tenant.id, "premium_correction", "")
    accrual_post = Posting("", today, [], tenant.id, "premium", "")
    rows: list[dict] = []
    for s in stale:
        so_far[(s.candidate_id, s.year)] -= s.accrued_cents  # frees room under the cap
        rows.append(dict(
            entry_id=s.entry_id, kind=AccrualKind.REVERSAL, candidate_id=s.candidate_id, placement_id=s.placement_id,
            work_date=s.work_date, year=s.year, hours=-s.hours, rate_cents=s.rate_cents,
            amount_cents=-s.amount_cents, accrued_cents=-s.accrued_cents, flagged_cents=-s.flagged_cents,
            rules_version=s.rules_version, accrued_on=today,
            ledger_transaction_id=reversal_post.id if s.accrued_cents else None,
        ))
    rules = _Rules(session, tenant)
    for p in pending:
        rate, cap, version = rules.on(p.work_date)
        amount = cents(Decimal(p.hours) * rate / 100)
        key = (p.candidate_id, p.work_date.year)
        within = max(min(amount, cap - so_far[key]), 0)
        so_far[key] += within
        rows.append(dict(
            entry_id=p.id, kind=AccrualKind.ACCRUAL, candidate_id=p.candidate_id, placement_id=p.placement_id,
            work_date=p.work_date, year=p.work_date.year, hours=Decimal(p.hours), rate_cents=rate,
            amount_cents=amount, accrued_cents=within, flagged_cents=amount - within, rules_version=version,
            accrued_on=today, ledger_transaction_id=accrual_post.id if within else None,
        ))

    # 4. Write the rows (one INSERT), then the flags of the excess and the ledger postings.
    written = session.execute(
        sa.insert(PremiumAccrual).returning(PremiumAccrual.id, sort_by_parameter_order=True), rows
    ).scalars().all()
    flags = [dict(accrual_id=id_, candidate_id=row["candidate_id"], year=row["year"], cents=row["flagged_cents"],
                  status=FlagStatus.OPEN)
             for id_, row in zip(written, rows, strict=True) if row["flagged_cents"] > 0]
    if flags:
        session.execute(sa.insert(PremiumFlag), flags)
    if stale:
        session.execute(
            sa.update(PremiumFlag)
            .where(PremiumFlag.accrual_id.in_([s.id for s in stale]), PremiumFlag.status == FlagStatus.OPEN)
            .values(status=FlagStatus.VOID, resolved_at=utcnow(),
                    resolution_note="Vervallen: de uren zijn gecorrigeerd.")
            .execution_options(synchronize_session=False)
        )

    postings = []
    new_ids = [id_ for id_, row in zip(written, rows, strict=True) if row["kind"] is AccrualKind.ACCRUAL]
    rev_ids = [id_ for id_, row in zip(written, rows, strict=True) if row["kind"] is AccrualKind.REVERSAL]
    run.entries, run.reversed_entries = len(new_ids), len(rev_ids)
    run.accrued_cents = sum(r["accrued_cents"] for r in rows if r["kind"] is AccrualKind.ACCRUAL)
    run.flagged_cents = sum(r["flagged_cents"] for r in rows if r["kind"] is AccrualKind.ACCRUAL)
    run.reversed_cents = -sum(r["accrued_cents"] for r in rows if r["kind"] is AccrualKind.REVERSAL)
    if run.reversed_cents:
        reversal_post.key = f"premium-reversal:{tenant.id}:{min(rev_ids)}-{max(rev_ids)}"
        reversal_post.lines = [Line(chart.PREMIUMS_PAYABLE, run.reversed_cents),
                               Line(chart.PREMIUM_EXPENSE, -run.reversed_cents)]
        reversal_post.description = f"Premies teruggeboekt: {len(rev_ids)} gecorrigeerde urenregel(s)"
        reversal_post.source = ("premium_accruals", f"{min(rev_ids)}-{max(rev_ids)}")
        postings.append(reversal_post)
    if run.accrued_cents:
        accrual_post.key = f"premium:{tenant.id}:{min(new_ids)}-{max(new_ids)}"
        accrual_post.lines = [Line(chart.PREMIUM_EXPENSE, run.accrued_cents),
                              Line(chart.PREMIUMS_PAYABLE, -run.accrued_cents)]
        accrual_post.description = f"Premies opgebouwd: {len(new_ids)} urenregel(s) tot en met {up_to.isoformat()}"
        accrual_post.source = ("premium_accruals", f"{min(new_ids)}-{max(new_ids)}")
        postings.append(accrual_post)
    run.transactions = post_many(session, postings)
    record(session, "premiums.accrue", tenant_id=tenant.id, object_type="premium_run", object_id=today.isoformat(),
           changes={"up_to": up_to.isoformat(), "entries": run.entries, "accrued_cents": run.accrued_cents,
                    "flagged_cents": run.flagged_cents, "reversed_entries": run.reversed_entries,
                    "reversed_cents": run.reversed_cents},
           actor_label="system:premium-accrual")
    session.flush()
    return run


# -- reading --------------------------------------------------------------------------------------


def accrued_for(session: Session, candidate_id: int, year: int) -> int:
    """The premium accrued (within the cap) for ``candidate_id`` in calendar year ``year``, in cents."""
    total = session.scalar(sa.select(sa.func.sum(PremiumAccrual.accrued_cents))
                           .where(PremiumAccrual.candidate_id == candidate_id, PremiumAccrual.year == year))
    return int(total or 0)


def payable_by_candidate(session: Session) -> dict[int, int]:
    """What is owed to each candidate in cents: accrued within the cap, minus what was paid or is
    in payment (the SEPA payouts of :mod:`nvsi.payouts`: pending and confirmed items; a rejected
    or returned payout is owed again). The flagged excess is never payable. Candidates with
    nothing owed are left out.
    """
    from nvsi.payouts.services import committed_by_candidate

    rows = session.execute(
        sa.select(PremiumAccrual.candidate_id, sa.func.sum(PremiumAccrual.accrued_cents))
        .group_by(PremiumAccrual.candidate_id)
    )
    paid = committed_by_candidate(session)
    owed = {candidate_id: int(total or 0) - paid.get(candidate_id, 0) for candidate_id, total in rows}
    return {candidate_id: cents for candidate_id, cents in owed.items() if cents}


@dataclass(frozen=True)
class CandidateYear:
    """One candidate's premium in one calendar year, against the cap."""

    candidate: Candidate
    year: int
    hours: Decimal
    accrued_cents: int
    flagged_cents: int
    cap_cents: int

    @property
    def remaining_cents(self) -> int:
        return max(self.cap_cents - self.accrued_cents, 0)


def cap_cents(session: Session, tenant: TenantRef, year: int, today: dt.date | None = None) -> int:
    """The yearly cap of ``year`` in cents: in force today, or on the year's last day."""
    today = today or dt.date.today()
    day = today if today.year == year else dt.date(year, 12, 31)
    return cents(rules_for(session, tenant, day)["premium_yearly_cap"].value)


def candidate_years(session: Session, tenant: TenantRef, year: int, today: dt.date | None = None) -> list[CandidateYear]:
    """Per candidate with premium in ``year``: hours, accrued, flagged excess and the cap."""
    cap = cap_cents(session, tenant, year, today)
    rows = session.execute(
        sa.select(PremiumAccrual.candidate_id, sa.func.sum(PremiumAccrual.hours), sa.func.sum(PremiumAccrual.accrued_cents),
                  sa.func.sum(PremiumAccrual.flagged_cents))
        .where(PremiumAccrual.year == year).group_by(PremiumAccrual.candidate_id)
    ).all()
    people = {c.id: c for c in session.scalars(sa.select(Candidate).where(Candidate.id.in_([r[0] for r in rows])))}
    result = [CandidateYear(people[c], year, Decimal(h or 0).quantize(Decimal("0.01")), int(a or 0), int(f or 0), cap)
              for c, h, a, f in rows]
    return sorted(result, key=lambda y: (y.candidate.last_name, y.candidate.first_name, y.candidate.id))


def flags(session: Session, status: FlagStatus | None = FlagStatus.OPEN) -> list[PremiumFlag]:
    """The review list: flagged excess premium (open ones by default), oldest first."""
    query = sa.select(PremiumFlag).order_by(PremiumFlag.created_at, PremiumFlag.id)
    if status is not None:
        query = query.where(PremiumFlag.status == status)
    return list(session.scalars(query))


def get_flag(session: Session, flag_id: int) -> PremiumFlag:
    """The flag ``flag_id`` of the session's tenant; :class:`FlagNotFound` otherwise."""
    flag = session.get(PremiumFlag, flag_id)
    if flag is None:
        raise FlagNotFound(flag_id)
    return flag


def resolve_flag(session: Session, tenant: TenantRef, flag: PremiumFlag, note: str, user_id: int | None) -> PremiumFlag:
    """Close a flagged excess with the reviewer's note. Nothing is paid: the cap is the law's
    (Participatiewet art. 31), so resolving only records the decision. Resolving again is refused."""
    note = " ".join((note or "").split())
    problems: list[Violation] = []
    if not 1 <= len(note) <= 1000:
        problems.append(violation("note_required", "note", None, None,
                                  "Schrijf een toelichting bij de afhandeling (ten hoogste 1000 tekens)."))
    if flag.status is not FlagStatus.OPEN:
        problems.append(violation("flag_closed", "note", None, None, "Deze melding is al afgehandeld."))
    if problems:
        raise PremiumError(problems)
    flag.status, flag.resolution_note = FlagStatus.RESOLVED, note
    flag.resolved_by_user_id, flag.resolved_at = user_id, utcnow()
    record(session, "premiums.resolve_flag", tenant_id=tenant.id, object_type="premium_flag", object_id=flag.id,
           changes={"cents": flag.cents, "year": flag.year, "note": note})
    session.flush()
    return flag


# -- travel costs ---------------------------------------------------------------------------------


def record_travel_cost(session: Session, tenant: TenantRef, data: dict, user_id: int | None,
                       today: dt.date | None = None) -> TravelCost:
    """Record a travel cost reimbursement from validated input (``placement_id``, optional
    ``candidate_id``, ``cost_date``, ``amount_cents``, ``description``) and book it today:
    Dr travel expense / Cr travel costs payable. The amount must be above zero and the date
    within the placement (a cancelled placement has no days)."""
    today = today or dt.date.today()
    problems: list[Violation] = []
    placement = session.get(Placement, data["placement_id"])
    if placement is None:
        problems.append(violation("unknown_placement", "placement_id", None, None, "Kies een plaatsing van deze gemeente."))
    elif data.get("candidate_id") is not None and data["candidate_id"] != placement.candidate_id:
        problems.append(violation("placement_of_other_candidate", "placement_id", None, None,
                                  "Deze plaatsing hoort niet bij deze kandidaat."))
    elif placement.status is PlacementStatus.CANCELLED or not (
            placement.start_date <= data["cost_date"] <= placement.end_date):
        problems.append(violation(
            "outside_placement", "cost_date", None, None,
            "De datum moet binnen de plaatsing vallen (van %(start)s tot en met %(end)s).",
            start=placement.start_date.strftime("%d-%m-%Y"), end=placement.end_date.strftime("%d-%m-%Y")))
    if data["amount_cents"] <= 0:
        problems.append(violation("amount_not_positive", "amount", None, None, "Het bedrag moet groter zijn dan nul."))
    if closed_period_on(session, tenant.id, today) is not None:
        problems.append(violation("period_closed", "cost_date", None, None,
                                  "De periode van vandaag is al afgerekend: er kan niets meer in geboekt worden."))
    if problems:
        raise PremiumError(problems)
    cost = TravelCost(candidate_id=placement.candidate_id, placement_id=placement.id, cost_date=data["cost_date"],
                      amount_cents=data["amount_cents"], description=data["description"],
                      recorded_by_user_id=user_id)
    session.add(cost)
    session.flush()
    txn = post(session, key=f"travel:{tenant.id}:{cost.id}", booking_date=today, tenant_id=tenant.id, kind="travel",
               lines=[Line(chart.TRAVEL_EXPENSE, cost.amount_cents), Line(chart.TRAVEL_PAYABLE, -cost.amount_cents)],
               description=f"Reiskosten {cost.cost_date.isoformat()}: {cost.description}"[:300],
               source=("travel_cost", str(cost.id)), user_id=user_id)
    cost.ledger_transaction_id = txn.id
    record(session, "travel_costs.create", tenant_id=tenant.id, object_type="travel_cost", object_id=cost.id,
           changes={"placement_id": placement.id, "cost_date": cost.cost_date.isoformat(),
                    "amount_cents": cost.amount_cents})
    session.flush()
    return cost


def travel_costs(session: Session, *, candidate_id: int | None = None, page: int = 1,
                 per_page: int = 50) -> tuple[list[TravelCost], int]:
    """Travel costs newest first (of one candidate, or all), a page of them and the total count."""
    query = sa.select(TravelCost)
    if candidate_id is not None:
        query = query.where(TravelCost.candidate_id == candidate_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(TravelCost.cost_date.desc(), TravelCost.id.desc())
                            .limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def travel_placements(session: Session) -> list[Placement]:
    """The placements a travel cost can be recorded for (not cancelled), newest first."""
    return list(session.scalars(sa.select(Placement).where(Placement.status != PlacementStatus.CANCELLED)
                                .order_by(Placement.start_date.desc(), Placement.id.desc())))
