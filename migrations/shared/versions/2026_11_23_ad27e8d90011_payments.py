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

    # -- Bank statements (camt.053) and their lines ---------------------------------------------
    op.create_table(
        "bank_statements",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("statement_ref", sa.String(140), nullable=False),
        sa.Column("sequence_number", sa.String(40), nullable=True),
        sa.Column("message_id", sa.String(140), nullable=True),
        sa.Column("account_iban", sa.String(34), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("first_booking_date", sa.Date(), nullable=True),
        sa.Column("last_booking_date", sa.Date(), nullable=True),
        sa.Column("opening_balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("closing_balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_index", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("credit_cents", sa.BigInteger(), nullable=False),
        sa.Column("debit_cents", sa.BigInteger(), nullable=False),
        sa.Column("imported_by_user_id", BIGINT, nullable=True),
        sa.Column("imported_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
        sa.UniqueConstraint("file_sha256", "file_index", name=op.f("uq_bank_statements_file_sha256_file_index")),
        sa.UniqueConstraint("statement_ref", "account_iban",
                            name=op.f("uq_bank_statements_statement_ref_account_iban")),
    )
    op.create_table(
        "bank_lines",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("statement_id", BIGINT, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(160), nullable=False),
        sa.Column("account_servicer_ref", sa.String(140), nullable=True),
        sa.Column("end_to_end_id", sa.String(140), nullable=True),
        sa.Column("payment_info_id", sa.String(140), nullable=True),
        sa.Column("direction", sa.Enum("credit", "debit", name="bank_line_direction", native_enum=False,
                                       create_constraint=True, length=10), nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("bank_transaction_code", sa.String(40), nullable=True),
        sa.Column("return_reason", sa.String(10), nullable=True),
        sa.Column("counterparty_name", sa.String(140), nullable=True),
        sa.Column("counterparty_iban", sa.Text(), nullable=True),
        sa.Column("remittance_info", sa.String(500), nullable=True),
        sa.Column("creditor_reference", sa.String(40), nullable=True),
        sa.Column("status", sa.Enum("new", "matched", "unmatched", "ignored", name="bank_line_status",
                                    native_enum=False, create_constraint=True, length=20), nullable=False),
        sa.Column("review_reason", sa.String(40), nullable=True),
        sa.Column("match_kind", sa.Enum("invoice", "stripe_payout", "premium_payout", name="bank_line_match_kind",
                                        native_enum=False, create_constraint=True, length=20), nullable=True),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("invoice_id", BIGINT, nullable=True),
        sa.Column("invoice_number", sa.String(40), nullable=True),
        sa.Column("payment_ref", sa.String(160), nullable=True),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("resolved_at", NOW_TZ, nullable=True),
        sa.Column("resolved_by_user_id", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_lines")),
        sa.ForeignKeyConstraint(["statement_id"], ["bank_statements.id"],
                                name=op.f("fk_bank_lines_statement_id_bank_statements")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_bank_lines_tenant_id_tenants")),
        sa.UniqueConstraint("statement_id", "entry_key", name=op.f("uq_bank_lines_statement_id_entry_key")),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_bank_lines_amount_not_negative")),
    )
    op.create_index(op.f("ix_bank_lines_statement_id"), "bank_lines", ["statement_id"])
    op.create_index(op.f("ix_bank_lines_status"), "bank_lines", ["status"])
    op.create_index(op.f("ix_bank_lines_tenant_id"), "bank_lines", ["tenant_id"])


def downgrade() -> None:
    # -- Bank statements and their lines --------------------------------------------------------
    op.drop_index(op.f("ix_bank_lines_tenant_id"), table_name="bank_lines")
    op.drop_index(op.f("ix_bank_lines_status"), table_name="bank_lines")
    op.drop_index(op.f("ix_bank_lines_statement_id"), table_name="bank_lines")
    op.drop_table("bank_lines")
    op.drop_table("bank_statements")
    # -- Stripe webhook events ------------------------------------------------------------------
    op.drop_index(op.f("ix_stripe_events_tenant_id"), table_name="stripe_events")
    op.drop_index(op.f("ix_stripe_events_event_type"), table_name="stripe_events")
    op.drop_table("stripe_events")
