"""Reminders (piepsysteem) and the inbox.

Revision ID: d4d5e6f70006
Revises: d3c4d5e60005
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d4d5e6f70006"
down_revision = "d3c4d5e60005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
