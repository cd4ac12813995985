"""Documents (beschikking, inzetbevestiging) and guidance moments.

Revision ID: d2b3c4d50004
Revises: d1a2b3c40003
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d2b3c4d50004"
down_revision = "d1a2b3c40003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
