"""The local framework and the rules in force, per municipality: JSON API and the page
``/g/<slug>/kaders``. Everyone with access to the tenant reads; municipality admins change."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import has_role, roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.rules import services as shared
from nvsi.rules.schemas import RuleInForceSchema, RulesOnArgs, ViolationSchema
from tenants.frameworks import services
from tenants.frameworks.models import GuidanceAnchor
from tenants.frameworks.schemas import (
    ArrangementsArgs,
    ArrangementSchema,
    GuidanceArgs,
    GuidanceStepSchema,
    LocalValueArgs,
    LocalValueSchema,
    SettingsArgs,
    SettingsSchema,
)

ADMIN = Role.MUNICIPALITY_ADMIN


def _framework_body() -> dict:
    today = dt.date.today()
    return {
        "local_values": LocalValueSchema(many=True).dump(services.local_history(db.session)),
        "arrangements": ArrangementSchema(many=True).dump(services.arrangements(db.session)),
        "guidance": GuidanceStepSchema(many=True).dump(services.guidance_schedule(db.session)),
        "settings": SettingsSchema().dump(services.settings(db.session)),
        "conflicts": ViolationSchema(many=True).dump(
            [v.as_dict() for v in services.conflicts(db.session, g.tenant, today)]
        ),
    }


def _settings_data(data: dict):
    """Settings input with the recipients parsed; raises FrameworkError on bad addresses."""
    if "reminder_recipients" in data:
        emails, problems = services.parse_recipients(data["reminder_recipients"])
        if problems:
            raise services.FrameworkError(problems)
        data["reminder_recipients"] = emails
    return data


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/rules")
    @login_required
    def api_tenant_rules():
        """The rules that apply to this municipality on a date: shared merged with local.
        ---
        get:
          tags: [frameworks]
          summary: Rules in force for the municipality (shared + local)
          parameters:
          - {in: query, name: date, schema: {type: string, format: date}}
          responses:
            200:
              description: OK
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      date: {type: string, format: date}
                      version: {type: integer}
                      rules: {type: array, items: RuleInForceSchema}
                      conflicts: {type: array, items: ViolationSchema}
            404: {$ref: '#/components/responses/NotFound'}
        """
        on = RulesOnArgs().load(request.args.to_dict())["date"] or dt.date.today()
        rules = services.rules_for(db.session, g.tenant, on)
        return {
            "date": on.isoformat(),
            "version": shared.version_in_force(db.session, on),
            "rules": RuleInForceSchema(many=True).dump(rules.values()),
            "conflicts": [v.as_dict() for v in services.conflicts(db.session, g.tenant, dt.date.today())],
        }

    @bp.get("/framework")
    @login_required
    def api_get_framework():
        """The local framework: local values (history), arrangements, guidance, settings.
        ---
        get:
          tags: [frameworks]
          summary: The municipality's local framework
          responses:
            200: {description: OK}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return _framework_body()

    @bp.post("/framework/values")
    @roles_required(ADMIN)
    def api_set_local_value():
        """Set a stricter local value from a date (empty value: follow the shared value again).
        ---
        post:
          tags: [frameworks]
          summary: Set a local value
          requestBody: {required: true, content: {application/json: {schema: LocalValueArgs}}}
          responses:
            201:
              description: Created
              content: {application/json: {schema: LocalValueSchema}}
            403: {description: Not a municipality admin}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = LocalValueArgs().load(json_body())
        row = services.set_local_value(db.session, g.tenant, today=dt.date.today(),
                                       user_id=current_user.id, **data)
        db.session.commit()
        return LocalValueSchema().dump(row), 201

    @bp.put("/framework/arrangements")
    @roles_required(ADMIN)
    def api_set_arrangements():
        """Replace the arrangements and their target mix.
        ---
        put:
          tags: [frameworks]
          summary: Set the arrangements and target mix
          requestBody: {required: true, content: {application/json: {schema: ArrangementsArgs}}}
          responses:
            200: {description: OK}
            403: {description: Not a municipality admin}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = ArrangementsArgs().load(json_body())
        rows = services.replace_arrangements(db.session, g.tenant, data["arrangements"])
        db.session.commit()
        return {"arrangements": ArrangementSchema(many=True).dump(rows)}

    @bp.put("/framework/guidance")
    @roles_required(ADMIN)
    def api_set_guidance():
        """Replace the schedule of guidance moments.
        ---
        put:
          tags: [frameworks]
          summary: Set the guidance schedule
          requestBody: {required: true, content: {application/json: {schema: GuidanceArgs}}}
          responses:
            200: {description: OK}
            403: {description: Not a municipality admin}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = GuidanceArgs().load(json_body())
        rows = services.replace_guidance(db.session, g.tenant, data["steps"])
        db.session.commit()
        return {"guidance": GuidanceStepSchema(many=True).dump(rows)}

    @bp.patch("/framework/settings")
    @roles_required(ADMIN)
    def api_update_settings():
        """Change the minimum registrations per half year and the reminder recipients.
        ---
        patch:
          tags: [frameworks]
          summary: Change the framework settings
          requestBody: {required: true, content: {application/json: {schema: SettingsArgs}}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: SettingsSchema}}
            403: {description: Not a municipality admin}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = SettingsArgs().load(json_body())
        version = data.pop("version")
        row = services.update_settings(db.session, g.tenant, _settings_data(data), version, current_user.id)
        db.session.commit()
        return SettingsSchema().dump(row)


# -- pages --------------------------------------------------------------------------------------


def _render(forms: dict | None = None, errors: dict | None = None, status: int = 200):
    today = dt.date.today()
    return render_template(
        "frameworks/index.html",
        today=today,
        rules=services.rules_for(db.session, g.tenant, today),
        parameters=shared.parameters(db.session),
        conflicts=services.conflicts(db.session, g.tenant, today),
        history=services.local_history(db.session),
        arrangements=services.arrangements(db.session),
        guidance=services.guidance_schedule(db.session),
        settings=services.settings(db.session),
        anchors=list(GuidanceAnchor),
        can_edit=has_role(ADMIN),
        forms=forms or {},
        errors=errors or {},
    ), status


def _rows(form: dict, prefix: str, names: tuple[str, ...]) -> list[dict]:
    """Numbered form rows (``prefix-3-name``) that have anything filled in, in order."""
    rows = {}
    for field, value in form.items():
        parts = field.split("-")
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() and parts[2] in names:
            rows.setdefault(int(parts[1]), {})[parts[2]] = value.strip()
    return [row for _, row in sorted(rows.items()) if any(row.values())]


def _flatten(messages, path: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested errors as (field path, message) pairs."""
    if isinstance(messages, dict):
        return [pair for key, value in messages.items() for pair in _flatten(value, f"{path}.{key}".strip("."))]
    if isinstance(messages, list):
        return [pair for item in messages for pair in _flatten(item, path)]
    return [(path, str(messages))]


def _failed(name: str, form: dict, exc):
    """Re-render the page with the form as typed and its errors (422)."""
    db.session.rollback()
    if isinstance(exc, ValidationError):
        pairs = _flatten(exc.messages)
    else:
        pairs = [(v.field or "", v.message) for v in exc.violations]
    return _render({name: form}, {name: pairs}, 422)


def register_pages(bp):
    @bp.get("/kaders")
    @login_required
    def framework():
        """The rules in force for the municipality and its local framework."""
        return _render()

    @bp.post("/kaders/waarde")
    @roles_required(ADMIN)
    def set_local_value():
        form = request.form.to_dict()
        form.pop("csrf_token", None)
        try:
            data = LocalValueArgs().load(form)
            services.set_local_value(db.session, g.tenant, today=dt.date.today(), user_id=current_user.id, **data)
        except (ValidationError, services.FrameworkError) as exc:
            return _failed("value", form, exc)
        db.session.commit()
        flash(_("De lokale waarde is vastgelegd."), "success")
        return redirect(url_for("tenant.framework"))

    @bp.post("/kaders/arrangementen")
    @roles_required(ADMIN)
    def set_arrangements():
        form = request.form.to_dict()
        rows = [{k: v for k, v in row.items() if v != "" or k != "target_share_pct"}
                for row in _rows(form, "arr", ("code", "name", "target_share_pct"))]
        try:
            data = ArrangementsArgs().load({"arrangements": rows})
            services.replace_arrangements(db.session, g.tenant, data["arrangements"])
        except (ValidationError, services.FrameworkError) as exc:
            return _failed("arrangements", form, exc)
        db.session.commit()
        flash(_("De arrangementen zijn opgeslagen."), "success")
        return redirect(url_for("tenant.framework"))

    @bp.post("/kaders/begeleiding")
    @roles_required(ADMIN)
    def set_guidance():
        form = request.form.to_dict()
        rows = _rows(form, "step", ("name", "anchor", "offset_days"))
        try:
            data = GuidanceArgs().load({"steps": rows})
            services.replace_guidance(db.session, g.tenant, data["steps"])
        except (ValidationError, services.FrameworkError) as exc:
            return _failed("guidance", form, exc)
        db.session.commit()
        flash(_("Het begeleidingsschema is opgeslagen."), "success")
        return redirect(url_for("tenant.framework"))

    @bp.post("/kaders/instellingen")
    @roles_required(ADMIN)
    def update_settings():
        form = request.form.to_dict()
        payload = {
            "min_registrations_per_half_year": form.get("min_registrations_per_half_year") or None,
            "reminder_recipients": form.get("reminder_recipients", ""),
            "version": form.get("version", ""),
        }
        try:
            data = SettingsArgs().load(payload)
            version = data.pop("version")
            services.update_settings(db.session, g.tenant, _settings_data(data), version, current_user.id)
        except (ValidationError, services.FrameworkError) as exc:
            return _failed("settings", form, exc)
        db.session.commit()
        flash(_("De instellingen zijn opgeslagen."), "success")
        return redirect(url_for("tenant.framework"))
