"""Premiums and travel costs through the JSON API (``/api/v1/g/<slug>/premiums``,
``/api/v1/g/<slug>/travel-costs``) and the Dutch pages (``/g/<slug>/premiums``,
``/g/<slug>/travel-costs``). Thin: load input with a schema, call a service, commit, dump or
render. They name candidates, so they are for the roles that work with candidates (municipality
staff and admins, the backoffice) and no browser keeps a copy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body, page_size
from nvsi.auth.access import roles_required
from nvsi.extensions import db
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors
from tenants.candidates.views import CANDIDATE_ROLES, private
from tenants.premiums import services
from tenants.premiums.schemas import (
    FlagResolveArgs,
    PremiumFlagSchema,
    PremiumListArgs,
    PremiumOverviewSchema,
    TravelCostArgs,
    TravelCostListArgs,
    TravelCostPageSchema,
    TravelCostSchema,
)


def euro(cents: int | None) -> str:
    """Cents as an amount in euros in the user's language: € 1.234,56."""
    if cents is None:
        return "–"
    return format_currency(Decimal(cents) / 100, "EUR")


def hours(value) -> str:
    """Hours in the user's language: 1.254,5."""
    return format_decimal(value, "#,##0.##")


def _year(args: dict) -> int:
    return args.get("year") or dt.date.today().year


def _overview(year: int) -> dict:
    return {
        "year": year,
        "cap_cents": services.cap_cents(db.session, g.tenant, year),
        "candidates": services.candidate_years(db.session, g.tenant, year),
        "flags": services.flags(db.session),
    }


def _placement_options() -> list[tuple[str, str]]:
    return [("", "")] + [
        (str(p.id), f"{p.candidate.name}: {p.assignment.title} ({p.start_date.strftime('%d-%m-%Y')} – "
                    f"{p.end_date.strftime('%d-%m-%Y')})")
        for p in services.travel_placements(db.session)
    ]


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/premiums")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_premiums():
        """Premiums of a calendar year per candidate against the yearly cap, and the open review
        list of premium flagged above the cap (never paid).
        ---
        get:
          tags: [premiums]
          summary: Premiums per candidate and the review list
          parameters:
          - {in: query, name: year, schema: {type: integer}, description: 'Calendar year (default: this year)'}
          responses:
            200:
              description: OK
              content: {application/json: {schema: PremiumOverviewSchema}}
            403: {description: Not a role that works with candidates}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = PremiumListArgs().load(request.args.to_dict())
        return PremiumOverviewSchema().dump(_overview(_year(args)))

    @bp.post("/premiums/flags/<int:flag_id>/resolve")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_resolve_premium_flag(flag_id: int):
        """Resolve a flagged excess with a note. Nothing is paid beyond the cap.
        ---
        post:
          tags: [premiums]
          summary: Resolve a flagged premium excess
          requestBody: {required: true, content: {application/json: {schema: FlagResolveArgs}}}
          responses:
            200:
              description: Resolved
              content: {application/json: {schema: PremiumFlagSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        flag = services.get_flag(db.session, flag_id)
        data = FlagResolveArgs().load(json_body())
        services.resolve_flag(db.session, g.tenant, flag, data["note"], current_user.id)
        db.session.commit()
        return PremiumFlagSchema().dump(flag)

    @bp.get("/travel-costs")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_travel_costs():
        """Travel cost reimbursements, newest first.
        ---
        get:
          tags: [premiums]
          summary: List travel costs (reiskosten)
          parameters:
          - {in: query, name: candidate_id, schema: {type: integer}, description: Of one candidate}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: TravelCostPageSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = TravelCostListArgs().load(request.args.to_dict())
        per_page = page_size(args["per_page"])
        items, total = services.travel_costs(db.session, candidate_id=args["candidate_id"], page=args["page"],
                                             per_page=per_page)
        return TravelCostPageSchema().dump({"items": items, "page": args["page"], "per_page": per_page,
                                            "total": total})

    @bp.post("/travel-costs")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_create_travel_cost():
        """Record a travel cost reimbursement; it is booked in the ledger at once (travel costs
        against travel costs payable, dated today). The amount is in euros, e.g. "12.50".
        ---
        post:
          tags: [premiums]
          summary: Record a travel cost
          requestBody: {required: true, content: {application/json: {schema: TravelCostArgs}}}
          responses:
            201:
              description: Recorded and booked
              content: {application/json: {schema: TravelCostSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = TravelCostArgs().load(json_body())
        cost = services.record_travel_cost(db.session, g.tenant, data, current_user.id)
        db.session.commit()
        return TravelCostSchema().dump(cost), 201


# -- pages --------------------------------------------------------------------------------------


def register_pages(bp):
    def overview_page(year: int, errors: dict | None = None, form: dict | None = None, flag_id: int | None = None):
        return render_template("premiums/overview.html", euro=euro, hours=hours, errors=errors or {}, form=form or {},
                               error_flag_id=flag_id, **_overview(year)), 422 if errors else 200

    @bp.get("/premiums")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def premiums():
        """Premiums per candidate this year (or ``?year=``) against the cap, and the review list."""
        try:
            args = PremiumListArgs().load(request.args.to_dict())
        except ValidationError:
            args = {}
        return overview_page(_year(args))

    @bp.post("/premiums/flags/<int:flag_id>/resolve")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def resolve_premium_flag(flag_id: int):
        """Resolve a flagged excess with a note; on errors the page comes back with the note typed."""
        flag = services.get_flag(db.session, flag_id)
        # Each flag's note field is named after the flag (several forms share the page).
        note = request.form.get(f"note-{flag_id}", request.form.get("note", ""))
        try:
            data = FlagResolveArgs().load({"note": note})
            services.resolve_flag(db.session, g.tenant, flag, data["note"], current_user.id)
        except ValidationError as exc:
            errors = {f"note-{flag_id}": [m for messages in exc.messages.values() for m in messages]}
        except services.PremiumError as exc:
            errors = {f"note-{flag_id}": [m for messages in as_errors(exc.violations).values() for m in messages]}
        else:
            db.session.commit()
            flash(_("De melding is afgehandeld. Er is niets boven het maximum uitbetaald."), "success")
            return redirect(url_for("tenant.premiums", year=flag.year))
        db.session.rollback()
        return overview_page(flag.year, errors, {f"note-{flag_id}": note}, flag_id)

    @bp.get("/travel-costs")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def travel_costs():
        """Travel cost reimbursements, newest first, with a link to record one."""
        try:
            args = TravelCostListArgs().load(request.args.to_dict())
        except ValidationError:
            args = TravelCostListArgs().load({})
        per_page = page_size(args["per_page"])
        items, total = services.travel_costs(db.session, candidate_id=args["candidate_id"], page=args["page"],
                                             per_page=per_page)
        return render_template("premiums/travel_list.html", items=items, total=total, page=args["page"],
                               per_page=per_page, euro=euro)

    @bp.route("/travel-costs/new", methods=["GET", "POST"])
    @roles_required(*CANDIDATE_ROLES)
    @private
    def new_travel_cost():
        """Form to record a travel cost; on errors it comes back with what was typed."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        if request.method == "POST":
            try:
                cost = services.record_travel_cost(db.session, g.tenant, TravelCostArgs().load(form),
                                                   current_user.id)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, TravelCostArgs())
            except services.PremiumError as exc:
                errors = ordered_errors(as_errors(exc.violations), TravelCostArgs())
            else:
                db.session.commit()
                flash(_("De reiskosten van %(amount)s zijn vastgelegd en geboekt.", amount=euro(cost.amount_cents)),
                      "success")
                return redirect(url_for("tenant.travel_costs"))
            db.session.rollback()
        else:
            form.setdefault("placement_id", request.args.get("placement_id", ""))
        return render_template("premiums/travel_form.html", form=form, errors=errors,
                               placement_options=_placement_options()), 422 if errors else 200
