"""Assignments and placements within the rules: the boundaries the issue names (exactly six
months, 28 hours, the day the minimum rate changed), overlap, the assignment's period, and the
refusal listing every broken rule with its code and version."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from nvsi.crypto import cipher
from nvsi.dates import last_day_within
from nvsi.db import utcnow
from nvsi.tenancy.routing import TenantRef
from tenants.assignments import services as assignments
from tenants.candidates.models import Candidate, CandidateStatus
from tenants.frameworks.services import set_local_value
from tenants.placements import services
from tenants.placements.models import PlacementStatus

D = Decimal
ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")
TODAY = dt.date.today()


def candidate(session, bsn="111222333", last_name="Jansen"):
    row = Candidate(bsn=bsn, bsn_hash=cipher().lookup_hash(bsn), first_name="Anna", last_name=last_name,
                    registered_on=dt.date(2016, 1, 1), consent_at=utcnow(), work_preferences="")
    session.add(row)
    session.flush()
    return row


def assignment(session, *, rate_cents=1500, hours="32", start=dt.date(2016, 1, 1), end=None):
    return assignments.create_assignment(session, ALPHA, dict(
        employer_id=1, title="Groenonderhoud", hours_per_week=D(hours), hourly_rate_cents=rate_cents,
        location="Utrecht", start_date=start, end_date=end, displacement_declared_by="P. de Vries",
    ), user_id=None)


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


def place(session, cand, assign, start, hours, end=None):
    return services.create_placement(session, ALPHA, dict(
        candidate_id=cand.id, assignment_id=assign.id, start_date=start, hours_per_week=D(hours),
        end_date=end, goals="Werkritme opdoen"), user_id=None)


def refusal(session, cand, assign, start, hours, end=None):
    with pytest.raises(services.PlacementError) as caught:
        place(session, cand, assign, start, hours, end)
    return caught.value.violations


# -- temporariness ----------------------------------------------------------------------------------


def test_exactly_six_months_at_28_hours(alpha):
    start = dt.date(2026, 1, 15)
    p = place(alpha, candidate(alpha), assignment(alpha), start, "28")
    assert p.end_date == dt.date(2026, 7, 14)  # computed: the last day within six months
    assert p.rules_version == 2


def test_one_day_more_than_six_months_is_refused(alpha):
    (v,) = refusal(alpha, candidate(alpha), assignment(alpha), dt.date(2026, 1, 15), "28", dt.date(2026, 7, 15))
    assert (v.code, v.rule, v.version, v.field) == ("too_long", "max_months_part_time", 1, "end_date")
    assert "2026-07-14" in v.message_nl


def test_exactly_the_last_allowed_day_is_accepted(alpha):
    p = place(alpha, candidate(alpha), assignment(alpha), dt.date(2026, 1, 15), "20", dt.date(2026, 7, 14))
    assert p.end_date == dt.date(2026, 7, 14)


def test_above_28_hours_three_months(alpha):
    start = dt.date(2026, 1, 31)
    p = place(alpha, candidate(alpha), assignment(alpha), start, "28.01")
    assert p.end_date == dt.date(2026, 4, 29)  # 31 Jan + 3 months = 30 April (clamped), minus one day
    (v,) = refusal(alpha, candidate(alpha, "222333444", "Bakker"), assignment(alpha), start, "30",
                   dt.date(2026, 5, 31))
    assert (v.code, v.rule) == ("too_long", "max_months_full_time")


def test_a_stricter_local_maximum_applies(alpha):
    set_local_value(alpha, ALPHA, key="max_months_part_time", value="4", effective_from=TODAY, today=TODAY)
    p = place(alpha, candidate(alpha), assignment(alpha, start=TODAY), TODAY, "16")
    assert p.end_date == last_day_within(TODAY, 4)  # the municipality's 4 months, not the shared 6


# -- the minimum rate on the day it changed ---------------------------------------------------------


def test_the_rate_is_checked_against_the_rule_of_the_start_date(alpha):
    cheap = assignment(alpha, rate_cents=1200, start=dt.date(2016, 6, 1))  # EUR 12.00, allowed in 2016
    ok = place(alpha, candidate(alpha), cheap, dt.date(2016, 12, 31), "16", dt.date(2016, 12, 31))
    assert ok.rules_version == 1
    (v,) = refusal(alpha, candidate(alpha, "222333444", "Bakker"), cheap, dt.date(2017, 1, 1), "16")
    assert (v.code, v.rule, v.version, v.field) == ("rate_below_minimum", "min_hourly_rate", 2, "assignment_id")
    assert "12,30" in v.message_nl and "12.30" in v.message_en


def test_an_assignment_below_the_minimum_is_refused(alpha):
    with pytest.raises(assignments.AssignmentError) as caught:
        assignment(alpha, rate_cents=1229, start=dt.date(2017, 1, 1))
    (v,) = caught.value.violations
    assert (v.code, v.field, v.version) == ("rate_below_minimum", "hourly_rate", 2)
    assert assignment(alpha, rate_cents=1230, start=dt.date(2017, 1, 1)).hourly_rate_cents == 1230


def test_a_stricter_local_minimum_rate_applies(alpha):
    set_local_value(alpha, ALPHA, key="min_hourly_rate", value="14.00", effective_from=TODAY, today=TODAY)
    with pytest.raises(assignments.AssignmentError) as caught:
        assignment(alpha, rate_cents=1399, start=TODAY)
    assert "lokale kader" in caught.value.violations[0].message_nl


# -- other rules ------------------------------------------------------------------------------------


def test_overlapping_placements_are_refused(alpha):
    cand, assign = candidate(alpha), assignment(alpha)
    place(alpha, cand, assign, dt.date(2026, 1, 1), "16", dt.date(2026, 3, 31))
    (v,) = refusal(alpha, cand, assign, dt.date(2026, 3, 31), "16")
    assert v.code == "overlap"
    assert place(alpha, cand, assign, dt.date(2026, 4, 1), "16").start_date == dt.date(2026, 4, 1)


def test_outside_the_assignment_and_too_many_hours(alpha):
    assign = assignment(alpha, hours="20", start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 28))
    codes = {v.code for v in refusal(alpha, candidate(alpha), assign, dt.date(2026, 1, 1), "24")}
    assert codes == {"outside_assignment", "more_hours_than_assignment"}


def test_every_broken_rule_is_listed(alpha):
    cheap = assignment(alpha, rate_cents=1200, start=dt.date(2016, 1, 1), end=dt.date(2017, 2, 1))
    codes = {v.code for v in refusal(alpha, candidate(alpha), cheap, dt.date(2017, 1, 1), "40", dt.date(2017, 12, 1))}
    assert codes == {"too_long", "rate_below_minimum", "outside_assignment", "more_hours_than_assignment"}


def test_placing_sets_the_candidate_placed_and_ending_early(alpha):
    cand = candidate(alpha)
    p = place(alpha, cand, assignment(alpha), dt.date(2026, 1, 1), "16")
    assert cand.status is CandidateStatus.PLACED
    services.end_placement(alpha, p, dt.date(2026, 2, 1))
    assert (p.status, p.end_date) == (PlacementStatus.ENDED, dt.date(2026, 2, 1))
    with pytest.raises(services.PlacementError):
        services.end_placement(alpha, p, dt.date(2026, 2, 2))


# -- API and pages ------------------------------------------------------------------------------------


def test_api_refusal_lists_codes_and_versions(client, login, alpha):
    cand, cheap = candidate(alpha), assignment(alpha, rate_cents=1200, start=dt.date(2016, 1, 1))
    alpha.commit()
    token = login("staff@alpha.test")
    response = client.post("/api/v1/g/alpha/placements", headers={"X-CSRFToken": token}, json={
        "candidate_id": cand.id, "assignment_id": cheap.id, "start_date": "2017-01-01", "hours_per_week": "16"})
    body = response.get_json()
    assert response.status_code == 422
    assert [(v["code"], v["version"]) for v in body["violations"]] == [("rate_below_minimum", 2)]
    ok = client.post("/api/v1/g/alpha/placements", headers={"X-CSRFToken": token}, json={
        "candidate_id": cand.id, "assignment_id": cheap.id, "start_date": "2016-06-01", "hours_per_week": "16"})
    assert ok.status_code == 201 and ok.get_json()["end_date"] == "2016-11-30"


def test_pages_create_an_assignment_and_a_placement(client, login, alpha):
    cand = candidate(alpha)
    alpha.commit()
    token = login("staff@alpha.test")
    form = {"csrf_token": token, "employer_id": "1", "title": "Magazijn", "hours_per_week": "24",
            "hourly_rate": "12,00", "location": "Utrecht", "start_date": "2026-01-01",
            "displacement_declared_by": "P. de Vries"}
    refused = client.post("/g/alpha/opdrachten/nieuw", data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'value="Magazijn"' in html
    assert "geen regulier" in html  # the declaration is required
    refused = client.post("/g/alpha/opdrachten/nieuw", data={**form, "displacement_confirmed": "ja"})
    assert refused.status_code == 422
    assert "Het uurtarief 12,00 ligt onder het minimumtarief 12,30" in refused.get_data(as_text=True)
    created = client.post("/g/alpha/opdrachten/nieuw", data={**form, "hourly_rate": "12,30",
                                                              "hours_per_week": "24,5",
                                                              "displacement_confirmed": "ja"})
    assert created.status_code == 302
    assignment_id = int(created.headers["Location"].rsplit("/", 1)[1])
    placed = client.post("/g/alpha/plaatsingen/nieuw", data={
        "csrf_token": token, "candidate_id": str(cand.id), "assignment_id": str(assignment_id),
        "start_date": "2026-01-05", "hours_per_week": "24", "goals": "Werkritme"})
    assert placed.status_code == 302
    page = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Anna Jansen" in page and "111222333" not in page and "•••" in page
    assert "4 juli 2026" in page  # 5 January + 6 months - 1 day
