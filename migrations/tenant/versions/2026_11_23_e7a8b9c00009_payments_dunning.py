"""Payments received per invoice, payment attempts and dunning notices.

Revision ID: e7a8b9c00009
Revises: e6f7a8b90008
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "e7a8b9c00009"
down_revision = "e6f7a8b90008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
