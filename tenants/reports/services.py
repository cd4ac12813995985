"""The go/no-go evaluation of a municipality over a period (DOMAIN.md: "a go/no-go evaluation
after 6 months on financial results (at least cost-neutral) and social results (candidates moved
from arrangement 3 to arrangement 1; candidates (partly) off welfare)"), and the welfare exits
it counts. Sessions are bound to one tenant; the ledger is read through the same session.

The financial figures come from the ledger balances of the municipality's accounts booked within
the period; the service fee and the municipality's contribution are computed on that revenue
at the contract percentage and the rule in force on the period's last day, rounded once, half a
cent up. A settlement's closing postings are left out, so the report reads the same before and
after the half year is settled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from nvsi.audit.services import record
from nvsi.contract.services import NoContractInForce, add_months, contract_terms_on
from nvsi.ledger import chart
from nvsi.ledger.services import balances
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.tenancy.routing import TenantRef
from tenants.candidates.models import Candidate
from tenants.frameworks.models import Arrangement
from tenants.frameworks.services import rules_for
from tenants.placements.models import Placement, PlacementStatus
from tenants.reports.models import ArrangementChange, ExitExtent, WelfareExit

#: The arrangement codes of the social result "moved from arrangement 3 to arrangement 1".
FROM_CODE, TO_CODE = "3", "1"
#: Ledger transaction kinds that close a period (a settlement): not part of the period's result.
CLOSING_KINDS = ("settlement",)
#: The evaluation comes after this many months.
EVALUATION_MONTHS = 6


class ReportError(RuleViolations):
    """A period or a welfare exit was refused; ``violations`` names each field."""


def percent_of(cents: int, pct: Decimal) -> int:
    """``pct`` percent of ``cents``, rounded to the cent, half up."""
    return int((Decimal(cents) * pct / 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if whole else None


# -- the period -------------------------------------------------------------------------------------


def first_placement_start(session: Session) -> dt.date | None:
    """The start of the municipality's first placement (cancelled ones do not count)."""
    return session.scalar(sa.select(sa.func.min(Placement.start_date))
                          .where(Placement.status != PlacementStatus.CANCELLED))


def default_period(session: Session, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first six months from the first placement; without placements the last six months."""
    start = first_placement_start(session)
    if start is None:
        today = today or dt.date.today()
        return add_months(today, -EVALUATION_MONTHS) + dt.timedelta(days=1), today
    return start, add_months(start, EVALUATION_MONTHS) - dt.timedelta(days=1)


def check_period(start: dt.date, end: dt.date) -> None:
    """A period ends on or after its start and spans at most five years."""
    if end < start:
        raise ReportError([violation("period_order", "to", None, None,
                                     "De einddatum moet op of na de begindatum liggen.")])
    if (end - start).days > 5 * 366:
        raise ReportError([violation("period_too_long", "to", None, None,
                                     "Kies een periode van ten hoogste vijf jaar.")])


# -- financial result -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Financial:
    """The municipality's result over the period, in cents (costs positive)."""

    revenue_cents: int
    premiums_cents: int
    travel_cents: int
    #: The service fee: None when no execution contract covers the period's end.
    service_fee_pct: Decimal | None
    service_fee_cents: int | None
    contract_reference: str | None
    contribution_pct: Decimal
    contribution_cents: int

    @property
    def result_cents(self) -> int | None:
        if self.service_fee_cents is None:
            return None
        return (self.revenue_cents - self.premiums_cents - self.travel_cents - self.service_fee_cents
                - self.contribution_cents)

    @property
    def cost_neutral(self) -> bool | None:
        """At least cost-neutral (result ≥ 0)? None when it cannot be told (no contract)."""
        return None if self.result_cents is None else self.result_cents >= 0


def financial(session: Session, tenant: TenantRef, start: dt.date, end: dt.date) -> Financial:
    """Revenue (excl. VAT), premiums and travel costs booked within the period; the service fee
    at the contract percentage and the municipality's contribution on that revenue."""
    moved = {b.code: b.cents for b in balances(session, since=start, as_of=end, tenant_id=tenant.id,
                                               exclude_kinds=CLOSING_KINDS)}
    revenue = -moved.get(chart.REVENUE, 0)  # revenue is a credit
    try:
        terms = contract_terms_on(session, end)
    except NoContractInForce:
        terms = None
    contribution = rules_for(session, tenant, end).get("contribution_municipality_pct")
    if contribution is None:
        raise ReportError([violation("no_rules_in_force", "to", "contribution_municipality_pct", None,
                                     "Op de einddatum gelden nog geen regels van de NVSI: kies een latere datum.")])
    contribution_pct = contribution.value
    return Financial(
        revenue_cents=revenue,
        premiums_cents=moved.get(chart.PREMIUM_EXPENSE, 0),
        travel_cents=moved.get(chart.TRAVEL_EXPENSE, 0),
        service_fee_pct=terms.service_fee_pct if terms else None,
        service_fee_cents=percent_of(revenue, terms.service_fee_pct) if terms else None,
        contract_reference=terms.reference if terms else None,
        contribution_pct=contribution_pct,
        contribution_cents=percent_of(revenue, contribution_pct),
    )


# -- social results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """Candidates whose arrangement changed from one to another within the period."""

    from_name: str | None
    to_name: str | None
    candidates: int


@dataclass(frozen=True)
class MixRow:
    """Candidates per arrangement against the municipality's target share."""

    code: str | None
    name: str | None
    candidates: int
    share_pct: Decimal | None
    target_pct: Decimal | None

    @property
    def difference_pct(self) -> Decimal | None:
        if self.share_pct is None or self.target_pct is None:
            return None
        return self.share_pct - self.target_pct


@dataclass(frozen=True)
class Social:
    """The social results over the period."""

    participants: int
    moved_3_to_1: int
    moves: list[Move]
    exits_full: int
    exits_partial: int
    pool: int
    mix: list[MixRow]
    history_since: dt.date | None

    @property
    def exits(self) -> int:
        return self.exits_full + self.exits_partial


def social(session: Session, start: dt.date, end: dt.date) -> Social:
    """Participants (candidates with a placement in the period), arrangement moves, welfare
    exits (full: the candidate record's exit date or a full exit; partial: a partial exit and
    no full one), and the pool by arrangement against the target mix."""
    participants = session.scalar(
        sa.select(sa.func.count(sa.distinct(Placement.candidate_id)))
        .where(Placement.status != PlacementStatus.CANCELLED, Placement.start_date <= end, Placement.end_date >= start))
    before, after = aliased(Arrangement), aliased(Arrangement)
    changes = session.execute(
        sa.select(ArrangementChange.candidate_id, before.code, before.name, after.code, after.name)
        .join(before, before.id == ArrangementChange.from_arrangement_id)
        .outerjoin(after, after.id == ArrangementChange.to_arrangement_id)
        .where(ArrangementChange.changed_on.between(start, end))
    ).all()
    moved = {c for c, from_code, _, to_code, _ in changes if from_code == FROM_CODE and to_code == TO_CODE}
    by_move: dict[tuple, set] = {}
    for candidate_id, _, from_name, _, to_name in changes:
        by_move.setdefault((from_name, to_name), set()).add(candidate_id)
    moves = [Move(f, t, len(ids)) for (f, t), ids in sorted(by_move.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))]

    full = set(session.scalars(sa.select(Candidate.id).where(Candidate.left_on.between(start, end))))
    partial = set()
    for candidate_id, extent in session.execute(
            sa.select(WelfareExit.candidate_id, WelfareExit.extent).where(WelfareExit.exit_date.between(start, end))):
        (full if extent is ExitExtent.FULL else partial).add(candidate_id)
    partial -= full

    counts = dict(session.execute(
        sa.select(Candidate.arrangement_id, sa.func.count()).where(Candidate.registered_on <= end)
        .where(sa.or_(Candidate.left_on.is_(None), Candidate.left_on >= start))
        .group_by(Candidate.arrangement_id)).all())
    pool = sum(counts.values())
    mix = []
    for a in session.scalars(sa.select(Arrangement).order_by(Arrangement.position, Arrangement.code)):
        n = counts.pop(a.id, 0)
        if a.active or n:
            mix.append(MixRow(a.code, a.name, n, _share(n, pool), a.target_share_pct))
    if counts.get(None):
        mix.append(MixRow(None, None, counts[None], _share(counts[None], pool), None))
    history_since = session.scalar(sa.select(sa.func.min(ArrangementChange.changed_on)))
    return Social(participants or 0, len(moved), moves, len(full), len(partial), pool, mix, history_since)


# -- the verdict -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One criterion of the evaluation: met (True/False, None: cannot be told), with a code the
    page and the API explain (``cost_neutral``, ``not_cost_neutral``, ``no_contract``,
    ``social_results``, ``no_social_results``) and its figures."""

    criterion: str
    met: bool | None
    code: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GoNoGo:
    """The go/no-go report of one period: ``go`` is True (go), False (no-go) or None (cannot be
    told: no execution contract in force)."""

    start: dt.date
    end: dt.date
    financial: Financial
    social: Social
    reasons: list[Reason]

    @property
    def go(self) -> bool | None:
        if any(r.met is False for r in self.reasons):
            return False
        if any(r.met is None for r in self.reasons):
            return None
        return True


def go_no_go(session: Session, tenant: TenantRef, start: dt.date, end: dt.date) -> GoNoGo:
    """The evaluation over ``start``–``end``: go when the result is at least cost-neutral and
    there is at least one social result (a move from arrangement 3 to 1, or a candidate who
    (partly) left welfare); no-go when either fails."""
    check_period(start, end)
    money, people = financial(session, tenant, start, end), social(session, start, end)
    if money.cost_neutral is None:
        money_reason = Reason("financial", None, "no_contract", {"day": end})
    else:
        money_reason = Reason("financial", money.cost_neutral,
                              "cost_neutral" if money.cost_neutral else "not_cost_neutral",
                              {"result_cents": money.result_cents})
    found = bool(people.moved_3_to_1 or people.exits)
    social_reason = Reason("social", found, "social_results" if found else "no_social_results",
                           {"moved": people.moved_3_to_1, "exits": people.exits})
    return GoNoGo(start, end, money, people, [money_reason, social_reason])


# -- welfare exits -----------------------------------------------------------------------------------


def record_exit(session: Session, tenant: TenantRef, data: dict, user_id: int | None,
                today: dt.date | None = None) -> WelfareExit:
    """Record that a candidate (partly) left welfare on a day, from validated input
    (``candidate_id``, ``exit_date``, ``extent``, ``note``). The day lies between the
    registration and today; the same exit twice is refused."""
    today = today or dt.date.today()
    problems: list[Violation] = []
    candidate = session.get(Candidate, data["candidate_id"])
    if candidate is None:
        problems.append(violation("unknown_candidate", "candidate_id", None, None, "Kies een kandidaat van deze gemeente."))
    elif data["exit_date"] < candidate.registered_on:
        problems.append(violation("exit_before_registration", "exit_date", None, None,
                                  "De datum ligt voor de inschrijving van de kandidaat."))
    if data["exit_date"] > today:
        problems.append(violation("exit_in_future", "exit_date", None, None, "De datum mag niet in de toekomst liggen."))
    if not problems and session.scalar(sa.select(WelfareExit.id).where(
            WelfareExit.candidate_id == candidate.id, WelfareExit.exit_date == data["exit_date"],
            WelfareExit.extent == data["extent"])):
        problems.append(violation("exit_recorded", "exit_date", None, None, "Deze uitstroom is al vastgelegd."))
    if problems:
        raise ReportError(problems)
    row = WelfareExit(candidate_id=candidate.id, exit_date=data["exit_date"], extent=data["extent"],
                      note=data.get("note") or "", recorded_by_user_id=user_id)
    session.add(row)
    session.flush()
    record(session, "welfare_exits.create", tenant_id=tenant.id, object_type="welfare_exit", object_id=row.id,
           changes={"candidate_id": candidate.id, "exit_date": row.exit_date.isoformat(), "extent": row.extent.value})
    return row


def welfare_exits(session: Session, limit: int = 200) -> list[WelfareExit]:
    """Recorded welfare exits, newest first."""
    return list(session.scalars(sa.select(WelfareExit).order_by(WelfareExit.exit_date.desc(), WelfareExit.id.desc())
                                .limit(limit)))
