"""The audit log: who did what, when, in which tenant (append-only).

Revision ID: a7c1e2d30005
Revises: f5e1b2c60004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "a7c1e2d30005"
down_revision = "f5e1b2c60004"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def _append_only_ddl(dialect, table):
    """Frozen copy of nvsi.db.append_only_ddl (runs inside the target schema); the function
    nvsi_append_only() itself belongs to the rule-set revision."""
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
        "audit_events",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("occurred_at", NOW_TZ, nullable=False),
        sa.Column("actor_user_id", BIGINT, nullable=True),
        sa.Column("actor_label", sa.String(254), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("object_type", sa.String(60), nullable=True),
        sa.Column("object_id", sa.String(80), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"])
    op.create_index(op.f("ix_audit_events_actor_user_id"), "audit_events", ["actor_user_id"])
    op.create_index(op.f("ix_audit_events_tenant_id"), "audit_events", ["tenant_id"])
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_index(op.f("ix_audit_events_tenant_id_occurred_at"), "audit_events", ["tenant_id", "occurred_at"])
    for statement in _append_only_ddl(op.get_bind().dialect.name, "audit_events"):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON "audit_events"')
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_truncate ON "audit_events"')
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    for index in ("tenant_id_occurred_at", "action", "tenant_id", "actor_user_id", "occurred_at"):
        op.drop_index(op.f(f"ix_audit_events_{index}"), table_name="audit_events")
    op.drop_table("audit_events")
