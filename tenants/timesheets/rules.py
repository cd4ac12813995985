"""Pure checks of hours entered for a placement (no database access): each returns structured
violations naming the rule, so the API and the pages refuse with the same words."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nvsi.rules.violations import Violation, violation
from tenants.placements.rules import Duration

#: Most hours a day can have.
MAX_HOURS_PER_DAY = Decimal("24")
TWO_PLACES = Decimal("0.01")


def check_hours(hours: Decimal, field: str) -> list[Violation]:
    """0 to 24 hours with at most two decimals (7,25 and 7,5 are fine). 0 means "no hours that
    day": it withdraws a pending submission or corrects approved hours to nothing."""
    if not hours.is_finite() or not Decimal("0") <= hours <= MAX_HOURS_PER_DAY or hours != hours.quantize(TWO_PLACES):
        return [violation("hours_out_of_range", field, None, None,
                          "Vul per dag 0 tot en met 24 uur in, met ten hoogste 2 decimalen (bijvoorbeeld 7,25).")]
    return []


def check_work_date(placement, duration: Duration, day: dt.date, today: dt.date, field: str) -> list[Violation]:
    """Hours only on a day of the placement: not before its start, not after its end date, not
    after the maximum duration for its hours per week, and not in the future."""
    if day < placement.start_date:
        return [violation("before_placement_start", field, None, None,
                          "%(day)s ligt voor de startdatum van de plaatsing (%(start)s).",
                          day=day.isoformat(), start=placement.start_date.isoformat())]
    if day > duration.last_day:
        return [violation("after_maximum_duration", field, duration.rule.key, duration.rule.version,
                          "%(day)s ligt na de maximale duur van de plaatsing: uiterlijk tot en met %(last)s "
                          "(regel %(rule)s, versie %(version)s).",
                          day=day.isoformat(), last=duration.last_day.isoformat(), rule=duration.rule.key,
                          version=duration.rule.version)]
    if day > placement.end_date:
        return [violation("after_placement_end", field, None, None,
                          "%(day)s ligt na de einddatum van de plaatsing (%(end)s).",
                          day=day.isoformat(), end=placement.end_date.isoformat())]
    if day > today:
        return [violation("in_future", field, None, None,
                          "%(day)s ligt in de toekomst: alleen gewerkte uren kunnen worden ingevoerd.",
                          day=day.isoformat())]
    return []
