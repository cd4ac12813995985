"""marshmallow schemas for reminders."""

from __future__ import annotations

from marshmallow import fields

from nvsi.schemas import Args, PageArgs


class ReminderListArgs(PageArgs):
    """Filters of the inbox."""

    unread = fields.Boolean(load_default=False, metadata={"description": "Only the unread reminders"})


class ReminderSchema(Args):
    """A reminder as the API shows it (the mail's text included)."""

    id = fields.Integer()
    kind = fields.Function(lambda r: r.kind.value, metadata={
        "type": "string", "enum": ["end_of_placement", "long_hours", "wsp_referral", "guidance_overdue"]})
    subject_id = fields.Integer(metadata={"description": "Placement, candidate or guidance moment, per kind"})
    placement_id = fields.Integer(allow_none=True)
    candidate_id = fields.Integer(allow_none=True)
    due_on = fields.Date()
    created_at = fields.AwareDateTime()
    recipients = fields.Function(lambda r: r.recipient_list, metadata={"type": "array", "items": {"type": "string"}})
    subject = fields.String()
    body = fields.String()
    sent_at = fields.AwareDateTime(allow_none=True)
    sent_via = fields.String(allow_none=True)
    send_attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    read_at = fields.AwareDateTime(allow_none=True)
    read_by_user_id = fields.Integer(allow_none=True)


class ReminderPageSchema(Args):
    """A page of reminders, with the number unread."""

    items = fields.List(fields.Nested(ReminderSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    unread = fields.Integer()
