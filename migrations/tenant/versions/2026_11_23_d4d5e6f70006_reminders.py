"""Reminders (piepsysteem) and the inbox: one row per (kind, subject, due day), which records
whether and when it was mailed and whether it was read.

Revision ID: d4d5e6f70006
Revises: d3c4d5e60005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "d4d5e6f70006"
down_revision = "d3c4d5e60005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("end_of_placement", "long_hours", "wsp_referral", "guidance_overdue", name="reminder_kind",
                    native_enum=False, create_constraint=True, length=30),
            nullable=False,
        ),
        sa.Column("subject_id", BIGINT, nullable=False),
        sa.Column("placement_id", BIGINT, nullable=True),
        sa.Column("candidate_id", BIGINT, nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", NOW_TZ, nullable=True),
        sa.Column("sent_via", sa.String(10), nullable=True),
        sa.Column("send_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("read_at", NOW_TZ, nullable=True),
        sa.Column("read_by_user_id", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_reminders_placement_id_placements")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_reminders_candidate_id_candidates")),
        sa.UniqueConstraint("kind", "subject_id", "due_on", name=op.f("uq_reminders_kind_subject_id_due_on")),
        sa.CheckConstraint("sent_at IS NULL OR sent_via IS NOT NULL", name=op.f("ck_reminders_sent_via_when_sent")),
    )
    op.create_index(op.f("ix_reminders_placement_id"), "reminders", ["placement_id"])
    op.create_index(op.f("ix_reminders_candidate_id"), "reminders", ["candidate_id"])
    op.create_index(op.f("ix_reminders_due_on"), "reminders", ["due_on"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reminders_due_on"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_candidate_id"), table_name="reminders")
    op.drop_index(op.f("ix_reminders_placement_id"), table_name="reminders")
    op.drop_table("reminders")
