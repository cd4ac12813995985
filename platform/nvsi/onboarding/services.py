"""Sign-up, e-mail verification and the NVSI's decision on an application.

Every function takes a session on the shared level, flushes and never commits; the request (or
the job) commits. Mail goes out after the commit, from the views, through :func:`send_verification`
and :func:`send_rejection`, so no message announces something that was rolled back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time

import sqlalchemy as sa
from flask import current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from nvsi import mail
from nvsi.audit.services import record
from nvsi.auth.models import User
from nvsi.db import ObjectNotFound, savepoint, utcnow
from nvsi.links import mail_link, signed_serializer
from nvsi.onboarding.models import (
    OPEN_STATUSES,
    AgreementAcceptance,
    AgreementKind,
    AgreementText,
    ApplicationStatus,
    FrameworkSetupStep,
    JobStatus,
    MembershipApplication,
    ProvisioningJob,
    ProvisioningStep,
    StepState,
)
from nvsi.onboarding.municipalities import municipality, slug_from_name
from nvsi.rules.violations import N_, RuleViolations, Violation, violation
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import Tenant
from nvsi.tenancy.naming import InvalidSlug, validate_slug

log = logging.getLogger(__name__)

#: itsdangerous salt of the verification links (a link of another kind never verifies).
VERIFY_SALT = "nvsi.onboarding.verify-email"
#: The steps of provisioning, in order (labels in :func:`step_label`).
STEPS = ("registered", "schema", "check", "invite")
#: The audit log's actor for what an anonymous applicant does.
APPLICANT = "public:applicant"


class ApplicationRefused(RuleViolations):
    """A sign-up or a decision was refused; ``violations`` names each field and why."""


class ApplicationNotFound(ObjectNotFound):
    """No application with this id."""


class InvalidVerification(LookupError):
    """A verification link that is not ours, was altered, or whose application is closed."""


class VerificationExpired(LookupError):
    """A genuine verification link, older than ONBOARDING_VERIFY_HOURS."""

    def __init__(self, application_id: int):
        super().__init__(application_id)
        self.application_id = application_id


class Throttled(Exception):
    """Too many sign-ups or mails; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


# -- agreement texts ------------------------------------------------------------------------------


def current_texts(session: Session) -> dict[AgreementKind, AgreementText]:
    """The current (highest) version of each agreement text."""
    rows = session.scalars(sa.select(AgreementText).order_by(AgreementText.kind, AgreementText.version))
    return {row.kind: row for row in rows}  # later versions win


def text_title(text: AgreementText, locale: str) -> str:
    """The title in the user's language (Dutch is binding; English is a translation)."""
    return text.title_en if locale.startswith("en") else text.title_nl


# -- throttling -------------------------------------------------------------------------------------


class SignupThrottle:
    """Counts sign-up attempts per client address and mails per recipient, with the ``limits``
    library in the deployment-wide storage (RATELIMIT_STORAGE_URI: Redis in production), so the
    public pages cannot be used to send mail in bulk. Recipients are counted by a keyed hash:
    no address is written to the storage."""

    def __init__(self, storage_uri: str):
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, limit: str, scope: str, key: str) -> None:
        """Count one; :class:`Throttled` (counting nothing) when the limit is reached."""
        item = parse(limit)
        if not self._limiter.hit(item, "onboarding", scope, key):
            reset = self._limiter.get_window_stats(item, "onboarding", scope, key).reset_time
            raise Throttled(max(1, int(reset - time.time()) + 1))


def throttle() -> SignupThrottle:
    """The app's sign-up throttle (made on first use)."""
    found = current_app.extensions.get("nvsi.onboarding.throttle")
    if found is None:
        found = current_app.extensions["nvsi.onboarding.throttle"] = SignupThrottle(
            current_app.config["RATELIMIT_STORAGE_URI"])
    return found


def count_signup_attempt(address: str) -> None:
    """One sign-up attempt from ``address`` (every attempt counts, refused ones too)."""
    throttle().hit(current_app.config["ONBOARDING_SIGNUP_RATE_LIMIT"], "address", address or "-")


def _recipient_key(email: str) -> str:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), email.lower().encode(), hashlib.sha256).hexdigest()[:32]


# -- sign-up -------------------------------------------------------------------------------------------


def _verify_hours() -> int:
    return int(current_app.config["ONBOARDING_VERIFY_HOURS"])


def _stale(application: MembershipApplication, now: dt.datetime) -> bool:
    """An unverified application whose last link has expired: it no longer blocks a new one."""
    sent = application.verification_sent_at or application.submitted_at
    return application.status is ApplicationStatus.UNVERIFIED and sent < now - dt.timedelta(hours=_verify_hours())


def open_application(session: Session, cbs_code: str) -> MembershipApplication | None:
    """The open (unverified or verified) application of a municipality, if any."""
    return session.scalar(sa.select(MembershipApplication).where(
        MembershipApplication.cbs_code == cbs_code, MembershipApplication.status.in_(OPEN_STATUSES)))


def signup_problems(session: Session, data: dict, now: dt.datetime | None = None
                    ) -> tuple[list[Violation], list[AgreementText]]:
    """The refusals the rules give for a sign-up (``data`` may be partial: the fields that passed
    the schema), and the texts it accepts. An unverified application of the same municipality
    whose link has expired is closed here (it no longer blocks a new one)."""
    now = now or utcnow()
    problems: list[Violation] = []
    found = municipality(data["cbs_code"]) if data.get("cbs_code") else None
    if data.get("cbs_code") and found is None:
        problems.append(violation(
            "unknown_municipality", "cbs_code", None, None,
            "Onbekende gemeentecode %(code)s: kies een gemeente uit de lijst (GM en vier cijfers).",
            code=data["cbs_code"]))
    elif found is not None:
        if session.scalar(sa.select(Tenant.id).where(Tenant.cbs_code == found.cbs_code)) is not None:
            problems.append(violation("already_member", "cbs_code", None, None,
                                      "Gemeente %(name)s is al lid van de NVSI.", name=found.name))
        else:
            pending = open_application(session, found.cbs_code)
            if pending is not None and _stale(pending, now):
                pending.status = ApplicationStatus.EXPIRED
                session.flush()
            elif pending is not None:
                problems.append(_pending(found.name))
    texts = current_texts(session)
    accepted: list[AgreementText] = []
    for kind, field in ((AgreementKind.USER_AGREEMENT, "user_agreement_version"),
                        (AgreementKind.MEMBERSHIP_TERMS, "membership_terms_version")):
        text, given = texts[kind], data.get(field)
        if given is None:
            message = (N_("Lees en accepteer de gebruikersovereenkomst (versie %(version)s).")
                       if kind is AgreementKind.USER_AGREEMENT else
                       N_("Lees en accepteer de lidmaatschapsvoorwaarden met de contributie (versie %(version)s)."))
            problems.append(violation("acceptance_required", field, None, None, message, version=text.version))
        elif given != text.version:
            problems.append(violation(
                "outdated_version", field, None, None,
                "U accepteerde versie %(given)s, maar de geldende versie is %(version)s. Lees de tekst opnieuw "
                "en accepteer die.", given=given, version=text.version))
        else:
            accepted.append(text)
    return problems, accepted


def _pending(name: str) -> Violation:
    return violation("application_pending", "cbs_code", None, None,
                     "Voor gemeente %(name)s loopt al een aanmelding. De NVSI beoordeelt die; u hoeft niets "
                     "opnieuw in te sturen.", name=name)


def submit_application(session: Session, data: dict, now: dt.datetime | None = None) -> MembershipApplication:
    """Record a sign-up (``data`` from :class:`~nvsi.onboarding.schemas.SignupArgs`) with the
    acceptance of the current version of both agreement texts. Refused, naming the field, for a
    CBS code not on the list, a municipality that is already a member or has an open application,
    and a text not accepted (or an older version of it accepted)."""
    now = now or utcnow()
    problems, accepted = signup_problems(session, data, now)
    if problems:
        raise ApplicationRefused(problems)
    found = municipality(data["cbs_code"])

    application = MembershipApplication(
        status=ApplicationStatus.UNVERIFIED, cbs_code=found.cbs_code, municipality_name=found.name,
        oin=data["oin"], contact_name=data["contact_name"], contact_email=data["contact_email"],
        contact_phone=data.get("contact_phone"), billing_email=data["billing_email"],
        invoice_address=data["invoice_address"], postal_code=data["postal_code"], city=data["city"],
        billing_reference=data.get("billing_reference"), verification_sent_at=now, submitted_at=now,
    )
    application.acceptances = [
        AgreementAcceptance(agreement_text_id=text.id, accepted_by_name=data["contact_name"],
                            accepted_by_email=data["contact_email"], accepted_at=now)
        for text in accepted
    ]

    def pending_elsewhere(_exc):
        return ApplicationRefused([_pending(found.name)])

    with savepoint(session, pending_elsewhere, chain=False):
        session.add(application)
    record(session, "application.submitted", object_type="application", object_id=application.id,
           changes={"cbs_code": application.cbs_code, "municipality": application.municipality_name,
                    "accepted": {t.kind.value: t.version for t in accepted}},
           actor_label=APPLICANT)
    return application


def get_application(session: Session, application_id: int) -> MembershipApplication:
    """The application with this id; :class:`ApplicationNotFound` otherwise."""
    application = session.get(MembershipApplication, application_id)
    if application is None:
        raise ApplicationNotFound(application_id)
    return application


def list_applications(session: Session, status: ApplicationStatus | None = None) -> list[MembershipApplication]:
    """Applications, open ones first (oldest first: first come, first served), then the rest
    newest first."""
    query = sa.select(MembershipApplication)
    if status is not None:
        query = query.where(MembershipApplication.status == status)
    rows = list(session.scalars(query.order_by(MembershipApplication.submitted_at.desc(),
                                               MembershipApplication.id.desc())))
    open_ = sorted((a for a in rows if a.status in OPEN_STATUSES), key=lambda a: (a.submitted_at, a.id))
    return open_ + [a for a in rows if a.status not in OPEN_STATUSES]


# -- verification of the contact's address ----------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return signed_serializer(VERIFY_SALT)


def _address_print(email: str) -> str:
    return hashlib.sha256(email.lower().encode()).hexdigest()[:16]


def verification_token(application: MembershipApplication) -> str:
    """A signed token naming the application and (by a digest) the address it was mailed to."""
    return _serializer().dumps({"a": application.id, "e": _address_print(application.contact_email)})


def _read(session: Session, token: str, max_age: int | None) -> MembershipApplication:
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        claims = _serializer().loads(token)  # genuine, only old: say which application
        raise VerificationExpired(claims.get("a") if isinstance(claims, dict) else 0) from exc
    except (BadSignature, UnicodeError) as exc:
        raise InvalidVerification(token) from exc
    application_id = payload.get("a") if isinstance(payload, dict) else None
    if not isinstance(application_id, int) or isinstance(application_id, bool):
        raise InvalidVerification(token)
    application = session.get(MembershipApplication, application_id)
    if application is None or not hmac.compare_digest(_address_print(application.contact_email),
                                                      str(payload.get("e"))):
        raise InvalidVerification(token)
    return application


def read_verification(session: Session, token: str) -> MembershipApplication:
    """The application a verification link is for, if the link is genuine and not expired."""
    return _read(session, token, _verify_hours() * 3600)


def verify_email(session: Session, token: str, now: dt.datetime | None = None) -> MembershipApplication:
    """Confirm the contact's address from a link: the application becomes approvable. A second
    use changes nothing; a closed application (rejected, expired) is :class:`InvalidVerification`."""
    application = read_verification(session, token)
    if application.status in (ApplicationStatus.REJECTED, ApplicationStatus.EXPIRED):
        raise InvalidVerification(token)
    if application.status is ApplicationStatus.UNVERIFIED:
        application.status = ApplicationStatus.VERIFIED
        application.email_verified_at = now or utcnow()
        application.verified_by = "link"
        session.flush()
        record(session, "application.verified", object_type="application", object_id=application.id,
               changes={"verified_by": "link"}, actor_label=APPLICANT)
    return application


def expired_link_application(session: Session, token: str) -> MembershipApplication:
    """The still unverified application of a genuine but expired link (to mail a new one)."""
    application = _read(session, token, None)
    if application.status is not ApplicationStatus.UNVERIFIED:
        raise InvalidVerification(token)
    return application


def confirm_email_by_admin(session: Session, application: MembershipApplication, admin: User) -> None:
    """An NVSI administrator confirms the address another way (e.g. by phone). Audited."""
    if application.status is not ApplicationStatus.UNVERIFIED:
        raise ApplicationRefused([violation("not_unverified", "status", None, None,
                                            "Het e-mailadres van deze aanmelding is al bevestigd of de aanmelding "
                                            "is gesloten.")])
    application.status = ApplicationStatus.VERIFIED
    application.email_verified_at = utcnow()
    application.verified_by = "admin"
    session.flush()
    record(session, "application.verified", object_type="application", object_id=application.id,
           changes={"verified_by": "admin"}, actor=admin)


#: An absolute link for a mail (see :func:`nvsi.links.mail_link`).
link_for = mail_link


def send_verification(session: Session, application: MembershipApplication) -> bool:
    """Mail the contact a new verification link (after the application was committed). Counted
    per recipient (:class:`Throttled` when too many); whether the mail was handed over."""
    throttle().hit(current_app.config["ONBOARDING_MAIL_RATE_LIMIT"], "recipient",
                   _recipient_key(application.contact_email))
    link = link_for("onboarding.verify", token=verification_token(application))
    with force_locale("nl"):
        subject = _("Bevestig uw aanmelding bij de NVSI (%(municipality)s)",
                    municipality=application.municipality_name)
        body = _(
            "Beste %(name)s,\n\n"
            "U heeft gemeente %(municipality)s aangemeld als lid van de NVSI (Flextensie). Bevestig uw "
            "e-mailadres via deze link; hij is %(hours)s uur geldig:\n%(link)s\n\n"
            "Daarna beoordeelt de NVSI de aanmelding. Na goedkeuring ontvangt u een uitnodiging om een "
            "wachtwoord en tweestapsverificatie in te stellen.\n\n"
            "Heeft u zich niet aangemeld? Dan kunt u deze e-mail negeren.\n\n"
            "Met vriendelijke groet,\nNVSI Flextensie",
            name=application.contact_name, municipality=application.municipality_name, hours=_verify_hours(),
            link=link)
    application.verification_sent_at = utcnow()
    return _send(application.contact_email, subject, body, application.id)


def send_rejection(application: MembershipApplication) -> bool:
    """Mail the contact that the application was rejected, with the reason (after the commit)."""
    with force_locale("nl"):
        subject = _("Uw aanmelding bij de NVSI (%(municipality)s)", municipality=application.municipality_name)
        body = _(
            "Beste %(name)s,\n\n"
            "De NVSI heeft de aanmelding van gemeente %(municipality)s niet goedgekeurd. De reden:\n\n"
            "%(reason)s\n\n"
            "U kunt zich opnieuw aanmelden wanneer de reden is weggenomen.\n\n"
            "Met vriendelijke groet,\nNVSI Flextensie",
            name=application.contact_name, municipality=application.municipality_name,
            reason=application.rejection_reason)
    return _send(application.contact_email, subject, body, application.id)


def _send(to: str, subject: str, body: str, application_id: int) -> bool:
    try:
        mail.mailer().send(mail.Mail(to=(to,), subject=subject, body=body,
                                     headers={"Auto-Submitted": "auto-generated"}))
    except mail.MailError as exc:
        log.warning("onboarding mail not sent",
                    extra={"fields": {"application_id": application_id, "error": str(exc)}})
        return False
    return True


# -- the decision -----------------------------------------------------------------------------------------


def _closed(application: MembershipApplication) -> ApplicationRefused:
    return ApplicationRefused([violation("already_decided", "status", None, None,
                                         "Over deze aanmelding is al beslist, of zij is gesloten.")])


def proposed_slug(session: Session, application: MembershipApplication) -> str:
    """The tenant slug approval uses unless the administrator chooses one: from the municipality's
    name, with the CBS number added if a tenant already has it."""
    slug = slug_from_name(application.municipality_name) or "gemeente"
    if len(slug) < 2:
        slug = f"gemeente_{slug}"
    if tenancy.get_tenant(session, slug) is not None:
        slug = f"{slug[:34]}_{application.cbs_code[2:]}"
    return slug


def approve_application(session: Session, application: MembershipApplication, admin: User, *,
                        slug: str | None = None, link_base_url: str | None = None) -> ProvisioningJob:
    """Approve a verified application: register the tenant (state *provisioning*), link the
    acceptances to it, and add the provisioning job with its steps, all in the caller's
    transaction. The work itself starts only after the commit (:mod:`nvsi.onboarding.provisioning`)."""
    if application.status is ApplicationStatus.UNVERIFIED:
        raise ApplicationRefused([violation(
            "not_verified", "status", None, None,
            "De contactpersoon heeft het e-mailadres nog niet bevestigd; pas daarna kan de aanmelding "
            "worden goedgekeurd.")])
    if application.status is not ApplicationStatus.VERIFIED:
        raise _closed(application)
    slug = (slug or "").strip() or proposed_slug(session, application)
    problems: list[Violation] = []
    try:
        validate_slug(slug)
    except InvalidSlug:
        problems.append(violation(
            "invalid_slug", "slug", None, None,
            "Een korte naam begint met een kleine letter, gevolgd door kleine letters, cijfers of _ "
            "(2 tot 41 tekens), bijvoorbeeld den_haag."))
    else:
        if tenancy.get_tenant(session, slug) is not None:
            problems.append(violation("slug_taken", "slug", None, None,
                                      "De korte naam %(slug)s is al in gebruik.", slug=slug))
    if session.scalar(sa.select(Tenant.id).where(Tenant.cbs_code == application.cbs_code)) is not None:
        problems.append(violation("already_member", "cbs_code", None, None,
                                  "Gemeente %(name)s is al lid van de NVSI.", name=application.municipality_name))
    if problems:
        raise ApplicationRefused(problems)

    def taken(_exc):
        return ApplicationRefused([violation("already_member", "cbs_code", None, None,
                                             "Gemeente %(name)s is al lid van de NVSI.",
                                             name=application.municipality_name)])

    now = utcnow()
    with savepoint(session, taken, chain=False):
        tenant = tenancy.register_tenant(session, slug, f"Gemeente {application.municipality_name}",
                                         application.cbs_code)
        application.status = ApplicationStatus.APPROVED
        application.decided_at, application.decided_by_user_id = now, admin.id
        application.tenant_id = tenant.id
        for acceptance in application.acceptances:
            acceptance.tenant_id = tenant.id
        job = ProvisioningJob(application_id=application.id, tenant_id=tenant.id, slug=slug,
                              status=JobStatus.PENDING, attempts=0, link_base_url=link_base_url)
        job.steps = [ProvisioningStep(key=key, position=i, state=StepState.PENDING) for i, key in enumerate(STEPS)]
        job.steps[0].state, job.steps[0].started_at, job.steps[0].finished_at = StepState.DONE, now, now
        session.add(job)
    record(session, "application.approved", tenant_id=tenant.id, object_type="application",
           object_id=application.id, changes={"cbs_code": application.cbs_code, "slug": slug}, actor=admin)
    record(session, "tenant.registered", tenant_id=tenant.id, object_type="tenant", object_id=tenant.id,
           changes={"slug": slug, "name": tenant.name, "cbs_code": tenant.cbs_code,
                    "application_id": application.id,
                    "accepted": {a.text.kind.value: a.text.version for a in application.acceptances}},
           actor=admin)
    return job


def reject_application(session: Session, application: MembershipApplication, admin: User, reason: str) -> None:
    """Reject an open application with a reason (mailed by the caller after the commit)."""
    if application.status not in OPEN_STATUSES:
        raise _closed(application)
    application.status = ApplicationStatus.REJECTED
    application.rejection_reason = reason
    application.decided_at, application.decided_by_user_id = utcnow(), admin.id
    session.flush()
    record(session, "application.rejected", object_type="application", object_id=application.id,
           changes={"cbs_code": application.cbs_code, "reason": reason}, actor=admin)


def client_address() -> str:
    """The client's address for throttling (behind ProxyFix: the forwarded one)."""
    return request.remote_addr or "-"


# -- the guided local-framework set-up (tenants/frameworks/setup_views.py) -----------------------------

#: The steps of the guided set-up, in order.
SETUP_STEPS = ("values", "arrangements", "guidance", "settings")


def setup_progress(session: Session, tenant_id: int) -> dict[str, FrameworkSetupStep]:
    """The steps of the guided set-up a tenant has saved, by step."""
    rows = session.scalars(sa.select(FrameworkSetupStep).where(FrameworkSetupStep.tenant_id == tenant_id))
    return {row.step: row for row in rows}


def mark_setup_step(session: Session, tenant_id: int, step: str, user_id: int | None) -> FrameworkSetupStep:
    """Record that ``step`` was saved (again) now, by ``user_id``."""
    if step not in SETUP_STEPS:
        raise ValueError(f"unknown set-up step {step!r}")
    row = setup_progress(session, tenant_id).get(step)
    if row is None:
        try:
            with savepoint(session):
                row = FrameworkSetupStep(tenant_id=tenant_id, step=step, completed_by_user_id=user_id)
                session.add(row)
        except sa.exc.IntegrityError:  # saved at the same moment in another request
            row = setup_progress(session, tenant_id)[step]
    row.completed_at, row.completed_by_user_id = utcnow(), user_id
    session.flush()
    return row
