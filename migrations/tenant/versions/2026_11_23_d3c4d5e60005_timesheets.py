"""Timesheets and their approval by the employer: submissions (batches) and entries per day;
triggers that refuse any change to an approved entry.

Revision ID: d3c4d5e60005
Revises: d2b3c4d50004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "d3c4d5e60005"
down_revision = "d2b3c4d50004"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
OPEN_WHERE = "status = 'submitted'"
APPROVED_WHERE = "status = 'approved'"


def _approved_frozen_ddl(dialect):
    """Frozen copy of tenants.timesheets.models.approved_frozen_ddl (runs inside the tenant's schema)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION nvsi_approved_entry_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'approved timesheet entries cannot be changed: % refused', TG_OP; END $$",
            'CREATE TRIGGER timesheet_entries_approved_frozen BEFORE UPDATE OR DELETE ON "timesheet_entries" '
            "FOR EACH ROW WHEN (OLD.status = 'approved') EXECUTE FUNCTION nvsi_approved_entry_frozen()",
            'CREATE TRIGGER timesheet_entries_no_truncate BEFORE TRUNCATE ON "timesheet_entries" '
            "FOR EACH STATEMENT EXECUTE FUNCTION nvsi_approved_entry_frozen()",
        ]
    return [
        "CREATE TRIGGER timesheet_entries_approved_no_update BEFORE UPDATE ON timesheet_entries "
        "FOR EACH ROW WHEN OLD.status = 'approved' "
        "BEGIN SELECT RAISE(ABORT, 'approved timesheet entries cannot be changed: UPDATE refused'); END",
        "CREATE TRIGGER timesheet_entries_approved_no_delete BEFORE DELETE ON timesheet_entries "
        "FOR EACH ROW WHEN OLD.status = 'approved' "
        "BEGIN SELECT RAISE(ABORT, 'approved timesheet entries cannot be changed: DELETE refused'); END",
    ]


def upgrade() -> None:
    op.create_table(
        "timesheet_batches",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column("submitted_by_user_id", BIGINT, nullable=True),
        sa.Column("submitted_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timesheet_batches")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_timesheet_batches_placement_id_placements")),
    )
    op.create_index(op.f("ix_timesheet_batches_placement_id"), "timesheet_batches", ["placement_id"])
    op.create_table(
        "timesheet_entries",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column("batch_id", BIGINT, nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(4, 2), nullable=False),
        sa.Column(
            "status",
            sa.Enum("submitted", "approved", "rejected", "superseded", name="timesheet_entry_status",
                    native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("corrects_entry_id", BIGINT, nullable=True),
        sa.Column("entered_by_user_id", BIGINT, nullable=True),
        sa.Column("entered_at", NOW_TZ, nullable=False),
        sa.Column("decided_at", NOW_TZ, nullable=True),
        sa.Column("decided_by", sa.String(500), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("counter_hours", sa.Numeric(4, 2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timesheet_entries")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_timesheet_entries_placement_id_placements")),
        sa.ForeignKeyConstraint(["batch_id"], ["timesheet_batches.id"],
                                name=op.f("fk_timesheet_entries_batch_id_timesheet_batches")),
        sa.ForeignKeyConstraint(["corrects_entry_id"], ["timesheet_entries.id"],
                                name=op.f("fk_timesheet_entries_corrects_entry_id_timesheet_entries")),
        sa.CheckConstraint("hours >= 0 AND hours <= 24", name=op.f("ck_timesheet_entries_hours_range")),
        sa.CheckConstraint("hours > 0 OR corrects_entry_id IS NOT NULL",
                           name=op.f("ck_timesheet_entries_hours_positive")),
        sa.CheckConstraint("counter_hours IS NULL OR (counter_hours >= 0 AND counter_hours <= 24)",
                           name=op.f("ck_timesheet_entries_counter_range")),
        sa.CheckConstraint("status IN ('submitted', 'superseded') OR decided_at IS NOT NULL",
                           name=op.f("ck_timesheet_entries_decided")),
    )
    op.create_index(op.f("ix_timesheet_entries_batch_id"), "timesheet_entries", ["batch_id"])
    op.create_index(op.f("ix_timesheet_entries_placement_id_work_date"), "timesheet_entries",
                    ["placement_id", "work_date"])
    op.create_index(op.f("uq_timesheet_entries_open_day"), "timesheet_entries", ["placement_id", "work_date"],
                    unique=True, postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE))
    op.create_index(op.f("uq_timesheet_entries_approved_correction"), "timesheet_entries", ["corrects_entry_id"],
                    unique=True, postgresql_where=sa.text(APPROVED_WHERE), sqlite_where=sa.text(APPROVED_WHERE))
    for statement in _approved_frozen_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers; the function is the schema's own.
    op.drop_index(op.f("uq_timesheet_entries_approved_correction"), table_name="timesheet_entries")
    op.drop_index(op.f("uq_timesheet_entries_open_day"), table_name="timesheet_entries")
    op.drop_index(op.f("ix_timesheet_entries_placement_id_work_date"), table_name="timesheet_entries")
    op.drop_index(op.f("ix_timesheet_entries_batch_id"), table_name="timesheet_entries")
    op.drop_table("timesheet_entries")
    op.drop_index(op.f("ix_timesheet_batches_placement_id"), table_name="timesheet_batches")
    op.drop_table("timesheet_batches")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS nvsi_approved_entry_frozen()")
