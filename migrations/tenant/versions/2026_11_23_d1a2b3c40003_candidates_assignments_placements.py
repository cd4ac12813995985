"""Candidates, assignments and placements.

Revision ID: d1a2b3c40003
Revises: c8f1a2b30002
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d1a2b3c40003"
down_revision = "c8f1a2b30002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
