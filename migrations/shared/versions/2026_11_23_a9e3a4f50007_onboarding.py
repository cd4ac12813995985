"""Self-onboarding: sign-up applications, versioned agreement texts and acceptances.

Revision ID: a9e3a4f50007
Revises: a8d2f3e40006
Create Date: 2026-11-23
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "a9e3a4f50007"
down_revision = "a8d2f3e40006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
