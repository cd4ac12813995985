"""The execution contract with the service company, and the product catalogue.

Revision ID: d2b8f6c30002
Revises: a1f3c0d2e001
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d2b8f6c30002"
down_revision = "a1f3c0d2e001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
