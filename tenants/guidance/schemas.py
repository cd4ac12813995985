"""marshmallow schemas for guidance moments."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates

from nvsi.schemas import Args


class FormDate(fields.Date):
    """An ISO date, with a message a person can act on."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            raise ValidationError(_("Vul een datum in als JJJJ-MM-DD, bijvoorbeeld 2026-03-31.")) from exc


class OptionalBoolean(fields.Boolean):
    """Yes, no, or (empty) not assessed."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as exc:
            raise ValidationError(_("Kies ja, nee of niet beoordeeld.")) from exc


class OutcomeArgs(Args):
    """The outcome of a guidance moment."""

    done_on = FormDate(required=True, metadata={"description": "The day it took place (not in the future)"})
    outcome = fields.String(required=True, metadata={"description": "What came out of it"})
    still_serves_goals = OptionalBoolean(
        load_default=None, allow_none=True,
        metadata={"description": "Does the assignment still serve the re-integration goals? null: not assessed"},
    )

    @validates("outcome")
    def _outcome(self, value, **kwargs):
        if not 1 <= len(value.strip()) <= 5000:
            raise ValidationError(_("Beschrijf de uitkomst (ten hoogste 5000 tekens)."))


class GuidanceMomentSchema(Args):
    """A guidance moment as the API shows it."""

    id = fields.Integer()
    placement_id = fields.Integer()
    name = fields.String()
    anchor = fields.Function(lambda m: m.anchor.value)
    offset_days = fields.Integer()
    planned_on = fields.Date()
    done_on = fields.Date(allow_none=True)
    outcome = fields.String()
    still_serves_goals = fields.Boolean(allow_none=True)
    recorded_by_user_id = fields.Integer(allow_none=True)
    recorded_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Function(lambda m: m.is_overdue(dt.date.today()), metadata={"type": "boolean"})


class OpenMomentSchema(GuidanceMomentSchema):
    """A moment in a tenant-wide list: with whom it is."""

    candidate_id = fields.Function(lambda m: m.placement.candidate_id)
    candidate_name = fields.Function(lambda m: m.placement.candidate.name)
