"""marshmallow schemas for timesheets. The hours' rules (0–24, two decimals, within the
placement) live in the services, so the API and the week page refuse alike."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from nvsi.schemas import Args

_NUMBER = {"invalid": _l("Moet een getal zijn, bijvoorbeeld 7.5."),
           "special": _l("Moet een getal zijn, bijvoorbeeld 7.5.")}
_DATE = {"invalid": _l("Moet een datum zijn (JJJJ-MM-DD).")}


class TimesheetLineArgs(Args):
    """The hours of one day."""

    work_date = fields.Date(required=True, error_messages=_DATE)
    hours = fields.Decimal(required=True, places=None, error_messages=_NUMBER)


class TimesheetArgs(Args):
    """Hours to send for approval (one submission); at most two months of days at once."""

    entries = fields.List(fields.Nested(TimesheetLineArgs), required=True,
                          validate=validate.Length(min=1, max=62, error=_l("Geef 1 tot 62 dagen op.")))


class TimesheetQueryArgs(Args):
    """Which days of a placement's hours to list (inclusive; default: all)."""

    from_ = fields.Date(data_key="from", load_default=None, error_messages=_DATE)
    to = fields.Date(load_default=None, error_messages=_DATE)


class TimesheetEntrySchema(Args):
    """One day's hours and the employer's decision."""

    id = fields.Integer()
    placement_id = fields.Integer()
    batch_id = fields.Integer()
    work_date = fields.Date()
    hours = fields.Decimal(as_string=True)
    status = fields.Function(lambda e: e.status.value, metadata={
        "enum": ["submitted", "approved", "rejected", "superseded"]})
    corrects_entry_id = fields.Integer(allow_none=True)
    entered_by_user_id = fields.Integer(allow_none=True)
    entered_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    counter_hours = fields.Decimal(as_string=True, allow_none=True)


class TimesheetBatchSchema(Args):
    """One submission and its entries."""

    id = fields.Integer()
    placement_id = fields.Integer()
    submitted_by_user_id = fields.Integer(allow_none=True)
    submitted_at = fields.AwareDateTime()
    entries = fields.List(fields.Nested(TimesheetEntrySchema))


class MailDeliverySchema(Args):
    """What became of the approval e-mail (``via: log``: the platform sends no mail)."""

    sent = fields.Boolean()
    via = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class ApprovalMessageSchema(Args):
    """A new approval link, the e-mail that asks the employer to decide, and its delivery."""

    to = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String()
    expires_at = fields.AwareDateTime()
    mail = fields.Nested(MailDeliverySchema, allow_none=True)


class TimesheetSubmissionSchema(Args):
    """The result of entering hours: the submission and its approval request (both null when
    nothing changed)."""

    batch = fields.Nested(TimesheetBatchSchema, allow_none=True)
    approval = fields.Nested(ApprovalMessageSchema, allow_none=True)


class TimesheetWeekSchema(Args):
    """The hours of one week (Monday to Sunday)."""

    week_start = fields.Date(attribute="monday")
    approved_hours = fields.Decimal(as_string=True, attribute="approved")
    submitted_hours = fields.Decimal(as_string=True, attribute="submitted")
    rejected_days = fields.Integer(attribute="rejected")


class TimesheetOverviewSchema(Args):
    """A placement's hours: the approved total, per week, and every entry (history included)."""

    placement_id = fields.Integer()
    approved_hours = fields.Decimal(as_string=True)
    first_working_day = fields.Date(allow_none=True)
    weeks = fields.List(fields.Nested(TimesheetWeekSchema))
    entries = fields.List(fields.Nested(TimesheetEntrySchema))
