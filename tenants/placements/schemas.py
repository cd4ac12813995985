"""marshmallow schemas for placements."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates

from nvsi.schemas import Args, LocalDecimal


class PlacementArgs(Args):
    """A new placement; ``end_date`` optional (default: the last day the rules allow)."""

    candidate_id = fields.Integer(required=True)
    assignment_id = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(load_default=None, allow_none=True)
    hours_per_week = LocalDecimal(required=True, places=None)
    goals = fields.String(load_default="")

    @validates("hours_per_week")
    def _hours(self, value, **kwargs):
        if not Decimal("0") < value <= Decimal("60") or value != value.quantize(Decimal("0.01")):
            raise ValidationError(_("Uren per week: meer dan 0, ten hoogste 60, met ten hoogste 2 decimalen."))


class EndPlacementArgs(Args):
    end_date = fields.Date(required=True)


class PlacementSchema(Args):
    id = fields.Integer()
    candidate_id = fields.Integer()
    candidate_name = fields.Function(lambda p: p.candidate.name)
    assignment_id = fields.Integer()
    assignment_title = fields.Function(lambda p: p.assignment.title)
    employer_name = fields.Function(lambda p: p.assignment.employer.name)
    start_date = fields.Date()
    end_date = fields.Date()
    hours_per_week = fields.Decimal(as_string=True)
    first_working_day = fields.Date(allow_none=True)
    goals = fields.String()
    status = fields.Function(lambda p: p.status.value)
    rules_version = fields.Integer()
