"""Premium accruals (with the yearly cap) and travel cost reimbursements.

Revision ID: e6f7a8b90008
Revises: e5e6f7a80007
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "e6f7a8b90008"
down_revision = "e5e6f7a80007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
