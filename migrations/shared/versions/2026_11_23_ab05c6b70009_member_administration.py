"""Member administration: the offboarding of a member (leaving, export, retention, schema
dropped, offboarded), one row per tenant.

The member statuses leaving and offboarded live here, not in ``tenants.status``: changing that
column's CHECK constraint on SQLite recreates ``tenants``, and dropping the old table with foreign
keys on would cascade into ``memberships`` (docs/members.md).

Revision ID: ab05c6b70009
Revises: aaf4b5a60008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "ab05c6b70009"
down_revision = "aaf4b5a60008"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
# Frozen copies of the model's check constraints (nvsi.members.models).
STEP_ORDER = "schema_dropped_at IS NULL OR (exported_at IS NOT NULL AND retain_until IS NOT NULL)"
COMPLETED_AFTER_DROP = "completed_at IS NULL OR schema_dropped_at IS NOT NULL"
ARCHIVE_RECORDED = "exported_at IS NULL OR (archive_file IS NOT NULL AND archive_sha256 IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "offboardings",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status_before", sa.String(20), nullable=False),
        sa.Column("started_at", NOW_TZ, nullable=False),
        sa.Column("started_by_user_id", BIGINT, nullable=True),
        sa.Column("exported_at", NOW_TZ, nullable=True),
        sa.Column("archive_file", sa.String(200), nullable=True),
        sa.Column("archive_sha256", sa.String(64), nullable=True),
        sa.Column("archive_bytes", BIGINT, nullable=True),
        sa.Column("archive_rows", sa.JSON(), nullable=True),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("schema_dropped_at", NOW_TZ, nullable=True),
        sa.Column("completed_at", NOW_TZ, nullable=True),
        sa.Column("archive_deleted_at", NOW_TZ, nullable=True),
        sa.CheckConstraint(STEP_ORDER, name=op.f("ck_offboardings_step_order")),
        sa.CheckConstraint(COMPLETED_AFTER_DROP, name=op.f("ck_offboardings_completed_after_drop")),
        sa.CheckConstraint(ARCHIVE_RECORDED, name=op.f("ck_offboardings_archive_recorded")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_offboardings_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offboardings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_offboardings_tenant_id")),
    )


def downgrade() -> None:
    op.drop_table("offboardings")
