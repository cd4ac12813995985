"""Half-yearly settlements per municipality (append-only).

Revision ID: ac16d7c80010
Revises: ab05c6b70009
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "ac16d7c80010"
down_revision = "ab05c6b70009"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


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
        "settlements",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("revenue_cents", sa.BigInteger(), nullable=False),
        sa.Column("premiums_cents", sa.BigInteger(), nullable=False),
        sa.Column("travel_cents", sa.BigInteger(), nullable=False),
        sa.Column("service_fee_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("service_fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("contribution_municipality_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("contribution_municipality_cents", sa.BigInteger(), nullable=False),
        sa.Column("contribution_service_company_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("contribution_service_company_cents", sa.BigInteger(), nullable=False),
        sa.Column("annual_fee_due", sa.Boolean(), nullable=False),
        sa.Column("annual_fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("result_cents", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", BIGINT, nullable=False),
        sa.Column("contract_reference", sa.String(40), nullable=False),
        sa.Column("contract_version", sa.Integer(), nullable=False),
        sa.Column("rule_versions", sa.JSON(), nullable=False),
        sa.Column("ledger_transactions", sa.JSON(), nullable=False),
        sa.Column("settled_by_user_id", BIGINT, nullable=True),
        sa.Column("settled_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_settlements_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["contract_id"], ["execution_contracts.id"],
                                name=op.f("fk_settlements_contract_id_execution_contracts")),
        sa.UniqueConstraint("tenant_id", "period_start", name=op.f("uq_settlements_tenant_id_period_start")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_settlements_period_order")),
    )
    op.create_index(op.f("ix_settlements_tenant_id"), "settlements", ["tenant_id"])
    for statement in _append_only_ddl(op.get_bind().dialect.name, "settlements"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS settlements_append_only ON "settlements"')
        op.execute('DROP TRIGGER IF EXISTS settlements_no_truncate ON "settlements"')
    else:
        op.execute("DROP TRIGGER IF EXISTS settlements_no_update")
        op.execute("DROP TRIGGER IF EXISTS settlements_no_delete")
    op.drop_index(op.f("ix_settlements_tenant_id"), table_name="settlements")
    op.drop_table("settlements")
