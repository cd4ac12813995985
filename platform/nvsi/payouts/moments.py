"""The payment moments of saved premium: the one place that says which days they are.

The shared rule set gives only their number per year (``premium_payment_moments``, 1 or 2: "at
most twice a year", DOMAIN.md). The platform fixes the days:

* 2 moments a year: **30 June** (``2026-H1``) and **31 December** (``2026-H2``);
* 1 moment a year: **31 December** (``2026-H2``) only.

A moment is named after the half year it closes (``<year>-H1`` / ``<year>-H2``), like the
half-yearly settlement. The number in force on the moment's day decides whether it is a moment.
At a moment the premium accrued for work **up to and including that day** is paid, less what was
paid or is in payment already.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

#: Moments per year → the halves whose last day is a payment moment.
HALVES_BY_COUNT: dict[int, tuple[int, ...]] = {1: (2,), 2: (1, 2)}
#: The CronJob (``nvsi premiums payout`` without ``--moment``) still generates a moment's batch this
#: many days after the moment, when a run was missed; after that it takes an explicit ``--moment``.
CATCH_UP_DAYS = 14
#: The requested execution date may lie at most this many days after the day of generating.
MAX_EXECUTION_LEAD_DAYS = 30

_LABEL = re.compile(r"^(\d{4})-H([12])$")


class InvalidMoment(ValueError):
    """Not a moment written as ``2026-H1`` or ``2026-H2``."""


@dataclass(frozen=True, order=True)
class Moment:
    """A candidate payment moment: the last day of half year ``half`` (1 or 2) of ``year``."""

    year: int
    half: int

    @classmethod
    def parse(cls, text: str) -> Moment:
        """``"2026-H1"`` → Moment(2026, 1); :class:`InvalidMoment` otherwise."""
        match = _LABEL.match((text or "").strip().upper())
        if not match or not 2000 <= int(match[1]) <= 2999:
            raise InvalidMoment(text)
        return cls(int(match[1]), int(match[2]))

    @property
    def label(self) -> str:
        return f"{self.year}-H{self.half}"

    @property
    def day(self) -> dt.date:
        """The payment moment itself: 30 June or 31 December."""
        return dt.date(self.year, 6, 30) if self.half == 1 else dt.date(self.year, 12, 31)

    def __str__(self) -> str:
        return self.label


def moments_per_year(session: Session, on: dt.date) -> int:
    """``premium_payment_moments`` of the shared rule set in force on ``on`` (a municipality
    cannot change it: it has no local variant)."""
    from nvsi.rules.services import shared_rules_on

    rule = shared_rules_on(session, on).get("premium_payment_moments")
    return int(rule.value) if rule is not None else 2


def is_payment_moment(session: Session, moment: Moment) -> bool:
    """Whether the rule set in force on the moment's day makes it a payment moment."""
    return moment.half in HALVES_BY_COUNT.get(moments_per_year(session, moment.day), (1, 2))


def moment_days(session: Session, year: int) -> list[dt.date]:
    """The payment moments of ``year`` (for messages and pages)."""
    return [Moment(year, half).day for half in (1, 2) if is_payment_moment(session, Moment(year, half))]


def due_moment(session: Session, today: dt.date) -> Moment | None:
    """The moment a daily run should generate today: the latest payment moment on or before
    ``today``, at most :data:`CATCH_UP_DAYS` days ago; None when there is none."""
    candidates = [Moment(today.year, 2), Moment(today.year, 1), Moment(today.year - 1, 2)]
    for moment in candidates:
        if moment.day <= today and (today - moment.day).days <= CATCH_UP_DAYS and is_payment_moment(session, moment):
            return moment
    return None


def default_execution_date(moment: Moment, today: dt.date) -> dt.date:
    """The requested execution date when none is given: the moment itself, or today when it
    has passed, moved to the next weekday (banks execute on TARGET business days)."""
    day = max(moment.day, today)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day
