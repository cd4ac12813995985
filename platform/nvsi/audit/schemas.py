"""marshmallow schemas of the audit log: the filters (page and API) and the events as shown.

Personal data in ``changes`` was masked when the event was written; it is masked again on the
way out (:func:`nvsi.audit.services.mask_changes` is idempotent), so a field added to the list of
personal fields later is hidden in older events too.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validates, validates_schema

from nvsi.audit.services import mask_changes
from nvsi.schemas import Args, OptionalText

#: The association's clock: a date filter means a day in the Netherlands.
TIMEZONE = ZoneInfo("Europe/Amsterdam")
#: Events per page (and the most an API client may ask for).
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200


class OptionalDate(fields.Date):
    """A date where an empty string (an empty form field) means "not given"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class OptionalInteger(fields.Integer):
    """An integer where an empty string means "not given"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class AuditFilterArgs(Args):
    """Filters of a municipality's audit log (query string)."""

    action = OptionalText(load_default=None, metadata={"description": "Prefix, e.g. member. or employer.created"})
    actor = OptionalText(load_default=None, metadata={"description": "Part of the actor's e-mail address"})
    date_from = OptionalDate(load_default=None, metadata={"description": "From this day (Europe/Amsterdam)"})
    date_to = OptionalDate(load_default=None, metadata={"description": "Up to and including this day"})
    before = OptionalInteger(load_default=None, metadata={"description": "Events older than this id (paging)"})
    per_page = OptionalInteger(load_default=None)

    @validates("action", "actor")
    def _short(self, value, **kwargs):
        if value is not None and len(value) > 80:
            raise ValidationError(_("Ten hoogste %(max)s tekens.", max=80))

    @validates("per_page", "before")
    def _positive(self, value, **kwargs):
        if value is not None and value < 1:
            raise ValidationError(_("Minimaal 1."))

    @validates_schema
    def _period(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise ValidationError(_("De einddatum ligt vóór de begindatum."), "date_to")


class AdminAuditFilterArgs(AuditFilterArgs):
    """Filters of the whole audit log (NVSI administrators): also by municipality."""

    tenant = OptionalText(load_default=None, metadata={"description": "A municipality's slug"})


def period(args: dict) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The filter's days as a half-open interval of moments (start of day, Europe/Amsterdam)."""

    def start(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), TIMEZONE)

    since = start(args["date_from"]) if args.get("date_from") else None
    until = start(args["date_to"] + dt.timedelta(days=1)) if args.get("date_to") else None
    return since, until


def page_size(args: dict) -> int:
    """Events per page: the requested number, within bounds."""
    return min(args.get("per_page") or PAGE_SIZE, MAX_PAGE_SIZE)


class AuditEventSchema(Schema):
    """One event, personal data masked."""

    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String(attribute="actor_label", metadata={"description": "E-mail address, or system:<job>"})
    actor_user_id = fields.Integer(allow_none=True)
    tenant = fields.Method("_tenant", allow_none=True, metadata={"description": "The municipality's slug"})
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    changes = fields.Function(lambda e: mask_changes(e.changes), allow_none=True)
    request_id = fields.String(allow_none=True)

    def _tenant(self, event):
        slugs = getattr(self, "slugs", None) or {}
        return slugs.get(event.tenant_id)


class AuditPageSchema(Schema):
    """A page of events, newest first; ``next_before`` fetches the next (older) page."""

    items = fields.List(fields.Nested(AuditEventSchema))
    next_before = fields.Integer(allow_none=True)


def split_page(events: list, limit: int) -> tuple[list, int | None]:
    """``events`` fetched with ``limit + 1``: the page, and the cursor of the next (older) page
    (None on the last)."""
    page = events[:limit]
    return page, (page[-1].id if len(events) > limit else None)


def dump_page(events: list, limit: int, slugs: dict[int, str] | None = None) -> dict:
    """A page of events (fetched with ``limit + 1``) as JSON, with the next page's cursor."""
    page, next_before = split_page(events, limit)
    schema = AuditEventSchema(many=True)
    schema.slugs = slugs or {}
    return {"items": schema.dump(page), "next_before": next_before}
