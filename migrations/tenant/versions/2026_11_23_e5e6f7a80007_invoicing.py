"""Invoices, credit notes, their lines, number series and the invoiced hours.

Revision ID: e5e6f7a80007
Revises: d4d5e6f70006
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "e5e6f7a80007"
down_revision = "d4d5e6f70006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
