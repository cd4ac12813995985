"""Pages and API of the onboarding.

* Public (no login): the sign-up page ``/aanmelden`` and ``POST /api/v1/applications`` (both
  throttled per client address), the verification link ``/aanmelden/bevestigen/<token>``, the
  municipality list and the agreement texts.
* NVSI administrators: the applications under ``/nvsi/aanmeldingen`` and ``/api/v1/applications``:
  approve, reject with a reason, and follow the provisioning (the page refreshes its progress from
  ``GET /api/v1/applications/<id>/provisioning``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy.orm.exc import StaleDataError

from nvsi.api import json_body
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.errors import problem
from nvsi.extensions import db
from nvsi.onboarding import provisioning, services
from nvsi.onboarding.models import AgreementKind, ApplicationStatus, JobStatus, StepState
from nvsi.onboarding.municipalities import municipalities
from nvsi.onboarding.schemas import (
    AgreementTextSchema,
    ApplicationFilterArgs,
    ApplicationListSchema,
    ApplicationSchema,
    ApproveArgs,
    MunicipalitySchema,
    ProvisioningSchema,
    RejectArgs,
    SignupArgs,
    SignupReceiptSchema,
    VerifyArgs,
)
from nvsi.rules.violations import as_errors
from nvsi.schemas import ordered_errors

bp = Blueprint("onboarding", __name__)
ADMIN = Role.NVSI_ADMIN


def step_label(key: str) -> str:
    """A provisioning step's name in the user's language."""
    return {
        "registered": _("Gemeente geregistreerd"),
        "schema": _("Database aangemaakt en bijgewerkt"),
        "check": _("Database gecontroleerd"),
        "invite": _("Beheerder van de gemeente uitgenodigd"),
    }.get(key, key)


def state_label(state: StepState) -> str:
    """A step's state in the user's language."""
    return {
        StepState.PENDING: _("wacht"), StepState.RUNNING: _("bezig"),
        StepState.DONE: _("klaar"), StepState.FAILED: _("mislukt"),
    }[state]


def status_label(status: ApplicationStatus) -> str:
    """An application's status in the user's language."""
    return {
        ApplicationStatus.UNVERIFIED: _("e-mailadres nog niet bevestigd"),
        ApplicationStatus.VERIFIED: _("wacht op besluit"),
        ApplicationStatus.APPROVED: _("goedgekeurd"),
        ApplicationStatus.REJECTED: _("afgewezen"),
        ApplicationStatus.EXPIRED: _("verlopen"),
    }[status]


def job_label(status: JobStatus) -> str:
    """A provisioning job's status in the user's language."""
    return {
        JobStatus.PENDING: _("wacht op een verwerker"), JobStatus.RUNNING: _("bezig"),
        JobStatus.DONE: _("klaar"), JobStatus.FAILED: _("mislukt"),
    }[status]


@bp.app_context_processor
def _labels():
    return {"onboarding_step_label": step_label, "onboarding_state_label": state_label,
            "onboarding_status_label": status_label, "onboarding_job_label": job_label}


def _user():
    return current_user._get_current_object()


def _form() -> dict:
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    return form


def _throttled(exc: services.Throttled, api: bool):
    detail = _("Te veel aanmeldingen vanaf dit adres. Probeer het over %(seconds)s seconden opnieuw.",
               seconds=exc.retry_after)
    if api:
        response = problem(429, "too_many_requests", detail)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return detail


def _locale() -> str:
    return str(get_locale() or "nl")


def _private(response):
    """Pages reached through a token: no caching, no referrer leaking the token."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _mail_verification(application) -> bool:
    """Mail the verification link after the commit; whether it went out."""
    try:
        sent = services.send_verification(db.session, application)
    except services.Throttled:
        db.session.rollback()
        return False
    db.session.commit()
    return sent


def _link_base_url() -> str:
    return (current_app.config.get("MAIL_LINK_BASE_URL") or request.host_url).rstrip("/")


def _start(job) -> None:
    """Start the provisioning after the commit, in this process (unless configured off)."""
    if current_app.config["ONBOARDING_PROVISION_IN_BACKGROUND"]:
        provisioning.start_in_background(current_app._get_current_object(), job.id)


# -- public pages ----------------------------------------------------------------------------------


def _load_signup(data: dict) -> dict:
    """The sign-up input, loaded; a ValidationError names every field at once: the schema's
    complaints, and the rules' for the fields that passed it (unknown municipality, already a
    member, a text not accepted), so nobody fixes one error only to meet the next."""
    try:
        return SignupArgs().load(data)
    except ValidationError as exc:
        problems, _accepted = services.signup_problems(db.session, exc.valid_data or {})
        messages = dict(exc.messages)
        for field, field_messages in as_errors(problems).items():
            messages.setdefault(field, field_messages)
        raise ValidationError(ordered_errors(messages, SignupArgs())) from None


def _signup_page(form: dict, errors: dict, status: int = 200):
    texts = services.current_texts(db.session)
    return render_template(
        "onboarding/signup.html", form=form, errors=errors,
        municipality_options=[("", _("Kies uw gemeente"))] + [
            (m.cbs_code, f"{m.name} ({m.cbs_code})") for m in municipalities().values()],
        user_agreement=texts[AgreementKind.USER_AGREEMENT], membership_terms=texts[AgreementKind.MEMBERSHIP_TERMS],
        locale=_locale(),
    ), status


@bp.route("/aanmelden", methods=["GET", "POST"])
def signup():
    """The sign-up form of a municipality (public, throttled per client address)."""
    if request.method == "GET":
        return _signup_page({}, {})
    form = _form()
    try:
        services.count_signup_attempt(services.client_address())
    except services.Throttled as exc:
        response = _signup_page(form, {"_form": [_throttled(exc, api=False)]}, 429)
        return response[0], 429, {"Retry-After": str(exc.retry_after)}
    try:
        application = services.submit_application(db.session, _load_signup(form))
    except ValidationError as exc:
        db.session.rollback()
        return _signup_page(form, exc.messages, 422)
    except services.ApplicationRefused as exc:
        db.session.rollback()
        return _signup_page(form, ordered_errors(as_errors(exc.violations), SignupArgs()), 422)
    db.session.commit()
    name = application.municipality_name
    if _mail_verification(application):
        flash(_("De aanmelding van gemeente %(name)s is ontvangen. De contactpersoon krijgt een e-mail met een "
                "link om het e-mailadres te bevestigen; daarna beoordeelt de NVSI de aanmelding.", name=name),
              "success")
    else:
        flash(_("De aanmelding van gemeente %(name)s is ontvangen, maar de bevestigingsmail kon niet worden "
                "verstuurd. De NVSI neemt contact op met de contactpersoon.", name=name), "error")
    return redirect(url_for("onboarding.received"))


@bp.get("/aanmelden/ontvangen")
def received():
    """After a sign-up: what happens next."""
    return render_template("onboarding/received.html")


def _verify_page(token: str, status: int = 200, **context):
    return _private(current_app.make_response(
        (render_template("onboarding/verify.html", token=token, **context), status)))


@bp.route("/aanmelden/bevestigen/<token>", methods=["GET", "POST"])
def verify(token: str):
    """The verification link: GET shows a button (mail scanners that open links confirm
    nothing), POST confirms the address."""
    try:
        if request.method == "POST":
            application = services.verify_email(db.session, token)
            db.session.commit()
            return _verify_page(token, application=application, state="confirmed")
        application = services.read_verification(db.session, token)
    except services.VerificationExpired:
        db.session.rollback()
        return _verify_page(token, state="expired", status=410)
    except services.InvalidVerification:
        db.session.rollback()
        return _verify_page(token, state="invalid", status=404)
    state = "ask" if application.status is ApplicationStatus.UNVERIFIED else "confirmed"
    if application.status in (ApplicationStatus.REJECTED, ApplicationStatus.EXPIRED):
        state = "closed"
    return _verify_page(token, application=application, state=state)


@bp.post("/aanmelden/bevestigen/<token>/opnieuw")
def resend(token: str):
    """A new verification link for an expired one (throttled per address and per recipient)."""
    try:
        services.count_signup_attempt(services.client_address())
        application = services.expired_link_application(db.session, token)
    except services.Throttled as exc:
        return _verify_page(token, state="expired", throttled=_throttled(exc, api=False), status=429)
    except services.InvalidVerification:
        return _verify_page(token, state="invalid", status=404)
    sent = _mail_verification(application)
    return _verify_page(token, state="resent" if sent else "not_resent", application=application)


# -- public API ------------------------------------------------------------------------------------------


@bp.get("/api/v1/municipalities")
def api_municipalities():
    """The Dutch municipalities a sign-up can name (CBS code and official name).
    ---
    get:
      tags: [onboarding]
      summary: Municipalities (CBS list of 1 January 2025)
      security: []
      responses:
        200:
          description: OK
          content:
            application/json:
              schema:
                type: object
                properties:
                  items: {type: array, items: MunicipalitySchema}
    """
    return {"items": MunicipalitySchema(many=True).dump(municipalities().values())}


@bp.get("/api/v1/agreements")
def api_agreements():
    """The current version of each text a sign-up accepts.
    ---
    get:
      tags: [onboarding]
      summary: Current agreement texts (user agreement, membership terms)
      security: []
      responses:
        200:
          description: OK
          content:
            application/json:
              schema:
                type: object
                properties:
                  items: {type: array, items: AgreementTextSchema}
    """
    texts = services.current_texts(db.session)
    return {"items": AgreementTextSchema(many=True).dump(texts.values())}


@bp.post("/api/v1/applications")
def api_submit_application():
    """Sign a municipality up as a member (public; throttled per client address).
    ---
    post:
      tags: [onboarding]
      summary: Sign up a municipality
      description: >
        Send the CBS code, the OIN, the contact person, the billing details, and the version of
        each agreement text accepted (user_agreement_version, membership_terms_version; see GET
        /api/v1/agreements). The contact gets a mail with a link to confirm the address. Refused
        with 422 naming the field for an unknown CBS code, a municipality that is already a member
        or has an open application, a text not accepted, a bad OIN or e-mail address. Like every
        change, it needs the CSRF token of GET /api/v1/session in X-CSRFToken.
      security: []
      requestBody: {required: true, content: {application/json: {schema: SignupArgs}}}
      responses:
        201:
          description: Received
          content: {application/json: {schema: SignupReceiptSchema}}
        422: {$ref: '#/components/responses/Invalid'}
        429: {description: Too many sign-ups from this address}
    """
    try:
        services.count_signup_attempt(services.client_address())
    except services.Throttled as exc:
        return _throttled(exc, api=True)
    try:
        data = _load_signup(json_body())
    except ValidationError:
        db.session.rollback()
        raise
    application = services.submit_application(db.session, data)
    db.session.commit()
    application.mail_sent = _mail_verification(application)
    return SignupReceiptSchema().dump(application), 201


@bp.post("/api/v1/applications/verify")
def api_verify_application():
    """Confirm the contact's e-mail address with the token of the mailed link (public).
    ---
    post:
      tags: [onboarding]
      summary: Confirm the contact's e-mail address
      security: []
      requestBody: {required: true, content: {application/json: {schema: VerifyArgs}}}
      responses:
        200:
          description: Confirmed (a second confirmation changes nothing)
          content: {application/json: {schema: SignupReceiptSchema}}
        404: {$ref: '#/components/responses/NotFound'}
        410: {description: The link has expired; a new one can be mailed from the link's page}
    """
    token = VerifyArgs().load(json_body())["token"]
    try:
        application = services.verify_email(db.session, token)
    except services.VerificationExpired:
        return problem(410, "link_expired", _("Deze bevestigingslink is verlopen. Vraag op de pagina van de link een "
                                              "nieuwe aan."))
    except services.InvalidVerification:
        return problem(404, "not_found", _("Deze bevestigingslink is ongeldig of de aanmelding is gesloten."))
    db.session.commit()
    return SignupReceiptSchema(exclude=("verification_mail_sent",)).dump(application)


# -- NVSI administrators: pages --------------------------------------------------------------------------


def _application_page(application, forms: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template(
        "onboarding/application.html", application=application, job=application.job,
        proposed_slug=services.proposed_slug(db.session, application)
        if application.status is ApplicationStatus.VERIFIED else None,
        forms=forms or {}, errors=errors or {}, locale=_locale(),
        state_labels={state.value: state_label(state) for state in StepState},
    ), status


@bp.get("/nvsi/aanmeldingen")
@roles_required(ADMIN)
def applications():
    """Every application with its status; open ones first (an unknown status filter shows all)."""
    try:
        status = ApplicationStatus(request.args.get("status") or "")
    except ValueError:
        status = None
    return render_template("onboarding/applications.html", items=services.list_applications(db.session, status),
                           status=status, statuses=list(ApplicationStatus))


@bp.get("/nvsi/aanmeldingen/<int:application_id>")
@roles_required(ADMIN)
def application(application_id: int):
    """One application: the data, the texts accepted, the decision, and the provisioning."""
    return _application_page(services.get_application(db.session, application_id))


def _decision_failed(application_id: int, name: str, form: dict, errors: dict):
    db.session.rollback()
    return _application_page(services.get_application(db.session, application_id), {name: form}, {name: errors}, 422)


def _stale(application_id: int):
    db.session.rollback()
    flash(_("Iemand anders heeft intussen over deze aanmelding beslist."), "error")
    return redirect(url_for("onboarding.application", application_id=application_id))


@bp.post("/nvsi/aanmeldingen/<int:application_id>/goedkeuren")
@roles_required(ADMIN)
def approve(application_id: int):
    """Approve: the tenant is registered and provisioned in the background."""
    application = services.get_application(db.session, application_id)
    form = _form()
    try:
        data = ApproveArgs().load(form)
        job = services.approve_application(db.session, application, _user(), slug=data["slug"],
                                           link_base_url=_link_base_url())
        db.session.commit()
    except ValidationError as exc:
        return _decision_failed(application_id, "approve", form, ordered_errors(exc.messages, ApproveArgs()))
    except services.ApplicationRefused as exc:
        return _decision_failed(application_id, "approve", form, as_errors(exc.violations))
    except StaleDataError:
        return _stale(application_id)
    _start(job)
    flash(_("De aanmelding van gemeente %(name)s is goedgekeurd. De omgeving wordt nu ingericht; de voortgang "
            "staat hieronder.", name=application.municipality_name), "success")
    return redirect(url_for("onboarding.application", application_id=application_id, _anchor="inrichting"))


@bp.post("/nvsi/aanmeldingen/<int:application_id>/afwijzen")
@roles_required(ADMIN)
def reject(application_id: int):
    """Reject with a reason; the contact gets it by mail (if the address was confirmed)."""
    application = services.get_application(db.session, application_id)
    form = _form()
    try:
        services.reject_application(db.session, application, _user(), RejectArgs().load(form)["reason"])
        db.session.commit()
    except ValidationError as exc:
        return _decision_failed(application_id, "reject", form, ordered_errors(exc.messages, RejectArgs()))
    except services.ApplicationRefused as exc:
        return _decision_failed(application_id, "reject", form, as_errors(exc.violations))
    except StaleDataError:
        return _stale(application_id)
    if application.email_verified_at is None:
        flash(_("De aanmelding is afgewezen. Het e-mailadres was niet bevestigd: er is geen e-mail verstuurd."),
              "success")
    elif services.send_rejection(application):
        flash(_("De aanmelding is afgewezen; de contactpersoon krijgt de reden per e-mail."), "success")
    else:
        flash(_("De aanmelding is afgewezen, maar de e-mail aan de contactpersoon kon niet worden verstuurd."), "error")
    return redirect(url_for("onboarding.application", application_id=application_id))


@bp.post("/nvsi/aanmeldingen/<int:application_id>/adres-bevestigen")
@roles_required(ADMIN)
def confirm_address(application_id: int):
    """The administrator confirms the contact's address another way (e.g. by phone)."""
    application = services.get_application(db.session, application_id)
    try:
        services.confirm_email_by_admin(db.session, application, _user())
        db.session.commit()
    except services.ApplicationRefused as exc:
        db.session.rollback()
        flash(" ".join(v.message for v in exc.violations), "error")
    except StaleDataError:
        return _stale(application_id)
    else:
        flash(_("Het e-mailadres van de contactpersoon is als bevestigd vastgelegd."), "success")
    return redirect(url_for("onboarding.application", application_id=application_id))


@bp.post("/nvsi/aanmeldingen/<int:application_id>/bevestigingsmail")
@roles_required(ADMIN)
def resend_verification(application_id: int):
    """Mail the contact a new verification link."""
    application = services.get_application(db.session, application_id)
    if application.status is not ApplicationStatus.UNVERIFIED:
        flash(_("Het e-mailadres is al bevestigd of de aanmelding is gesloten."), "error")
    elif _mail_verification(application):
        flash(_("De contactpersoon krijgt een nieuwe bevestigingslink."), "success")
    else:
        flash(_("De bevestigingsmail kon niet worden verstuurd."), "error")
    return redirect(url_for("onboarding.application", application_id=application_id))


@bp.post("/nvsi/aanmeldingen/<int:application_id>/inrichting/opnieuw")
@roles_required(ADMIN)
def retry_provisioning(application_id: int):
    """Start a failed provisioning again."""
    application = services.get_application(db.session, application_id)
    if application.job is None:
        flash(_("Deze aanmelding heeft geen inrichting."), "error")
        return redirect(url_for("onboarding.application", application_id=application_id))
    try:
        provisioning.retry(db.session, application.job, _user())
        db.session.commit()
    except services.ApplicationRefused as exc:
        db.session.rollback()
        flash(" ".join(v.message for v in exc.violations), "error")
    else:
        _start(application.job)
        flash(_("De inrichting is opnieuw gestart."), "success")
    return redirect(url_for("onboarding.application", application_id=application_id, _anchor="inrichting"))


# -- NVSI administrators: API ---------------------------------------------------------------------------


@bp.get("/api/v1/applications")
@roles_required(ADMIN)
def api_list_applications():
    """Every application, open ones first.
    ---
    get:
      tags: [onboarding]
      summary: List applications (NVSI administrators)
      parameters:
      - {in: query, name: status, schema: {type: string, enum: [unverified, verified, approved, rejected, expired]}}
      responses:
        200:
          description: OK
          content: {application/json: {schema: ApplicationListSchema}}
        403: {description: Not an NVSI administrator}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = ApplicationFilterArgs().load(request.args.to_dict())
    status = ApplicationStatus(args["status"]) if args["status"] else None
    return ApplicationListSchema().dump({"items": services.list_applications(db.session, status)})


@bp.get("/api/v1/applications/<int:application_id>")
@roles_required(ADMIN)
def api_get_application(application_id: int):
    """One application with its acceptances and provisioning.
    ---
    get:
      tags: [onboarding]
      summary: Get an application (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ApplicationSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    return ApplicationSchema().dump(services.get_application(db.session, application_id))


@bp.post("/api/v1/applications/<int:application_id>/approve")
@roles_required(ADMIN)
def api_approve_application(application_id: int):
    """Approve a verified application; the tenant is provisioned in the background.
    ---
    post:
      tags: [onboarding]
      summary: Approve an application (NVSI administrators)
      description: >
        Registers the tenant (slug from the municipality's name unless given) and starts its
        provisioning; follow it at the Location (…/provisioning). 422 if the address is not
        confirmed, the application is closed, or the slug is invalid or taken.
      requestBody: {content: {application/json: {schema: ApproveArgs}}}
      responses:
        202:
          description: Approved; provisioning started
          content: {application/json: {schema: ProvisioningSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    application = services.get_application(db.session, application_id)
    data = ApproveArgs().load(json_body() if request.content_length else {})
    try:
        job = services.approve_application(db.session, application, _user(), slug=data["slug"],
                                           link_base_url=_link_base_url())
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return problem(409, "conflict", _("Iemand anders heeft intussen over deze aanmelding beslist."))
    _start(job)
    location = url_for("onboarding.api_provisioning", application_id=application_id)
    return ProvisioningSchema().dump(job), 202, {"Location": location}


@bp.post("/api/v1/applications/<int:application_id>/reject")
@roles_required(ADMIN)
def api_reject_application(application_id: int):
    """Reject an open application with a reason (mailed to a confirmed contact).
    ---
    post:
      tags: [onboarding]
      summary: Reject an application (NVSI administrators)
      requestBody: {required: true, content: {application/json: {schema: RejectArgs}}}
      responses:
        200:
          description: Rejected
          content: {application/json: {schema: ApplicationSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        409: {$ref: '#/components/responses/Conflict'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    application = services.get_application(db.session, application_id)
    reason = RejectArgs().load(json_body())["reason"]
    try:
        services.reject_application(db.session, application, _user(), reason)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        return problem(409, "conflict", _("Iemand anders heeft intussen over deze aanmelding beslist."))
    if application.email_verified_at is not None:
        services.send_rejection(application)
    return ApplicationSchema().dump(application)


@bp.get("/api/v1/applications/<int:application_id>/provisioning")
@roles_required(ADMIN)
def api_provisioning(application_id: int):
    """The provisioning of an approved application: the job and each step's state.
    ---
    get:
      tags: [onboarding]
      summary: Provisioning progress (NVSI administrators)
      responses:
        200:
          description: OK
          content: {application/json: {schema: ProvisioningSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
    """
    application = services.get_application(db.session, application_id)
    if application.job is None:
        return problem(404, "not_found", _("Deze aanmelding is (nog) niet goedgekeurd: er is geen inrichting."))
    response = current_app.make_response(ProvisioningSchema().dump(application.job))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/v1/applications/<int:application_id>/provisioning/retry")
@roles_required(ADMIN)
def api_retry_provisioning(application_id: int):
    """Start a failed provisioning again.
    ---
    post:
      tags: [onboarding]
      summary: Retry a failed provisioning (NVSI administrators)
      responses:
        202:
          description: Started again
          content: {application/json: {schema: ProvisioningSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    application = services.get_application(db.session, application_id)
    if application.job is None:
        return problem(404, "not_found", _("Deze aanmelding is (nog) niet goedgekeurd: er is geen inrichting."))
    provisioning.retry(db.session, application.job, _user())
    db.session.commit()
    _start(application.job)
    return ProvisioningSchema().dump(application.job), 202
