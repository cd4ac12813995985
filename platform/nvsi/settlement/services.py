"""The half-yearly settlement of a municipality: compute, post, close.

For municipality *t* and half year [start, end] (H1 = 1 January–30 June, H2 = 1 July–31
December), from the ledger movements of *t*'s accounts dated within the half year:

* R = gross revenue excluding VAT = −(movement of REVENUE 8000/t)
* P = premiums (PREMIUM_EXPENSE 4000/t); T = travel costs (TRAVEL_EXPENSE 4100/t)
* F = R × the service fee percentage of the execution contract in force on ``end``
* Cm = R × ``contribution_municipality_pct``; Cs = R × ``contribution_service_company_pct``
  (the rules in force for *t* on ``end``); Cs comes out of the service company's fee
* A = ``annual_fee`` when due (:func:`annual_fee_due`), else 0
* result for the municipality = R − P − T − F − Cm − A

Each product is rounded half-up to cents once. The postings are dated ``end`` with idempotency
keys ``settlement:<tenant_id>:<start>:<step>``; the closing entry empties the half year's result
accounts into SETTLEMENT_PAYABLE 1800/t, and then the half year is closed in the ledger (the
database refuses any later booking dated in it). Functions take a session bound to the tenant
(the ledger's shared tables are reachable from it, so everything is one transaction); they
flush, never commit. See ``docs/settlement.md``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.contract.services import ContractTerms, NoContractInForce, contract_terms_on
from nvsi.db import ObjectNotFound, savepoint
from nvsi.ledger import chart
from nvsi.ledger.services import Line, Posting, balances, close_period, closed_period_on, lock_for_closing, post_many
from nvsi.rules.violations import RuleViolations, Violation, violation
from nvsi.settlement.models import Settlement
from nvsi.tenancy.models import Tenant
from nvsi.tenancy.routing import TenantRef

#: The rules a settlement uses (their rule-set versions are stored with it).
RULES = ("contribution_municipality_pct", "contribution_service_company_pct", "annual_fee")
#: The posting steps, in order (the last part of each idempotency key).
STEPS = ("service_fee", "contribution_municipality", "contribution_service_company", "annual_fee", "closing")

_LABEL = re.compile(r"^(\d{4})-H([12])$")


class SettlementNotFound(ObjectNotFound):
    """No such settlement (or not this municipality's)."""


class SettlementRefused(RuleViolations):
    """The half year cannot be settled (yet): each reason is a violation (422)."""


class InvalidPeriod(ValueError):
    """Not a half year written as ``2026-H1``."""


@dataclass(frozen=True, order=True)
class HalfYear:
    """A calendar half year: ``half`` 1 is January–June, 2 is July–December."""

    year: int
    half: int

    @classmethod
    def parse(cls, text: str) -> HalfYear:
        """``"2026-H1"`` → HalfYear(2026, 1); :class:`InvalidPeriod` otherwise."""
        match = _LABEL.match((text or "").strip().upper())
        if not match or not 1900 <= int(match[1]) <= 9999:
            raise InvalidPeriod(text)
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def containing(cls, day: dt.date) -> HalfYear:
        """The half year ``day`` falls in."""
        return cls(day.year, 1 if day.month <= 6 else 2)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, 6, 30) if self.half == 1 else dt.date(self.year, 12, 31)

    @property
    def label(self) -> str:
        return f"{self.year}-H{self.half}"

    def previous(self) -> HalfYear:
        return HalfYear(self.year, 1) if self.half == 2 else HalfYear(self.year - 1, 2)

    def __str__(self) -> str:
        return self.label


def last_ended(today: dt.date) -> HalfYear:
    """The most recent half year that has ended on ``today``."""
    return HalfYear.containing(today).previous()


def percentage_of(cents: int, pct: Decimal) -> int:
    """``cents`` × ``pct`` / 100, rounded half-up (away from zero at exactly half) to cents."""
    return int((Decimal(cents) * Decimal(pct) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def euros_to_cents(amount: Decimal) -> int:
    """An amount in euros (a rule value) in cents, rounded half-up."""
    return int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def annual_fee_due(registered_on: dt.date, period: HalfYear) -> bool:
    """Whether the annual fee of ``period.year`` is charged in this half year's settlement.

    Once per calendar year, in the first half year of it in which the municipality was a member:
    the H1 settlement, or, for a municipality that joined (registered) after 30 June, the H2
    settlement of its first year. Not in a half year that ended before it joined.
    """
    if registered_on > period.end:
        return False
    if period.half == 1:
        return True
    return registered_on > HalfYear(period.year, 1).end


@dataclass(frozen=True)
class Figures:
    """Every figure of a half year's settlement, computed before anything is posted."""

    tenant_id: int
    period: HalfYear
    revenue_cents: int
    premiums_cents: int
    travel_cents: int
    service_fee_pct: Decimal
    service_fee_cents: int
    contribution_municipality_pct: Decimal
    contribution_municipality_cents: int
    contribution_service_company_pct: Decimal
    contribution_service_company_cents: int
    annual_fee_due: bool
    annual_fee_cents: int
    contract: ContractTerms
    rule_versions: dict[str, int] = field(default_factory=dict)

    @property
    def result_cents(self) -> int:
        """R − P − T − F − Cm − A: owed to the municipality (negative: owed by it)."""
        return (self.revenue_cents - self.premiums_cents - self.travel_cents - self.service_fee_cents
                - self.contribution_municipality_cents - self.annual_fee_cents)

    @property
    def service_company_net_cents(self) -> int:
        return self.service_fee_cents - self.contribution_service_company_cents

    @property
    def contribution_total_cents(self) -> int:
        return self.contribution_municipality_cents + self.contribution_service_company_cents


def _registered_on(session: Session, tenant_id: int) -> dt.date:
    created = session.scalar(sa.select(Tenant.created_at).where(Tenant.id == tenant_id))
    if created is None:
        raise SettlementNotFound(tenant_id)
    return created.date()


def period_movements(session: Session, tenant_id: int, period: HalfYear) -> dict[str, int]:
    """The movement (debit − credit, cents) of each of the municipality's result accounts dated
    within ``period`` (0 where there is none)."""
    found = {b.code: b.cents for b in balances(session, since=period.start, as_of=period.end, tenant_id=tenant_id,
                                               codes=chart.RESULT_ACCOUNTS)}
    return {code: found.get(code, 0) for code in chart.RESULT_ACCOUNTS}


def compute(session: Session, tenant: TenantRef, period: HalfYear) -> Figures:
    """The figures of ``period`` from the ledger as it is now. Raises :class:`NoContractInForce`
    when no execution contract covers the half year's last day."""
    from tenants.frameworks.services import rules_for

    terms = contract_terms_on(session, period.end)
    rules = rules_for(session, tenant, period.end)
    moved = period_movements(session, tenant.id, period)
    revenue = -moved[chart.REVENUE]
    due = annual_fee_due(_registered_on(session, tenant.id), period)
    return Figures(
        tenant_id=tenant.id,
        period=period,
        revenue_cents=revenue,
        premiums_cents=moved[chart.PREMIUM_EXPENSE],
        travel_cents=moved[chart.TRAVEL_EXPENSE],
        service_fee_pct=terms.service_fee_pct,
        service_fee_cents=percentage_of(revenue, terms.service_fee_pct),
        contribution_municipality_pct=rules["contribution_municipality_pct"].value,
        contribution_municipality_cents=percentage_of(revenue, rules["contribution_municipality_pct"].value),
        contribution_service_company_pct=rules["contribution_service_company_pct"].value,
        contribution_service_company_cents=percentage_of(revenue, rules["contribution_service_company_pct"].value),
        annual_fee_due=due,
        annual_fee_cents=euros_to_cents(rules["annual_fee"].value) if due else 0,
        contract=terms,
        rule_versions={key: rules[key].version for key in RULES},
    )


def uninvoiced_hours(session: Session, period: HalfYear) -> tuple[int, Decimal]:
    """(entries, hours) approved within ``period`` (and counting, see
    :func:`tenants.timesheets.services.counts`) that no invoice line has invoiced yet."""
    from tenants.invoicing.models import EntryRole, InvoicedEntry
    from tenants.timesheets.models import TimesheetEntry
    from tenants.timesheets.services import counts

    invoiced = sa.exists().where(InvoicedEntry.entry_id == TimesheetEntry.id, InvoicedEntry.role == EntryRole.INVOICED)
    n, hours = session.execute(
        sa.select(sa.func.count(), sa.func.sum(TimesheetEntry.hours))
        .where(counts(), TimesheetEntry.work_date.between(period.start, period.end), ~invoiced)
    ).one()
    return int(n or 0), Decimal(hours or 0).quantize(Decimal("0.01"))


def refusals(session: Session, tenant: TenantRef, period: HalfYear, today: dt.date) -> list[Violation]:
    """Why ``period`` cannot be settled on ``today`` (empty: it can)."""
    found = []
    if today <= period.end:
        found.append(violation(
            "period_not_ended", "period", None, None,
            "Het halfjaar %(period)s loopt tot en met %(end)s: afrekenen kan pas vanaf %(next)s.",
            period=period.label, end=period.end.isoformat(), next=(period.end + dt.timedelta(days=1)).isoformat(),
        ))
    count, hours = uninvoiced_hours(session, period)
    if count:
        found.append(violation(
            "uninvoiced_hours", "period", None, None,
            "Er zijn in %(period)s nog %(count)s goedgekeurde urenregels (%(hours)s uur) die niet zijn "
            "gefactureerd. Factureer deze eerst (facturatierun over de periode) en reken daarna af.",
            period=period.label, count=count, hours=hours,
        ))
    try:
        contract_terms_on(session, period.end)
    except NoContractInForce:
        found.append(violation(
            "no_contract_in_force", "period", None, None,
            "Op %(date)s was geen uitvoeringscontract van kracht: zonder het percentage van de "
            "servicevergoeding kan niet worden afgerekend.",
            date=period.end.isoformat(),
        ))
    closed = closed_period_on(session, tenant.id, period.end)
    if closed is not None and get_for_period(session, tenant.id, period) is None:
        found.append(violation(
            "period_closed", "period", None, None,
            "De periode %(start)s tot en met %(end)s is in het grootboek al afgesloten (%(reason)s).",
            start=closed.period_start.isoformat(), end=closed.period_end.isoformat(), reason=closed.reason,
        ))
    return found


@dataclass(frozen=True)
class Preview:
    """What settling ``period`` would do: the figures (None without a contract), the reasons it
    cannot be done yet, or the settlement made before."""

    period: HalfYear
    figures: Figures | None
    refusals: list[Violation]
    settlement: Settlement | None = None


def preview(session: Session, tenant: TenantRef, period: HalfYear, today: dt.date) -> Preview:
    """The settlement of ``period`` before confirming it (or the one made before)."""
    existing = get_for_period(session, tenant.id, period)
    if existing is not None:
        return Preview(period, None, [], existing)
    try:
        figures = compute(session, tenant, period)
    except NoContractInForce:
        figures = None
    return Preview(period, figures, refusals(session, tenant, period, today))


def _key(tenant_id: int, period: HalfYear, step: str) -> str:
    return f"settlement:{tenant_id}:{period.start.isoformat()}:{step}"


def _steps(figures: Figures) -> list[tuple[str, str, list[Line]]]:
    """(step, description, lines) of each posting of a settlement; steps whose amount is zero
    are left out (the ledger refuses an entry of zero)."""
    f = figures
    label = f.period.label
    steps: dict[str, tuple[str, list[Line]]] = {
        "service_fee": (f"Servicevergoeding {label}", [
            Line(chart.SERVICE_FEE_EXPENSE, f.service_fee_cents), Line(chart.SERVICE_FEE_PAYABLE, -f.service_fee_cents)]),
        "contribution_municipality": (f"Contributie gemeente {label}", [
            Line(chart.CONTRIBUTION_EXPENSE, f.contribution_municipality_cents),
            Line(chart.CONTRIBUTION_INCOME, -f.contribution_municipality_cents)]),
        "contribution_service_company": (f"Contributie servicebedrijf {label} (uit de servicevergoeding)", [
            Line(chart.SERVICE_FEE_PAYABLE, f.contribution_service_company_cents),
            Line(chart.CONTRIBUTION_INCOME, -f.contribution_service_company_cents)]),
        "annual_fee": (f"Jaarlijkse vergoeding {f.period.year}", [
            Line(chart.ANNUAL_FEE_EXPENSE, f.annual_fee_cents), Line(chart.ANNUAL_FEE_INCOME, -f.annual_fee_cents)]),
        "closing": (f"Afsluiting resultaat {label}", [
            Line(chart.REVENUE, f.revenue_cents), Line(chart.PREMIUM_EXPENSE, -f.premiums_cents),
            Line(chart.TRAVEL_EXPENSE, -f.travel_cents), Line(chart.SERVICE_FEE_EXPENSE, -f.service_fee_cents),
            Line(chart.CONTRIBUTION_EXPENSE, -f.contribution_municipality_cents),
            Line(chart.ANNUAL_FEE_EXPENSE, -f.annual_fee_cents), Line(chart.SETTLEMENT_PAYABLE, -f.result_cents)]),
    }
    out = []
    for step in STEPS:
        description, lines = steps[step]
        lines = [line for line in lines if line.cents]
        if len(lines) >= 2:
            out.append((step, description, lines))
    return out


def settle(session: Session, tenant: TenantRef, period: HalfYear, *, today: dt.date,
           user_id: int | None = None) -> Settlement:
    """Settle ``period`` for ``tenant``: store the figures, post them, close the half year.

    Idempotent: a half year settled before returns that settlement and changes nothing (also
    when two requests race: the unique (tenant, period) row is claimed first). Refused
    (:class:`SettlementRefused`, 422) before the half year has ended, while approved hours in it
    are not invoiced, without a contract in force, or when the ledger period is closed otherwise.
    """
    existing = get_for_period(session, tenant.id, period)
    if existing is not None:
        return existing
    # No posting of this municipality is in flight from here until the commit (PostgreSQL); a
    # concurrent settler of the same half year waits here and then finds its settlement.
    lock_for_closing(session, tenant.id)
    existing = get_for_period(session, tenant.id, period)
    if existing is not None:
        return existing
    found = refusals(session, tenant, period, today)
    if found:
        raise SettlementRefused(found)
    figures = compute(session, tenant, period)
    settlement = Settlement(
        tenant_id=tenant.id, period_start=period.start, period_end=period.end,
        revenue_cents=figures.revenue_cents, premiums_cents=figures.premiums_cents,
        travel_cents=figures.travel_cents, service_fee_pct=figures.service_fee_pct,
        service_fee_cents=figures.service_fee_cents,
        contribution_municipality_pct=figures.contribution_municipality_pct,
        contribution_municipality_cents=figures.contribution_municipality_cents,
        contribution_service_company_pct=figures.contribution_service_company_pct,
        contribution_service_company_cents=figures.contribution_service_company_cents,
        annual_fee_due=figures.annual_fee_due, annual_fee_cents=figures.annual_fee_cents,
        result_cents=figures.result_cents, contract_id=figures.contract.contract_id,
        contract_reference=figures.contract.reference, contract_version=figures.contract.version,
        rule_versions=figures.rule_versions, ledger_transactions={}, settled_by_user_id=user_id,
    )
    # The row is written before the postings, with their transaction ids chosen up front: the
    # append-only row is complete when first written, and a concurrent settler waits on its key.
    steps = _steps(figures)
    ids = {step: uuid.uuid4() for step, _, _ in steps}
    settlement.ledger_transactions = {step: str(id_) for step, id_ in ids.items()}
    try:
        with savepoint(session):
            session.add(settlement)
    except sa.exc.IntegrityError:
        winner = get_for_period(session, tenant.id, period)
        if winner is None:
            raise
        return winner
    postings = [
        Posting(_key(tenant.id, period, step), period.end, lines, tenant.id, "settlement", description,
                ("settlement", str(settlement.id)), user_id=user_id, id=ids[step])
        for step, description, lines in steps
    ]
    posted = post_many(session, postings)
    if [t.id for t in posted] != [p.id for p in postings]:
        raise RuntimeError(f"settlement {period.label} of tenant {tenant.id}: its ledger keys were used before")
    close_period(session, tenant.id, period.start, period.end, f"afrekening {period.label}", user_id)
    if any(period_movements(session, tenant.id, period).values()):
        # A posting dated in the half year was committed after the figures were read: the
        # caller rolls back (nothing of this settlement stays) and can simply try again.
        raise SettlementRefused([violation(
            "ledger_changed", "period", None, None,
            "Tijdens het afrekenen is er in %(period)s geboekt. Er is niets vastgelegd; probeer het opnieuw.",
            period=period.label,
        )])
    record(session, "settlement.settle", tenant_id=tenant.id, object_type="settlement", object_id=settlement.id,
           changes={"period": period.label, "revenue_cents": figures.revenue_cents,
                    "result_cents": figures.result_cents, "contract": figures.contract.reference,
                    "contract_version": figures.contract.version})
    return settlement


# -- reading --------------------------------------------------------------------------------------


def get_for_period(session: Session, tenant_id: int, period: HalfYear) -> Settlement | None:
    """The settlement of ``period`` of the municipality, if it was settled."""
    return session.scalars(
        sa.select(Settlement).where(Settlement.tenant_id == tenant_id, Settlement.period_start == period.start)
    ).first()


def get_settlement(session: Session, settlement_id: int, tenant_id: int | None = None) -> Settlement:
    """A settlement by id; with ``tenant_id``, only that municipality's (404 otherwise)."""
    query = sa.select(Settlement).where(Settlement.id == settlement_id)
    if tenant_id is not None:
        query = query.where(Settlement.tenant_id == tenant_id)
    found = session.scalars(query).first()
    if found is None:
        raise SettlementNotFound(settlement_id)
    return found


def list_settlements(session: Session, tenant_id: int | None = None, year: int | None = None) -> list[Settlement]:
    """Settlements, newest half year first (of one municipality, or all; of one year, or all)."""
    query = sa.select(Settlement).order_by(Settlement.period_start.desc(), Settlement.tenant_id)
    if tenant_id is not None:
        query = query.where(Settlement.tenant_id == tenant_id)
    if year is not None:
        query = query.where(Settlement.period_start.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return list(session.scalars(query))


@dataclass(frozen=True)
class OverviewRow:
    """One municipality's half year in the administrators' overview."""

    tenant: Tenant
    period: HalfYear
    #: "settled", "open" (ended, not settled) or "running" (not ended yet).
    status: str
    settlement: Settlement | None


def overview(session: Session, tenants: list[Tenant], year: int, today: dt.date) -> list[OverviewRow]:
    """Every municipality's two half years of ``year``, with their status (one query)."""
    settled = {(s.tenant_id, s.period_start): s for s in list_settlements(session, year=year)}
    rows = []
    for tenant in tenants:
        for half in (1, 2):
            period = HalfYear(year, half)
            found = settled.get((tenant.id, period.start))
            status = "settled" if found else ("open" if today > period.end else "running")
            rows.append(OverviewRow(tenant, period, status, found))
    return rows
