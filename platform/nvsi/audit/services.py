"""Writing and reading the audit log.

Every service that changes something an administrator may later ask about ("who approved this
member?", "who deactivated this user?") calls :func:`record` in the same transaction as the
change: the change and its audit row commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import Session

from nvsi.audit.models import AuditEvent
from nvsi.crypto import mask

#: Field names whose values are personal data: always masked in ``changes``.
PERSONAL_FIELDS = frozenset({
    "bsn", "iban", "password", "password_hash", "totp_secret", "recovery_codes", "token",
    "phone", "date_of_birth", "birth_date",
})


def _masked(field: str, value):
    if field.lower() not in PERSONAL_FIELDS or value is None:
        return value
    if isinstance(value, list | tuple):  # [old, new]
        return [None if v is None else mask(str(v)) for v in value]
    return mask(str(value))


def _plain(value):
    """JSON-safe form of a value (dates, decimals, enums as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)  # dates, decimals


def mask_changes(changes: Mapping | None, personal: Iterable[str] = ()) -> dict | None:
    """``changes`` with every personal field (:data:`PERSONAL_FIELDS` plus ``personal``) masked."""
    if changes is None:
        return None
    extra = {p.lower() for p in personal}
    out = {}
    for field, value in changes.items():
        value = _plain(value)
        if field.lower() in extra:
            value = [None if v is None else mask(str(v)) for v in value] if isinstance(value, list) \
                else (None if value is None else mask(str(value)))
        out[field] = _masked(field, value)
    return out


def _current_actor():
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


def record(
    session: Session,
    action: str,
    *,
    tenant_id: int | None = None,
    object_type: str | None = None,
    object_id: object = None,
    changes: Mapping | None = None,
    personal: Iterable[str] = (),
    actor=None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Add an audit row for ``action`` to ``session`` (flushed, committed with the change).

    ``actor`` defaults to the logged-in user of the request; outside a request (a job, the
    command line) pass ``actor_label`` such as ``"system:invoice-run"``.
    """
    actor = actor if actor is not None else _current_actor()
    event = AuditEvent(
        actor_user_id=getattr(actor, "id", None),
        actor_label=(actor.email if actor is not None else (actor_label or "system")),
        tenant_id=tenant_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        changes=mask_changes(changes, personal),
        request_id=g.get("request_id") if has_request_context() else None,
    )
    session.add(event)
    session.flush()
    return event


def diff(before: Mapping, after: Mapping) -> dict:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def events(
    session: Session,
    *,
    tenant_id: int | None = None,
    all_tenants: bool = False,
    action: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Newest first. ``all_tenants`` (NVSI admins) or one ``tenant_id`` (its own admins): the
    caller decides the scope, never the request. ``action`` is a prefix (``member.``), ``actor``
    a part of the actor's label (case-insensitive), ``since``/``until`` a half-open interval;
    ``before_id`` pages back (keyset: the id of the last row of the previous page)."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if not all_tenants:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEvent.actor_label.icontains(actor, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query))
