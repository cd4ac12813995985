"""marshmallow schemas for assignments."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, post_load, validates

from nvsi.schemas import Args, LocalDecimal


class AssignmentArgs(Args):
    """A new assignment. ``hourly_rate`` in euros with at most two decimals ("12.30")."""

    employer_id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(load_default="")
    hours_per_week = LocalDecimal(required=True, places=None)
    hourly_rate = LocalDecimal(required=True, places=None)
    location = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(load_default=None, allow_none=True)
    displacement_declared_by = fields.String(required=True)

    @validates("title")
    def _title(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul een titel in van ten hoogste 200 tekens."))

    @validates("location")
    def _location(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul een locatie in van ten hoogste 200 tekens."))

    @validates("hours_per_week")
    def _hours(self, value, **kwargs):
        if not Decimal("0") < value <= Decimal("60") or value != value.quantize(Decimal("0.01")):
            raise ValidationError(_("Uren per week: meer dan 0, ten hoogste 60, met ten hoogste 2 decimalen."))

    @validates("hourly_rate")
    def _rate(self, value, **kwargs):
        if value <= 0 or value != value.quantize(Decimal("0.01")):
            raise ValidationError(_("Een uurtarief in euro's met ten hoogste 2 decimalen, bijvoorbeeld 12,30."))

    @validates("displacement_declared_by")
    def _declared(self, value, **kwargs):
        if not 2 <= len(value) <= 200:
            raise ValidationError(
                _("Vul in wie namens de opdrachtgever verklaart dat het werk geen regulier werk verdringt.")
            )

    @post_load
    def _cents(self, data, **kwargs):
        data["hourly_rate_cents"] = int(data.pop("hourly_rate") * 100)
        return data


class AssignmentSchema(Args):
    id = fields.Integer()
    employer_id = fields.Integer()
    employer_name = fields.Function(lambda a: a.employer.name)
    title = fields.String()
    description = fields.String()
    hours_per_week = fields.Decimal(as_string=True)
    hourly_rate = fields.Function(lambda a: f"{a.hourly_rate_cents // 100}.{a.hourly_rate_cents % 100:02d}")
    location = fields.String()
    start_date = fields.Date()
    end_date = fields.Date(allow_none=True)
    displacement_declared_by = fields.String()
    displacement_declared_at = fields.AwareDateTime()
