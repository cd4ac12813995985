"""Guidance moments: planned at placement creation from the local framework's schedule (per
anchor), moved when the first working day becomes known, outcomes recorded by staff (API and
page), and overdue moments found for the reminders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tenants.frameworks.models import GuidanceAnchor
from tenants.frameworks.services import replace_guidance
from tenants.guidance import services
from tenants.guidance.models import GuidanceMoment
from tenants.placements.models import PlacementStatus
from tests import factories

D = dt.date
REGISTERED = D(2026, 1, 5)
START = D(2026, 2, 2)


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def placed(alpha):
    """A committed placement from 2 February 2026 of a candidate registered on 5 January."""
    placement = factories.placement(alpha, candidate_row=factories.candidate(alpha, registered_on=REGISTERED),
                                    start_date=START)
    alpha.commit()
    return placement


def planned(session, placement) -> list[tuple[str, str, dt.date]]:
    return [(m.name, m.anchor.value, m.planned_on) for m in services.moments_for(session, placement.id)]


# -- scheduling -----------------------------------------------------------------------------------


def test_the_default_schedule_is_planned_at_creation(alpha, placed):
    assert planned(alpha, placed) == [
        ("Intakegesprek", "registration", REGISTERED),
        ("Gesprek voor de start van de plaatsing", "placement_start", START - dt.timedelta(days=3)),
        # the first working day is not known yet: planned from the start date
        ("Contact na de eerste werkdag", "first_working_day", START + dt.timedelta(days=1)),
        ("Evaluatie na 3 maanden", "placement_start", START + dt.timedelta(days=91)),
    ]
    assert all(m.done_on is None and m.still_serves_goals is None for m in services.moments_for(alpha, placed.id))


def test_the_municipalitys_own_schedule_applies(alpha):
    replace_guidance(alpha, factories.ALPHA, [
        {"name": "Kennismaking", "anchor": "registration", "offset_days": 7},
        {"name": "Eerste week", "anchor": "first_working_day", "offset_days": 5},
        {"name": "Tussenevaluatie", "anchor": "placement_start", "offset_days": 45},
    ])
    placement = factories.placement(alpha, candidate_row=factories.candidate(alpha, registered_on=REGISTERED),
                                    start_date=START)
    assert planned(alpha, placement) == [
        ("Kennismaking", "registration", D(2026, 1, 12)),
        ("Eerste week", "first_working_day", D(2026, 2, 7)),
        ("Tussenevaluatie", "placement_start", D(2026, 3, 19)),
    ]


def test_a_later_schedule_change_leaves_existing_placements_alone(alpha, placed):
    before = planned(alpha, placed)
    replace_guidance(alpha, factories.ALPHA, [{"name": "Nieuw", "anchor": "placement_start", "offset_days": 1}])
    assert planned(alpha, placed) == before


def test_the_intake_is_not_planned_again_for_a_second_placement(alpha, placed):
    second = factories.placement(alpha, candidate_row=placed.candidate, start_date=D(2026, 9, 1))
    names = [name for name, _, _ in planned(alpha, second)]
    assert "Intakegesprek" not in names and "Evaluatie na 3 maanden" in names


def test_moments_move_when_the_first_working_day_is_set(alpha, placed):
    moments = {m.name: m for m in services.moments_for(alpha, placed.id)}
    placed.first_working_day = D(2026, 2, 9)
    moved = services.reschedule_first_working_day(alpha, placed)
    assert [m.name for m in moved] == ["Contact na de eerste werkdag"]
    assert moments["Contact na de eerste werkdag"].planned_on == D(2026, 2, 10)
    assert moments["Evaluatie na 3 maanden"].planned_on == START + dt.timedelta(days=91)  # start-anchored
    assert moments["Intakegesprek"].planned_on == REGISTERED


def test_a_moment_already_done_keeps_its_date(alpha, placed):
    contact = next(m for m in services.moments_for(alpha, placed.id) if m.anchor is GuidanceAnchor.FIRST_WORKING_DAY)
    services.record_outcome(alpha, contact, {"done_on": D(2026, 2, 3), "outcome": "Goed gestart.",
                                             "still_serves_goals": True}, None, today=D(2026, 2, 3))
    placed.first_working_day = D(2026, 2, 20)
    assert services.reschedule_first_working_day(alpha, placed) == []
    assert contact.planned_on == START + dt.timedelta(days=1)


# -- overdue --------------------------------------------------------------------------------------


def test_overdue_is_planned_before_today_and_not_done(alpha, placed):
    moments = {m.name: m for m in services.moments_for(alpha, placed.id)}
    evaluation = moments["Evaluatie na 3 maanden"]  # 4 May 2026
    assert evaluation not in services.overdue_moments(alpha, evaluation.planned_on)  # on the day: not yet
    day_after = evaluation.planned_on + dt.timedelta(days=1)
    overdue = services.overdue_moments(alpha, day_after)
    assert [m.name for m in overdue] == ["Intakegesprek", "Gesprek voor de start van de plaatsing",
                                         "Contact na de eerste werkdag", "Evaluatie na 3 maanden"]
    assert overdue[0].placement.candidate.name == "Anna Jansen"  # loaded for the reminder text
    services.record_outcome(alpha, moments["Intakegesprek"], {"done_on": REGISTERED, "outcome": "Intake gedaan.",
                                                               "still_serves_goals": None}, None, today=day_after)
    assert "Intakegesprek" not in [m.name for m in services.overdue_moments(alpha, day_after)]
    assert services.overdue_moments(alpha, REGISTERED) == []


def test_moments_of_a_cancelled_placement_are_never_overdue(alpha, placed):
    placed.status = PlacementStatus.CANCELLED
    alpha.flush()
    assert services.overdue_moments(alpha, D(2027, 1, 1)) == []


# -- recording the outcome ------------------------------------------------------------------------


def test_staff_record_the_outcome_through_the_api(client, login, alpha, placed):
    moment = services.moments_for(alpha, placed.id)[0]
    token = login("staff@alpha.test")
    response = client.post(f"/api/v1/g/alpha/guidance/{moment.id}/outcome", headers={"X-CSRFToken": token},
                           json={"done_on": "2026-01-06", "outcome": "Doelen besproken.", "still_serves_goals": False})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["done_on"], body["outcome"], body["still_serves_goals"], body["overdue"]) == (
        "2026-01-06", "Doelen besproken.", False, False)
    assert body["recorded_by_user_id"] and body["recorded_at"]
    listing = client.get(f"/api/v1/g/alpha/placements/{placed.id}/guidance").get_json()
    assert [m["name"] for m in listing][0] == "Intakegesprek" and listing[0]["still_serves_goals"] is False
    assert client.get(f"/api/v1/g/alpha/guidance/{moment.id}").get_json()["outcome"] == "Doelen besproken."


def test_an_outcome_is_refused_with_reasons(client, login, alpha, placed):
    moment = services.moments_for(alpha, placed.id)[0]
    token = login("staff@alpha.test")
    url = f"/api/v1/g/alpha/guidance/{moment.id}/outcome"
    future = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    response = client.post(url, headers={"X-CSRFToken": token},
                           json={"done_on": future, "outcome": "Nog niet gebeurd."})
    assert response.status_code == 422
    assert response.get_json()["violations"][0]["code"] == "done_in_future"
    response = client.post(url, headers={"X-CSRFToken": token},
                           json={"done_on": "31-01-2026", "outcome": " ", "still_serves_goals": "misschien"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"done_on", "outcome", "still_serves_goals"}
    alpha.expire_all()
    assert services.get_moment(alpha, moment.id).done_on is None


def test_the_backoffice_reads_but_does_not_record(client, login, alpha, placed):
    moment = services.moments_for(alpha, placed.id)[0]
    token = login("backoffice@nvsi.test")
    assert client.get(f"/api/v1/g/alpha/placements/{placed.id}/guidance").status_code == 200
    response = client.post(f"/api/v1/g/alpha/guidance/{moment.id}/outcome", headers={"X-CSRFToken": token},
                           json={"done_on": "2026-01-06", "outcome": "x"})
    assert response.status_code == 403
    page = client.post(f"/g/alpha/begeleiding/{moment.id}", data={"done_on": "2026-01-06", "outcome": "x",
                                                                  "csrf_token": token})
    assert page.status_code == 403


def test_another_tenant_cannot_reach_a_moment(client, login, alpha, placed):
    moment = services.moments_for(alpha, placed.id)[0]
    login("staff@beta.test")
    assert client.get(f"/api/v1/g/alpha/guidance/{moment.id}").status_code == 404
    assert client.get(f"/api/v1/g/beta/guidance/{moment.id}").status_code == 404
    assert client.get(f"/g/beta/begeleiding/{moment.id}").status_code == 404


def test_the_placement_page_shows_the_moments_with_their_outcome_form(client, login, alpha, placed):
    moments = services.moments_for(alpha, placed.id)
    token = login("staff@alpha.test")
    page = client.get(f"/g/alpha/plaatsingen/{placed.id}").get_data(as_text=True)
    assert "Begeleidingsmomenten" in page and "Evaluatie na 3 maanden" in page
    for moment in moments:
        assert f'action="/g/alpha/begeleiding/{moment.id}"' in page
        assert f'id="m{moment.id}-outcome"' in page  # ids unique per form
    response = client.post(f"/g/alpha/begeleiding/{moments[0].id}", data={
        "done_on": "2026-01-05", "outcome": "Intake: motivatie en wensen besproken.",
        "still_serves_goals": "true", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/plaatsingen/{placed.id}#begeleiding")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Intake: motivatie en wensen besproken." in page and "is vastgelegd" in page
    alpha.expire_all()
    recorded = alpha.get(GuidanceMoment, moments[0].id)
    assert (recorded.done_on, recorded.still_serves_goals) == (D(2026, 1, 5), True)


def test_the_outcome_form_comes_back_with_errors_and_what_was_typed(client, login, alpha, placed):
    moment = services.moments_for(alpha, placed.id)[1]
    token = login("staff@alpha.test")
    response = client.post(f"/g/alpha/begeleiding/{moment.id}", data={
        "done_on": "morgen", "outcome": "Getypte tekst blijft staan.", "still_serves_goals": "", "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="error-summary"' in page and 'href="#done_on"' in page
    assert "Getypte tekst blijft staan." in page and 'value="morgen"' in page
    assert 'aria-invalid="true"' in page
    assert client.get(f"/g/alpha/begeleiding/{moment.id}").status_code == 200


def test_the_overview_lists_overdue_and_coming_moments(client, login, alpha):
    today = dt.date.today()
    placement = factories.placement(
        alpha, candidate_row=factories.candidate(alpha, registered_on=today - dt.timedelta(days=30),
                                                 last_name="Visser"),
        assignment_row=factories.assignment(alpha, start_date=today - dt.timedelta(days=30)),
        start_date=today + dt.timedelta(days=5), hours_per_week=Decimal("16"))
    alpha.commit()
    login("staff@alpha.test")
    page = client.get("/g/alpha/begeleiding").get_data(as_text=True)
    overdue_part, coming_part = page.split("De komende twee weken")
    assert "Intakegesprek" in overdue_part and "Anna Visser" in overdue_part
    assert "Gesprek voor de start van de plaatsing" in coming_part  # start - 3 days
    api = client.get("/api/v1/g/alpha/guidance/overdue").get_json()
    assert [(m["name"], m["candidate_name"], m["overdue"]) for m in api] == [("Intakegesprek", "Anna Visser", True)]
    assert api[0]["placement_id"] == placement.id
