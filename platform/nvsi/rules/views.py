"""The shared rule set through the API (``/api/v1/rules``) and the page ``/nvsi/regels``.
Every logged-in user reads it; NVSI administrators record new versions."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import has_role, roles_required
from nvsi.auth.models import Role
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.rules import services
from nvsi.rules.schemas import ParameterSchema, RuleInForceSchema, RulesOnArgs, VersionArgs, VersionSchema
from nvsi.rules.violations import as_errors

bp = Blueprint("rules", __name__)


def refused(violations):
    """422 with every violation, structured and per field."""
    return problem(422, "rule_violation", _("De wijziging voldoet niet aan de regels."),
                   as_errors(violations), violations=[v.as_dict() for v in violations])


@bp.get("/api/v1/rules")
@login_required
def api_rules():
    """The shared rules in force on a date.
    ---
    get:
      tags: [rules]
      summary: Shared rules in force on a date (default today)
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
        422: {$ref: '#/components/responses/Invalid'}
    """
    on = RulesOnArgs().load(request.args.to_dict())["date"] or dt.date.today()
    rules = services.shared_rules_on(db.session, on)
    return {
        "date": on.isoformat(),
        "version": services.version_in_force(db.session, on),
        "rules": RuleInForceSchema(many=True).dump(rules.values()),
    }


@bp.get("/api/v1/rules/parameters")
@login_required
def api_parameters():
    """Every parameter: kind, unit, bounds, local direction, descriptions.
    ---
    get:
      tags: [rules]
      summary: Rule-set parameters
      responses:
        200:
          description: OK
          content: {application/json: {schema: {type: array, items: ParameterSchema}}}
    """
    return ParameterSchema(many=True).dump(services.parameters(db.session))


@bp.get("/api/v1/rules/versions")
@login_required
def api_versions():
    """Every rule-set version with the values it set, newest first.
    ---
    get:
      tags: [rules]
      summary: Rule-set versions
      responses:
        200:
          description: OK
          content: {application/json: {schema: {type: array, items: VersionSchema}}}
    """
    return VersionSchema(many=True).dump(services.versions(db.session))


@bp.post("/api/v1/rules/versions")
@roles_required(Role.NVSI_ADMIN)
def api_create_version():
    """Record a new version (NVSI administrators; collective decisions do this on adoption).
    ---
    post:
      tags: [rules]
      summary: Record a new rule-set version
      requestBody: {required: true, content: {application/json: {schema: VersionArgs}}}
      responses:
        201:
          description: Created
          content: {application/json: {schema: VersionSchema}}
        403: {description: Not an NVSI administrator}
        422: {$ref: '#/components/responses/Invalid'}
    """
    data = VersionArgs().load(json_body())
    version = services.create_version(db.session, created_by_user_id=current_user.id, **data)
    db.session.commit()
    return VersionSchema().dump(version), 201


@bp.get("/nvsi/regels")
@login_required
def index():
    """The rules in force today, the planned and past versions, and (for NVSI administrators)
    the form for a new version."""
    return _render_index({}, {}), 200


@bp.post("/nvsi/regels/versies")
@roles_required(Role.NVSI_ADMIN)
def create_version():
    """Form handler: a new version from the values filled in (empty fields stay unchanged)."""
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    values = {k.removeprefix("value_"): v for k, v in form.items() if k.startswith("value_") and v.strip()}
    errors: dict = {}
    try:
        data = VersionArgs().load({
            "effective_from": form.get("effective_from", ""), "title": form.get("title", ""),
            "rationale": form.get("rationale", ""), "values": values,
        })
        version = services.create_version(db.session, created_by_user_id=current_user.id, **data)
    except ValidationError as exc:
        errors = exc.messages
    except services.RuleSetError as exc:
        errors = {_form_field(v.field): [v.message] for v in exc.violations}
    else:
        db.session.commit()
        flash(_("Versie %(number)s is vastgelegd.", number=version.number), "success")
        return redirect(url_for("rules.index"))
    db.session.rollback()
    return _render_index(form, errors), 422


def _form_field(field: str | None) -> str:
    return "value_" + field.removeprefix("values.") if field and field.startswith("values.") else field or "_schema"


def _render_index(form: dict, errors: dict):
    today = dt.date.today()
    return render_template(
        "rules/index.html",
        today=today,
        rules=services.shared_rules_on(db.session, today),
        version=services.version_in_force(db.session, today),
        parameters=services.parameters(db.session),
        versions=services.versions(db.session),
        can_edit=has_role(Role.NVSI_ADMIN),
        form=form,
        errors=errors,
    )
