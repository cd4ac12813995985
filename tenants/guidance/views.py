"""Guidance moments through the API and the pages: a placement's moments, the tenant's overdue
and coming moments, and the outcome form. Outcomes are recorded by municipality staff and admins."""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import has_role, refuse, roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.guidance import services
from tenants.guidance.schemas import GuidanceMomentSchema, OpenMomentSchema, OutcomeArgs
from tenants.placements.services import get_placement, placement_section

#: Who records outcomes: the municipality's own people (werkcoaches).
MUNICIPALITY = (Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF)


def _load(moment_id: int):
    return services.get_moment(db.session, moment_id)


def _placement(placement_id: int):
    return get_placement(db.session, placement_id)


def _form_of(moment) -> dict:
    """The outcome form's values: what was recorded, or today's date for a new outcome."""
    return {
        "done_on": (moment.done_on or dt.date.today()).isoformat(),
        "outcome": moment.outcome or "",
        "still_serves_goals": "" if moment.still_serves_goals is None else str(moment.still_serves_goals).lower(),
    }


@placement_section
def _guidance_section(session, placement):
    """The guidance moments of the placement page, each with its outcome form."""
    moments = services.moments_for(session, placement.id)
    return "guidance/section.html", {
        "moments": moments, "forms": {m.id: _form_of(m) for m in moments},
        "today": dt.date.today(), "can_act": has_role(*MUNICIPALITY),
    }


def register_api(bp):
    @bp.get("/placements/<int:placement_id>/guidance")
    @login_required
    def api_list_guidance(placement_id: int):
        """The guidance moments of a placement, in planned order.
        ---
        get:
          tags: [guidance]
          summary: List a placement's guidance moments
          responses:
            200:
              description: OK
              content: {application/json: {schema: {type: array, items: GuidanceMomentSchema}}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        placement = _placement(placement_id)
        return GuidanceMomentSchema(many=True).dump(services.moments_for(db.session, placement.id))

    @bp.get("/guidance/overdue")
    @login_required
    def api_overdue_guidance():
        """Moments planned before today that have not taken place, oldest first.
        ---
        get:
          tags: [guidance]
          summary: Overdue guidance moments of the municipality
          responses:
            200:
              description: OK
              content: {application/json: {schema: {type: array, items: OpenMomentSchema}}}
        """
        return OpenMomentSchema(many=True).dump(services.overdue_moments(db.session, dt.date.today()))

    @bp.get("/guidance/<int:moment_id>")
    @login_required
    def api_get_guidance_moment(moment_id: int):
        """One guidance moment.
        ---
        get:
          tags: [guidance]
          summary: Get a guidance moment
          responses:
            200:
              description: OK
              content: {application/json: {schema: GuidanceMomentSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return GuidanceMomentSchema().dump(_load(moment_id))

    @bp.post("/guidance/<int:moment_id>/outcome")
    @roles_required(*MUNICIPALITY)
    def api_record_outcome(moment_id: int):
        """Record (or correct) the outcome of a guidance moment.
        ---
        post:
          tags: [guidance]
          summary: Record the outcome of a guidance moment
          requestBody: {required: true, content: {application/json: {schema: OutcomeArgs}}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: GuidanceMomentSchema}}
            403: {description: Not a municipality role}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        moment = _load(moment_id)
        data = OutcomeArgs().load(json_body())
        services.record_outcome(db.session, moment, data, current_user.id)
        db.session.commit()
        return GuidanceMomentSchema().dump(moment)


def register_pages(bp):
    @bp.get("/begeleiding")
    @login_required
    def guidance():
        """Overdue moments and those of the coming two weeks, over all placements."""
        today = dt.date.today()
        return render_template("guidance/list.html", today=today,
                               overdue=services.overdue_moments(db.session, today),
                               upcoming=services.upcoming_moments(db.session, today))

    @bp.route("/begeleiding/<int:moment_id>", methods=["GET", "POST"])
    @login_required
    def guidance_moment(moment_id: int):
        """The outcome form of one moment (the placement page posts here too); on errors the
        form comes back with what was typed."""
        moment = _load(moment_id)
        errors = {}
        if request.method == "POST":
            if not has_role(*MUNICIPALITY):
                refuse(MUNICIPALITY)
            form = request.form.to_dict()
            form.pop("csrf_token", None)
            try:
                services.record_outcome(db.session, moment, OutcomeArgs().load(form), current_user.id)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, OutcomeArgs())
            except services.GuidanceError as exc:
                for v in exc.violations:
                    errors.setdefault(v.field or "_schema", []).append(v.message)
            else:
                db.session.commit()
                flash(_("De uitkomst van %(name)s is vastgelegd.", name=moment.name), "success")
                return redirect(url_for("tenant.placement", placement_id=moment.placement_id, _anchor="begeleiding"))
            db.session.rollback()
        else:
            form = _form_of(moment)
        return render_template("guidance/moment.html", moment=moment, placement=moment.placement, form=form,
                               errors=errors, can_act=has_role(*MUNICIPALITY)), 422 if errors else 200
