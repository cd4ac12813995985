"""The audit log of the whole association, for NVSI administrators: the page ``/admin/audit``
and the API ``/api/v1/audit``. (A municipality's administrators see their own tenant's events
under ``/g/<slug>/audit``: ``tenants/audit``.) Read-only: the table refuses changes anyway."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from marshmallow import ValidationError

from nvsi.audit import services
from nvsi.audit.schemas import AdminAuditFilterArgs, dump_page, page_size, period, split_page
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from nvsi.tenancy.models import Tenant

bp = Blueprint("audit", __name__)


@bp.app_template_filter("audit_moment")
def _moment(value) -> str:
    """An event's moment in the user's time zone, to the second."""
    return format_datetime(value, format="dd-MM-yyyy HH:mm:ss")


@bp.app_template_filter("masked_changes")
def _masked(changes):
    """``changes`` with personal fields masked (again: older rows too)."""
    return services.mask_changes(changes)


@bp.app_template_filter("audit_value")
def _value(value) -> str:
    """A changed value as text: ``[old, new]`` as "old → new"."""
    def text(v):
        return "—" if v is None or v == "" else (json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v))

    if isinstance(value, list) and len(value) == 2 and not any(isinstance(v, dict | list) for v in value):
        return f"{text(value[0])} → {text(value[1])}"
    return text(value)


def _tenants() -> list[Tenant]:
    return list(db.session.scalars(sa.select(Tenant).order_by(Tenant.name)))


def search(args: dict, tenant_id: int | None, all_tenants: bool) -> list:
    """The events matching the filters ``args``, one more than a page (to know if more follow)."""
    since, until = period(args)
    return services.events(
        db.session, tenant_id=tenant_id, all_tenants=all_tenants, action=args.get("action"),
        actor=args.get("actor"), since=since, until=until, before_id=args.get("before"),
        limit=page_size(args) + 1,
    )


def _scope(args: dict, tenants: list[Tenant]) -> tuple[int | None, bool] | None:
    """(tenant_id, all_tenants) for the admin's filter; None for an unknown municipality."""
    if not args.get("tenant"):
        return None, True
    match = [t.id for t in tenants if t.slug == args["tenant"]]
    return (match[0], False) if match else None


@bp.get("/api/v1/audit")
@roles_required(Role.NVSI_ADMIN)
def api_audit():
    """The audit log, newest first, with filters; personal data masked.
    ---
    get:
      tags: [audit]
      summary: The audit log (NVSI administrators)
      parameters:
      - {in: query, name: tenant, schema: {type: string}, description: "A municipality's slug"}
      - {in: query, name: action, schema: {type: string}, description: 'Prefix, e.g. member.'}
      - {in: query, name: actor, schema: {type: string}, description: "Part of the actor's e-mail address"}
      - {in: query, name: date_from, schema: {type: string, format: date}}
      - {in: query, name: date_to, schema: {type: string, format: date}}
      - {in: query, name: before, schema: {type: integer}, description: 'next_before of the previous page'}
      - {in: query, name: per_page, schema: {type: integer, minimum: 1, maximum: 200}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: AuditPageSchema}}
        403: {description: Not an NVSI administrator}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = AdminAuditFilterArgs().load(request.args.to_dict())
    tenants = _tenants()
    scope = _scope(args, tenants)
    if scope is None:
        raise ValidationError({"tenant": [_unknown_tenant()]})
    events = search(args, *scope)
    return dump_page(events, page_size(args), {t.id: t.slug for t in tenants})


def _unknown_tenant() -> str:
    return _("Onbekende gemeente.")


@bp.get("/admin/audit")
@roles_required(Role.NVSI_ADMIN)
def index():
    """The audit log page: filters by municipality, action, actor and period; paged."""
    form = {k: v for k, v in request.args.items()}
    tenants = _tenants()
    errors, events, next_before = {}, [], None
    try:
        args = AdminAuditFilterArgs().load(form)
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, AdminAuditFilterArgs())
    else:
        scope = _scope(args, tenants)
        if scope is None:
            errors = {"tenant": [_unknown_tenant()]}
        else:
            events, next_before = split_page(search(args, *scope), page_size(args))
    return render_template(
        "audit/index.html", form=form, errors=errors, events=events, next_before=next_before,
        tenants=tenants, names={t.id: t.name for t in tenants},
    ), 422 if errors else 200
