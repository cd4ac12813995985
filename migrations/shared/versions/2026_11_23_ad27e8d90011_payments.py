"""Online payments and the bank: Stripe webhook events, bank statements and their lines.

Revision ID: ad27e8d90011
Revises: ac16d7c80010
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "ad27e8d90011"
down_revision = "ac16d7c80010"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # -- Stripe webhook events (online payments) --------------------------------------------------
    op.create_table(
        "stripe_events",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=True),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("invoice_id", BIGINT, nullable=True),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("received_at", NOW_TZ, nullable=False),
        sa.Column("processed_at", NOW_TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_stripe_events_event_id")),
    )
    op.create_index(op.f("ix_stripe_events_event_type"), "stripe_events", ["event_type"])
    op.create_index(op.f("ix_stripe_events_tenant_id"), "stripe_events", ["tenant_id"])


def downgrade() -> None:
    # -- Stripe webhook events ------------------------------------------------------------------
    op.drop_index(op.f("ix_stripe_events_tenant_id"), table_name="stripe_events")
    op.drop_index(op.f("ix_stripe_events_event_type"), table_name="stripe_events")
    op.drop_table("stripe_events")
