"""Employers (opdrachtgevers).

Revision ID: b7e2d9a41c01
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e2d9a41c01"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "employers",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kvk_number", sa.String(8), nullable=False),
        sa.Column("vat_id", sa.String(14), nullable=True),
        sa.Column("street_address", sa.String(200), nullable=False),
        sa.Column("postal_code", sa.String(7), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("archived_at", NOW_TZ, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employers")),
        sa.CheckConstraint("length(kvk_number) = 8", name=op.f("ck_employers_kvk_number_length")),
        sa.UniqueConstraint("kvk_number", name=op.f("uq_employers_kvk_number")),
    )
    op.create_index(op.f("ix_employers_name"), "employers", ["name"])


def downgrade() -> None:
    op.drop_index(op.f("ix_employers_name"), table_name="employers")
    op.drop_table("employers")
