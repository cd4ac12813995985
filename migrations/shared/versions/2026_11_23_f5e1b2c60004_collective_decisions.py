"""Collective decisions (proposals, votes) and yearly development agreements.

Revision ID: f5e1b2c60004
Revises: e3c9a7d40003
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "f5e1b2c60004"
down_revision = "e3c9a7d40003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
