"""marshmallow schemas of the reports: the go/no-go period and figures, welfare exits."""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, post_load, validates

from nvsi.schemas import Args
from tenants.candidates.schemas import Day
from tenants.reports.models import ExitExtent


class GoNoGoArgs(Args):
    """The period (``from``, ``to``, ISO dates); both empty: the first six months from the
    first placement."""

    start = Day(data_key="from", load_default=None, allow_none=True)
    end = Day(data_key="to", load_default=None, allow_none=True)


class FinancialSchema(Args):
    """The municipality's result over the period, in cents (costs positive)."""

    revenue_cents = fields.Integer()
    premiums_cents = fields.Integer()
    travel_cents = fields.Integer()
    service_fee_pct = fields.Decimal(as_string=True, allow_none=True)
    service_fee_cents = fields.Integer(allow_none=True)
    contract_reference = fields.String(allow_none=True)
    contribution_pct = fields.Decimal(as_string=True)
    contribution_cents = fields.Integer()
    result_cents = fields.Integer(allow_none=True)
    cost_neutral = fields.Boolean(allow_none=True)


class MoveSchema(Args):
    from_name = fields.String(allow_none=True)
    to_name = fields.String(allow_none=True)
    candidates = fields.Integer()


class MixRowSchema(Args):
    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    candidates = fields.Integer()
    share_pct = fields.Decimal(as_string=True, allow_none=True)
    target_pct = fields.Decimal(as_string=True, allow_none=True)
    difference_pct = fields.Decimal(as_string=True, allow_none=True)


class SocialSchema(Args):
    """The social results over the period."""

    participants = fields.Integer()
    moved_3_to_1 = fields.Integer()
    moves = fields.List(fields.Nested(MoveSchema))
    exits_full = fields.Integer()
    exits_partial = fields.Integer()
    pool = fields.Integer()
    mix = fields.List(fields.Nested(MixRowSchema))
    history_since = fields.Date(allow_none=True)


class ReasonSchema(Args):
    criterion = fields.String()
    met = fields.Boolean(allow_none=True)
    code = fields.String()
    message = fields.String()


class GoNoGoSchema(Args):
    """The go/no-go report: ``go`` true, false, or null (cannot be told)."""

    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    go = fields.Boolean(allow_none=True)
    financial = fields.Nested(FinancialSchema)
    social = fields.Nested(SocialSchema)
    reasons = fields.List(fields.Nested(ReasonSchema))


class WelfareExitArgs(Args):
    """A welfare exit to record."""

    candidate_id = fields.Integer(required=True)
    exit_date = Day(required=True)
    extent = fields.String(required=True)
    note = fields.String(load_default="")

    @validates("extent")
    def _extent(self, value, **kwargs):
        if value not in {e.value for e in ExitExtent}:
            raise ValidationError(_("Kies volledig of gedeeltelijk uitgestroomd."))

    @validates("note")
    def _note(self, value, **kwargs):
        if len(value) > 300:
            raise ValidationError(_("Ten hoogste 300 tekens."))

    @post_load
    def _extent_enum(self, data, **kwargs):
        data["extent"] = ExitExtent(data["extent"])
        return data


class WelfareExitSchema(Args):
    """A recorded welfare exit."""

    id = fields.Integer()
    candidate_id = fields.Integer()
    name = fields.String(attribute="candidate.name")
    exit_date = fields.Date()
    extent = fields.Function(lambda e: e.extent.value)
    note = fields.String()
    created_at = fields.AwareDateTime()


class WelfareExitListSchema(Args):
    items = fields.List(fields.Nested(WelfareExitSchema))
