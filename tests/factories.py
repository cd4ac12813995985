"""Builders of tenant data for tests: valid by default, every value overridable.

Each takes a session bound to the tenant (``tenant_session("alpha")``), flushes, and returns the
row; the test's outer transaction rolls everything back. ``ALPHA`` is the test tenant ``alpha``
as domain code receives it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from nvsi.crypto import cipher
from nvsi.db import utcnow
from nvsi.tenancy.routing import TenantRef
from tenants.assignments.services import create_assignment
from tenants.candidates.models import Candidate
from tenants.employers.services import create_employer
from tenants.placements.services import create_placement

ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")

#: Valid, distinct BSNs (11-test) and KvK numbers, one per call.
_BSNS = (f"{n:08d}" for n in itertools.count(10000000))
_KVKS = (f"{n:08d}" for n in itertools.count(20000000))


def _valid_bsn() -> str:
    """The next nine-digit number that passes the 11-test."""
    for stem in _BSNS:
        total = sum(int(d) * w for d, w in zip(stem, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10:
            return stem + str(check)
    raise AssertionError("unreachable")


def employer(session, **overrides):
    """An employer with a fresh KvK number."""
    from tests.conftest import employer_data

    data = employer_data(kvk_number=next(_KVKS), vat_id=None)
    data.update(overrides)
    return create_employer(session, data)


def candidate(session, *, bsn: str | None = None, registered_on=dt.date(2026, 1, 5), **overrides) -> Candidate:
    """A registered candidate who gave consent (BSN encrypted, with its lookup hash)."""
    bsn = bsn or _valid_bsn()
    row = Candidate(bsn=bsn, bsn_hash=cipher().lookup_hash(bsn), first_name="Anna", last_name="Jansen",
                    registered_on=registered_on, consent_at=utcnow(), work_preferences="")
    for key, value in overrides.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    return row


def assignment(session, tenant: TenantRef = ALPHA, *, employer_id: int | None = None, **overrides):
    """An assignment of 32 hours a week at EUR 15.00 an hour, from 1 January 2026, open-ended."""
    data = dict(
        employer_id=employer_id or employer(session).id, title="Groenonderhoud Lindelaan",
        hours_per_week=Decimal("32"), hourly_rate_cents=1500, location="Utrecht",
        start_date=dt.date(2026, 1, 1), end_date=None, displacement_declared_by="P. de Vries",
    )
    data.update(overrides)
    return create_assignment(session, tenant, data, user_id=None)


def placement(session, tenant: TenantRef = ALPHA, *, candidate_row=None, assignment_row=None,
              user_id: int | None = None, **overrides):
    """A placement (with its hooks: documents, guidance moments) of a new candidate on a new
    assignment, from 2 February 2026 for 20 hours a week."""
    candidate_row = candidate_row or candidate(session)
    assignment_row = assignment_row or assignment(session, tenant)
    data = dict(candidate_id=candidate_row.id, assignment_id=assignment_row.id, start_date=dt.date(2026, 2, 2),
                end_date=None, hours_per_week=Decimal("20"), goals="Werkritme opdoen; samenwerken in een team.")
    data.update(overrides)
    return create_placement(session, tenant, data, user_id)
