"""marshmallow schemas of the onboarding: input (``…Args``, shared by the API and the pages) and
output (the applicant sees little; NVSI administrators see the application in full)."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask import url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, pre_load, validates
from stdnum.exceptions import ValidationError as NumberInvalid
from stdnum.nl import bsn, postcode

from nvsi.onboarding.models import ApplicationStatus
from nvsi.onboarding.municipalities import CBS_CODE_RE
from nvsi.schemas import Args, OptionalText

OIN_RE = re.compile(r"^\d{20}$")
#: Government bodies: "00000001", the RSIN (9 digits, 11-test), "000" (Logius, OIN-stelsel).
GOVERNMENT_PREFIX, GOVERNMENT_SUFFIX = "00000001", "000"
PHONE_RE = re.compile(r"^\+?[0-9 ()\-]{6,25}$")


def check_oin(value: str) -> str | None:
    """Why ``value`` is not a municipality's OIN, or None if it is one."""
    if not OIN_RE.fullmatch(value):
        return _("Een OIN heeft precies 20 cijfers, bijvoorbeeld 00000001002220647000.")
    if not (value.startswith(GOVERNMENT_PREFIX) and value.endswith(GOVERNMENT_SUFFIX)):
        return _("Het OIN van een gemeente is 00000001, dan het RSIN (9 cijfers), dan 000, "
                 "bijvoorbeeld 00000001002220647000.")
    rsin = value[len(GOVERNMENT_PREFIX):-len(GOVERNMENT_SUFFIX)]
    if not bsn.is_valid(rsin):
        return _("Het RSIN in dit OIN (%(rsin)s) klopt niet: het voldoet niet aan de elfproef.", rsin=rsin)
    return None


class Email(fields.String):
    """An e-mail address, checked with email-validator (no DNS lookup) and stored lower-case."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValidationError(_("Geen geldig e-mailadres, bijvoorbeeld naam@gemeente.nl.")) from exc


class PostalCode(fields.String):
    """A Dutch postal code (python-stdnum), stored as ``1234 AB``."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return postcode.validate(text)
        except NumberInvalid as exc:
            raise ValidationError(_("Geef een Nederlandse postcode, bijvoorbeeld 2611 HB.")) from exc


def _length(value: str, low: int, high: int, message: str) -> None:
    if not low <= len(value) <= high:
        raise ValidationError(message)


class SignupArgs(Args):
    """A municipality's sign-up. ``*_version``: the version of each text the applicant accepted
    (the page's check box carries it); left out means not accepted."""

    cbs_code = fields.String(required=True, metadata={"example": "GM0503"})
    oin = fields.String(required=True, metadata={"example": "00000001002220647000"})
    contact_name = fields.String(required=True)
    contact_email = Email(required=True, metadata={"format": "email"})
    contact_phone = OptionalText(load_default=None, allow_none=True)
    billing_email = Email(required=True, metadata={"format": "email"})
    invoice_address = fields.String(required=True)
    postal_code = PostalCode(required=True, metadata={"example": "2611 HB"})
    city = fields.String(required=True)
    billing_reference = OptionalText(load_default=None, allow_none=True)
    user_agreement_version = fields.Integer(load_default=None, allow_none=True)
    membership_terms_version = fields.Integer(load_default=None, allow_none=True)

    @pre_load
    def _normalise(self, data, **kwargs):
        if isinstance(data, dict):
            data = dict(data)
            for name in ("cbs_code",):
                if isinstance(data.get(name), str):
                    data[name] = data[name].strip().upper()
            if isinstance(data.get("oin"), str):
                data["oin"] = re.sub(r"[\s.]", "", data["oin"])
            for name in ("user_agreement_version", "membership_terms_version"):
                if data.get(name) == "":
                    data[name] = None
        return data

    @validates("cbs_code")
    def _cbs(self, value, **kwargs):
        if not CBS_CODE_RE.fullmatch(value):
            raise ValidationError(_("Kies een gemeente uit de lijst (een CBS-code is GM en vier cijfers)."))

    @validates("oin")
    def _oin(self, value, **kwargs):
        problem = check_oin(value)
        if problem:
            raise ValidationError(problem)

    @validates("contact_name")
    def _name(self, value, **kwargs):
        _length(value, 2, 200, _("Vul de naam van de contactpersoon in (ten hoogste 200 tekens)."))

    @validates("contact_phone")
    def _phone(self, value, **kwargs):
        if value is not None and (not PHONE_RE.fullmatch(value) or sum(c.isdigit() for c in value) < 6):
            raise ValidationError(_("Geef een telefoonnummer met cijfers, spaties, + of -, bijvoorbeeld 015 260 2222."))

    @validates("invoice_address")
    def _address(self, value, **kwargs):
        _length(value, 3, 200, _("Vul het factuuradres in: straat en huisnummer of postbus (ten hoogste 200 tekens)."))

    @validates("city")
    def _city(self, value, **kwargs):
        _length(value, 2, 100, _("Vul de plaats in (ten hoogste 100 tekens)."))

    @validates("billing_reference")
    def _reference(self, value, **kwargs):
        if value is not None:
            _length(value, 1, 100, _("Een kenmerk heeft ten hoogste 100 tekens."))


class VerifyArgs(Args):
    """The token from a verification link."""

    token = fields.String(required=True)


class ApproveArgs(Args):
    """Approval; ``slug`` (the tenant's short name in URLs) is derived from the name if left out."""

    slug = OptionalText(load_default=None, allow_none=True, metadata={"example": "delft"})


class RejectArgs(Args):
    """Rejection, with the reason the contact is mailed."""

    reason = fields.String(required=True)

    @validates("reason")
    def _reason(self, value, **kwargs):
        _length(value, 10, 2000, _("Geef een reden van 10 tot 2000 tekens; de contactpersoon krijgt die per e-mail."))


class ApplicationFilterArgs(Args):
    """Filter of the list of applications."""

    status = fields.String(load_default=None)

    @validates("status")
    def _status(self, value, **kwargs):
        if value is not None and value not in {s.value for s in ApplicationStatus}:
            raise ValidationError(_("Kies unverified, verified, approved, rejected of expired."))


# -- output ---------------------------------------------------------------------------------------------


class MunicipalitySchema(Schema):
    cbs_code = fields.String()
    name = fields.String()


class AgreementTextSchema(Schema):
    """A version of an agreement text."""

    kind = fields.Function(lambda t: t.kind.value)
    version = fields.Integer()
    title_nl = fields.String()
    title_en = fields.String()
    body_nl = fields.String()
    body_en = fields.String()
    published_at = fields.AwareDateTime()


class SignupReceiptSchema(Schema):
    """What the applicant gets back: no id, nothing they did not type."""

    status = fields.Function(lambda a: a.status.value)
    cbs_code = fields.String()
    municipality_name = fields.String()
    verification_mail_sent = fields.Boolean(attribute="mail_sent")


class AcceptanceSchema(Schema):
    kind = fields.Function(lambda a: a.text.kind.value)
    version = fields.Function(lambda a: a.text.version)
    accepted_by_name = fields.String()
    accepted_by_email = fields.String()
    accepted_at = fields.AwareDateTime()
    tenant_id = fields.Integer(allow_none=True)


class StepSchema(Schema):
    key = fields.String()
    label = fields.String()
    state = fields.Function(lambda s: s.state.value)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    detail = fields.String(allow_none=True)


class ProvisioningSchema(Schema):
    """The provisioning of an approved member: the job and each step's state."""

    status = fields.Function(lambda j: j.status.value)
    finished = fields.Function(lambda j: j.status.value in ("done", "failed"))
    attempts = fields.Integer()
    slug = fields.String()
    tenant_id = fields.Integer()
    last_error = fields.String(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime()
    steps = fields.Method("_steps")
    tenant_url = fields.Function(lambda j: url_for("tenant.dashboard", tenant_slug=j.slug)
                                 if j.status.value == "done" else None)

    def _steps(self, job):
        from nvsi.onboarding.views import step_label

        return [{**StepSchema().dump(s), "label": step_label(s.key)} for s in job.steps]


class ApplicationSchema(Schema):
    """An application as NVSI administrators see it."""

    id = fields.Integer()
    status = fields.Function(lambda a: a.status.value)
    cbs_code = fields.String()
    municipality_name = fields.String()
    oin = fields.String()
    contact_name = fields.String()
    contact_email = fields.String()
    contact_phone = fields.String(allow_none=True)
    billing_email = fields.String()
    invoice_address = fields.String()
    postal_code = fields.String()
    city = fields.String()
    billing_reference = fields.String(allow_none=True)
    submitted_at = fields.AwareDateTime()
    email_verified_at = fields.AwareDateTime(allow_none=True)
    verified_by = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    tenant_id = fields.Integer(allow_none=True)
    acceptances = fields.List(fields.Nested(AcceptanceSchema))
    provisioning = fields.Method("_job")

    def _job(self, application):
        return ProvisioningSchema().dump(application.job) if application.job is not None else None


class ApplicationSummarySchema(Schema):
    """An application in the list."""

    id = fields.Integer()
    status = fields.Function(lambda a: a.status.value)
    cbs_code = fields.String()
    municipality_name = fields.String()
    contact_name = fields.String()
    submitted_at = fields.AwareDateTime()
    email_verified_at = fields.AwareDateTime(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    tenant_id = fields.Integer(allow_none=True)


class ApplicationListSchema(Schema):
    items = fields.List(fields.Nested(ApplicationSummarySchema))
