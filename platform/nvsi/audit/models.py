"""The audit log's one table, in the shared schema. Append-only: the database refuses UPDATE,
DELETE and TRUNCATE (``nvsi.db.append_only``)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, BigIntType, SharedBase, UTCDateTime, append_only, utcnow


class AuditEvent(SharedBase):
    """One thing a person (or the system) did. Personal data in ``changes`` is masked before it
    is written (:func:`nvsi.audit.services.record`)."""

    __tablename__ = "audit_events"

    id: Mapped[BigIntPK]
    #: When it happened.
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: Who did it; None for the system (a job, a command, a webhook). No foreign key: the row
    #: outlives the account.
    actor_user_id: Mapped[int | None] = mapped_column(BigIntType, index=True)
    #: The actor as shown then (e-mail address, or "system:<job>").
    actor_label: Mapped[str] = mapped_column(sa.String(254))
    #: The tenant it concerns, if any. No foreign key: the row outlives an offboarded tenant.
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, index=True)
    #: What happened, as ``<domain>.<verb>``, e.g. ``tenant.approved`` or ``user.invited``.
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    #: The kind of object it happened to, e.g. ``tenant``, ``user``, ``invoice``.
    object_type: Mapped[str | None] = mapped_column(sa.String(60))
    #: That object's id (text: some ids are not numbers).
    object_id: Mapped[str | None] = mapped_column(sa.String(80))
    #: What changed: ``{field: [old, new]}`` or ``{field: value}``, personal data masked.
    changes: Mapped[dict | None] = mapped_column(sa.JSON)
    #: The request it came from (X-Request-ID), to find the matching log lines.
    request_id: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index(None, "tenant_id", "occurred_at"),)


append_only(AuditEvent.__table__)
