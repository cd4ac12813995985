"""Half-yearly settlements per municipality.

Revision ID: ac16d7c80010
Revises: ab05c6b70009
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "ac16d7c80010"
down_revision = "ab05c6b70009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
