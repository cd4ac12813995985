"""The shared rule set: which values are in force on a date, and how a new version is made.

A value in force for parameter P on date D comes from the version with the latest
``effective_from`` ≤ D that sets P (among versions of the same date, the highest number).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.rules.models import RuleParameter, RuleSetVersion, RuleValue, ValueKind
from nvsi.rules.violations import RuleViolations, Violation, violation

#: Decimal places each kind of value may have.
PLACES = {ValueKind.MONEY: 2, ValueKind.PERCENTAGE: 2, ValueKind.INTEGER: 0, ValueKind.DECIMAL: 2}


@dataclass(frozen=True)
class RuleInForce:
    """A parameter's value in force on a date, and where it comes from."""

    key: str
    value: Decimal
    kind: ValueKind
    unit: str
    #: The shared rule-set version the (shared) value comes from.
    version: int
    #: The date that value took effect.
    effective_from: dt.date
    #: "shared", or "local" when a municipality's stricter local value applies.
    source: str = "shared"
    #: The shared value (equal to ``value`` unless a local value applies).
    shared_value: Decimal | None = None


class RuleSetError(RuleViolations):
    """A rule-set change was refused; ``violations`` says why."""


def parameters(session: Session) -> list[RuleParameter]:
    """Every parameter, in display order."""
    return list(session.scalars(sa.select(RuleParameter).order_by(RuleParameter.position, RuleParameter.key)))


def parameters_by_key(session: Session) -> dict[str, RuleParameter]:
    return {p.key: p for p in parameters(session)}


def versions(session: Session) -> list[RuleSetVersion]:
    """Every version, newest first."""
    return list(session.scalars(sa.select(RuleSetVersion).order_by(RuleSetVersion.number.desc())))


def get_version(session: Session, number: int) -> RuleSetVersion | None:
    return session.scalar(sa.select(RuleSetVersion).where(RuleSetVersion.number == number))


def shared_rules_on(session: Session, on: dt.date) -> dict[str, RuleInForce]:
    """The shared value of every parameter in force on ``on`` (one query)."""
    rows = session.execute(
        sa.select(RuleValue.value, RuleParameter, RuleSetVersion.number, RuleSetVersion.effective_from)
        .join(RuleParameter, RuleValue.parameter_id == RuleParameter.id)
        .join(RuleSetVersion, RuleValue.version_id == RuleSetVersion.id)
        .where(RuleSetVersion.effective_from <= on)
        .order_by(RuleSetVersion.effective_from, RuleSetVersion.number)
    ).all()
    result: dict[str, RuleInForce] = {}
    for value, parameter, number, effective_from in rows:  # later rows win
        result[parameter.key] = RuleInForce(
            parameter.key, normalise(value, parameter.kind), parameter.kind, parameter.unit,
            number, effective_from, "shared", normalise(value, parameter.kind),
        )
    return result


def version_in_force(session: Session, on: dt.date) -> int | None:
    """The number of the newest version in force on ``on``."""
    return session.scalar(
        sa.select(RuleSetVersion.number)
        .where(RuleSetVersion.effective_from <= on)
        .order_by(RuleSetVersion.effective_from.desc(), RuleSetVersion.number.desc())
        .limit(1)
    )


def change_dates(session: Session, after: dt.date) -> list[dt.date]:
    """The dates after ``after`` on which a shared version takes effect."""
    return list(
        session.scalars(
            sa.select(RuleSetVersion.effective_from)
            .where(RuleSetVersion.effective_from > after)
            .distinct()
            .order_by(RuleSetVersion.effective_from)
        )
    )


def parse_value(raw, parameter: RuleParameter, field: str) -> tuple[Decimal | None, list[Violation]]:
    """Read a value for ``parameter`` exactly: a Decimal with the places its kind allows."""
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        return None, [violation("not_a_number", field, parameter.key, None,
                                "Geen geldig getal voor %(rule)s.", rule=parameter.key)]
    places = PLACES[parameter.kind]
    if value != value.quantize(Decimal(1).scaleb(-places)):
        if places == 0:
            return None, [violation("too_many_decimals", field, parameter.key, None,
                                    "%(rule)s moet een geheel getal zijn.", rule=parameter.key)]
        return None, [violation("too_many_decimals", field, parameter.key, None,
                                "%(rule)s mag ten hoogste %(places)s decimalen hebben.",
                                rule=parameter.key, places=places)]
    return value, check_bounds(parameter, value, field)


def check_bounds(parameter: RuleParameter, value: Decimal, field: str) -> list[Violation]:
    """The parameter's own allowed range (for shared and local values alike)."""
    if parameter.min_value is not None and value < parameter.min_value:
        return [violation("below_minimum", field, parameter.key, None,
                          "%(rule)s moet ten minste %(bound)s zijn.",
                          rule=parameter.key, bound=normalise(parameter.min_value, parameter.kind))]
    if parameter.max_value is not None and value > parameter.max_value:
        return [violation("above_maximum", field, parameter.key, None,
                          "%(rule)s mag ten hoogste %(bound)s zijn.",
                          rule=parameter.key, bound=normalise(parameter.max_value, parameter.kind))]
    return []


def create_version(
    session: Session,
    *,
    effective_from: dt.date,
    title: str,
    values: dict[str, object],
    rationale: str = "",
    created_by_user_id: int | None = None,
    proposal_id: int | None = None,
) -> RuleSetVersion:
    """Record a new rule-set version (flushes). Raises :class:`RuleSetError` with every
    violation: unknown parameters, values out of bounds or with too many decimals, and a
    contribution split that does not add up."""
    known = parameters_by_key(session)
    problems: list[Violation] = []
    parsed: dict[str, Decimal] = {}
    if not values:
        problems.append(violation("no_values", "values", None, None, "Geef ten minste één nieuwe waarde."))
    if not (title or "").strip():
        problems.append(violation("required", "title", None, None, "Geef de versie een titel."))
    for key, raw in values.items():
        parameter = known.get(key)
        if parameter is None:
            problems.append(violation("unknown_rule", f"values.{key}", key, None,
                                      "Onbekende regel %(rule)s.", rule=key))
            continue
        value, found = parse_value(raw, parameter, f"values.{key}")
        problems += found
        if value is not None and not found:
            parsed[key] = value
    if not problems:
        problems += _check_contribution_split(session, effective_from, parsed)
    if problems:
        raise RuleSetError(problems)
    number = (session.scalar(sa.select(sa.func.max(RuleSetVersion.number))) or 0) + 1
    version = RuleSetVersion(
        number=number, effective_from=effective_from, title=title.strip(), rationale=rationale or "",
        created_by_user_id=created_by_user_id, proposal_id=proposal_id,
        values=[RuleValue(parameter_id=known[k].id, value=v) for k, v in parsed.items()],
    )
    session.add(version)
    session.flush()
    record(session, "rules.version_created", object_type="rule_set_version", object_id=version.number,
           changes={"effective_from": effective_from, "title": version.title, "proposal_id": proposal_id,
                    "values": {k: str(v) for k, v in parsed.items()}})
    return version


_SPLIT = ("contribution_pct", "contribution_municipality_pct", "contribution_service_company_pct")


def _check_contribution_split(session: Session, on: dt.date, new: dict[str, Decimal]) -> list[Violation]:
    """The municipality's and the service company's parts must add up to the contribution."""
    if not any(key in new for key in _SPLIT):
        return []
    current = shared_rules_on(session, on)
    total, municipality, company = (new.get(k, current[k].value if k in current else Decimal(0)) for k in _SPLIT)
    if municipality + company != total:
        return [violation("contribution_split", "values.contribution_pct", "contribution_pct", None,
                          "De delen van gemeente (%(municipality)s%%) en Flextensie (%(company)s%%) "
                          "moeten samen de contributie (%(total)s%%) zijn.",
                          municipality=municipality, company=company, total=total)]
    return []


def normalise(value: Decimal, kind: ValueKind) -> Decimal:
    """The value with exactly the places of its kind (12.3000 → 12.30, 2.0000 → 2)."""
    places = PLACES[kind]
    if kind is ValueKind.DECIMAL:
        value = value.quantize(Decimal("0.01"))
        return value.to_integral_value() if value == value.to_integral_value() else value.normalize()
    return value.quantize(Decimal(1).scaleb(-places))
