"""The NVSI ledger: accounts, balanced append-only transactions, closed periods.

Revision ID: a8d2f3e40006
Revises: a7c1e2d30005
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "a8d2f3e40006"
down_revision = "a7c1e2d30005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
