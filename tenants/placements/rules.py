"""Pure checks of a placement against the rules in force (no database access): each returns
structured violations naming the rule and the rule-set version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from nvsi.dates import last_day_within
from nvsi.rules.services import RuleInForce
from nvsi.rules.violations import N_, Violation, violation


@dataclass(frozen=True)
class Duration:
    """The maximum duration that applies, and why."""

    months: Decimal
    rule: RuleInForce
    #: True when the hours are above the full-time threshold.
    full_time: bool
    last_day: dt.date


def maximum_duration(rules: dict[str, RuleInForce], start: dt.date, hours_per_week: Decimal) -> Duration:
    """Temporariness: at most ``max_months_part_time`` at or below the full-time threshold of
    hours per week (28: exactly 28 is part-time), ``max_months_full_time`` above it."""
    full_time = hours_per_week > rules["full_time_hours_threshold"].value
    rule = rules["max_months_full_time" if full_time else "max_months_part_time"]
    return Duration(rule.value, rule, full_time, last_day_within(start, rule.value))


def check_rate(rules: dict[str, RuleInForce], rate_cents: int, field: str) -> list[Violation]:
    """The hourly rate is at least the minimum in force (local stricter value included)."""
    minimum = rules["min_hourly_rate"]
    if Decimal(rate_cents) < minimum.value * 100:
        message = (
            N_("Het uurtarief %(rate)s ligt onder het minimumtarief %(minimum)s van het lokale kader dat op "
               "de startdatum geldt (gedeelde regels versie %(version)s).")
            if minimum.source == "local" else
            N_("Het uurtarief %(rate)s ligt onder het minimumtarief %(minimum)s dat op de startdatum geldt "
               "(gedeelde regels versie %(version)s).")
        )
        return [violation("rate_below_minimum", field, "min_hourly_rate", minimum.version, message,
                          rate=(Decimal(rate_cents) / 100).quantize(Decimal("0.01")), minimum=minimum.value,
                          version=minimum.version)]
    return []


def check_duration(rules: dict[str, RuleInForce], start: dt.date, hours_per_week: Decimal,
                   end_date: dt.date | None) -> tuple[dt.date, list[Violation]]:
    """The end date: the one asked for, or the last allowed day; refused when longer."""
    duration = maximum_duration(rules, start, hours_per_week)
    if end_date is None:
        return duration.last_day, []
    if end_date < start:
        return end_date, [violation("end_before_start", "end_date", None, None,
                                    "De einddatum ligt voor de startdatum.")]
    if end_date > duration.last_day:
        message = N_("Bij %(hours)s uur per week duurt een plaatsing ten hoogste %(months)s maanden: "
                     "uiterlijk tot en met %(last)s (regel %(rule)s, versie %(version)s).")
        return end_date, [violation("too_long", "end_date", duration.rule.key, duration.rule.version, message,
                                    hours=hours_per_week, months=duration.months,
                                    last=duration.last_day.isoformat(), rule=duration.rule.key,
                                    version=duration.rule.version)]
    return end_date, []


def check_within_assignment(start: dt.date, end: dt.date, hours: Decimal, assignment) -> list[Violation]:
    problems = []
    if start < assignment.start_date or (assignment.end_date and end > assignment.end_date):
        problems.append(violation("outside_assignment", "start_date", None, None,
                                  "De plaatsing valt buiten de looptijd van de opdracht (%(start)s – %(end)s).",
                                  start=assignment.start_date.isoformat(),
                                  end=assignment.end_date.isoformat() if assignment.end_date else "…"))
    if hours > assignment.hours_per_week:
        problems.append(violation("more_hours_than_assignment", "hours_per_week", None, None,
                                  "De opdracht heeft %(hours)s uur per week; meer kan niet.",
                                  hours=assignment.hours_per_week))
    return problems


def check_overlap(start: dt.date, end: dt.date, others) -> list[Violation]:
    """A candidate has at most one placement at a time."""
    for other in others:
        if other.start_date <= end and start <= other.end_date:
            return [violation("overlap", "start_date", None, None,
                              "De kandidaat heeft al een plaatsing van %(start)s tot en met %(end)s.",
                              start=other.start_date.isoformat(), end=other.end_date.isoformat())]
    return []
