"""The go/no-go report (``/g/<slug>/reports/go-no-go?from=&to=``, and the API) and welfare exits
(``/g/<slug>/reports/uitstroom``, ``/api/v1/g/<slug>/welfare-exits``). For the roles that work with
candidates: municipality staff and admins, the backoffice."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.extensions import db
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors
from tenants.candidates.services import list_candidates
from tenants.candidates.views import CANDIDATE_ROLES, private
from tenants.premiums.views import euro
from tenants.reports import services
from tenants.reports.schemas import (
    GoNoGoArgs,
    GoNoGoSchema,
    WelfareExitArgs,
    WelfareExitListSchema,
    WelfareExitSchema,
)


def reason_text(reason: services.Reason) -> str:
    """A criterion of the evaluation in the user's language."""
    p = reason.params
    if reason.code == "no_contract":
        return _("Er is geen uitvoeringscontract van kracht op %(day)s: de servicevergoeding en dus het "
                 "resultaat zijn niet te bepalen.", day=format_date(p["day"], "long"))
    if reason.code == "cost_neutral":
        return _("Het financiële resultaat is ten minste kostenneutraal: %(result)s.", result=euro(p["result_cents"]))
    if reason.code == "not_cost_neutral":
        return _("Het financiële resultaat is negatief: %(result)s. Het instrument is in deze periode niet "
                 "kostenneutraal.", result=euro(p["result_cents"]))
    if reason.code == "social_results":
        return _("Er zijn sociale resultaten: %(moved)s kandidaat/kandidaten van arrangement 3 naar arrangement 1 "
                 "en %(exits)s kandidaat/kandidaten (deels) uit de bijstand.", moved=p["moved"], exits=p["exits"])
    return _("Er zijn geen sociale resultaten: niemand ging van arrangement 3 naar arrangement 1 en niemand "
             "is (deels) uit de bijstand gegaan.")


def percent(value) -> str:
    return "–" if value is None else format_decimal(value, "#,##0.0#") + "%"


def _period(args: dict) -> tuple[dt.date, dt.date]:
    start, end = services.default_period(db.session)
    if args.get("start") and args.get("end"):
        return args["start"], args["end"]
    if args.get("start"):
        return args["start"], services.add_months(args["start"], services.EVALUATION_MONTHS) - dt.timedelta(days=1)
    if args.get("end"):
        return services.add_months(args["end"], -services.EVALUATION_MONTHS) + dt.timedelta(days=1), args["end"]
    return start, end


def _dump(report: services.GoNoGo) -> dict:
    body = GoNoGoSchema().dump(report)
    for out, reason in zip(body["reasons"], report.reasons, strict=True):
        out["message"] = reason_text(reason)
    return body


def _candidate_options() -> list[tuple[str, str]]:
    people = list_candidates(db.session, per_page=10000).items
    return [("", "")] + [(str(c.id), c.name) for c in people]


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/reports/go-no-go")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_go_no_go():
        """The go/no-go evaluation over a period: the financial result (revenue excluding VAT,
        premiums, travel costs, service fee, the municipality's contribution; at least
        cost-neutral?) and the social results (moves from arrangement 3 to 1, welfare exits,
        the pool against the target mix). Amounts in cents.
        ---
        get:
          tags: [reports]
          summary: Go/no-go report
          parameters:
          - {in: query, name: from, schema: {type: string, format: date}, description: 'First day (default: the first placement)'}
          - {in: query, name: to, schema: {type: string, format: date}, description: 'Last day (default: six months on)'}
          responses:
            200:
              description: OK
              content: {application/json: {schema: GoNoGoSchema}}
            403: {description: Not a role that works with candidates}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        start, end = _period(GoNoGoArgs().load(request.args.to_dict()))
        return _dump(services.go_no_go(db.session, g.tenant, start, end))

    @bp.get("/welfare-exits")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_welfare_exits():
        """Recorded welfare exits (uitstroom), newest first.
        ---
        get:
          tags: [reports]
          summary: List welfare exits
          responses:
            200:
              description: OK
              content: {application/json: {schema: WelfareExitListSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return WelfareExitListSchema().dump({"items": services.welfare_exits(db.session)})

    @bp.post("/welfare-exits")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_create_welfare_exit():
        """Record that a candidate left welfare fully or partly (``extent``: full or partial).
        ---
        post:
          tags: [reports]
          summary: Record a welfare exit
          requestBody: {required: true, content: {application/json: {schema: WelfareExitArgs}}}
          responses:
            201:
              description: Recorded
              content: {application/json: {schema: WelfareExitSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = WelfareExitArgs().load(json_body())
        row = services.record_exit(db.session, g.tenant, data, current_user.id)
        db.session.commit()
        return WelfareExitSchema().dump(row), 201


# -- pages --------------------------------------------------------------------------------------


def register_pages(bp):
    @bp.get("/reports/go-no-go")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def go_no_go():
        """The go/no-go report over ``?from=&to=`` (default: the first six months)."""
        form = {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
        errors = {}
        try:
            start, end = _period(GoNoGoArgs().load(request.args.to_dict()))
            report = services.go_no_go(db.session, g.tenant, start, end)
        except ValidationError as exc:
            errors = exc.messages
        except services.ReportError as exc:
            errors = as_errors(exc.violations)
        if errors:
            start, end = services.default_period(db.session)
            report = services.go_no_go(db.session, g.tenant, start, end)
        else:
            form = {"from": start.isoformat(), "to": end.isoformat()}
        return render_template("reports/go_no_go.html", r=report, form=form, errors=errors, euro=euro,
                               percent=percent, reason_text=reason_text), 422 if errors else 200

    @bp.route("/reports/uitstroom", methods=["GET", "POST"])
    @roles_required(*CANDIDATE_ROLES)
    @private
    def welfare_exits():
        """Welfare exits: the list and a form to record one (kept as typed on errors)."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        if request.method == "POST":
            try:
                services.record_exit(db.session, g.tenant, WelfareExitArgs().load(form), current_user.id)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, WelfareExitArgs())
            except services.ReportError as exc:
                errors = ordered_errors(as_errors(exc.violations), WelfareExitArgs())
            else:
                db.session.commit()
                flash(_("De uitstroom is vastgelegd."), "success")
                return redirect(url_for("tenant.welfare_exits"))
            db.session.rollback()
        return render_template("reports/welfare_exits.html", form=form, errors=errors,
                               items=services.welfare_exits(db.session),
                               candidate_options=_candidate_options()), 422 if errors else 200
