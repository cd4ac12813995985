"""Settling a municipality's half year, for NVSI administrators and the backoffice: the overview
``/admin/settlements`` (every municipality's half years with their status), the preview and
confirmation ``/admin/settlements/<slug>/<2026-H1>``, the statement page and its PDF; the same
through ``/api/v1/settlements``. A municipality's administrators see their own statements under
``/g/<slug>/finance/settlements`` (``tenants.finance``).

The settlement reads the municipality's rules and timesheets, so its work runs in a session
bound to that municipality (which reaches the shared ledger too): one transaction for the
figures, the postings, the closed period and the audit row.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.auth.access import roles_required
from nvsi.auth.models import Role, User
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from nvsi.settlement import services
from nvsi.settlement.models import Settlement
from nvsi.settlement.pdf import StatementFacts, render_statement
from nvsi.settlement.schemas import (
    PreviewSchema,
    SettleArgs,
    SettlementListArgs,
    SettlementListSchema,
    SettlementSchema,
)
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.routing import TenantRef, tenant_session
from nvsi.tenancy.services import schema_dropped, tenant_ref, tenants_with_schema

bp = Blueprint("settlement", __name__)

ROLES = (Role.NVSI_ADMIN, Role.BACKOFFICE)
def _today() -> dt.date:
    return dt.date.today()


def _tenants() -> list[Tenant]:
    """The members whose half years can be settled: provisioned, schema not dropped, by name."""
    return sorted(tenants_with_schema(db.session), key=lambda t: t.name)


def _tenant(slug: str | None) -> TenantRef | None:
    """The member ``slug`` if its half years can be settled (see :func:`_tenants`)."""
    tenant = db.session.scalar(sa.select(Tenant).where(
        Tenant.slug == slug, Tenant.status != TenantStatus.PROVISIONING, ~schema_dropped())) if slug else None
    return tenant_ref(tenant) if tenant is not None else None


def _tenant_or_field_error(slug: str) -> TenantRef:
    ref = _tenant(slug)
    if ref is None:
        raise ValidationError({"tenant": [_("Onbekende gemeente.")]})
    return ref


@contextmanager
def _in_tenant(ref: TenantRef):
    """A session bound to the municipality, after the request's own (read) session is closed:
    on SQLite a writer waits for every reader, this request's included. Closing (unlike a
    commit) keeps the logged-in user loaded, so nothing reads through the request's session
    while the municipality's is open."""
    db.session.close()
    with tenant_session(db, ref) as session:
        yield session


def _settled_by(settlement: Settlement) -> str:
    if settlement.settled_by_user_id is None:
        return _("het systeem")
    user = db.session.get(User, settlement.settled_by_user_id)
    return user.name if user is not None else "#" + str(settlement.settled_by_user_id)


def reference(settlement: Settlement) -> str:
    """The statement's reference: ``AFR-<slug>-2026-H1``."""
    return f"AFR-{settlement.tenant.slug}-{settlement.label}"


def statement_pdf(settlement: Settlement):
    """The statement of ``settlement`` as a PDF attachment (not cached)."""
    facts = StatementFacts(
        municipality=settlement.tenant.name, reference=reference(settlement), period_label=settlement.label,
        period_start=settlement.period_start, period_end=settlement.period_end,
        settled_on=settlement.settled_at.date(), settled_by=_settled_by(settlement), settlement=settlement,
    )
    response = make_response(render_statement(facts))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="afrekening-{settlement.tenant.slug}-{settlement.label}.pdf"'
    response.headers["Cache-Control"] = "private, no-store, max-age=0"
    return response


def step_labels() -> dict[str, str]:
    """The posting steps of a settlement, in the user's language."""
    return {
        "service_fee": _("Servicevergoeding"), "contribution_municipality": _("Contributie gemeente"),
        "contribution_service_company": _("Contributie servicebedrijf"),
        "annual_fee": _("Jaarlijkse vergoeding"), "closing": _("Afsluiting resultaat"),
    }


def render_statement_page(settlement: Settlement, pdf_url: str, back_url: str):
    """The statement page (for the administrators and for the municipality)."""
    return render_template("settlement/statement.html", s=settlement, reference=reference(settlement),
                           settled_by=_settled_by(settlement), pdf_url=pdf_url, back_url=back_url,
                           steps=step_labels())


# -- API ---------------------------------------------------------------------------------------


@bp.get("/api/v1/settlements")
@roles_required(*ROLES)
def api_list_settlements():
    """Settled half years, newest first.
    ---
    get:
      tags: [settlements]
      summary: List settlements (NVSI administrators, backoffice)
      parameters:
      - {in: query, name: year, schema: {type: integer}}
      - {in: query, name: tenant, schema: {type: string}, description: "A municipality's slug"}
      responses:
        200:
          description: OK
          content: {application/json: {schema: SettlementListSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = SettlementListArgs().load(request.args.to_dict())
    tenant_id = _tenant_or_field_error(args["tenant"]).id if args["tenant"] else None
    items = services.list_settlements(db.session, tenant_id=tenant_id, year=args["year"])
    return SettlementListSchema().dump({"items": items})


@bp.get("/api/v1/settlements/preview")
@roles_required(*ROLES)
def api_preview_settlement():
    """What settling a municipality's half year would post (nothing is written).
    ---
    get:
      tags: [settlements]
      summary: Preview a settlement (NVSI administrators, backoffice)
      description: >
        The figures from the ledger as it is now, and the reasons it cannot be settled yet
        (refusals: the half year has not ended, approved hours are not invoiced, no contract is
        in force). A settled half year answers with its settlement.
      parameters:
      - {in: query, name: tenant, required: true, schema: {type: string}}
      - {in: query, name: period, required: true, schema: {type: string, example: 2026-H1}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: PreviewSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = SettleArgs().load(request.args.to_dict())
    ref = _tenant_or_field_error(args["tenant"])
    period = args["period"]
    with _in_tenant(ref) as session:
        preview = services.preview(session, ref, period, _today())
        body = PreviewSchema().dump({
            "tenant": ref.slug, "period": period, "period_start": period.start, "period_end": period.end,
            "settleable": preview.settlement is None and not preview.refusals, "figures": preview.figures,
            "refusals": [v.as_dict() for v in preview.refusals], "settlement": preview.settlement,
        })
    return body


@bp.post("/api/v1/settlements")
@roles_required(*ROLES)
def api_settle():
    """Settle a municipality's half year: post, close the period.
    ---
    post:
      tags: [settlements]
      summary: Settle a half year (NVSI administrators, backoffice)
      description: >
        Posts the service fee, the contributions, the annual fee when due and the closing entry,
        then closes the half year in the ledger. Idempotent: a half year settled before answers 200
        with that settlement. Refused with 422 (each reason in errors.period) before the half year
        has ended, while approved hours in it are not invoiced, or without a contract in force.
      requestBody: {required: true, content: {application/json: {schema: SettleArgs}}}
      responses:
        200:
          description: Settled before
          content: {application/json: {schema: SettlementSchema}}
        201:
          description: Settled now
          content: {application/json: {schema: SettlementSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        422: {$ref: '#/components/responses/Invalid'}
    """
    from nvsi.api import json_body

    args = SettleArgs().load(json_body())
    ref = _tenant_or_field_error(args["tenant"])
    user_id = current_user.id
    with _in_tenant(ref) as session:
        before = services.get_for_period(session, ref.id, args["period"])
        settlement = services.settle(session, ref, args["period"], today=_today(), user_id=user_id)
        body = SettlementSchema().dump(settlement)
        session.commit()
    location = url_for("settlement.api_get_settlement", settlement_id=body["id"])
    return body, 200 if before is not None else 201, {"Location": location}


@bp.get("/api/v1/settlements/<int:settlement_id>")
@roles_required(*ROLES)
def api_get_settlement(settlement_id: int):
    """One settlement with every figure.
    ---
    get:
      tags: [settlements]
      summary: Get a settlement (NVSI administrators, backoffice)
      responses:
        200:
          description: OK
          content: {application/json: {schema: SettlementSchema}}
        403: {description: Not an NVSI administrator or the backoffice}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return SettlementSchema().dump(services.get_settlement(db.session, settlement_id))


# -- pages -------------------------------------------------------------------------------------


@bp.get("/admin/settlements")
@roles_required(*ROLES)
def index():
    """Every municipality's half years of a year with their status; settle or open each."""
    form = request.args.to_dict()
    today = _today()
    errors, rows = {}, []
    tenants = _tenants()
    try:
        args = SettlementListArgs().load(form)
        year = args["year"] or services.last_ended(today).year
        shown = tenants
        if args["tenant"]:
            shown = [t for t in tenants if t.slug == args["tenant"]]
            if not shown:
                raise ValidationError({"tenant": [_("Onbekende gemeente.")]})
        rows = services.overview(db.session, shown, year, today)
    except ValidationError as exc:
        errors, year = ordered_errors(exc.messages, SettlementListArgs()), services.last_ended(today).year
    return render_template("settlement/index.html", form=form, errors=errors, rows=rows, tenants=tenants,
                           year=year), 422 if errors else 200


def _period_or_404(period: str) -> services.HalfYear:
    try:
        return services.HalfYear.parse(period)
    except services.InvalidPeriod:
        abort(404)


@bp.route("/admin/settlements/<slug>/<period>", methods=["GET", "POST"])
@roles_required(*ROLES)
def settle(slug: str, period: str):
    """The preview of a half year's settlement; POST (the confirm button) settles it."""
    ref = _tenant(slug)
    if ref is None:
        abort(404)
    half = _period_or_404(period)
    today = _today()
    user_id = current_user.id
    refused = None
    with _in_tenant(ref) as session:
        if request.method == "POST":
            try:
                settlement = services.settle(session, ref, half, today=today, user_id=user_id)
            except services.SettlementRefused as exc:
                session.rollback()
                refused = exc.violations
            else:
                settlement_id = settlement.id
                session.commit()
                flash(_("Het halfjaar %(period)s van %(name)s is afgerekend en afgesloten.", period=half.label,
                        name=ref.name), "success")
                return redirect(url_for("settlement.statement", settlement_id=settlement_id))
        preview = services.preview(session, ref, half, today)
    # Rendered after the municipality's session is closed: the page reads the user again.
    if preview.settlement is not None:
        return redirect(url_for("settlement.statement", settlement_id=preview.settlement.id))
    page = render_template("settlement/preview.html", tenant=ref, preview=preview, refused=refused)
    return page, 422 if refused else 200


@bp.get("/admin/settlements/<int:settlement_id>")
@roles_required(*ROLES)
def statement(settlement_id: int):
    """The statement of a settled half year."""
    settlement = services.get_settlement(db.session, settlement_id)
    return render_statement_page(settlement, url_for("settlement.statement_pdf_download", settlement_id=settlement_id),
                                 url_for("settlement.index", year=settlement.period_start.year))


@bp.get("/admin/settlements/<int:settlement_id>/pdf")
@roles_required(*ROLES)
def statement_pdf_download(settlement_id: int):
    """The statement as PDF."""
    return statement_pdf(services.get_settlement(db.session, settlement_id))
