"""Payments received per invoice, payment attempts and dunning notices.

Revision ID: e7a8b9c00009
Revises: e6f7a8b90008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "e7a8b9c00009"
down_revision = "e6f7a8b90008"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def _enum(name, values, length=20):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("invoice_id", BIGINT, nullable=False),
        sa.Column("method", _enum("payment_method", ["stripe", "bank_transfer", "manual"]), nullable=False),
        sa.Column("external_ref", sa.String(160), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("applied_cents", sa.BigInteger(), nullable=False),
        sa.Column("excess_cents", sa.BigInteger(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_payments_external_ref")),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_payments_amount_not_zero")),
        sa.CheckConstraint("applied_cents + excess_cents = amount_cents", name=op.f("ck_payments_parts_add_up")),
    )
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"])
    op.create_table(
        "payment_attempts",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("invoice_id", BIGINT, nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("provider_session_id", sa.String(255), nullable=True),
        sa.Column("provider_payment_intent_id", sa.String(255), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", _enum("payment_attempt_status", ["created", "processing", "succeeded", "failed",
                                                             "expired"]), nullable=False),
        sa.Column("failure_reason", sa.String(200), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_payment_attempts_invoice_id_invoices")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_attempts_idempotency_key")),
        sa.UniqueConstraint("provider_session_id", name=op.f("uq_payment_attempts_provider_session_id")),
    )
    op.create_index(op.f("ix_payment_attempts_invoice_id"), "payment_attempts", ["invoice_id"])
    op.create_index(op.f("ix_payment_attempts_provider_payment_intent_id"), "payment_attempts",
                    ["provider_payment_intent_id"])
    op.create_table(
        "dunning_notices",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("invoice_id", BIGINT, nullable=False),
        sa.Column("level", _enum("dunning_level", ["first_reminder", "second_reminder", "final_notice"]),
                  nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("outstanding_cents", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", NOW_TZ, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_notices")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_dunning_notices_invoice_id_invoices")),
        sa.UniqueConstraint("invoice_id", "level", name=op.f("uq_dunning_notices_invoice_id_level")),
    )
    op.create_index(op.f("ix_dunning_notices_invoice_id"), "dunning_notices", ["invoice_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dunning_notices_invoice_id"), table_name="dunning_notices")
    op.drop_table("dunning_notices")
    op.drop_index(op.f("ix_payment_attempts_provider_payment_intent_id"), table_name="payment_attempts")
    op.drop_index(op.f("ix_payment_attempts_invoice_id"), table_name="payment_attempts")
    op.drop_table("payment_attempts")
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_table("payments")
