"""The guided set-up of a municipality's local framework (``/g/<slug>/kaders/inrichten``), for its
administrators: step by step through the local values (stricter only: the shared value and the
allowed bound beside each), the arrangements and target mix, the guidance schedule, and the
settings. Each step is saved on its own (and can be revisited); the overview shows which are done.

The rules are those of :mod:`tenants.frameworks.services`: this module only walks through them,
turns their violations into field errors, and records the progress
(:func:`nvsi.onboarding.services.mark_setup_step`) and an audit event per saved step.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError, fields

from nvsi.audit.services import record
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.onboarding.services import SETUP_STEPS, mark_setup_step, setup_progress
from nvsi.rules import services as shared
from nvsi.rules.models import Stricter
from nvsi.schemas import Args
from tenants.frameworks import services
from tenants.frameworks.models import GuidanceAnchor
from tenants.frameworks.schemas import ArrangementsArgs, GuidanceArgs, SettingsArgs

ADMIN = Role.MUNICIPALITY_ADMIN
#: Extra empty rows offered below the existing ones.
EXTRA_ROWS = {"arrangements": 3, "guidance": 2}


class EffectiveFromArgs(Args):
    """The date the local values of the first step take effect."""

    effective_from = fields.Date(required=True)


def step_title(step: str) -> str:
    """A step's title in the user's language."""
    return {
        "values": _("Lokale waarden"), "arrangements": _("Arrangementen en streefverdeling"),
        "guidance": _("Begeleidingsmomenten"), "settings": _("Aanmeldingen en signalen"),
    }[step]


def _endpoint(step: str) -> str:
    return f"tenant.framework_setup_{step}"


def _next(step: str) -> str:
    index = SETUP_STEPS.index(step)
    return url_for(_endpoint(SETUP_STEPS[index + 1])) if index + 1 < len(SETUP_STEPS) else url_for(
        "tenant.framework_setup")


def _render(step: str, status: int = 200, **context):
    progress = setup_progress(db.session, g.tenant.id)
    steps = [{"key": key, "title": step_title(key), "url": url_for(_endpoint(key)), "done": key in progress,
              "saved_at": progress[key].completed_at if key in progress else None} for key in SETUP_STEPS]
    return render_template(f"frameworks/setup/{step}.html", step=step, steps=steps,
                           position=SETUP_STEPS.index(step) + 1 if step in SETUP_STEPS else None,
                           done=sum(1 for s in steps if s["done"]), **context), status


def _saved(step: str, changes: dict):
    """Mark the step done, audit it, commit, and go to the next step."""
    mark_setup_step(db.session, g.tenant.id, step, current_user.id)
    record(db.session, "framework.setup_saved", tenant_id=g.tenant.id, object_type="framework_setup",
           object_id=step, changes=changes)
    db.session.commit()
    flash(_("Stap %(n)s, %(title)s, is opgeslagen.", n=SETUP_STEPS.index(step) + 1, title=step_title(step)),
          "success")
    return redirect(_next(step))


def _pairs_to_errors(pairs: list[tuple[str, str]], field_map) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, message in pairs:
        errors.setdefault(field_map(field), []).append(message)
    return errors


def _flatten(messages, path: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested errors as (field path, message) pairs."""
    if isinstance(messages, dict):
        return [pair for key, value in messages.items() for pair in _flatten(value, f"{path}.{key}".strip("."))]
    if isinstance(messages, list):
        return [pair for item in messages for pair in _flatten(item, path)]
    return [(path, str(messages))]


def _numbered_rows(form: dict, prefix: str, names: tuple[str, ...]) -> list[tuple[int, dict]]:
    """The filled-in rows of a numbered form (``prefix-3-name``), with their row number."""
    rows: dict[int, dict] = {}
    for field, value in form.items():
        parts = field.split("-")
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2] in names:
            rows.setdefault(int(parts[1]), {})[parts[2]] = value.strip()
    return [(i, row) for i, row in sorted(rows.items()) if any(row.values())]


def _row_field(prefix: str, numbers: list[int], default: str):
    """Maps a service's field path (``arrangements.0.code``) to the form's input (``arr-3-code``)."""

    def field(path: str) -> str:
        parts = path.split(".")
        if len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(numbers):
            return f"{prefix}-{numbers[int(parts[1])]}-{parts[2]}"
        return default

    return field


# -- the values step ---------------------------------------------------------------------------------------


def _value_rows(today: dt.date) -> list[dict]:
    """Each locally adjustable parameter: the shared value today, the bound a local value must
    stay within, and the local value in force (None: the shared value applies)."""
    rules = shared.shared_rules_on(db.session, today)
    local = services.local_values_on(db.session, today)
    rows = []
    for parameter in shared.parameters(db.session):
        if parameter.local_stricter is None or parameter.key not in rules:
            continue
        shared_value = rules[parameter.key].value
        if parameter.local_stricter is Stricter.HIGHER:
            low, high = shared_value, parameter.max_value
        else:
            low, high = parameter.min_value, shared_value
        current = local.get(parameter.key)
        rows.append({
            "parameter": parameter, "key": parameter.key, "shared": shared_value,
            "version": rules[parameter.key].version, "direction": parameter.local_stricter.value,
            "low": None if low is None else shared.normalise(low, parameter.kind),
            "high": None if high is None else shared.normalise(high, parameter.kind),
            "local": None if current is None or current.value is None
            else shared.normalise(current.value, parameter.kind),
        })
    return rows


def _same(typed: str, current: Decimal | None) -> bool:
    if typed == "":
        return current is None
    try:
        return current is not None and Decimal(typed.replace(",", ".")) == current
    except InvalidOperation:
        return False


def _values_page(form: dict | None, errors: dict, status: int = 200):
    today = dt.date.today()
    rows = _value_rows(today)
    if form is None:
        form = {"effective_from": today.isoformat(),
                **{f"value-{r['key']}": "" if r["local"] is None else str(r["local"]) for r in rows}}
    return _render("values", status, rows=rows, form=form, errors=errors, today=today,
                   history=services.local_history(db.session),
                   conflicts=services.conflicts(db.session, g.tenant, today))


def _save_values():
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    today = dt.date.today()
    try:
        effective_from = EffectiveFromArgs().load({"effective_from": form.get("effective_from", "")})["effective_from"]
    except ValidationError as exc:
        return _values_page(form, {"effective_from": exc.messages["effective_from"]}, 422)
    errors: dict[str, list[str]] = {}
    changes: dict[str, str | None] = {}
    for row in _value_rows(today):
        key, name = row["key"], f"value-{row['key']}"
        typed = (form.get(name) or "").strip()
        if _same(typed, row["local"]):
            continue
        try:
            services.set_local_value(db.session, g.tenant, key=key, value=typed or None, effective_from=effective_from,
                                     today=today, note=_("Ingesteld bij het inrichten van de lokale kaders"),
                                     user_id=current_user.id)
        except services.FrameworkError as exc:
            for v in exc.violations:
                errors.setdefault("effective_from" if v.field == "effective_from" else name, []).append(v.message)
            continue
        changes[key] = typed or None
    if errors:
        db.session.rollback()
        return _values_page(form, errors, 422)
    return _saved("values", {"effective_from": effective_from.isoformat(), "values": changes})


# -- the arrangements and guidance steps ---------------------------------------------------------------------


def _arrangements_page(form: dict | None, errors: dict, status: int = 200):
    current = services.arrangements(db.session)
    if form is None:
        form = {}
        for i, a in enumerate(current):
            form.update({f"arr-{i}-code": a.code, f"arr-{i}-name": a.name,
                         f"arr-{i}-target_share_pct": "" if a.target_share_pct is None else str(a.target_share_pct)})
    rows = max([len(current)] + [int(k.split("-")[1]) + 1 for k in form if k.startswith("arr-")]) \
        + EXTRA_ROWS["arrangements"]
    return _render("arrangements", status, form=form, errors=errors, rows=rows)


def _save_arrangements():
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    numbered = _numbered_rows(form, "arr", ("code", "name", "target_share_pct"))
    numbers = [i for i, _row in numbered]
    # A share typed the Dutch way ("85,5") is read as a number; an empty one means "no target".
    items = [{k: (v.replace(",", ".") if k == "target_share_pct" else v) for k, v in row.items()
              if v != "" or k != "target_share_pct"} for _i, row in numbered]
    field = _row_field("arr", numbers, "arrangements")
    try:
        data = ArrangementsArgs().load({"arrangements": items})
        rows = services.replace_arrangements(db.session, g.tenant, data["arrangements"])
    except ValidationError as exc:
        db.session.rollback()
        return _arrangements_page(form, _pairs_to_errors(_flatten(exc.messages), field), 422)
    except services.FrameworkError as exc:
        db.session.rollback()
        return _arrangements_page(form, _pairs_to_errors([(v.field or "", v.message) for v in exc.violations],
                                                         field), 422)
    return _saved("arrangements", {"arrangements": {r.code: None if r.target_share_pct is None
                                                    else str(r.target_share_pct) for r in rows}})


def _guidance_page(form: dict | None, errors: dict, status: int = 200):
    current = services.guidance_schedule(db.session)
    if form is None:
        form = {}
        for i, s in enumerate(current):
            form.update({f"step-{i}-name": s.name, f"step-{i}-anchor": s.anchor.value,
                         f"step-{i}-offset_days": str(s.offset_days)})
    rows = max([len(current)] + [int(k.split("-")[1]) + 1 for k in form if k.startswith("step-")]) \
        + EXTRA_ROWS["guidance"]
    return _render("guidance", status, form=form, errors=errors, rows=rows, anchors=list(GuidanceAnchor))


def _save_guidance():
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    numbered = _numbered_rows(form, "step", ("name", "anchor", "offset_days"))
    numbers = [i for i, _row in numbered]
    field = _row_field("step", numbers, "steps")
    try:
        data = GuidanceArgs().load({"steps": [row for _i, row in numbered]})
        rows = services.replace_guidance(db.session, g.tenant, data["steps"])
    except ValidationError as exc:
        db.session.rollback()
        return _guidance_page(form, _pairs_to_errors(_flatten(exc.messages), field), 422)
    except services.FrameworkError as exc:
        db.session.rollback()
        return _guidance_page(form, _pairs_to_errors([(v.field or "", v.message) for v in exc.violations],
                                                     field), 422)
    return _saved("guidance", {"steps": [f"{r.name} ({r.anchor.value} {r.offset_days:+d})" for r in rows]})


# -- the settings step -------------------------------------------------------------------------------------


def _settings_page(form: dict | None, errors: dict, status: int = 200):
    row = services.settings(db.session)
    if form is None:
        form = {"min_registrations_per_half_year": "" if row.min_registrations_per_half_year is None
                else str(row.min_registrations_per_half_year),
                "reminder_recipients": row.reminder_recipients, "version": str(row.version)}
    return _render("settings", status, form=form, errors=errors)


def _save_settings():
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    payload = {"min_registrations_per_half_year": form.get("min_registrations_per_half_year") or None,
               "reminder_recipients": form.get("reminder_recipients", ""), "version": form.get("version", "")}
    try:
        data = SettingsArgs().load(payload)
        version = data.pop("version")
        emails, problems = services.parse_recipients(data["reminder_recipients"])
        if problems:
            raise services.FrameworkError(problems)
        data["reminder_recipients"] = emails
        row = services.update_settings(db.session, g.tenant, data, version, current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        return _settings_page(form, _pairs_to_errors(_flatten(exc.messages), lambda f: f), 422)
    except services.FrameworkError as exc:
        db.session.rollback()
        return _settings_page(form, _pairs_to_errors([(v.field or "", v.message) for v in exc.violations],
                                                     lambda f: f), 422)
    return _saved("settings", {"min_registrations_per_half_year": row.min_registrations_per_half_year,
                               "reminder_recipients": len(emails)})


# -- registration ------------------------------------------------------------------------------------------


def register_pages(bp):
    """Attach the guided set-up's pages to the tenant page blueprint."""

    @bp.get("/kaders/inrichten")
    @roles_required(ADMIN)
    def framework_setup():
        """The guided set-up: its steps, which are saved, and where to go on."""
        return _render("overview")

    @bp.route("/kaders/inrichten/waarden", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def framework_setup_values():
        """Step 1: stricter local values, with the shared value and the bound beside each."""
        return _save_values() if request.method == "POST" else _values_page(None, {})

    @bp.route("/kaders/inrichten/arrangementen", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def framework_setup_arrangements():
        """Step 2: the arrangements and their target mix."""
        return _save_arrangements() if request.method == "POST" else _arrangements_page(None, {})

    @bp.route("/kaders/inrichten/begeleiding", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def framework_setup_guidance():
        """Step 3: the schedule of guidance moments."""
        return _save_guidance() if request.method == "POST" else _guidance_page(None, {})

    @bp.route("/kaders/inrichten/instellingen", methods=["GET", "POST"])
    @roles_required(ADMIN)
    def framework_setup_settings():
        """Step 4: minimum registrations per half year and who receives the reminders."""
        return _save_settings() if request.method == "POST" else _settings_page(None, {})


def register_api(bp):
    """The guided set-up has no API of its own: the framework API (``/framework/…``) does it all."""
