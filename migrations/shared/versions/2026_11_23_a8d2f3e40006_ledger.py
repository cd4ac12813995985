"""The NVSI ledger: accounts, balanced append-only transactions, closed periods.

Revision ID: a8d2f3e40006
Revises: a7c1e2d30005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "a8d2f3e40006"
down_revision = "a7c1e2d30005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
TABLES = ("ledger_accounts", "ledger_transactions", "ledger_entries", "ledger_closed_periods")

# Frozen copies of nvsi.ledger.models.ledger_guard_ddl (run inside the shared schema).
PG_ENTRY_GUARD = [
    "CREATE OR REPLACE FUNCTION nvsi_ledger_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE posted boolean; BEGIN EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.ledger_transactions WHERE id = $1)', TG_TABLE_SCHEMA) INTO posted USING NEW.transaction_id; IF posted THEN RAISE EXCEPTION 'ledger transaction % is posted: no entry can be added', NEW.transaction_id; END IF; RETURN NEW; END $$",
    'CREATE TRIGGER ledger_entries_guard BEFORE INSERT ON "ledger_entries" FOR EACH ROW EXECUTE FUNCTION nvsi_ledger_entry_guard()',
]
PG_BALANCE_CHECK = [
    "CREATE OR REPLACE FUNCTION nvsi_ledger_balance_check() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE n bigint; total numeric; other_dates bigint; closed boolean; BEGIN EXECUTE format('SELECT count(*), coalesce(sum(amount_cents), 0), count(*) FILTER (WHERE booking_date <> $2) FROM %I.ledger_entries WHERE transaction_id = $1', TG_TABLE_SCHEMA) INTO n, total, other_dates USING NEW.id, NEW.booking_date; IF n < 2 THEN RAISE EXCEPTION 'ledger transaction % has % entries: two or more needed', NEW.id, n; END IF; IF total <> 0 THEN RAISE EXCEPTION 'ledger transaction % does not balance: entries sum to % cents', NEW.id, total; END IF; IF other_dates > 0 THEN RAISE EXCEPTION 'ledger transaction %: entries dated otherwise', NEW.id; END IF; EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.ledger_closed_periods WHERE tenant_id = $1 AND $2 BETWEEN period_start AND period_end)', TG_TABLE_SCHEMA) INTO closed USING NEW.tenant_id, NEW.booking_date; IF closed THEN RAISE EXCEPTION 'ledger period closed: % is in a settled period of tenant %', NEW.booking_date, NEW.tenant_id; END IF; RETURN NEW; END $$",
    'CREATE TRIGGER ledger_transactions_balance AFTER INSERT ON "ledger_transactions" FOR EACH ROW EXECUTE FUNCTION nvsi_ledger_balance_check()',
]
SQLITE_ENTRY_GUARD = [
    "CREATE TRIGGER ledger_entries_guard BEFORE INSERT ON ledger_entries WHEN EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) BEGIN SELECT RAISE(ABORT, 'ledger transaction is posted: no entry can be added'); END",
]
SQLITE_BALANCE_CHECK = [
    "CREATE TRIGGER ledger_transactions_balance AFTER INSERT ON ledger_transactions BEGIN SELECT RAISE(ABORT, 'ledger transaction has fewer than two entries') WHERE (SELECT count(*) FROM ledger_entries WHERE transaction_id = NEW.id) < 2; SELECT RAISE(ABORT, 'ledger transaction does not balance') WHERE (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries WHERE transaction_id = NEW.id) <> 0; SELECT RAISE(ABORT, 'ledger transaction: entries dated otherwise') WHERE EXISTS (SELECT 1 FROM ledger_entries WHERE transaction_id = NEW.id AND booking_date <> NEW.booking_date); SELECT RAISE(ABORT, 'ledger period closed') WHERE EXISTS (SELECT 1 FROM ledger_closed_periods WHERE tenant_id = NEW.tenant_id AND NEW.booking_date BETWEEN period_start AND period_end); END",
]


def _append_only_ddl(dialect, table):
    """Frozen copy of nvsi.db.append_only_ddl (the function belongs to the rule-set revision)."""
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION nvsi_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
            f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION nvsi_append_only()",
            f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION nvsi_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END",
    ]


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_accounts_tenant_id_tenants")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_accounts_key")),
    )
    op.create_index(op.f("ix_ledger_accounts_tenant_id"), "ledger_accounts", ["tenant_id"])
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("source_type", sa.String(40), nullable=True),
        sa.Column("source_id", sa.String(80), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("posted_by_user_id", BIGINT, nullable=True),
        sa.Column("posted_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_transactions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["reverses_id"], ["ledger_transactions.id"],
                                name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transactions_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transactions_reverses_id")),
    )
    op.create_index(op.f("ix_ledger_transactions_booking_date"), "ledger_transactions", ["booking_date"])
    op.create_index(op.f("ix_ledger_transactions_tenant_id"), "ledger_transactions", ["tenant_id"])
    op.create_index(op.f("ix_ledger_transactions_source_type_source_id"), "ledger_transactions",
                    ["source_type", "source_id"])
    op.create_index(op.f("ix_ledger_transactions_tenant_id_booking_date"), "ledger_transactions",
                    ["tenant_id", "booking_date"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.ForeignKeyConstraint(["transaction_id"], ["ledger_transactions.id"], deferrable=True, initially="DEFERRED",
                                name=op.f("fk_ledger_entries_transaction_id_ledger_transactions")),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_ledger_entries_account_id_ledger_accounts")),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
    )
    op.create_index(op.f("ix_ledger_entries_transaction_id"), "ledger_entries", ["transaction_id"])
    op.create_index(op.f("ix_ledger_entries_account_id_booking_date"), "ledger_entries",
                    ["account_id", "booking_date"])
    op.create_table(
        "ledger_closed_periods",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("closed_by_user_id", BIGINT, nullable=True),
        sa.Column("closed_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_closed_periods")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_ledger_closed_periods_tenant_id_tenants")),
        sa.UniqueConstraint("tenant_id", "period_start", name=op.f("uq_ledger_closed_periods_tenant_id_period_start")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_ledger_closed_periods_period_order")),
    )
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        for statement in _append_only_ddl(dialect, table):
            op.execute(statement)
    guards = PG_ENTRY_GUARD + PG_BALANCE_CHECK if dialect == "postgresql" else SQLITE_ENTRY_GUARD + SQLITE_BALANCE_CHECK
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS ledger_transactions_balance ON "ledger_transactions"')
        op.execute('DROP TRIGGER IF EXISTS ledger_entries_guard ON "ledger_entries"')
        op.execute("DROP FUNCTION IF EXISTS nvsi_ledger_balance_check()")
        op.execute("DROP FUNCTION IF EXISTS nvsi_ledger_entry_guard()")
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"')
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_transactions_balance")
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_guard")
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("ledger_closed_periods")
    op.drop_index(op.f("ix_ledger_entries_account_id_booking_date"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_transaction_id"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    for index in ("tenant_id_booking_date", "source_type_source_id", "tenant_id", "booking_date"):
        op.drop_index(op.f(f"ix_ledger_transactions_{index}"), table_name="ledger_transactions")
    op.drop_table("ledger_transactions")
    op.drop_index(op.f("ix_ledger_accounts_tenant_id"), table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
