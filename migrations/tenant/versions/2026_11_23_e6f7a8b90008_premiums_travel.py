"""Premium accruals (with the yearly cap) and travel cost reimbursements; for the go/no-go
report: arrangement changes (recorded from now on) and welfare exits (full or partial).

Revision ID: e6f7a8b90008
Revises: e5e6f7a80007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "e6f7a8b90008"
down_revision = "e5e6f7a80007"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)
APPEND_ONLY_TABLES = ("premium_accruals", "arrangement_changes")


def _append_only_ddl(dialect, table):
    """Frozen copy of nvsi.db.append_only_ddl (runs inside the tenant's schema)."""
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


def _enum(name, values, length=20):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "premium_accruals",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("entry_id", BIGINT, nullable=False),
        sa.Column("kind", _enum("premium_accrual_kind", ["accrual", "reversal"]), nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Numeric(5, 2), nullable=False),
        sa.Column("rate_cents", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("accrued_cents", sa.BigInteger(), nullable=False),
        sa.Column("flagged_cents", sa.BigInteger(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("accrued_on", sa.Date(), nullable=False),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_premium_accruals")),
        sa.ForeignKeyConstraint(["entry_id"], ["timesheet_entries.id"],
                                name=op.f("fk_premium_accruals_entry_id_timesheet_entries")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_premium_accruals_candidate_id_candidates")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_premium_accruals_placement_id_placements")),
        sa.UniqueConstraint("entry_id", "kind", name=op.f("uq_premium_accruals_entry_id_kind")),
        sa.CheckConstraint("amount_cents = accrued_cents + flagged_cents", name=op.f("ck_premium_accruals_amount_split")),
    )
    op.create_index(op.f("ix_premium_accruals_placement_id"), "premium_accruals", ["placement_id"])
    op.create_index(op.f("ix_premium_accruals_candidate_id_year"), "premium_accruals", ["candidate_id", "year"])
    op.create_table(
        "premium_flags",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("accrual_id", BIGINT, nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("status", _enum("premium_flag_status", ["open", "resolved", "void"]), nullable=False),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolved_by_user_id", BIGINT, nullable=True),
        sa.Column("resolved_at", NOW_TZ, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_premium_flags")),
        sa.ForeignKeyConstraint(["accrual_id"], ["premium_accruals.id"],
                                name=op.f("fk_premium_flags_accrual_id_premium_accruals")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_premium_flags_candidate_id_candidates")),
        sa.UniqueConstraint("accrual_id", name=op.f("uq_premium_flags_accrual_id")),
        sa.CheckConstraint("cents > 0", name=op.f("ck_premium_flags_cents_positive")),
    )
    op.create_index(op.f("ix_premium_flags_candidate_id"), "premium_flags", ["candidate_id"])
    op.create_table(
        "travel_costs",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column("cost_date", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("recorded_by_user_id", BIGINT, nullable=True),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_costs")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_travel_costs_candidate_id_candidates")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_travel_costs_placement_id_placements")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_travel_costs_amount_positive")),
    )
    op.create_index(op.f("ix_travel_costs_candidate_id"), "travel_costs", ["candidate_id"])
    op.create_index(op.f("ix_travel_costs_placement_id"), "travel_costs", ["placement_id"])
    op.create_table(
        "arrangement_changes",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("from_arrangement_id", BIGINT, nullable=True),
        sa.Column("to_arrangement_id", BIGINT, nullable=True),
        sa.Column("changed_on", sa.Date(), nullable=False),
        sa.Column("changed_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrangement_changes")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_arrangement_changes_candidate_id_candidates")),
        sa.ForeignKeyConstraint(["from_arrangement_id"], ["arrangements.id"],
                                name=op.f("fk_arrangement_changes_from_arrangement_id_arrangements")),
        sa.ForeignKeyConstraint(["to_arrangement_id"], ["arrangements.id"],
                                name=op.f("fk_arrangement_changes_to_arrangement_id_arrangements")),
    )
    op.create_index(op.f("ix_arrangement_changes_candidate_id"), "arrangement_changes", ["candidate_id"])
    op.create_index(op.f("ix_arrangement_changes_changed_on"), "arrangement_changes", ["changed_on"])
    op.create_table(
        "welfare_exits",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("candidate_id", BIGINT, nullable=False),
        sa.Column("exit_date", sa.Date(), nullable=False),
        sa.Column("extent", _enum("welfare_exit_extent", ["full", "partial"]), nullable=False),
        sa.Column("note", sa.String(300), nullable=False),
        sa.Column("recorded_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_welfare_exits")),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name=op.f("fk_welfare_exits_candidate_id_candidates")),
        sa.UniqueConstraint("candidate_id", "exit_date", "extent",
                            name=op.f("uq_welfare_exits_candidate_id_exit_date_extent")),
    )
    op.create_index(op.f("ix_welfare_exits_candidate_id"), "welfare_exits", ["candidate_id"])
    op.create_index(op.f("ix_welfare_exits_exit_date"), "welfare_exits", ["exit_date"])
    for table in APPEND_ONLY_TABLES:
        for statement in _append_only_ddl(op.get_bind().dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY_TABLES:
        if postgres:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"')
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    # nvsi_append_only() stays: local_rule_values (an earlier revision) uses it too.
    op.drop_index(op.f("ix_welfare_exits_exit_date"), table_name="welfare_exits")
    op.drop_index(op.f("ix_welfare_exits_candidate_id"), table_name="welfare_exits")
    op.drop_table("welfare_exits")
    op.drop_index(op.f("ix_arrangement_changes_changed_on"), table_name="arrangement_changes")
    op.drop_index(op.f("ix_arrangement_changes_candidate_id"), table_name="arrangement_changes")
    op.drop_table("arrangement_changes")
    op.drop_index(op.f("ix_travel_costs_placement_id"), table_name="travel_costs")
    op.drop_index(op.f("ix_travel_costs_candidate_id"), table_name="travel_costs")
    op.drop_table("travel_costs")
    op.drop_index(op.f("ix_premium_flags_candidate_id"), table_name="premium_flags")
    op.drop_table("premium_flags")
    op.drop_index(op.f("ix_premium_accruals_candidate_id_year"), table_name="premium_accruals")
    op.drop_index(op.f("ix_premium_accruals_placement_id"), table_name="premium_accruals")
    op.drop_table("premium_accruals")
