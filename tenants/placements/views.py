"""Placements through the API and the pages ``/g/<slug>/plaatsingen``."""

from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.assignments.services import list_assignments
from tenants.candidates.models import Candidate, CandidateStatus
from tenants.placements import services
from tenants.placements.schemas import EndPlacementArgs, PlacementArgs, PlacementSchema


def _load(placement_id: int):
    return services.get_placement(db.session, placement_id)


def register_api(bp):
    @bp.get("/placements")
    @login_required
    def api_list_placements():
        """Placements, newest first; ``?active=true`` for those running today.
        ---
        get:
          tags: [placements]
          summary: List placements
          parameters:
          - {in: query, name: active, schema: {type: boolean}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: {type: array, items: PlacementSchema}}}
        """
        active = request.args.get("active", "").lower() in ("1", "true", "ja")
        items = services.list_placements(db.session, active_on=dt.date.today() if active else None)
        return PlacementSchema(many=True).dump(items)

    @bp.post("/placements")
    @login_required
    def api_create_placement():
        """Create a placement within the rules in force on its start date; a refusal lists each
        violated rule with its code and rule-set version.
        ---
        post:
          tags: [placements]
          summary: Create a placement
          requestBody: {required: true, content: {application/json: {schema: PlacementArgs}}}
          responses:
            201:
              description: Created
              content: {application/json: {schema: PlacementSchema}}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = PlacementArgs().load(json_body())
        placement = services.create_placement(db.session, g.tenant, data, current_user.id)
        db.session.commit()
        return PlacementSchema().dump(placement), 201

    @bp.get("/placements/<int:placement_id>")
    @login_required
    def api_get_placement(placement_id: int):
        """One placement.
        ---
        get:
          tags: [placements]
          summary: Get a placement
          responses:
            200:
              description: OK
              content: {application/json: {schema: PlacementSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return PlacementSchema().dump(_load(placement_id))

    @bp.post("/placements/<int:placement_id>/end")
    @login_required
    def api_end_placement(placement_id: int):
        """End a placement early.
        ---
        post:
          tags: [placements]
          summary: End a placement early
          requestBody: {required: true, content: {application/json: {schema: EndPlacementArgs}}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: PlacementSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        placement = _load(placement_id)
        data = EndPlacementArgs().load(json_body())
        services.end_placement(db.session, placement, data["end_date"])
        db.session.commit()
        return PlacementSchema().dump(placement)


def register_pages(bp):
    @bp.get("/plaatsingen")
    @login_required
    def placements():
        """All placements; those running today first."""
        return render_template("placements/list.html", placements=services.list_placements(db.session),
                               today=dt.date.today())

    @bp.route("/plaatsingen/nieuw", methods=["GET", "POST"])
    @login_required
    def new_placement():
        """Form for a new placement; the refusal lists every rule broken, with its version."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        for key in ("candidate_id", "assignment_id"):
            if key not in form and request.args.get(key):
                form[key] = request.args[key]
        if request.method == "POST":
            try:
                data = PlacementArgs().load({k: v for k, v in form.items() if v != "" or k == "goals"})
                placement = services.create_placement(db.session, g.tenant, data, current_user.id)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, PlacementArgs())
            except services.PlacementError as exc:
                errors = {}
                for v in exc.violations:
                    errors.setdefault(v.field or "_schema", []).append(v.message)
            else:
                db.session.commit()
                flash(_("De plaatsing is vastgelegd."), "success")
                return redirect(url_for("tenant.placement", placement_id=placement.id))
            db.session.rollback()
        candidates = db.session.scalars(
            db.select(Candidate).where(Candidate.status != CandidateStatus.LEFT_WELFARE)
            .order_by(Candidate.last_name, Candidate.first_name)).all()
        return render_template(
            "placements/form.html", form=form, errors=errors,
            candidate_options=[("", "")] + [(str(c.id), c.name) for c in candidates],
            assignment_options=[("", "")] + [(str(a.id), f"{a.title} ({a.employer.name})")
                                             for a in list_assignments(db.session)],
        ), 422 if errors else 200

    @bp.get("/plaatsingen/<int:placement_id>")
    @login_required
    def placement(placement_id: int):
        """One placement, with the sections other domains add (documents, guidance, hours)."""
        item = _load(placement_id)
        sections = [Markup(render_template(template, placement=item, **context))
                    for template, context in services.detail_sections(db.session, item)]
        return render_template("placements/detail.html", placement=item, sections=sections)

    @bp.post("/plaatsingen/<int:placement_id>/beeindigen")
    @login_required
    def end_placement(placement_id: int):
        """End a placement early."""
        item = _load(placement_id)
        try:
            data = EndPlacementArgs().load({"end_date": request.form.get("end_date", "")})
            services.end_placement(db.session, item, data["end_date"])
        except ValidationError:
            flash(_("Kies een geldige einddatum."), "error")
        except services.PlacementError as exc:
            db.session.rollback()
            flash(exc.violations[0].message, "error")
        else:
            db.session.commit()
            flash(_("De plaatsing is beëindigd."), "success")
        return redirect(url_for("tenant.placement", placement_id=placement_id))
