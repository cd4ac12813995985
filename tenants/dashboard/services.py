"""The dashboard's figures for one tenant on one day (reads only).

Definitions (docs/reminders.md, "Dashboard"):

* **active placements** — status active and running on the day (start ≤ day ≤ end);
* **hours** — approved hours only (:func:`tenants.timesheets.services.approved_hours`), by the
  day they were worked, for the calendar month of the day and the five months before it;
* **pool** — candidates who are registered or placed (not referred to the WSP, not left welfare),
  per arrangement, against the arrangement's target share; candidates without one are a row of
  their own;
* **registrations** — candidates registered in the half year of the day (1 January–30 June or
  1 July–31 December), against the framework's minimum per half year (if one was agreed);
* **outflow rate** — candidates who left welfare, as a share of every candidate ever registered;
* **ending soon** — active placements whose end date lies in the next :data:`ENDING_SOON_DAYS`
  days (the day included).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.dates import add_months
from tenants.candidates.models import Candidate, CandidateStatus
from tenants.frameworks.services import arrangements, settings
from tenants.placements.models import Placement, PlacementStatus
from tenants.reminders.services import unread_count
from tenants.timesheets.services import approved_hours

#: How far ahead "ending soon" looks, in days.
ENDING_SOON_DAYS = 30
#: How many calendar months the hours chart shows (this one included).
HOURS_MONTHS = 6
#: Candidates in the pool: active in the instrument.
POOL_STATUSES = (CandidateStatus.REGISTERED, CandidateStatus.PLACED)
ONE_DECIMAL = Decimal("0.1")


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(ONE_DECIMAL, ROUND_HALF_UP)


@dataclass(frozen=True)
class MonthHours:
    """Approved hours worked in one calendar month."""

    month: dt.date  # its first day
    hours: Decimal


@dataclass(frozen=True)
class PoolShare:
    """One arrangement's part of the pool, against its target."""

    code: str | None  # None: candidates without an arrangement
    name: str | None
    candidates: int
    share_pct: Decimal | None
    target_pct: Decimal | None

    @property
    def difference_pct(self) -> Decimal | None:
        """Percentage points above (+) or below (−) the target."""
        if self.target_pct is None or self.share_pct is None:
            return None
        return self.share_pct - self.target_pct


@dataclass(frozen=True)
class Dashboard:
    """Every figure of the dashboard."""

    today: dt.date
    active_placements: int
    hours_this_month: Decimal
    hours_by_month: list[MonthHours]
    pool_total: int
    pool: list[PoolShare]
    half_year_start: dt.date
    half_year_end: dt.date
    registrations: int
    min_registrations: int | None
    registered_total: int
    left_welfare: int
    outflow_pct: Decimal | None
    ending_soon: list[Placement]
    ending_soon_days: int
    unread_reminders: int

    @property
    def has_targets(self) -> bool:
        return any(s.target_pct is not None for s in self.pool)

    @property
    def registrations_short(self) -> int | None:
        """How many registrations are still needed to reach the minimum (0: reached)."""
        if self.min_registrations is None:
            return None
        return max(self.min_registrations - self.registrations, 0)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def half_year(day: dt.date) -> tuple[dt.date, dt.date]:
    """The half year ``day`` lies in: 1 January–30 June or 1 July–31 December."""
    if day.month <= 6:
        return dt.date(day.year, 1, 1), dt.date(day.year, 6, 30)
    return dt.date(day.year, 7, 1), dt.date(day.year, 12, 31)


def hours_by_month(session: Session, today: dt.date, months: int = HOURS_MONTHS) -> list[MonthHours]:
    """Approved hours per calendar month, oldest first, ending with the month of ``today``."""
    first = add_months(month_start(today), -(months - 1))
    result = []
    for n in range(months):
        start = add_months(first, n)
        end = add_months(start, 1) - dt.timedelta(days=1)
        result.append(MonthHours(start, approved_hours(session, period=(start, end))))
    return result


def pool_composition(session: Session) -> tuple[int, list[PoolShare]]:
    """Candidates in the pool per arrangement (every active arrangement, retired ones that still
    have candidates, and those without one), with the share and the target."""
    counts = dict(session.execute(
        sa.select(Candidate.arrangement_id, sa.func.count()).where(Candidate.status.in_(POOL_STATUSES))
        .group_by(Candidate.arrangement_id)
    ).all())
    total = sum(counts.values())
    shares = []
    for a in arrangements(session, include_inactive=True):
        n = counts.pop(a.id, 0)
        if a.active or n:
            shares.append(PoolShare(a.code, a.name, n, _pct(n, total), a.target_share_pct))
    unassigned = counts.pop(None, 0)
    if unassigned:
        shares.append(PoolShare(None, None, unassigned, _pct(unassigned, total), None))
    return total, shares


def _count(session: Session, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Candidate).where(*where))


def dashboard(session: Session, today: dt.date) -> Dashboard:
    """The figures of the session's tenant on ``today``."""
    active = (Placement.status == PlacementStatus.ACTIVE, Placement.start_date <= today, Placement.end_date >= today)
    months = hours_by_month(session, today)
    pool_total, pool = pool_composition(session)
    start, end = half_year(today)
    registered_total = _count(session)
    left = _count(session, Candidate.status == CandidateStatus.LEFT_WELFARE)
    ending = list(session.scalars(
        sa.select(Placement).where(*active, Placement.end_date <= today + dt.timedelta(days=ENDING_SOON_DAYS))
        .order_by(Placement.end_date, Placement.id)
    ))
    return Dashboard(
        today=today,
        active_placements=session.scalar(sa.select(sa.func.count()).select_from(Placement).where(*active)),
        hours_this_month=months[-1].hours, hours_by_month=months,
        pool_total=pool_total, pool=pool,
        half_year_start=start, half_year_end=end,
        registrations=_count(session, Candidate.registered_on.between(start, end)),
        min_registrations=settings(session).min_registrations_per_half_year,
        registered_total=registered_total, left_welfare=left, outflow_pct=_pct(left, registered_total),
        ending_soon=ending, ending_soon_days=ENDING_SOON_DAYS,
        unread_reminders=unread_count(session),
    )
