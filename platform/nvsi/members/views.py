"""Member administration through the JSON API (``/api/v1/members…``) and the Dutch pages
(``/nvsi/leden…``), for NVSI administrators only. Thin: load input with a schema, call a
service, commit, dump or render."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import format_currency, format_decimal
from flask_babel import gettext as _
from marshmallow import ValidationError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.members import services
from nvsi.members.schemas import (
    MemberListSchema,
    MemberWithFiguresSchema,
    OffboardingSchema,
    ReasonArgs,
    StepArgs,
)
from nvsi.schemas import ordered_errors
from nvsi.tenancy.routing import current_router

bp = Blueprint("members", __name__)

ADMIN = Role.NVSI_ADMIN


def _messages() -> dict:
    """The message of every refusal code of the services, in the user's language."""
    return {
        "offboarding_in_progress": lambda p: _(
            "Voor deze gemeente loopt een vertrek. Rond het af of annuleer het eerst."),
        "not_active": lambda p: _("Alleen een actief lid kan worden opgeschort."),
        "not_suspended": lambda p: _("Dit lid is niet opgeschort."),
        "not_provisioned": lambda p: _("Deze gemeente wordt nog ingericht en kan nog niet vertrekken."),
        "no_offboarding": lambda p: _("Voor deze gemeente loopt geen vertrek."),
        "schema_dropped": lambda p: _("De gegevens van deze gemeente zijn al verwijderd; dit kan niet meer."),
        "step_out_of_order": lambda p: _(
            "Deze stap kan nu niet. De volgende stap is: %(step)s.", step=step_label((p or {}).get("step"))),
        "archive_missing": lambda p: _("Het exportarchief ontbreekt. Maak de export opnieuw."),
        "archive_damaged": lambda p: _(
            "Het exportarchief is beschadigd of niet te ontsleutelen. Maak de export opnieuw."),
        "export_outdated": lambda p: _(
            "De gegevens zijn na de export gewijzigd: het archief is niet meer volledig. Maak de export opnieuw."),
        "confirm_slug": lambda p: _("Typ de korte naam van de gemeente ter bevestiging."),
        "reason_required": lambda p: _("Vul een reden in."),
    }


def step_label(step: str | None) -> str:
    """An offboarding step's name in the user's language."""
    return {
        "export": _("gegevens exporteren"), "retention": _("bewaartermijn vastleggen"),
        "drop_schema": _("gegevens verwijderen"), "complete": _("vertrek afronden"),
        None: _("geen: het vertrek is afgerond"),
    }.get(step, step or "")


def status_label(status: services.MemberStatus | str) -> str:
    """A member status in the user's language."""
    value = status.value if isinstance(status, services.MemberStatus) else status
    return {
        "applicant": _("aanmelding"), "provisioning": _("wordt ingericht"), "active": _("actief"),
        "suspended": _("opgeschort"), "leaving": _("vertrekt"), "offboarded": _("vertrokken"),
    }.get(value, value)


@bp.app_template_filter("figure_hours")
def _hours(value) -> str:
    """Hours in the user's locale, two decimals: "1.234,50"."""
    return format_decimal(value, format="#,##0.00")


@bp.app_template_filter("figure_euros")
def _euros(cents: int) -> str:
    """An amount in cents as euros in the user's locale."""
    return format_currency(Decimal(cents) / 100, "EUR")


@bp.app_context_processor
def _labels():
    return {"member_status_label": status_label, "offboarding_step_label": step_label}


def _message(exc: services.MemberError) -> str:
    return _messages()[exc.code](exc.params)


def _refusal(exc: services.MemberError):
    """The API answer to a refused action: 409 (state) or 422 (input), naming the field."""
    message = _message(exc)
    return problem(exc.status, exc.code, message, {exc.field: [message]} if exc.field else None)


def _member(slug: str) -> services.Member:
    return services.get_member(db.session, slug)


def _overview():
    members = services.list_members(db.session)
    today = dt.date.today()
    services.key_figures(db, db.session, members, today)
    return members, services.pending_applicants(db.session), today


def _context(actor_label: str | None = None) -> services.OffboardingContext:
    return services.context(current_router(), actor_label)


def _download(member: services.Member):
    """The decrypted archive as an attachment; the download is audited and committed first."""
    chunks = services.archive_chunks(db.session, member, _context())
    db.session.commit()
    day = member.offboarding.exported_at.date().isoformat()
    return Response(stream_with_context(chunks), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{member.tenant.slug}-export-{day}.zip"',
        "Cache-Control": "no-store",
    })


# -- API ------------------------------------------------------------------------------------------


@bp.get("/api/v1/members")
@roles_required(ADMIN)
def api_list_members():
    """Every member with its status and key figures, and the sign-ups waiting for approval.
    ---
    get:
      tags: [members]
      summary: Members and their key figures (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: MemberListSchema}}
        403: {description: Not an NVSI administrator}
    """
    members, applicants, today = _overview()
    return MemberListSchema().dump({"year": today.year, "items": members, "applicants": applicants})


@bp.get("/api/v1/members/<slug>")
@roles_required(ADMIN)
def api_get_member(slug: str):
    """One member with its status, key figures and offboarding.
    ---
    get:
      tags: [members]
      summary: Get a member (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: MemberWithFiguresSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    member = _member(slug)
    services.key_figures(db, db.session, [member], dt.date.today())
    return MemberWithFiguresSchema().dump(member)


def _api_action(slug: str, action):
    member = _member(slug)
    data = ReasonArgs().load(json_body())
    try:
        action(db.session, member, data["reason"])
    except services.MemberError as exc:
        return _refusal(exc)
    db.session.commit()
    return MemberWithFiguresSchema().dump(member)


@bp.post("/api/v1/members/<slug>/suspend")
@roles_required(ADMIN)
def api_suspend_member(slug: str):
    """Suspend an active member: its users can still read, every change is refused (403
    ``tenant_suspended``).
    ---
    post:
      tags: [members]
      summary: Suspend a member (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ReasonArgs}}}
      responses:
        200:
          description: Suspended
          content: {application/json: {schema: MemberWithFiguresSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    return _api_action(slug, services.suspend)


@bp.post("/api/v1/members/<slug>/reinstate")
@roles_required(ADMIN)
def api_reinstate_member(slug: str):
    """Lift a member's suspension.
    ---
    post:
      tags: [members]
      summary: Reinstate a suspended member (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ReasonArgs}}}
      responses:
        200:
          description: Active again
          content: {application/json: {schema: MemberWithFiguresSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    return _api_action(slug, services.reinstate)


@bp.get("/api/v1/members/<slug>/offboarding")
@roles_required(ADMIN)
def api_get_offboarding(slug: str):
    """The member's offboarding: its steps and archive.
    ---
    get:
      tags: [members]
      summary: Get a member's offboarding (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: OffboardingSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    member = _member(slug)
    if member.offboarding is None:
        return problem(404, "no_offboarding", _message(services.MemberError("no_offboarding")))
    return OffboardingSchema().dump(member.offboarding)


@bp.post("/api/v1/members/<slug>/offboarding")
@roles_required(ADMIN)
def api_start_offboarding(slug: str):
    """Start offboarding a member (step 1): it is *leaving*, its tenant read-only.
    ---
    post:
      tags: [members]
      summary: Start offboarding (NVSI administrators)
      description: >
        Then run the steps export, retention, drop_schema (confirm with the slug) and complete
        through POST .../offboarding/steps. Each step is audited.
      requestBody: {required: true, content: {application/json: {schema: ReasonArgs}}}
      responses:
        201:
          description: Started
          content: {application/json: {schema: OffboardingSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    member = _member(slug)
    data = ReasonArgs().load(json_body())
    try:
        offboarding = services.start_offboarding(db.session, member, data["reason"])
    except services.MemberError as exc:
        return _refusal(exc)
    db.session.commit()
    location = url_for("members.api_get_offboarding", slug=slug)
    return OffboardingSchema().dump(offboarding), 201, {"Location": location}


@bp.post("/api/v1/members/<slug>/offboarding/steps")
@roles_required(ADMIN)
def api_run_offboarding_step(slug: str):
    """Run the next offboarding step (or export again, until the schema is dropped).
    ---
    post:
      tags: [members]
      summary: Run an offboarding step (NVSI administrators)
      description: >
        step is the next step (export, retention, drop_schema, complete); another step gives
        409 step_out_of_order. drop_schema needs confirm equal to the member's slug, and checks the
        archive (present, unchanged, complete against the live rows) before removing the schema.
      requestBody: {required: true, content: {application/json: {schema: StepArgs}}}
      responses:
        200:
          description: Done
          content: {application/json: {schema: OffboardingSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    member = _member(slug)
    data = StepArgs().load(json_body())
    try:
        offboarding = services.run_step(db.session, member, _context(), data["step"], data["confirm"])
    except services.MemberError as exc:
        return _refusal(exc)
    db.session.commit()
    return OffboardingSchema().dump(offboarding)


@bp.delete("/api/v1/members/<slug>/offboarding")
@roles_required(ADMIN)
def api_cancel_offboarding(slug: str):
    """Cancel an offboarding before the schema is dropped (the archive is deleted).
    ---
    delete:
      tags: [members]
      summary: Cancel an offboarding (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: ReasonArgs}}}
      responses:
        200:
          description: Cancelled; the member has its former status again
          content: {application/json: {schema: MemberWithFiguresSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    return _api_action(slug, lambda session, member, reason: services.cancel_offboarding(
        session, member, _context(), reason))


@bp.get("/api/v1/members/<slug>/offboarding/archive")
@roles_required(ADMIN)
def api_download_archive(slug: str):
    """Download the member's export archive (a zip with every row and document; personal data
    in plain text). Every download is recorded in the audit log.
    ---
    get:
      tags: [members]
      summary: Download the offboarding archive (NVSI administrators)
      responses:
        200:
          description: The zip
          content: {application/zip: {schema: {type: string, format: binary}}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
    """
    member = _member(slug)
    try:
        return _download(member)
    except services.MemberError as exc:
        return _refusal(exc)


# -- pages ----------------------------------------------------------------------------------------


def _form() -> dict:
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


@bp.get("/nvsi/leden")
@roles_required(ADMIN)
def index():
    """The members and their key figures."""
    members, applicants, today = _overview()
    return render_template("members/index.html", members=members, applicants=applicants, year=today.year)


def _render_member(member, form=None, errors=None, action=None, status=200):
    if member.figures is None:
        services.key_figures(db, db.session, [member], dt.date.today())
    return render_template(
        "members/detail.html", member=member, events=services.member_events(db.session, member.tenant.id),
        form=form or {}, errors=errors or {}, action=action,
    ), status


@bp.get("/nvsi/leden/<slug>")
@roles_required(ADMIN)
def member(slug: str):
    """One member: status, key figures, history, and suspend/reinstate."""
    return _render_member(_member(slug))


def _page_action(slug: str, name: str, action, done: str):
    member = _member(slug)
    form = _form()
    try:
        action(db.session, member, ReasonArgs().load(form)["reason"])
    except ValidationError as exc:
        return _render_member(member, form, ordered_errors(exc.messages, ReasonArgs()), name, 422)
    except services.MemberError as exc:
        return _render_member(member, form, {"reason": [_message(exc)]}, name, 409)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("members.member", slug=slug))


@bp.post("/nvsi/leden/<slug>/opschorten")
@roles_required(ADMIN)
def suspend(slug: str):
    """Suspend the member (with a reason)."""
    return _page_action(slug, "suspend", services.suspend, _("Het lidmaatschap is opgeschort: alleen lezen."))


@bp.post("/nvsi/leden/<slug>/heractiveren")
@roles_required(ADMIN)
def reinstate(slug: str):
    """Reinstate the suspended member (with a reason)."""
    return _page_action(slug, "reinstate", services.reinstate, _("Het lidmaatschap is weer actief."))


def _render_offboarding(member, form=None, errors=None, status=200):
    return render_template(
        "members/offboarding.html", member=member, form=form or {}, errors=errors or {},
        steps=services.STEPS, events=services.member_events(db.session, member.tenant.id),
    ), status


@bp.route("/nvsi/leden/<slug>/vertrek", methods=["GET", "POST"])
@roles_required(ADMIN)
def offboarding(slug: str):
    """The offboarding of a member: start it (with a reason), then its steps."""
    member = _member(slug)
    if request.method == "GET":
        return _render_offboarding(member)
    form = _form()
    try:
        services.start_offboarding(db.session, member, ReasonArgs().load(form)["reason"])
    except ValidationError as exc:
        return _render_offboarding(member, form, ordered_errors(exc.messages, ReasonArgs()), 422)
    except services.MemberError as exc:
        return _render_offboarding(member, form, {"reason": [_message(exc)]}, 409)
    db.session.commit()
    flash(_("Het vertrek is gestart. De gemeente kan haar gegevens nog lezen, niet meer wijzigen."), "success")
    return redirect(url_for("members.offboarding", slug=slug))


@bp.post("/nvsi/leden/<slug>/vertrek/stap")
@roles_required(ADMIN)
def run_step(slug: str):
    """Run the next step of the offboarding."""
    member = _member(slug)
    form = _form()
    try:
        data = StepArgs().load(form)
        services.run_step(db.session, member, _context(), data["step"], data["confirm"])
    except ValidationError as exc:
        return _render_offboarding(member, form, ordered_errors(exc.messages, StepArgs()), 422)
    except services.MemberError as exc:
        field = exc.field if exc.field == "confirm" else "step"
        return _render_offboarding(member, form, {field: [_message(exc)]}, exc.status)
    db.session.commit()
    flash(_("Stap uitgevoerd: %(step)s.", step=step_label(form.get("step"))), "success")
    return redirect(url_for("members.offboarding", slug=slug))


@bp.post("/nvsi/leden/<slug>/vertrek/annuleren")
@roles_required(ADMIN)
def cancel_offboarding(slug: str):
    """Cancel the offboarding (before the data is removed), with a reason."""
    member = _member(slug)
    form = _form()
    try:
        reason = ReasonArgs().load({"reason": form.get("cancel_reason", "")})["reason"]
        services.cancel_offboarding(db.session, member, _context(), reason)
    except ValidationError as exc:
        return _render_offboarding(member, form, {"cancel_reason": exc.messages["reason"]}, 422)
    except services.MemberError as exc:
        return _render_offboarding(member, {}, {"cancel_reason": [_message(exc)]}, 409)
    db.session.commit()
    flash(_("Het vertrek is geannuleerd."), "success")
    return redirect(url_for("members.member", slug=slug))


@bp.get("/nvsi/leden/<slug>/vertrek/archief")
@roles_required(ADMIN)
def download_archive(slug: str):
    """Download the export archive (audited)."""
    member = _member(slug)
    try:
        return _download(member)
    except services.MemberError as exc:
        flash(_message(exc), "error")
        return redirect(url_for("members.offboarding", slug=slug))


