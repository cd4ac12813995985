"""marshmallow schemas of the member administration. The same ``…Args`` check the API and the
pages; the output shows no personal data (names of municipalities, counts and dates only)."""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validates

from nvsi.schemas import Args

#: Longest reason for a suspension, reinstatement or offboarding.
MAX_REASON = 2000


class ReasonArgs(Args):
    """A reason, required: suspending, reinstating, starting or cancelling an offboarding."""

    reason = fields.String(required=True)

    @validates("reason")
    def _reason(self, value, **kwargs):
        if not value:
            raise ValidationError(_("Vul een reden in."))
        if len(value) > MAX_REASON:
            raise ValidationError(_("Ten hoogste %(max)s tekens.", max=MAX_REASON))


class StepArgs(Args):
    """One offboarding step to run; ``confirm`` (the member's slug) for dropping the schema."""

    step = fields.String(required=True)
    confirm = fields.String(load_default="")

    @validates("step")
    def _step(self, value, **kwargs):
        from nvsi.members.services import STEPS

        if value not in STEPS:
            raise ValidationError(_("Kies een van: %(steps)s.", steps=", ".join(STEPS)))


class OffboardingSchema(Schema):
    """An offboarding's steps and archive (NVSI administrators)."""

    reason = fields.String()
    started_at = fields.DateTime()
    exported_at = fields.DateTime(allow_none=True)
    archive_bytes = fields.Integer(allow_none=True)
    archive_sha256 = fields.String(allow_none=True)
    archive_rows = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    retain_until = fields.Date(allow_none=True)
    schema_dropped_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    archive_deleted_at = fields.DateTime(allow_none=True)
    next_step = fields.String(allow_none=True, metadata={"description": "export, retention, drop_schema, "
                                                                        "complete; null when done"})


class KeyFiguresSchema(Schema):
    """A member's key figures; null where its schema does not exist (provisioning, offboarded)."""

    users = fields.Integer()
    candidates = fields.Integer(allow_none=True)
    active_placements = fields.Integer(allow_none=True)
    approved_hours = fields.Decimal(as_string=True, allow_none=True,
                                    metadata={"description": "Approved hours this calendar year"})
    invoiced_revenue_cents = fields.Integer(allow_none=True,
                                            metadata={"description": "Not available yet (ledger): null"})


class MemberSchema(Schema):
    """A member municipality with its status."""

    slug = fields.Function(lambda m: m.tenant.slug)
    name = fields.Function(lambda m: m.tenant.name)
    cbs_code = fields.Function(lambda m: m.tenant.cbs_code)
    status = fields.Function(lambda m: m.status.value, metadata={
        "description": "applicant, provisioning, active, suspended, leaving, offboarded"})
    joined_at = fields.Function(lambda m: m.tenant.created_at.isoformat())
    offboarding = fields.Function(lambda m: OffboardingSchema().dump(m.offboarding) if m.offboarding else None)


class MemberWithFiguresSchema(MemberSchema):
    """A member and its key figures (the overview, and one member's page)."""

    figures = fields.Nested(KeyFiguresSchema, allow_none=True)


class ApplicantSchema(Schema):
    """A sign-up waiting for approval."""

    name = fields.String()
    cbs_code = fields.String()
    applied_at = fields.DateTime()
    verified = fields.Boolean(metadata={"description": "The contact's e-mail address was verified"})
    status = fields.Constant("applicant")


class MemberListSchema(Schema):
    """The members overview."""

    year = fields.Integer(metadata={"description": "The calendar year of approved_hours"})
    items = fields.List(fields.Nested(MemberWithFiguresSchema))
    applicants = fields.List(fields.Nested(ApplicantSchema))
