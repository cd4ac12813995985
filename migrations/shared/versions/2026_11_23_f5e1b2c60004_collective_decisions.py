"""Collective decisions (proposals, votes) and yearly development agreements.

Revision ID: f5e1b2c60004
Revises: e3c9a7d40003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "f5e1b2c60004"
down_revision = "e3c9a7d40003"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def _enum(name, values, length=20):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("parameter_id", BIGINT, nullable=False),
        sa.Column("value", sa.Numeric(14, 4), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=True),
        sa.Column("proposed_by_user_id", BIGINT, nullable=False),
        sa.Column("opens_at", NOW_TZ, nullable=False),
        sa.Column("closes_at", NOW_TZ, nullable=False),
        sa.Column("status", _enum("proposal_status", ["open", "adopted", "rejected", "no_quorum"]), nullable=False),
        sa.Column("closed_at", NOW_TZ, nullable=True),
        sa.Column("votes_for", sa.Integer(), nullable=True),
        sa.Column("votes_against", sa.Integer(), nullable=True),
        sa.Column("votes_abstain", sa.Integer(), nullable=True),
        sa.Column("active_members", sa.Integer(), nullable=True),
        sa.Column("quorum_pct", sa.Numeric(5, 2), nullable=True),
        sa.Column("quorum_version", sa.Integer(), nullable=True),
        sa.Column("majority_pct", sa.Numeric(5, 2), nullable=True),
        sa.Column("majority_version", sa.Integer(), nullable=True),
        sa.Column("rule_set_version", sa.Integer(), nullable=True),
        sa.Column("adoption_error", sa.Text(), nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.ForeignKeyConstraint(
            ["parameter_id"], ["rule_parameters.id"], name=op.f("fk_proposals_parameter_id_rule_parameters")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_proposals_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["proposed_by_user_id"], ["users.id"], name=op.f("fk_proposals_proposed_by_user_id_users")
        ),
    )
    op.create_index(op.f("ix_proposals_parameter_id"), "proposals", ["parameter_id"])
    op.create_index(op.f("ix_proposals_tenant_id"), "proposals", ["tenant_id"])
    op.create_index(op.f("ix_proposals_closes_at"), "proposals", ["closes_at"])
    op.create_table(
        "votes",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("proposal_id", BIGINT, nullable=False),
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("choice", _enum("vote_choice", ["for", "against", "abstain"]), nullable=False),
        sa.Column("cast_by_user_id", BIGINT, nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        # One vote per member per proposal, whatever the code does.
        sa.UniqueConstraint("proposal_id", "tenant_id", name=op.f("uq_votes_proposal_id_tenant_id")),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_votes_proposal_id_proposals")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_votes_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["cast_by_user_id"], ["users.id"], name=op.f("fk_votes_cast_by_user_id_users")),
    )
    op.create_index(op.f("ix_votes_tenant_id"), "votes", ["tenant_id"])
    op.create_table(
        "development_items",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", _enum("development_status", ["planned", "in_progress", "done", "dropped"]), nullable=False
        ),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("updated_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_development_items")),
        sa.CheckConstraint("budget_cents >= 0", name=op.f("ck_development_items_budget_not_negative")),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name=op.f("ck_development_items_year_range")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_development_items_created_by_user_id_users")
        ),
    )
    op.create_index(op.f("ix_development_items_year"), "development_items", ["year"])


def downgrade() -> None:
    op.drop_index(op.f("ix_development_items_year"), table_name="development_items")
    op.drop_table("development_items")
    op.drop_index(op.f("ix_votes_tenant_id"), table_name="votes")
    op.drop_table("votes")
    op.drop_index(op.f("ix_proposals_closes_at"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_tenant_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_parameter_id"), table_name="proposals")
    op.drop_table("proposals")
