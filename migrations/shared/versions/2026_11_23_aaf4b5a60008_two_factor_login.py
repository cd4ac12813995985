"""Two-factor login, recovery codes, password reset and lockout.

Revision ID: aaf4b5a60008
Revises: a9e3a4f50007
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "aaf4b5a60008"
down_revision = "a9e3a4f50007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
