"""marshmallow schemas for the dashboard."""

from __future__ import annotations

from marshmallow import fields

from nvsi.schemas import Args


class MonthHoursSchema(Args):
    month = fields.Function(lambda m: m.month.strftime("%Y-%m"), metadata={"type": "string", "example": "2026-11"})
    hours = fields.Decimal(as_string=True)


class PoolShareSchema(Args):
    """One arrangement's part of the pool (``code`` null: candidates without an arrangement)."""

    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    candidates = fields.Integer()
    share_pct = fields.Decimal(as_string=True, allow_none=True)
    target_pct = fields.Decimal(as_string=True, allow_none=True)
    difference_pct = fields.Decimal(as_string=True, allow_none=True,
                                    metadata={"description": "Percentage points above (+) or below (-) the target"})


class EndingPlacementSchema(Args):
    id = fields.Integer()
    candidate_id = fields.Integer()
    candidate_name = fields.Function(lambda p: p.candidate.name, metadata={"type": "string"})
    assignment_title = fields.Function(lambda p: p.assignment.title, metadata={"type": "string"})
    end_date = fields.Date()
    hours_per_week = fields.Decimal(as_string=True)


class RegistrationsSchema(Args):
    start = fields.Date(attribute="half_year_start")
    end = fields.Date(attribute="half_year_end")
    count = fields.Integer(attribute="registrations")
    minimum = fields.Integer(attribute="min_registrations", allow_none=True)
    short = fields.Integer(attribute="registrations_short", allow_none=True,
                           metadata={"description": "Still needed to reach the minimum (0: reached)"})


class OutflowSchema(Args):
    left_welfare = fields.Integer()
    registered = fields.Integer(attribute="registered_total")
    rate_pct = fields.Decimal(attribute="outflow_pct", as_string=True, allow_none=True)


class DashboardSchema(Args):
    """The municipality's figures on a day (definitions: docs/reminders.md)."""

    today = fields.Date()
    active_placements = fields.Integer()
    hours_this_month = fields.Decimal(as_string=True, metadata={"description": "Approved hours only"})
    hours_by_month = fields.List(fields.Nested(MonthHoursSchema))
    pool_total = fields.Integer()
    pool = fields.List(fields.Nested(PoolShareSchema))
    registrations = fields.Function(lambda d: RegistrationsSchema().dump(d),
                                    metadata={"type": "object"})
    outflow = fields.Function(lambda d: OutflowSchema().dump(d), metadata={"type": "object"})
    ending_soon_days = fields.Integer()
    ending_soon = fields.List(fields.Nested(EndingPlacementSchema))
    unread_reminders = fields.Integer()
