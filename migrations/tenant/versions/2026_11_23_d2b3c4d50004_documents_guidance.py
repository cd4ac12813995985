"""Documents (beschikking, inzetbevestiging) and guidance moments.

Revision ID: d2b3c4d50004
Revises: d1a2b3c40003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "d2b3c4d50004"
down_revision = "d1a2b3c40003"
branch_labels = None
depends_on = None


BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column(
            "kind",
            sa.Enum("beschikking", "inzetbevestiging", name="document_kind", native_enum=False,
                    create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.Column("created_by_user_id", BIGINT, nullable=True),
        sa.Column("signed_by_municipality_at", NOW_TZ, nullable=True),
        sa.Column("signed_by_municipality_by", BIGINT, nullable=True),
        sa.Column("signed_by_candidate_at", NOW_TZ, nullable=True),
        sa.Column("signed_by_candidate_recorded_by", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_documents_placement_id_placements")),
        sa.UniqueConstraint("placement_id", "kind", "version", name=op.f("uq_documents_placement_id_kind_version")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_documents_version_positive")),
        sa.CheckConstraint(
            "kind = 'inzetbevestiging' OR (signed_by_municipality_at IS NULL AND signed_by_candidate_at IS NULL)",
            name=op.f("ck_documents_only_inzetbevestiging_signed"),
        ),
    )
    op.create_table(
        "guidance_moments",
        sa.Column("id", BIGINT, sa.Identity(), nullable=False),
        sa.Column("placement_id", BIGINT, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column(
            "anchor",
            sa.Enum("registration", "placement_start", "first_working_day", name="guidance_anchor",
                    native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("still_serves_goals", sa.Boolean(), nullable=True),
        sa.Column("recorded_by_user_id", BIGINT, nullable=True),
        sa.Column("recorded_at", NOW_TZ, nullable=True),
        sa.Column("created_at", NOW_TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_moments")),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"],
                                name=op.f("fk_guidance_moments_placement_id_placements")),
        sa.CheckConstraint("done_on IS NOT NULL OR still_serves_goals IS NULL",
                           name=op.f("ck_guidance_moments_assessed_when_done")),
    )
    op.create_index(op.f("ix_guidance_moments_placement_id"), "guidance_moments", ["placement_id"])
    op.create_index(op.f("ix_guidance_moments_planned_on"), "guidance_moments", ["planned_on"])


def downgrade() -> None:
    op.drop_index(op.f("ix_guidance_moments_planned_on"), table_name="guidance_moments")
    op.drop_index(op.f("ix_guidance_moments_placement_id"), table_name="guidance_moments")
    op.drop_table("guidance_moments")
    op.drop_table("documents")
