"""Candidates, assignments and placements.

Revision ID: d1a2b3c40003
Revises: c8f1a2b30002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "d1a2b3c40003"
down_revision = "c8f1a2b30002"
branch_labels = None
depends_on = None


BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("bsn", sa.Text(), nullable=False),
        sa.Column("bsn_hash", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(30), nullable=True),
        sa.Column("iban", sa.Text(), nullable=True),
        sa.Column("arrangement_id", BIGINT, nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("consent_at", NOW_TZ, nullable=False),
        sa.Column("consent_recorded_by", BIGINT, nullable=True),
        sa.Column("work_preferences", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("registered", "placed", "referred_wsp", "left_welfare", name="candidate_status",
                    native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("left_reason", sa.String(200), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("bsn_hash", name=op.f("uq_candidates_bsn_hash")),
        sa.ForeignKeyConstraint(["arrangement_id"], ["arrangements.id"],
                                name=op.f("fk_candidates_arrangement_id_arrangements")),
    )
    op.create_index(op.f("ix_candidates_last_name"), "candidates", ["last_name"])
    op.create_table(
        "assignments",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("employer_id", BIGINT, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hours_per_week", sa.Numeric(5, 2), nullable=False),
        sa.Column("hourly_rate_cents", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("displacement_declared_by", sa.String(200), nullable=False),
        sa.Column("displacement_declared_at", NOW_TZ, nullable=False),
        sa.Column("displacement_recorded_by", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.ForeignKeyConstraint(["employer_id"], ["employers.id"], name=op.f("fk_assignments_employer_id_employers")),
        sa.CheckConstraint("hours_per_week > 0", name=op.f("ck_assignments_hours_positive")),
        sa.CheckConstraint("hourly_rate_cents > 0", name=op.f("ck_assignments_rate_positive")),
    )
    op.create_index(op.f("ix_assignments_employer_id"), "assignments", ["employer_id"])
    op.create_table(
        "placements",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("assignment_id", BIGINT, nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("hours_per_week", sa.Numeric(5, 2), nullable=False),
        sa.Column("first_working_day", sa.Date(), nullable=True),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "ended", "cancelled", name="placement_status", native_enum=False,
                    create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"], name=op.f("fk_placements_candidate_id_candidates")),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"],
                                name=op.f("fk_placements_assignment_id_assignments")),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_placements_end_after_start")),
        sa.CheckConstraint("hours_per_week > 0", name=op.f("ck_placements_hours_positive")),
    )
    op.create_index(op.f("ix_placements_candidate_id"), "placements", ["candidate_id"])
    op.create_index(op.f("ix_placements_assignment_id"), "placements", ["assignment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_placements_assignment_id"), table_name="placements")
    op.drop_index(op.f("ix_placements_candidate_id"), table_name="placements")
    op.drop_table("placements")
    op.drop_index(op.f("ix_assignments_employer_id"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_index(op.f("ix_candidates_last_name"), table_name="candidates")
    op.drop_table("candidates")
