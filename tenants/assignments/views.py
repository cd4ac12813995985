"""Assignments through the API and the pages ``/g/<slug>/opdrachten``."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.assignments import services
from tenants.assignments.schemas import AssignmentArgs, AssignmentSchema
from tenants.employers.services import list_employers
from tenants.placements.services import list_placements


def _load(assignment_id: int):
    return services.get_assignment(db.session, assignment_id)


def register_api(bp):
    @bp.get("/assignments")
    @login_required
    def api_list_assignments():
        """Assignments of the municipality, newest first.
        ---
        get:
          tags: [assignments]
          summary: List assignments (opdrachten)
          responses:
            200:
              description: OK
              content: {application/json: {schema: {type: array, items: AssignmentSchema}}}
        """
        return AssignmentSchema(many=True).dump(services.list_assignments(db.session))

    @bp.post("/assignments")
    @login_required
    def api_create_assignment():
        """Record an assignment; refused below the minimum hourly rate in force on its start date.
        ---
        post:
          tags: [assignments]
          summary: Create an assignment
          requestBody: {required: true, content: {application/json: {schema: AssignmentArgs}}}
          responses:
            201:
              description: Created
              content: {application/json: {schema: AssignmentSchema}}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = AssignmentArgs().load(json_body())
        assignment = services.create_assignment(db.session, g.tenant, data, current_user.id)
        db.session.commit()
        return AssignmentSchema().dump(assignment), 201

    @bp.get("/assignments/<int:assignment_id>")
    @login_required
    def api_get_assignment(assignment_id: int):
        """One assignment.
        ---
        get:
          tags: [assignments]
          summary: Get an assignment
          responses:
            200:
              description: OK
              content: {application/json: {schema: AssignmentSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return AssignmentSchema().dump(_load(assignment_id))


def register_pages(bp):
    @bp.get("/opdrachten")
    @login_required
    def assignments():
        """All assignments."""
        return render_template("assignments/list.html", assignments=services.list_assignments(db.session))

    @bp.route("/opdrachten/nieuw", methods=["GET", "POST"])
    @login_required
    def new_assignment():
        """Form for a new assignment, with the employer's no-displacement declaration."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        if "employer_id" not in form and request.args.get("employer_id"):
            form["employer_id"] = request.args["employer_id"]
        if request.method == "POST":
            if form.pop("displacement_confirmed", None) != "ja":
                errors["displacement_confirmed"] = [
                    _("Bevestig dat de opdrachtgever verklaart dat het werk geen regulier werk verdringt.")]
            try:
                data = AssignmentArgs().load({k: v for k, v in form.items() if v != "" or k == "description"})
                if errors:
                    raise ValidationError(errors)
                assignment = services.create_assignment(db.session, g.tenant, data, current_user.id)
            except ValidationError as exc:
                errors = ordered_errors({**exc.messages, **errors}, AssignmentArgs())
            except services.AssignmentError as exc:
                errors = {_field(v.field): [v.message] for v in exc.violations}
            else:
                db.session.commit()
                flash(_("Opdracht %(title)s is vastgelegd.", title=assignment.title), "success")
                return redirect(url_for("tenant.assignment", assignment_id=assignment.id))
            db.session.rollback()
        employers = list_employers(db.session, per_page=500).items
        options = [("", "")] + [(str(e.id), e.name) for e in employers]
        return render_template("assignments/form.html", form=form, errors=errors,
                               employer_options=options), 422 if errors else 200

    @bp.get("/opdrachten/<int:assignment_id>")
    @login_required
    def assignment(assignment_id: int):
        """One assignment and its placements."""
        item = _load(assignment_id)
        return render_template("assignments/detail.html", assignment=item,
                               placements=list_placements(db.session, assignment_id=item.id))


def _field(field: str | None) -> str:
    return "hourly_rate" if field == "hourly_rate" else (field or "_schema")
