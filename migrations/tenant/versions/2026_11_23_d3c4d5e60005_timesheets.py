"""Timesheets and their approval by the employer.

Revision ID: d3c4d5e60005
Revises: d2b3c4d50004
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "d3c4d5e60005"
down_revision = "d2b3c4d50004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
