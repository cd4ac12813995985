"""marshmallow schemas of the local framework."""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates

from nvsi.schemas import Args
from tenants.frameworks.models import GuidanceAnchor


class LocalValueArgs(Args):
    """A local value from a date on; an empty value means "follow the shared value again"."""

    key = fields.String(required=True)
    value = fields.Raw(load_default=None, allow_none=True)
    effective_from = fields.Date(required=True)
    note = fields.String(load_default="")


class ArrangementArgs(Args):
    code = fields.String(required=True)
    name = fields.String(required=True)
    target_share_pct = fields.Decimal(load_default=None, allow_none=True, places=2)

    @validates("code")
    def _code(self, value, **kwargs):
        if not 1 <= len(value) <= 20:
            raise ValidationError(_("Een code heeft 1 tot 20 tekens."))

    @validates("name")
    def _name(self, value, **kwargs):
        if not 1 <= len(value) <= 100:
            raise ValidationError(_("Vul een naam in van ten hoogste 100 tekens."))

    @validates("target_share_pct")
    def _share(self, value, **kwargs):
        if value is not None and not 0 <= value <= 100:
            raise ValidationError(_("Een streefpercentage ligt tussen 0 en 100."))


class ArrangementsArgs(Args):
    arrangements = fields.List(fields.Nested(ArrangementArgs), required=True)


class GuidanceStepArgs(Args):
    name = fields.String(required=True)
    anchor = fields.String(required=True)
    offset_days = fields.Integer(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not 1 <= len(value) <= 100:
            raise ValidationError(_("Vul een naam in van ten hoogste 100 tekens."))

    @validates("anchor")
    def _anchor(self, value, **kwargs):
        if value not in {a.value for a in GuidanceAnchor}:
            raise ValidationError(_("Kies inschrijving, start van de plaatsing of eerste werkdag."))

    @validates("offset_days")
    def _offset(self, value, **kwargs):
        if not -60 <= value <= 365:
            raise ValidationError(_("Kies een aantal dagen tussen -60 en 365."))


class GuidanceArgs(Args):
    steps = fields.List(fields.Nested(GuidanceStepArgs), required=True)


class SettingsArgs(Args):
    min_registrations_per_half_year = fields.Integer(allow_none=True)
    reminder_recipients = fields.Raw()
    version = fields.Integer(required=True)

    @validates("min_registrations_per_half_year")
    def _minimum(self, value, **kwargs):
        if value is not None and not 0 <= value <= 10000:
            raise ValidationError(_("Kies een aantal tussen 0 en 10000."))


class LocalValueSchema(Args):
    key = fields.String()
    value = fields.Decimal(as_string=True, allow_none=True)
    effective_from = fields.Date()
    note = fields.String()
    created_at = fields.AwareDateTime()


class ArrangementSchema(Args):
    code = fields.String()
    name = fields.String()
    target_share_pct = fields.Decimal(as_string=True, allow_none=True)
    active = fields.Boolean()


class GuidanceStepSchema(Args):
    name = fields.String()
    anchor = fields.Function(lambda s: s.anchor.value)
    offset_days = fields.Integer()


class SettingsSchema(Args):
    min_registrations_per_half_year = fields.Integer(allow_none=True)
    reminder_recipients = fields.Function(lambda s: [e for e in s.reminder_recipients.split("\n") if e])
    version = fields.Integer()
    updated_at = fields.AwareDateTime()


