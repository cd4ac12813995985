"""Employers through the JSON API and the Dutch pages. Thin: load input with a schema, call a
service, commit, dump or render. The tenant comes from the URL (see nvsi.tenancy.web)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from marshmallow import ValidationError

from nvsi.api import json_body, page_size
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.employers import services
from tenants.employers.schemas import (
    EmployerArgs,
    EmployerListArgs,
    EmployerPageSchema,
    EmployerSchema,
    EmployerUpdateArgs,
)

_CONFLICTS = {
    "kvk_number_taken": lambda: _("Er is al een opdrachtgever met dit KvK-nummer."),
    "stale": lambda: _(
        "Iemand anders heeft deze opdrachtgever intussen gewijzigd. Laad opnieuw en probeer het nog eens."
    ),
}


def _load_employer(employer_id: int):
    return services.get_employer(db.session, employer_id)


def _conflict(exc: services.EmployerConflict):
    message = _CONFLICTS[exc.code]()
    return problem(409, exc.code, message, {exc.field: [message]})


def _update_partial() -> tuple[str, ...]:
    return tuple(name for name in EmployerUpdateArgs().fields if name != "version")


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/employers")
    @login_required
    def api_list_employers():
        """List the employers of the municipality.
        ---
        get:
          tags: [employers]
          summary: List employers (opdrachtgevers)
          parameters:
          - {in: query, name: q, schema: {type: string}, description: 'Search in name, KvK number and city'}
          - {in: query, name: archived, schema: {type: boolean}, description: Archived instead of active}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: EmployerPageSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = EmployerListArgs().load(request.args.to_dict())
        result = services.list_employers(
            db.session, q=args["q"], archived=args["archived"],
            page=args["page"], per_page=page_size(args["per_page"]),
        )
        return EmployerPageSchema().dump(result)

    @bp.post("/employers")
    @login_required
    def api_create_employer():
        """Create an employer.
        ---
        post:
          tags: [employers]
          summary: Create an employer
          requestBody: {required: true, content: {application/json: {schema: EmployerArgs}}}
          responses:
            201:
              description: Created
              content: {application/json: {schema: EmployerSchema}}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = EmployerArgs().load(json_body())
        try:
            employer = services.create_employer(db.session, data)
        except services.EmployerConflict as exc:
            return _conflict(exc)
        db.session.commit()
        location = url_for("tenant_api.api_get_employer", employer_id=employer.id)
        return EmployerSchema().dump(employer), 201, {"Location": location}

    @bp.get("/employers/<int:employer_id>")
    @login_required
    def api_get_employer(employer_id: int):
        """Get one employer.
        ---
        get:
          tags: [employers]
          summary: Get an employer
          responses:
            200:
              description: OK
              content: {application/json: {schema: EmployerSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return EmployerSchema().dump(_load_employer(employer_id))

    @bp.patch("/employers/<int:employer_id>")
    @login_required
    def api_update_employer(employer_id: int):
        """Change an employer; send the ``version`` you last read.
        ---
        patch:
          tags: [employers]
          summary: Change an employer
          requestBody: {required: true, content: {application/json: {schema: EmployerUpdateArgs}}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: EmployerSchema}}
            404: {$ref: '#/components/responses/NotFound'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        employer = _load_employer(employer_id)
        data = EmployerUpdateArgs().load(json_body(), partial=_update_partial())
        version = data.pop("version")
        try:
            services.update_employer(db.session, employer, data, version)
        except services.EmployerConflict as exc:
            return _conflict(exc)
        db.session.commit()
        return EmployerSchema().dump(employer)

    @bp.post("/employers/<int:employer_id>/archive")
    @login_required
    def api_archive_employer(employer_id: int):
        """Archive an employer.
        ---
        post:
          tags: [employers]
          summary: Archive an employer
          responses:
            200:
              description: OK
              content: {application/json: {schema: EmployerSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        employer = services.archive_employer(db.session, _load_employer(employer_id))
        db.session.commit()
        return EmployerSchema().dump(employer)

    @bp.post("/employers/<int:employer_id>/restore")
    @login_required
    def api_restore_employer(employer_id: int):
        """Restore an archived employer.
        ---
        post:
          tags: [employers]
          summary: Restore an archived employer
          responses:
            200:
              description: OK
              content: {application/json: {schema: EmployerSchema}}
            404: {$ref: '#/components/responses/NotFound'}
        """
        employer = services.restore_employer(db.session, _load_employer(employer_id))
        db.session.commit()
        return EmployerSchema().dump(employer)


# -- pages --------------------------------------------------------------------------------------


def register_pages(bp):
    @bp.get("/opdrachtgevers")
    @login_required
    def employers():
        """The list of employers, with search and the archive."""
        try:
            args = EmployerListArgs().load(request.args.to_dict())
        except ValidationError:
            args = EmployerListArgs().load({})
        result = services.list_employers(
            db.session, q=args["q"], archived=args["archived"],
            page=args["page"], per_page=page_size(args["per_page"]),
        )
        return render_template("employers/list.html", result=result, args=args)

    @bp.route("/opdrachtgevers/nieuw", methods=["GET", "POST"])
    @login_required
    def new_employer():
        """Form to add an employer; on errors the form comes back with what was typed."""
        form, errors = request.form.to_dict(), {}
        form.pop("csrf_token", None)
        if request.method == "POST":
            try:
                employer = services.create_employer(db.session, EmployerArgs().load(form))
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, EmployerArgs())
            except services.EmployerConflict as exc:
                errors = {exc.field: [_CONFLICTS[exc.code]()]}
            else:
                db.session.commit()
                flash(_("Opdrachtgever %(name)s is toegevoegd.", name=employer.name), "success")
                return redirect(url_for("tenant.employers"))
        status = 422 if errors else 200
        return render_template("employers/form.html", form=form, errors=errors, employer=None), status

    @bp.route("/opdrachtgevers/<int:employer_id>/bewerken", methods=["GET", "POST"])
    @login_required
    def edit_employer(employer_id: int):
        """Form to change an employer."""
        employer = _load_employer(employer_id)
        errors = {}
        if request.method == "POST":
            form = request.form.to_dict()
            form.pop("csrf_token", None)
            try:
                data = EmployerUpdateArgs().load(form, partial=_update_partial())
                version = data.pop("version")
                services.update_employer(db.session, employer, data, version)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, EmployerUpdateArgs())
            except services.EmployerConflict as exc:
                errors = {exc.field: [_CONFLICTS[exc.code]()]}
            else:
                db.session.commit()
                flash(_("Opdrachtgever %(name)s is opgeslagen.", name=employer.name), "success")
                return redirect(url_for("tenant.employers"))
            db.session.rollback()
        else:
            form = {name: getattr(employer, name) or "" for name in EmployerArgs().fields}
            form["version"] = employer.version
        status = 422 if errors else 200
        return render_template(
            "employers/form.html", form=form, errors=errors, employer=employer
        ), status

    @bp.post("/opdrachtgevers/<int:employer_id>/archiveren")
    @login_required
    def archive_employer(employer_id: int):
        """Archive an employer (POST with CSRF token)."""
        employer = services.archive_employer(db.session, _load_employer(employer_id))
        db.session.commit()
        flash(_("Opdrachtgever %(name)s is gearchiveerd.", name=employer.name), "success")
        return redirect(url_for("tenant.employers"))

    @bp.post("/opdrachtgevers/<int:employer_id>/herstellen")
    @login_required
    def restore_employer(employer_id: int):
        """Bring an archived employer back."""
        employer = services.restore_employer(db.session, _load_employer(employer_id))
        db.session.commit()
        flash(_("Opdrachtgever %(name)s is teruggezet.", name=employer.name), "success")
        return redirect(url_for("tenant.employers", archived="true"))
