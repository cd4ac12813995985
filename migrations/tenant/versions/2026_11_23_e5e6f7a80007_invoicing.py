"""Invoices, credit notes, their lines, number series and the invoiced hours.

Revision ID: e5e6f7a80007
Revises: d4d5e6f70006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "e5e6f7a80007"
down_revision = "d4d5e6f70006"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)

# Frozen copy of tenants.invoicing.models.frozen_invoice_ddl (runs inside the tenant schema).
PG_FROZEN = [
    "CREATE OR REPLACE FUNCTION nvsi_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'issued invoices are never edited (% on %): issue a credit note', TG_OP, TG_TABLE_NAME; END $$",
    'CREATE TRIGGER invoices_frozen BEFORE UPDATE OF doc_type, series_id, sequence, number, employer_id, credits_invoice_id, period_start, period_end, issue_date, due_date, net_cents, vat_cents, gross_cents, payment_reference, seller, buyer ON "invoices" FOR EACH ROW EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoices_no_delete BEFORE DELETE ON "invoices" FOR EACH ROW EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON "invoices" FOR EACH STATEMENT EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoice_lines_no_delete BEFORE DELETE ON "invoice_lines" FOR EACH ROW EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON "invoice_lines" FOR EACH STATEMENT EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoiced_entries_no_delete BEFORE DELETE ON "invoiced_entries" FOR EACH ROW EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoiced_entries_no_truncate BEFORE TRUNCATE ON "invoiced_entries" FOR EACH STATEMENT EXECUTE FUNCTION nvsi_invoice_frozen()',
    'CREATE TRIGGER invoice_lines_frozen BEFORE UPDATE ON "invoice_lines" FOR EACH ROW EXECUTE FUNCTION nvsi_invoice_frozen()',
]
SQLITE_FROZEN = [
    "CREATE TRIGGER invoices_frozen BEFORE UPDATE OF doc_type, series_id, sequence, number, employer_id, credits_invoice_id, period_start, period_end, issue_date, due_date, net_cents, vat_cents, gross_cents, payment_reference, seller, buyer ON invoices BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
    "CREATE TRIGGER invoice_lines_frozen BEFORE UPDATE ON invoice_lines BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
    "CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
    "CREATE TRIGGER invoice_lines_no_delete BEFORE DELETE ON invoice_lines BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
    "CREATE TRIGGER invoiced_entries_no_delete BEFORE DELETE ON invoiced_entries BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
]


def _enum(name, values, length=20):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "invoice_series",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_series")),
        sa.UniqueConstraint("code", name=op.f("uq_invoice_series_code")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("doc_type", _enum("invoice_doc_type", ["invoice", "credit_note"]), nullable=False),
        sa.Column("series_id", BIGINT, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("employer_id", BIGINT, nullable=False),
        sa.Column("credits_invoice_id", BIGINT, nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_cents", sa.BigInteger(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("payment_reference", sa.String(40), nullable=False),
        sa.Column("seller", sa.JSON(), nullable=False),
        sa.Column("buyer", sa.JSON(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=True),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("status", _enum("invoice_status", ["open", "partially_paid", "paid", "credited"]), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("credited_cents", sa.BigInteger(), nullable=False),
        sa.Column("mailed_at", NOW_TZ, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.ForeignKeyConstraint(["series_id"], ["invoice_series.id"], name=op.f("fk_invoices_series_id_invoice_series")),
        sa.ForeignKeyConstraint(["employer_id"], ["employers.id"], name=op.f("fk_invoices_employer_id_employers")),
        sa.ForeignKeyConstraint(["credits_invoice_id"], ["invoices.id"],
                                name=op.f("fk_invoices_credits_invoice_id_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_invoices_payment_reference")),
        sa.UniqueConstraint("series_id", "sequence", name=op.f("uq_invoices_series_id_sequence")),
        sa.CheckConstraint("gross_cents = net_cents + vat_cents", name=op.f("ck_invoices_gross_is_net_plus_vat")),
        sa.CheckConstraint(
            "(doc_type = 'invoice' AND credits_invoice_id IS NULL AND gross_cents >= 0) OR "
            "(doc_type = 'credit_note' AND credits_invoice_id IS NOT NULL AND gross_cents <= 0)",
            name=op.f("ck_invoices_credit_note_shape"),
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_invoices_period_order")),
    )
    op.create_index(op.f("ix_invoices_employer_id"), "invoices", ["employer_id"])
    op.create_index(op.f("ix_invoices_credits_invoice_id"), "invoices", ["credits_invoice_id"])
    op.create_index(op.f("ix_invoices_issue_date"), "invoices", ["issue_date"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("invoice_id", BIGINT, nullable=False),
        sa.Column("placement_id", BIGINT, nullable=True),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("service_start", sa.Date(), nullable=False),
        sa.Column("service_end", sa.Date(), nullable=False),
        sa.Column("hours", sa.Numeric(9, 2), nullable=False),
        sa.Column("rate_cents", sa.Integer(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("vat_category", sa.String(2), nullable=False),
        sa.Column("vat_rate", sa.Numeric(5, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_invoice_lines_placement_id_placements")),
    )
    op.create_index(op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"])
    op.create_index(op.f("ix_invoice_lines_placement_id"), "invoice_lines", ["placement_id"])
    op.create_table(
        "invoiced_entries",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("entry_id", BIGINT, nullable=False),
        sa.Column("line_id", BIGINT, nullable=False),
        sa.Column("role", _enum("invoiced_entry_role", ["invoiced", "credited"]), nullable=False),
        sa.Column("hours", sa.Numeric(4, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoiced_entries")),
        sa.ForeignKeyConstraint(["entry_id"], ["timesheet_entries.id"],
                                name=op.f("fk_invoiced_entries_entry_id_timesheet_entries")),
        sa.ForeignKeyConstraint(["line_id"], ["invoice_lines.id"],
                                name=op.f("fk_invoiced_entries_line_id_invoice_lines")),
        sa.UniqueConstraint("entry_id", "role", name=op.f("uq_invoiced_entries_entry_id_role")),
    )
    op.create_index(op.f("ix_invoiced_entries_line_id"), "invoiced_entries", ["line_id"])
    for statement in PG_FROZEN if op.get_bind().dialect.name == "postgresql" else SQLITE_FROZEN:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    triggers = [("invoices", "invoices_frozen"), ("invoice_lines", "invoice_lines_frozen")]
    for table in ("invoices", "invoice_lines", "invoiced_entries"):
        triggers.append((table, f"{table}_no_delete"))
        if postgres:
            triggers.append((table, f"{table}_no_truncate"))
    for table, trigger in triggers:
        op.execute(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"' if postgres else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS nvsi_invoice_frozen()")
    op.drop_index(op.f("ix_invoiced_entries_line_id"), table_name="invoiced_entries")
    op.drop_table("invoiced_entries")
    op.drop_index(op.f("ix_invoice_lines_placement_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_invoice_id"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    for index in ("issue_date", "credits_invoice_id", "employer_id"):
        op.drop_index(op.f(f"ix_invoices_{index}"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("invoice_series")
