"""Two-factor login, recovery codes, password reset and lockout.

Users get their TOTP secret (encrypted by the application: a text column here), the last time
step used, the failure counter and the lock; recovery codes and ended memberships get tables of
their own. Password reset and invitation links are signed tokens: nothing is stored for them.

Revision ID: aaf4b5a60008
Revises: a9e3a4f50007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "aaf4b5a60008"
down_revision = "a9e3a4f50007"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)

USER_COLUMNS = ("totp_secret", "totp_pending_secret", "totp_enabled_at", "totp_last_step",
                "failed_logins", "locked_until")


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_pending_secret", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_enabled_at", NOW_TZ, nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("users", sa.Column("locked_until", NOW_TZ, nullable=True))

    op.create_table(
        "ended_memberships",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("ended_at", NOW_TZ, nullable=False),
        sa.Column("ended_by_user_id", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ended_memberships")),
        sa.UniqueConstraint("user_id", "tenant_id", name=op.f("uq_ended_memberships_user_id_tenant_id")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_ended_memberships_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_ended_memberships_tenant_id_tenants"), ondelete="CASCADE"),
    )
    op.create_index(op.f("ix_ended_memberships_tenant_id"), "ended_memberships", ["tenant_id"])

    op.create_table(
        "recovery_codes",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("used_at", NOW_TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("user_id", "code_hash", name=op.f("uq_recovery_codes_user_id_code_hash")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"),
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_index(op.f("ix_ended_memberships_tenant_id"), table_name="ended_memberships")
    op.drop_table("ended_memberships")
    # Plain DROP COLUMN (SQLite 3.35+ too): no table rebuild, so no foreign key fires.
    for column in reversed(USER_COLUMNS):
        op.drop_column("users", column)
