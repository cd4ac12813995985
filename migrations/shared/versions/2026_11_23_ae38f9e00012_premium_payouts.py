"""Premium payouts: SEPA credit-transfer batches per payment moment and their items.

Revision ID: ae38f9e00012
Revises: ad27e8d90011
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "ae38f9e00012"
down_revision = "ad27e8d90011"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "premium_payout_batches",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("moment", sa.String(7), nullable=False),
        sa.Column("moment_date", sa.Date(), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("status", sa.Enum("generated", "sent", "confirmed", "partly_rejected", "rejected",
                                    name="premium_payout_batch_status", native_enum=False, create_constraint=True,
                                    length=20), nullable=False),
        sa.Column("message_id", sa.String(35), nullable=False),
        sa.Column("payment_info_id", sa.String(35), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("debtor_name", sa.String(70), nullable=False),
        sa.Column("debtor_iban", sa.String(34), nullable=False),
        sa.Column("debtor_bic", sa.String(11), nullable=True),
        sa.Column("file_xml", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("generated_on", sa.Date(), nullable=False),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("sent_at", NOW_TZ, nullable=True),
        sa.Column("sent_by_user_id", BIGINT, nullable=True),
        sa.Column("settled_at", NOW_TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_premium_payout_batches")),
        sa.UniqueConstraint("moment", name=op.f("uq_premium_payout_batches_moment")),
        sa.UniqueConstraint("payment_info_id", name=op.f("uq_premium_payout_batches_payment_info_id")),
        sa.CheckConstraint("item_count > 0 AND total_cents > 0", name=op.f("ck_premium_payout_batches_not_empty")),
    )
    op.create_index(op.f("ix_premium_payout_batches_status"), "premium_payout_batches", ["status"])
    op.create_table(
        "premium_payout_items",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("batch_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("status", sa.Enum("pending", "confirmed", "rejected", "returned", "skipped",
                                    name="premium_payout_item_status", native_enum=False, create_constraint=True,
                                    length=20), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=True),
        sa.Column("creditor_name", sa.String(140), nullable=False),
        sa.Column("iban", sa.Text(), nullable=True),
        sa.Column("skip_reason", sa.String(30), nullable=True),
        sa.Column("pending_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("confirm_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("void_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("confirmed_on", sa.Date(), nullable=True),
        sa.Column("voided_on", sa.Date(), nullable=True),
        sa.Column("confirmed_by_ref", sa.String(200), nullable=True),
        sa.Column("voided_by_ref", sa.String(200), nullable=True),
        sa.Column("return_reason", sa.String(10), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("settled_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_premium_payout_items")),
        sa.ForeignKeyConstraint(["batch_id"], ["premium_payout_batches.id"],
                                name=op.f("fk_premium_payout_items_batch_id_premium_payout_batches")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_premium_payout_items_tenant_id_tenants")),
        sa.UniqueConstraint("end_to_end_id", name=op.f("uq_premium_payout_items_end_to_end_id")),
        sa.UniqueConstraint("batch_id", "tenant_id", "candidate_id",
                            name=op.f("uq_premium_payout_items_batch_id_tenant_id_candidate_id")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_premium_payout_items_amount_positive")),
    )
    op.create_index(op.f("ix_premium_payout_items_batch_id"), "premium_payout_items", ["batch_id"])
    op.create_index(op.f("ix_premium_payout_items_status"), "premium_payout_items", ["status"])
    op.create_index(op.f("ix_premium_payout_items_tenant_id_candidate_id"), "premium_payout_items",
                    ["tenant_id", "candidate_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_premium_payout_items_tenant_id_candidate_id"), table_name="premium_payout_items")
    op.drop_index(op.f("ix_premium_payout_items_status"), table_name="premium_payout_items")
    op.drop_index(op.f("ix_premium_payout_items_batch_id"), table_name="premium_payout_items")
    op.drop_table("premium_payout_items")
    op.drop_index(op.f("ix_premium_payout_batches_status"), table_name="premium_payout_batches")
    op.drop_table("premium_payout_batches")
