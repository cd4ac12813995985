"""Member administration: member statuses, offboarding exports and retention.

Revision ID: ab05c6b70009
Revises: aaf4b5a60008
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "ab05c6b70009"
down_revision = "aaf4b5a60008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
