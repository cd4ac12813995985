"""The local framework and the one question everything asks: which rules apply to tenant T on
date D. Every function takes a session bound to the tenant (shared tables are reachable from
it too), flushes and never commits."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.rules import services as shared
from nvsi.rules.models import Stricter
from nvsi.rules.services import RuleInForce
from nvsi.rules.violations import N_, RuleViolations, Violation, violation
from nvsi.tenancy.routing import TENANT_KEY, TenantRef
from tenants.frameworks.models import (
    DEFAULT_GUIDANCE,
    Arrangement,
    FrameworkSettings,
    GuidanceAnchor,
    GuidanceStep,
    LocalRuleValue,
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FrameworkError(RuleViolations):
    """A change to the local framework was refused; ``violations`` says why."""


def _check_bound(session: Session, tenant: TenantRef) -> None:
    if session.info.get(TENANT_KEY) != tenant.schema:
        raise RuntimeError(f"session is not bound to {tenant.schema}")


# -- the rules in force ---------------------------------------------------------------------------


def local_values_on(session: Session, on: dt.date) -> dict[str, LocalRuleValue]:
    """The latest local value per parameter with ``effective_from`` ≤ ``on``."""
    rows = session.scalars(
        sa.select(LocalRuleValue)
        .where(LocalRuleValue.effective_from <= on)
        .order_by(LocalRuleValue.effective_from, LocalRuleValue.id)
    )
    return {row.key: row for row in rows}  # later rows win


def is_stricter_or_equal(direction: Stricter, local: Decimal, shared_value: Decimal) -> bool:
    return local >= shared_value if direction is Stricter.HIGHER else local <= shared_value


def rules_for(session: Session, tenant: TenantRef, on: dt.date) -> dict[str, RuleInForce]:
    """Every rule that applies to ``tenant`` on ``on``: the shared version in force, merged with
    the tenant's local framework. A local value applies only where it is at least as strict as
    the shared one; where a newer shared version overtook it, the shared value applies (and
    :func:`conflicts` tells the municipality what to change)."""
    _check_bound(session, tenant)
    rules = shared.shared_rules_on(session, on)
    params = shared.parameters_by_key(session)
    for key, local in local_values_on(session, on).items():
        rule, parameter = rules.get(key), params.get(key)
        if rule is None or parameter is None or local.value is None or parameter.local_stricter is None:
            continue
        value = shared.normalise(local.value, parameter.kind)
        if value != rule.value and is_stricter_or_equal(parameter.local_stricter, value, rule.value):
            rules[key] = replace(rule, value=value, source="local")
    return rules


def conflicts(session: Session, tenant: TenantRef, today: dt.date) -> list[Violation]:
    """Local values that are, now or from a coming shared version on, less strict than the
    shared value: each with what to change, the rule and the shared version."""
    _check_bound(session, tenant)
    params = shared.parameters_by_key(session)
    dates = sorted({today, *shared.change_dates(session, today), *(
        d for d in session.scalars(sa.select(LocalRuleValue.effective_from).where(LocalRuleValue.effective_from > today))
    )})
    found: dict[str, Violation] = {}
    for on in dates:
        shared_rules = shared.shared_rules_on(session, on)
        for key, local in local_values_on(session, on).items():
            parameter, rule = params.get(key), shared_rules.get(key)
            if key in found or local.value is None or parameter is None or rule is None:
                continue
            value = shared.normalise(local.value, parameter.kind)
            if parameter.local_stricter and not is_stricter_or_equal(parameter.local_stricter, value, rule.value):
                message = (
                    N_("Uw lokale waarde %(local)s voor %(rule)s is vanaf %(date)s minder streng dan de "
                       "gedeelde waarde %(shared)s (versie %(version)s). Stel een waarde van ten minste "
                       "%(shared)s in.") if parameter.local_stricter is Stricter.HIGHER else
                    N_("Uw lokale waarde %(local)s voor %(rule)s is vanaf %(date)s minder streng dan de "
                       "gedeelde waarde %(shared)s (versie %(version)s). Stel een waarde van ten hoogste "
                       "%(shared)s in.")
                )
                found[key] = violation("local_less_strict", f"values.{key}", key, rule.version, message,
                                       local=value, rule=key, date=on.isoformat(), shared=rule.value,
                                       version=rule.version)
    return list(found.values())


# -- changing the local framework -----------------------------------------------------------------


def set_local_value(
    session: Session,
    tenant: TenantRef,
    *,
    key: str,
    value,
    effective_from: dt.date,
    today: dt.date,
    note: str = "",
    user_id: int | None = None,
) -> LocalRuleValue:
    """Record a local value from ``effective_from`` on (``value`` None or "": follow the shared
    value again). Refused unless the parameter may be set locally, the value is within the
    parameter's bounds and at least as strict as the shared value in force on that date and on
    every later date a shared version is already planned for."""
    _check_bound(session, tenant)
    parameter = shared.parameters_by_key(session).get(key)
    if parameter is None:
        raise FrameworkError([violation("unknown_rule", "key", key, None, "Onbekende regel %(rule)s.", rule=key)])
    if parameter.local_stricter is None:
        raise FrameworkError([violation("not_locally_adjustable", "key", key, None,
                                        "%(rule)s geldt voor alle leden gelijk en kan niet lokaal worden aangepast.",
                                        rule=key)])
    if effective_from < today:
        raise FrameworkError([violation("in_the_past", "effective_from", key, None,
                                        "Een lokale waarde kan niet met terugwerkende kracht ingaan.")])
    parsed = None
    if value not in (None, ""):
        parsed, problems = shared.parse_value(value, parameter, "value")
        if problems:
            raise FrameworkError(problems)
        problems = []
        for on in [effective_from, *shared.change_dates(session, effective_from)]:
            rule = shared.shared_rules_on(session, on)[key]
            if not is_stricter_or_equal(parameter.local_stricter, parsed, rule.value):
                message = (N_("Een lokale waarde mag alleen strenger zijn: %(rule)s moet ten minste %(shared)s "
                              "zijn (gedeelde regel, versie %(version)s, vanaf %(date)s).")
                           if parameter.local_stricter is Stricter.HIGHER else
                           N_("Een lokale waarde mag alleen strenger zijn: %(rule)s mag ten hoogste %(shared)s "
                              "zijn (gedeelde regel, versie %(version)s, vanaf %(date)s)."))
                problems.append(violation("not_stricter", "value", key, rule.version, message, rule=key,
                                          shared=rule.value, version=rule.version, date=on.isoformat()))
                break
        if problems:
            raise FrameworkError(problems)
    row = LocalRuleValue(key=key, value=parsed, effective_from=effective_from, note=note or "",
                         created_by_user_id=user_id)
    session.add(row)
    session.flush()
    record(session, "framework.local_value_set", tenant_id=tenant.id, object_type="local_rule_value",
           object_id=row.id, changes={"key": key, "value": parsed, "effective_from": effective_from})
    return row


def local_history(session: Session) -> list[LocalRuleValue]:
    """Every local value ever recorded, newest first."""
    return list(session.scalars(sa.select(LocalRuleValue).order_by(
        LocalRuleValue.effective_from.desc(), LocalRuleValue.id.desc())))


def arrangements(session: Session, include_inactive: bool = False) -> list[Arrangement]:
    query = sa.select(Arrangement).order_by(Arrangement.position, Arrangement.code)
    if not include_inactive:
        query = query.where(Arrangement.active.is_(True))
    return list(session.scalars(query))


def replace_arrangements(session: Session, tenant: TenantRef, items: list[dict]) -> list[Arrangement]:
    """Set the active arrangements and the target mix. Arrangements left out are retired (kept
    for the candidates that have them). Target shares are all given and add up to 100%, or
    none is given."""
    _check_bound(session, tenant)
    problems: list[Violation] = []
    codes = [item["code"] for item in items]
    for i, item in enumerate(items):
        if codes.count(item["code"]) > 1:
            problems.append(violation("duplicate_code", f"arrangements.{i}.code", None, None,
                                      "De code %(code)s komt meer dan eens voor.", code=item["code"]))
    shares = [item.get("target_share_pct") for item in items]
    given = [s for s in shares if s is not None]
    if given and len(given) != len(shares):
        problems.append(violation("incomplete_mix", "arrangements", None, None,
                                  "Geef elk arrangement een streefpercentage, of geen enkel."))
    elif given and sum(given) != Decimal(100):
        problems.append(violation("mix_not_100", "arrangements", None, None,
                                  "De streefpercentages tellen op tot %(total)s%%; dat moet 100%% zijn.",
                                  total=sum(given)))
    if problems:
        raise FrameworkError(problems)
    existing = {a.code: a for a in arrangements(session, include_inactive=True)}
    for position, item in enumerate(items, start=1):
        row = existing.pop(item["code"], None) or Arrangement(code=item["code"])
        row.name, row.target_share_pct = item["name"], item.get("target_share_pct")
        row.position, row.active = position, True
        session.add(row)
    for row in existing.values():
        row.active = False
    session.flush()
    record(session, "framework.arrangements_set", tenant_id=tenant.id, object_type="arrangements",
           changes={"arrangements": [[i["code"], i["name"], i.get("target_share_pct")] for i in items],
                    "retired": sorted(existing)})
    return arrangements(session)


def guidance_schedule(session: Session) -> list[GuidanceStep]:
    return list(session.scalars(sa.select(GuidanceStep).order_by(GuidanceStep.position, GuidanceStep.id)))


def replace_guidance(session: Session, tenant: TenantRef, steps: list[dict]) -> list[GuidanceStep]:
    """Set the schedule of guidance moments new placements get (existing placements keep theirs)."""
    _check_bound(session, tenant)
    if not steps:
        raise FrameworkError([violation("empty_schedule", "steps", None, None,
                                        "Plan ten minste één begeleidingsmoment.")])
    session.execute(sa.delete(GuidanceStep))
    for position, step in enumerate(steps, start=1):
        session.add(GuidanceStep(name=step["name"], anchor=GuidanceAnchor(step["anchor"]),
                                 offset_days=step["offset_days"], position=position))
    session.flush()
    record(session, "framework.guidance_set", tenant_id=tenant.id, object_type="guidance_schedule",
           changes={"steps": [[s["name"], s["anchor"], s["offset_days"]] for s in steps]})
    return guidance_schedule(session)


def settings(session: Session) -> FrameworkSettings:
    """The framework settings row (created on first use if a tenant lacks it)."""
    row = session.scalar(sa.select(FrameworkSettings).order_by(FrameworkSettings.id).limit(1))
    if row is None:
        row = FrameworkSettings(reminder_recipients="")
        session.add(row)
        session.flush()
    return row


def update_settings(session: Session, tenant: TenantRef, data: dict, version: int, user_id: int | None) -> FrameworkSettings:
    """Change the minimum registrations and the reminder recipients (optimistic lock)."""
    _check_bound(session, tenant)
    row = settings(session)
    if version != row.version:
        raise FrameworkError([violation("stale", "version", None, None,
                                        "Iemand anders heeft de instellingen intussen gewijzigd. Laad opnieuw.")])
    if "min_registrations_per_half_year" in data:
        row.min_registrations_per_half_year = data["min_registrations_per_half_year"]
    if "reminder_recipients" in data:
        row.reminder_recipients = "\n".join(data["reminder_recipients"])
    row.updated_by_user_id = user_id
    session.flush()
    changes = {k: v for k, v in data.items() if k != "reminder_recipients"}
    if "reminder_recipients" in data:  # the number of addresses, not the addresses
        changes["reminder_recipients"] = len(data["reminder_recipients"])
    record(session, "framework.settings_updated", tenant_id=tenant.id, object_type="framework_settings",
           object_id=row.id, changes=changes)
    return row


def parse_recipients(raw) -> tuple[list[str], list[Violation]]:
    """E-mail addresses from a list or from text (one per line, or separated by commas)."""
    items = raw if isinstance(raw, list) else re.split(r"[\s,;]+", raw or "")
    emails = [str(e).strip().lower() for e in items if str(e).strip()]
    bad = [e for e in emails if not EMAIL_RE.fullmatch(e)]
    if bad:
        return [], [violation("invalid_email", "reminder_recipients", None, None,
                              "Geen geldig e-mailadres: %(emails)s.", emails=", ".join(bad))]
    return sorted(set(emails), key=emails.index), []


def parse_share(raw) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        return Decimal(str(raw).replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(str(raw)) from exc


def initialise(session: Session) -> None:
    """Give a new tenant its default framework (the tenant migration does the same for tenants
    that existed before it)."""
    if not guidance_schedule(session):
        for position, (name, anchor, days) in enumerate(DEFAULT_GUIDANCE, start=1):
            session.add(GuidanceStep(name=name, anchor=anchor, offset_days=days, position=position))
    settings(session)
    session.flush()
