"""The offboarding of a member: the leaving/offboarded life cycle, one row per tenant.

Why a table of its own and not two more values of ``tenants.status``: that column is a
non-native enum with a CHECK constraint. Changing the constraint on SQLite means recreating the
``tenants`` table, and with ``PRAGMA foreign_keys=ON`` dropping the old table cascades into
``memberships`` (and is refused by the ledger's foreign keys). The offboarding row carries the
steps instead; while it exists the tenant's status is ``suspended`` (read-only), and the member
status shown (leaving, offboarded) is derived from both (docs/members.md).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, SharedBase, UTCDateTime, utcnow
from nvsi.tenancy.models import Tenant

#: The steps happen in this order; the database refuses a later one without the earlier.
STEP_ORDER = (
    "schema_dropped_at IS NULL OR (exported_at IS NOT NULL AND retain_until IS NOT NULL)"
)
COMPLETED_AFTER_DROP = "completed_at IS NULL OR schema_dropped_at IS NOT NULL"
ARCHIVE_RECORDED = "exported_at IS NULL OR (archive_file IS NOT NULL AND archive_sha256 IS NOT NULL)"


class Offboarding(SharedBase):
    """A member leaving the association: resumable steps, each recorded with its moment.

    1. started (the member is *leaving*, its tenant read-only); 2. exported (the archive of every
    tenant table and document); 3. retention set (``retain_until``); 4. schema dropped;
    5. completed (*offboarded*: memberships ended). The archive file is deleted once
    ``retain_until`` has passed (``archive_deleted_at``)."""

    __tablename__ = "offboardings"

    id: Mapped[BigIntPK]
    #: The member. The tenant row stays after offboarding: the ledger and the audit log refer to it.
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), unique=True)
    #: Why the member leaves (shown to NVSI administrators).
    reason: Mapped[str] = mapped_column(sa.Text)
    #: The tenant's status before the offboarding started; restored if it is cancelled.
    status_before: Mapped[str] = mapped_column(sa.String(20))
    #: Step 1: when the offboarding started (the member is *leaving* from then on).
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who started it (user id).
    started_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: Step 2: when the archive was written.
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The archive's file name in the archive folder (encrypted zip), no personal data in it.
    archive_file: Mapped[str | None] = mapped_column(sa.String(200))
    #: SHA-256 of the (encrypted) archive file: checked before the schema is dropped.
    archive_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: Size of the archive file in bytes.
    archive_bytes: Mapped[int | None] = mapped_column(BigIntType)
    #: Rows per tenant table in the archive, ``{table: count}`` (copied from its manifest).
    archive_rows: Mapped[dict | None] = mapped_column(sa.JSON)
    #: Step 3: until when the archive (with the financial records) is kept: 7 years.
    retain_until: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: Step 4: when the tenant's schema (PostgreSQL) or file (SQLite) was removed.
    schema_dropped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Step 5: when the member was offboarded (memberships ended).
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the archive file was deleted after ``retain_until``.
    archive_deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(STEP_ORDER, name="step_order"),
        sa.CheckConstraint(COMPLETED_AFTER_DROP, name="completed_after_drop"),
        sa.CheckConstraint(ARCHIVE_RECORDED, name="archive_recorded"),
    )

    @property
    def next_step(self) -> str | None:
        """The step still to do: export, retention, drop_schema, complete; None when done."""
        if self.exported_at is None:
            return "export"
        if self.retain_until is None:
            return "retention"
        if self.schema_dropped_at is None:
            return "drop_schema"
        if self.completed_at is None:
            return "complete"
        return None
