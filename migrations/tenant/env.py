"""Alembic environment of the tenant stream."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from env_common import run  # noqa: E402

from nvsi.models import TenantBase  # noqa: E402  (imports every model)

run(TenantBase.metadata)
