"""Local framework: stricter local rule values (append-only), arrangements, the guidance
schedule and settings; with the default guidance schedule and an empty settings row.

Revision ID: c8f1a2b30002
Revises: b7e2d9a41c01
Create Date: 2026-11-23
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "c8f1a2b30002"
down_revision = "b7e2d9a41c01"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)

# Frozen copy of tenants.frameworks.models.DEFAULT_GUIDANCE.
DEFAULT_GUIDANCE = [
    ("Intakegesprek", "registration", 0),
    ("Gesprek voor de start van de plaatsing", "placement_start", -3),
    ("Contact na de eerste werkdag", "first_working_day", 1),
    ("Evaluatie na 3 maanden", "placement_start", 91),
]


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


def upgrade() -> None:
    op.create_table(
        "local_rule_values",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("value", sa.Numeric(14, 4), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_local_rule_values")),
    )
    op.create_index(op.f("ix_local_rule_values_key_effective_from"), "local_rule_values", ["key", "effective_from"])
    op.create_table(
        "arrangements",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("target_share_pct", sa.Numeric(5, 2), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrangements")),
        sa.UniqueConstraint("code", name=op.f("uq_arrangements_code")),
    )
    guidance = op.create_table(
        "guidance_schedule",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column(
            "anchor",
            sa.Enum("registration", "placement_start", "first_working_day", name="guidance_anchor",
                    native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_schedule")),
    )
    settings = op.create_table(
        "framework_settings",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("min_registrations_per_half_year", sa.Integer(), nullable=True),
        sa.Column("reminder_recipients", sa.Text(), nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.Column("updated_by_user_id", BIGINT, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework_settings")),
    )
    for statement in _append_only_ddl(op.get_bind().dialect.name, "local_rule_values"):
        op.execute(statement)
    op.bulk_insert(guidance, [
        dict(name=name, anchor=anchor, offset_days=days, position=i + 1)
        for i, (name, anchor, days) in enumerate(DEFAULT_GUIDANCE)
    ])
    op.bulk_insert(settings, [dict(reminder_recipients="", version=1,
                                   updated_at=dt.datetime.now(dt.timezone.utc))])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TRIGGER IF EXISTS local_rule_values_append_only ON "local_rule_values"')
        op.execute('DROP TRIGGER IF EXISTS local_rule_values_no_truncate ON "local_rule_values"')
    else:
        op.execute("DROP TRIGGER IF EXISTS local_rule_values_no_update")
        op.execute("DROP TRIGGER IF EXISTS local_rule_values_no_delete")
    op.drop_table("framework_settings")
    op.drop_table("guidance_schedule")
    op.drop_table("arrangements")
    op.drop_index(op.f("ix_local_rule_values_key_effective_from"), table_name="local_rule_values")
    op.drop_table("local_rule_values")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS nvsi_append_only()")
