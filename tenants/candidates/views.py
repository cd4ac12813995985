"""Candidates through the JSON API (``/api/v1/g/<slug>/candidates``) and the Dutch pages
(``/g/<slug>/kandidaten``). Thin: load input with a schema, call a service, commit, dump or render.

Personal data (see docs/privacy.md): the BSN and IBAN are shown masked only; a BSN travels in a
request body, never in a URL (the BSN lookup is a POST); no response is stored by a browser or
proxy (``Cache-Control: no-store``); a form that comes back with errors does not repeat the BSN or
IBAN that was typed; flash messages (kept in the signed but readable session cookie) name no
candidate. Candidates are for municipality staff and admins and the backoffice.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from nvsi.api import json_body, page_size
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.candidates import services
from tenants.candidates.models import CandidateStatus
from tenants.candidates.schemas import (
    BsnLookupArgs,
    CandidateArgs,
    CandidateListArgs,
    CandidatePageSchema,
    CandidateSchema,
    CandidateUpdateArgs,
    StatusArgs,
)
from tenants.frameworks.services import arrangements

#: Who works with candidates. NVSI administrators manage the association, not its members'
#: candidates, even when they are a member of a tenant.
CANDIDATE_ROLES = (Role.MUNICIPALITY_STAFF, Role.MUNICIPALITY_ADMIN, Role.BACKOFFICE)
#: Fields a form never echoes back after an error.
PERSONAL_NUMBERS = ("bsn", "iban")


def status_label(status: CandidateStatus) -> str:
    """A candidate status in the user's language."""
    return {
        CandidateStatus.REGISTERED: _("ingeschreven"),
        CandidateStatus.PLACED: _("geplaatst"),
        CandidateStatus.REFERRED_WSP: _("doorverwezen naar het WSP"),
        CandidateStatus.LEFT_WELFARE: _("uitgestroomd"),
    }[status]


def _message(code: str, candidate=None) -> str:
    return {
        "bsn_taken": lambda: _(
            "Er is in deze gemeente al een kandidaat met dit BSN. Zoek die kandidaat op met het BSN-veld van de lijst."
        ),
        "stale": lambda: _(
            "Iemand anders heeft deze kandidaat intussen gewijzigd. Laad opnieuw en probeer het nog eens."
        ),
        "status": lambda: _(
            "Dat kan niet bij de huidige status (%(status)s). Doorverwijzen kan bij ingeschreven of geplaatst; "
            "uitstroom vastleggen bij elke status behalve uitgestroomd.",
            status=status_label(candidate.status),
        ),
        "unknown_arrangement": lambda: _("Kies een van de actieve arrangementen van de gemeente."),
        "left_before_registration": lambda: _("De datum van uitstroom ligt vóór de datum van aanmelding."),
        "left_incomplete": lambda: _("Vul de datum en de reden van uitstroom in."),
        "consent_missing": lambda: _(
            "Leg vast dat de kandidaat vrijwillig heeft ingestemd; zonder instemming is inschrijven niet mogelijk."
        ),
    }[code]()


def _error_response(exc: services.CandidateConflict | services.CandidateInvalid, candidate=None):
    message = _message(exc.code, candidate)
    if isinstance(exc, services.CandidateConflict):
        return problem(409, exc.code, message, {exc.field: [message]})
    return problem(422, "invalid", _("De invoer is niet geldig; zie de velden."), {exc.field: [message]})


def _field_errors(exc: services.CandidateConflict | services.CandidateInvalid, candidate=None) -> dict:
    return {exc.field: [_message(exc.code, candidate)]}


def _load_candidate(candidate_id: int):
    return services.get_candidate(db.session, candidate_id)


def _update_partial() -> tuple[str, ...]:
    return tuple(name for name in CandidateUpdateArgs().fields if name != "version")


def private(view):
    """No browser or proxy keeps a copy of a response about a candidate."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def _list_args(source: dict) -> tuple[dict, dict]:
    """The list filters, and the errors (the page then lists unfiltered)."""
    try:
        return CandidateListArgs().load(source), {}
    except ValidationError as exc:
        return CandidateListArgs().load({}), exc.messages


# -- API ----------------------------------------------------------------------------------------


def register_api(bp):
    @bp.get("/candidates")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_list_candidates():
        """List the candidates of the municipality (BSN and IBAN masked).
        ---
        get:
          tags: [candidates]
          summary: List candidates (kandidaten)
          description: >-
            Search by name and filter by status. A BSN is never a query parameter (it would end up
            in URLs and access logs): find one with POST /candidates/lookup.
          parameters:
          - {in: query, name: q, schema: {type: string}, description: 'Part of the name; digits are refused'}
          - {in: query, name: status, schema: {type: string, enum: [registered, placed, referred_wsp, left_welfare]}}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: A page of candidates
              content: {application/json: {schema: CandidatePageSchema}}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = CandidateListArgs().load(request.args.to_dict())
        result = services.list_candidates(
            db.session, q=args["q"], status=args["status"],
            page=args["page"], per_page=page_size(args["per_page"]),
        )
        return CandidatePageSchema().dump(result)

    @bp.post("/candidates")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_create_candidate():
        """Register a candidate; ``consent`` records the candidate's voluntary consent (now, by you).
        ---
        post:
          tags: [candidates]
          summary: Register a candidate
          requestBody: {required: true, content: {application/json: {schema: CandidateArgs}}}
          responses:
            201:
              description: Registered; the body shows the BSN and IBAN masked
              content: {application/json: {schema: CandidateSchema}}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = CandidateArgs().load(json_body())
        try:
            candidate = services.register_candidate(db.session, data, current_user.id)
        except (services.CandidateConflict, services.CandidateInvalid) as exc:
            return _error_response(exc)
        db.session.commit()
        location = url_for("tenant_api.api_get_candidate", candidate_id=candidate.id)
        return CandidateSchema().dump(candidate), 201, {"Location": location}

    @bp.post("/candidates/lookup")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_lookup_candidate():
        """Find a candidate by exact BSN, sent in the body (never in the URL).
        ---
        post:
          tags: [candidates]
          summary: Find a candidate by BSN
          requestBody: {required: true, content: {application/json: {schema: BsnLookupArgs}}}
          responses:
            200:
              description: The candidate with this BSN in this municipality, or an empty list
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      items: {type: array, items: CandidateSchema, maxItems: 1}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        data = BsnLookupArgs().load(json_body())
        found = services.find_by_bsn(db.session, data["bsn"])
        return {"items": CandidateSchema(many=True).dump([found] if found else [])}

    @bp.get("/candidates/<int:candidate_id>")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_get_candidate(candidate_id: int):
        """Get one candidate (BSN and IBAN masked).
        ---
        get:
          tags: [candidates]
          summary: Get a candidate
          responses:
            200:
              description: The candidate
              content: {application/json: {schema: CandidateSchema}}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return CandidateSchema().dump(_load_candidate(candidate_id))

    @bp.patch("/candidates/<int:candidate_id>")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_update_candidate(candidate_id: int):
        """Change a candidate; send the ``version`` you last read. ``iban: null`` removes the IBAN.
        ---
        patch:
          tags: [candidates]
          summary: Change a candidate
          requestBody: {required: true, content: {application/json: {schema: CandidateUpdateArgs}}}
          responses:
            200:
              description: Changed
              content: {application/json: {schema: CandidateSchema}}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            404: {$ref: '#/components/responses/NotFound'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        candidate = _load_candidate(candidate_id)
        data = CandidateUpdateArgs().load(json_body(), partial=_update_partial())
        version = data.pop("version")
        try:
            services.update_candidate(db.session, candidate, data, version)
        except (services.CandidateConflict, services.CandidateInvalid) as exc:
            db.session.rollback()
            return _error_response(exc)
        db.session.commit()
        return CandidateSchema().dump(candidate)

    @bp.post("/candidates/<int:candidate_id>/status")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def api_change_candidate_status(candidate_id: int):
        """Refer a candidate to the WSP, or record that they left welfare (date and reason).
        ---
        post:
          tags: [candidates]
          summary: Change a candidate's status
          description: >-
            ``referred_wsp`` from registered or placed; ``left_welfare`` (with ``left_on`` and
            ``left_reason``) from any status but left_welfare. ``placed`` follows from a placement.
          requestBody: {required: true, content: {application/json: {schema: StatusArgs}}}
          responses:
            200:
              description: The candidate with the new status
              content: {application/json: {schema: CandidateSchema}}
            403: {description: 'Not a role that works with candidates (problem details, code forbidden)'}
            404: {$ref: '#/components/responses/NotFound'}
            409: {$ref: '#/components/responses/Conflict'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        candidate = _load_candidate(candidate_id)
        data = StatusArgs().load(json_body())
        try:
            services.change_status(db.session, candidate, data.pop("status"), **data)
        except (services.CandidateConflict, services.CandidateInvalid) as exc:
            db.session.rollback()
            return _error_response(exc, candidate)
        db.session.commit()
        return CandidateSchema().dump(candidate)


# -- pages --------------------------------------------------------------------------------------


def _arrangement_options(candidate=None) -> list[tuple[str, str]]:
    """The tenant's active arrangements; a candidate's retired one stays choosable for them."""
    options = [("", _("Geen arrangement"))] + [(str(a.id), a.name) for a in arrangements(db.session)]
    if candidate is not None and candidate.arrangement and not candidate.arrangement.active:
        options.append((str(candidate.arrangement.id), _("%(name)s (vervallen)", name=candidate.arrangement.name)))
    return options


def _posted_form() -> dict:
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    return form


def _without_personal_numbers(form: dict) -> tuple[dict, list[str]]:
    """The form to render again, and which personal numbers were typed (and must be re-typed)."""
    retype = [name for name in PERSONAL_NUMBERS if form.get(name)]
    return {k: v for k, v in form.items() if k not in PERSONAL_NUMBERS}, retype


def _render_list(args: dict, errors: dict, status: int = 200, bsn_errors: dict | None = None, not_found=False):
    result = services.list_candidates(
        db.session, q=args["q"], status=args["status"], page=args["page"], per_page=page_size(args["per_page"]),
    )
    return render_template(
        "candidates/list.html", result=result, args=args, errors=errors, bsn_errors=bsn_errors or {},
        not_found=not_found, statuses=list(CandidateStatus), status_label=status_label,
    ), status


def _render_detail(candidate, errors: dict | None = None, form: dict | None = None, status: int = 200):
    return render_template(
        "candidates/detail.html", candidate=candidate, errors=errors or {}, form=form or {},
        status_label=status_label, transitions=services.TRANSITIONS, statuses=CandidateStatus,
        today=dt.date.today().isoformat(),
    ), status


def register_pages(bp):
    @bp.get("/kandidaten")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def candidates():
        """The list of candidates: search by name, filter by status; a BSN through its own form."""
        args, errors = _list_args(request.args.to_dict())
        return _render_list(args, errors, 422 if errors else 200)

    @bp.post("/kandidaten/zoeken-op-bsn")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def find_candidate_by_bsn():
        """Find a candidate by exact BSN (a POST, so the BSN stays out of URLs and access logs)."""
        form = _posted_form()
        try:
            bsn = BsnLookupArgs().load({"bsn": form.get("bsn", "")})["bsn"]
        except ValidationError as exc:
            return _render_list(CandidateListArgs().load({}), {}, 422, bsn_errors=exc.messages)
        found = services.find_by_bsn(db.session, bsn)
        if found is None:
            return _render_list(CandidateListArgs().load({}), {}, not_found=True)
        return redirect(url_for("tenant.candidate", candidate_id=found.id))

    @bp.route("/kandidaten/nieuw", methods=["GET", "POST"])
    @roles_required(*CANDIDATE_ROLES)
    @private
    def new_candidate():
        """Form to register a candidate; on errors it comes back with what was typed, except the
        BSN and IBAN, which are typed again."""
        errors, retype = {}, []
        if request.method == "POST":
            form = _posted_form()
            try:
                candidate = services.register_candidate(db.session, CandidateArgs().load(form), current_user.id)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, CandidateArgs())
            except (services.CandidateConflict, services.CandidateInvalid) as exc:
                errors = _field_errors(exc)
            else:
                db.session.commit()
                flash(_("De kandidaat is ingeschreven."), "success")
                return redirect(url_for("tenant.candidate", candidate_id=candidate.id))
            db.session.rollback()
            form, retype = _without_personal_numbers(form)
        else:
            form = {"registered_on": dt.date.today().isoformat()}
        return render_template(
            "candidates/form.html", form=form, errors=errors, retype=retype, candidate=None,
            arrangement_options=_arrangement_options(),
        ), 422 if errors else 200

    @bp.get("/kandidaten/<int:candidate_id>")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def candidate(candidate_id: int):
        """One candidate, masked, with the status actions."""
        return _render_detail(_load_candidate(candidate_id))

    @bp.route("/kandidaten/<int:candidate_id>/bewerken", methods=["GET", "POST"])
    @roles_required(*CANDIDATE_ROLES)
    @private
    def edit_candidate(candidate_id: int):
        """Form to change a candidate. The BSN and IBAN fields start empty: left empty they stay
        as they are, typed they are replaced."""
        candidate = _load_candidate(candidate_id)
        errors, retype = {}, []
        if request.method == "POST":
            form = {k: v for k, v in _posted_form().items() if k not in PERSONAL_NUMBERS or v.strip()}
            try:
                data = CandidateUpdateArgs().load(form, partial=_update_partial())
                version = data.pop("version")
                services.update_candidate(db.session, candidate, data, version)
            except ValidationError as exc:
                errors = ordered_errors(exc.messages, CandidateUpdateArgs())
            except (services.CandidateConflict, services.CandidateInvalid) as exc:
                errors = _field_errors(exc, candidate)
            else:
                db.session.commit()
                flash(_("De wijzigingen zijn opgeslagen."), "success")
                return redirect(url_for("tenant.candidate", candidate_id=candidate.id))
            db.session.rollback()
            form, retype = _without_personal_numbers(form)
        else:
            form = {name: getattr(candidate, name) or "" for name in CandidateUpdateArgs().fields
                    if name not in PERSONAL_NUMBERS}
            form["arrangement_id"] = str(candidate.arrangement_id or "")
            form["registered_on"] = candidate.registered_on.isoformat()
        return render_template(
            "candidates/form.html", form=form, errors=errors, retype=retype, candidate=candidate,
            arrangement_options=_arrangement_options(candidate),
        ), 422 if errors else 200

    @bp.post("/kandidaten/<int:candidate_id>/status")
    @roles_required(*CANDIDATE_ROLES)
    @private
    def change_candidate_status(candidate_id: int):
        """Refer to the WSP, or record leaving welfare; errors come back on the candidate's page."""
        candidate = _load_candidate(candidate_id)
        form = _posted_form()
        try:
            data = StatusArgs().load(form)
            services.change_status(db.session, candidate, data.pop("status"), **data)
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, StatusArgs())
        except (services.CandidateConflict, services.CandidateInvalid) as exc:
            errors = _field_errors(exc, candidate)
        else:
            db.session.commit()
            flash(_("De status is nu: %(status)s.", status=status_label(candidate.status)), "success")
            return redirect(url_for("tenant.candidate", candidate_id=candidate.id))
        db.session.rollback()
        return _render_detail(candidate, errors, form, 422)
