"""Timesheets (*urenbriefjes*): hours per day per placement, and the employer's decision on them.

An approved entry is history: it is never changed or deleted. The service never does, an ORM
guard refuses it in Python, and a database trigger refuses it for any other path (a hand-typed
statement included). A correction of approved hours is a new entry that references the one it
corrects (``corrects_entry_id``); once approved it takes that entry's place in every total.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime


class EntryStatus(str, enum.Enum):
    """Where an entry stands. ``superseded``: replaced by a newer submission for the same day
    before the employer decided on it (only a submitted entry can be superseded)."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


#: The check constraints of ``timesheet_entries`` (the migration holds a frozen copy).
HOURS_RANGE = "hours >= 0 AND hours <= 24"
#: Zero hours only as a correction ("this approved day was not worked after all").
HOURS_POSITIVE = "hours > 0 OR corrects_entry_id IS NOT NULL"
COUNTER_RANGE = "counter_hours IS NULL OR (counter_hours >= 0 AND counter_hours <= 24)"
DECIDED = "status IN ('submitted', 'superseded') OR decided_at IS NOT NULL"
#: The partial unique indexes: one open entry per day, one approved correction per entry.
OPEN_WHERE = "status = 'submitted'"
APPROVED_WHERE = "status = 'approved'"


class TimesheetBatch(TenantBase):
    """One submission of hours for a placement: the unit the employer's approval link names."""

    __tablename__ = "timesheet_batches"

    id: Mapped[BigIntPK]
    #: The placement the hours are for.
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: Who submitted them (user id).
    submitted_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When they were submitted.
    submitted_at: Mapped[Created]

    placement = relationship("Placement", lazy="joined")
    entries: Mapped[list[TimesheetEntry]] = relationship(
        back_populates="batch", order_by=lambda: (TimesheetEntry.work_date, TimesheetEntry.id)
    )


class TimesheetEntry(TenantBase):
    """The hours worked on one day of a placement, as submitted, and the employer's decision."""

    __tablename__ = "timesheet_entries"

    id: Mapped[BigIntPK]
    #: The placement.
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"))
    #: The submission this entry was sent for approval in.
    batch_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("timesheet_batches.id"), index=True)
    #: The day worked.
    work_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Hours worked that day: more than 0 (0 only in a correction), at most 24, two decimals.
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(4, 2))
    #: See :class:`EntryStatus`.
    status: Mapped[EntryStatus] = mapped_column(
        sa.Enum(EntryStatus, name="timesheet_entry_status", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e]),
        default=EntryStatus.SUBMITTED,
    )
    #: The approved entry this one corrects (a correction is always a new entry).
    corrects_entry_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("timesheet_entries.id"))
    #: Who entered the hours (user id).
    entered_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When they were entered.
    entered_at: Mapped[Created]
    #: When the employer approved or rejected it.
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Who decided, as given on the approval page, with the address the link was sent to.
    decided_by: Mapped[str | None] = mapped_column(sa.String(500))
    #: The employer's reason for a rejection.
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: The hours the employer proposes instead (a rejection with a counter-proposal).
    counter_hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(4, 2))

    batch = relationship(TimesheetBatch, back_populates="entries")
    corrects = relationship("TimesheetEntry", remote_side="TimesheetEntry.id", lazy="joined", join_depth=1)

    __table_args__ = (
        sa.CheckConstraint(HOURS_RANGE, name="hours_range"),
        sa.CheckConstraint(HOURS_POSITIVE, name="hours_positive"),
        sa.CheckConstraint(COUNTER_RANGE, name="counter_range"),
        sa.CheckConstraint(DECIDED, name="decided"),
        sa.Index("ix_timesheet_entries_placement_id_work_date", "placement_id", "work_date"),
        sa.Index("uq_timesheet_entries_open_day", "placement_id", "work_date", unique=True,
                 postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE)),
        sa.Index("uq_timesheet_entries_approved_correction", "corrects_entry_id", unique=True,
                 postgresql_where=sa.text(APPROVED_WHERE), sqlite_where=sa.text(APPROVED_WHERE)),
    )


class ApprovedEntryFrozen(RuntimeError):
    """Something tried to change or delete an approved entry (a correction is a new entry)."""


@sa.event.listens_for(TimesheetEntry, "before_update")
def _refuse_update(_mapper, _connection, target: TimesheetEntry) -> None:
    history = sa.inspect(target).attrs.status.history
    before = (history.deleted or history.unchanged or [None])[0]
    if before is EntryStatus.APPROVED:
        raise ApprovedEntryFrozen(f"timesheet entry {target.id} is approved: it cannot be changed")


@sa.event.listens_for(TimesheetEntry, "before_delete")
def _refuse_delete(_mapper, _connection, target: TimesheetEntry) -> None:
    if sa.inspect(target).attrs.status.loaded_value is EntryStatus.APPROVED:
        raise ApprovedEntryFrozen(f"timesheet entry {target.id} is approved: it cannot be deleted")


def approved_frozen_ddl(dialect: str, schema: str | None) -> list[str]:
    """Triggers that make the database refuse UPDATE and DELETE of an approved entry (and
    TRUNCATE of the table on PostgreSQL). Submitted rows stay changeable: they get decided."""
    if dialect == "postgresql":
        table = f'"{schema}"."timesheet_entries"' if schema else '"timesheet_entries"'
        function = f'"{schema}".nvsi_approved_entry_frozen' if schema else "nvsi_approved_entry_frozen"
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'approved timesheet entries cannot be changed: % refused', TG_OP; END $$",
            f"CREATE TRIGGER timesheet_entries_approved_frozen BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW WHEN (OLD.status = 'approved') EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER timesheet_entries_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    prefix = f'"{schema}".' if schema else ""
    return [
        f"CREATE TRIGGER {prefix}timesheet_entries_approved_no_update BEFORE UPDATE ON timesheet_entries "
        "FOR EACH ROW WHEN OLD.status = 'approved' "
        "BEGIN SELECT RAISE(ABORT, 'approved timesheet entries cannot be changed: UPDATE refused'); END",
        f"CREATE TRIGGER {prefix}timesheet_entries_approved_no_delete BEFORE DELETE ON timesheet_entries "
        "FOR EACH ROW WHEN OLD.status = 'approved' "
        "BEGIN SELECT RAISE(ABORT, 'approved timesheet entries cannot be changed: DELETE refused'); END",
    ]


@sa.event.listens_for(TimesheetEntry.__table__, "after_create")
def _install_triggers(target, connection, **_kw):
    schema = connection.schema_for_object(target)
    for statement in approved_frozen_ddl(connection.dialect.name, schema):
        connection.execute(sa.text(statement))
