"""Premium payouts: SEPA credit-transfer batches per payment moment and their items.

Revision ID: ae38f9e00012
Revises: ad27e8d90011
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "ae38f9e00012"
down_revision = "ad27e8d90011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
