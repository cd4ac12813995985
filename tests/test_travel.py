"""Travel cost reimbursements: recorded for a day of a candidate's placement and booked at once
(travel costs against travel costs payable), through the API and the page form. Both backends.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.ledger import chart
from nvsi.ledger.models import LedgerTransaction
from nvsi.ledger.services import balance, close_period
from tenants.premiums import services
from tenants.premiums.models import TravelCost
from tests import factories
from tests.factories import ALPHA

API = "/api/v1/g/alpha/travel-costs"
PAGE = "/g/alpha/travel-costs"


@pytest.fixture
def token(login):
    return login("staff@alpha.test")


@pytest.fixture
def placement(tenant_session):
    """A placement in alpha from 2 February 2026 (committed in the test's transaction)."""
    session = tenant_session("alpha")
    row = factories.placement(session)
    ids = {"id": row.id, "candidate_id": row.candidate_id, "start": row.start_date, "end": row.end_date}
    session.commit()
    return ids


def post(client, token, body):
    return client.post(API, json=body, headers={"X-CSRFToken": token})


def test_a_travel_cost_is_recorded_and_booked_at_once(client, token, placement, tenant_session):
    response = post(client, token, {"placement_id": placement["id"], "candidate_id": placement["candidate_id"],
                                    "cost_date": "2026-02-03", "amount": "12.50", "description": "OV Utrecht–Houten v.v."})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["amount_cents"], body["candidate_id"], body["cost_date"]) == (1250, placement["candidate_id"], "2026-02-03")

    session = tenant_session("alpha")
    txn = session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.kind == "travel")).one()
    assert str(txn.id) == body["ledger_transaction_id"] and txn.booking_date == dt.date.today()
    assert {(e.account.code, e.amount_cents) for e in txn.entries} == {(chart.TRAVEL_EXPENSE, 1250),
                                                                      (chart.TRAVEL_PAYABLE, -1250)}
    assert balance(session, chart.TRAVEL_PAYABLE, ALPHA.id) == -1250
    assert balance(session, chart.TRAVEL_EXPENSE, ALPHA.id) == 1250
    audit = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "travel_costs.create")).one()
    assert audit.actor_label == "staff@alpha.test" and audit.object_id == str(body["id"])

    listed = client.get(API).get_json()
    assert [i["amount_cents"] for i in listed["items"]] == [1250] and listed["total"] == 1


@pytest.mark.parametrize("change, field, code", [
    ({"amount": "0"}, "amount", None),
    ({"amount": "-5,00"}, "amount", None),
    ({"amount": "1.005"}, "amount", None),
    ({"cost_date": "2026-02-01"}, "cost_date", "outside_placement"),  # the day before the start
    ({"cost_date": "2027-01-01"}, "cost_date", "outside_placement"),
    ({"description": ""}, "description", None),
])
def test_bad_input_is_refused_with_422_naming_the_field(client, token, placement, tenant_session, change, field,
                                                        code):
    body = {"placement_id": placement["id"], "cost_date": "2026-02-03", "amount": "12.50", "description": "OV"}
    response = post(client, token, {**body, **change})
    assert response.status_code == 422
    assert field in response.get_json()["errors"], response.get_json()
    if code:
        assert [v["code"] for v in response.get_json()["violations"]] == [code]
    assert tenant_session("alpha").scalar(sa.select(sa.func.count()).select_from(TravelCost)) == 0


def test_the_placement_must_be_the_candidates(client, token, placement, tenant_session):
    other = factories.candidate(tenant_session("alpha"))
    other_id = other.id
    tenant_session("alpha").commit()
    response = post(client, token, {"placement_id": placement["id"], "candidate_id": other_id,
                                    "cost_date": "2026-02-03", "amount": "3", "description": "Bus"})
    assert response.status_code == 422 and "placement_id" in response.get_json()["errors"]
    unknown = post(client, token, {"placement_id": 999999, "cost_date": "2026-02-03", "amount": "3",
                                   "description": "Bus"})
    assert unknown.status_code == 422 and "placement_id" in unknown.get_json()["errors"]


def test_a_settled_period_refuses_the_booking(client, token, placement, tenant_session):
    session = tenant_session("alpha")
    today = dt.date.today()
    close_period(session, ALPHA.id, today.replace(day=1), today, "afrekening")
    session.commit()
    response = post(client, token, {"placement_id": placement["id"], "cost_date": "2026-02-03", "amount": "3",
                                    "description": "Bus"})
    assert response.status_code == 422
    assert [v["code"] for v in response.get_json()["violations"]] == ["period_closed"]


def test_page_form_keeps_what_was_typed_and_says_what_is_wrong(client, token, placement):
    form = {"placement_id": str(placement["id"]), "cost_date": "2026-01-15", "amount": "-4,50",
            "description": "Trein naar de opdrachtgever", "csrf_token": token}
    response = client.post(f"{PAGE}/new", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="-4,50"' in html and 'value="Trein naar de opdrachtgever"' in html and 'value="2026-01-15"' in html
    assert f'<option value="{placement["id"]}" selected>' in html
    assert re.findall(r'<li><a href="#(\w+)">', html) == ["amount"]
    assert "groter zijn dan nul" in html and 'aria-invalid="true"' in html
    # With the amount right, the date outside the placement is named next.
    response = client.post(f"{PAGE}/new", data={**form, "amount": "4,50"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and re.findall(r'<li><a href="#(\w+)">', html) == ["cost_date"]
    assert "binnen de plaatsing" in html


def test_page_records_and_lists(client, token, placement):
    response = client.post(f"{PAGE}/new", data={"placement_id": str(placement["id"]), "cost_date": "2026-02-03",
                                                 "amount": "7,20", "description": "Bus", "csrf_token": token})
    assert response.status_code == 302
    listing = client.get(PAGE).get_data(as_text=True)
    assert "Bus" in listing and "7,20" in listing and "vastgelegd en geboekt" in listing


@pytest.mark.parametrize("email, status", [
    ("admin@alpha.test", 200), ("backoffice@nvsi.test", 200),
    ("admin@nvsi.test", 404),  # manages the association, not a municipality's candidates
])
def test_who_sees_travel_costs_and_premiums(client, login, email, status):
    login(email)
    for url in (API, PAGE, "/api/v1/g/alpha/premiums", "/g/alpha/premiums"):
        assert client.get(url).status_code == status, url


def test_the_service_refuses_without_the_api_too(tenant_session):
    session = tenant_session("alpha")
    row = factories.placement(session)
    with pytest.raises(services.PremiumError) as refused:
        services.record_travel_cost(session, ALPHA, {"placement_id": row.id, "cost_date": dt.date(2026, 2, 3),
                                                     "amount_cents": 0, "description": "x"}, None)
    assert [v.field for v in refused.value.violations] == ["amount"]
