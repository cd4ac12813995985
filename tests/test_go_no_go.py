"""The go/no-go report: the financial result from the ledger (to the cent, by hand) and the social
results (arrangement 3 → 1, welfare exits, the target mix), the verdict with its reasons; the
page, the API, welfare exits and the arrangement history. Both backends.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.contract import services as contracts
from nvsi.contract.models import ContractStatus
from nvsi.ledger import chart
from nvsi.ledger.services import Line, post
from tenants.candidates.models import CandidateStatus
from tenants.frameworks.models import Arrangement
from tenants.premiums import services as premiums
from tenants.reports import services
from tenants.reports.models import ArrangementChange, ExitExtent, WelfareExit
from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry
from tests import factories
from tests.factories import ALPHA
from tests.test_browser import UTRECHT_STAFF, browser, check_accessibility, live_server, log_in, new_page  # noqa: F401

START, END = dt.date(2026, 2, 2), dt.date(2026, 8, 1)  # the first placement's start + 6 months


def contract(session, fee="12.50", start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)):
    return contracts.create_contract(session, dict(
        reference="UC-2026-01", service_company="Flextensie Nederland b.v.", status=ContractStatus.ACTIVE,
        start_date=start, end_date=end, review_date=None, note=None, service_fee_pct=Decimal(fee),
        service_company_contribution_pct=Decimal("1.00"), helpdesk_response_hours=24,
        availability_pct=Decimal("99.50")), None)


def invoice(session, day, net, vat, tenant_id=ALPHA.id, key=None):
    """What an invoice books: receivable against revenue and VAT."""
    post(session, key=key or f"inv-{tenant_id}-{day}", booking_date=day, tenant_id=tenant_id, kind="invoice",
         description="Factuur", lines=[Line(chart.RECEIVABLES, net + vat), Line(chart.REVENUE, -net),
                                       Line(chart.VAT_PAYABLE, -vat)])


def approved_hours(session, placement, day, hours):
    batch = TimesheetBatch(placement_id=placement.id)
    session.add(batch)
    session.flush()
    session.add(TimesheetEntry(placement_id=placement.id, batch_id=batch.id, work_date=day, hours=Decimal(hours),
                               status=EntryStatus.APPROVED, decided_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                               decided_by="x"))
    session.flush()


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def small_municipality(alpha):
    """Five candidates, two placements, 38 hours at EUR 12.30 invoiced, premiums and travel costs."""
    one = Arrangement(code="1", name="Arrangement 1", target_share_pct=Decimal("15"), position=1)
    three = Arrangement(code="3", name="Arrangement 3", target_share_pct=Decimal("85"), position=3)
    alpha.add_all([one, three])
    alpha.flush()
    a = factories.candidate(alpha, arrangement_id=one.id)  # moved from 3 to 1 in April
    b = factories.candidate(alpha, arrangement_id=three.id)  # partly off welfare in May
    c = factories.candidate(alpha, arrangement_id=three.id, status=CandidateStatus.LEFT_WELFARE,
                            left_on=dt.date(2026, 6, 1), left_reason="Regulier werk")  # fully off in June
    d = factories.candidate(alpha, arrangement_id=one.id)  # moved from 3 to 1 in September: after the period
    factories.candidate(alpha, registered_on=dt.date(2026, 7, 1))  # e: no arrangement
    alpha.add_all([
        ArrangementChange(candidate_id=a.id, from_arrangement_id=three.id, to_arrangement_id=one.id,
                          changed_on=dt.date(2026, 4, 15)),
        ArrangementChange(candidate_id=d.id, from_arrangement_id=three.id, to_arrangement_id=one.id,
                          changed_on=dt.date(2026, 9, 1)),
        WelfareExit(candidate_id=b.id, exit_date=dt.date(2026, 5, 1), extent=ExitExtent.PARTIAL),
        WelfareExit(candidate_id=c.id, exit_date=dt.date(2026, 6, 1), extent=ExitExtent.FULL),  # counted once
    ])
    placement_a = factories.placement(alpha, candidate_row=a)
    factories.placement(alpha, candidate_row=b, start_date=dt.date(2026, 3, 2))
    contract(alpha)

    invoice(alpha, dt.date(2026, 3, 2), 46740, 9815)  # 38 h × EUR 12.30 = 467.40, 21% VAT 98.15
    invoice(alpha, dt.date(2026, 10, 1), 10000, 2100)  # after the period
    invoice(alpha, dt.date(2026, 3, 2), 99999, 21000, tenant_id=2, key="beta")  # another municipality
    for day in (dt.date(2026, 2, 2), dt.date(2026, 2, 3), dt.date(2026, 2, 4), dt.date(2026, 2, 5)):
        approved_hours(alpha, placement_a, day, "9.5")  # 38 hours: EUR 76.00 premium
    premiums.accrue(alpha, ALPHA, dt.date(2026, 2, 28), today=dt.date(2026, 3, 31))
    premiums.record_travel_cost(alpha, ALPHA, {"placement_id": placement_a.id, "cost_date": dt.date(2026, 2, 3),
                                               "amount_cents": 1250, "description": "OV"}, None,
                                today=dt.date(2026, 4, 1))
    # A settlement's closing entry within the period moves revenue out of 8000: not part of the result.
    post(alpha, key="closing", booking_date=dt.date(2026, 6, 30), tenant_id=ALPHA.id, kind="settlement",
         description="Afsluiting", lines=[Line(chart.REVENUE, 46740), Line(chart.SETTLEMENT_PAYABLE, -46740)])
    return {"a": a.id, "b": b.id, "c": c.id}


def test_the_default_period_is_six_months_from_the_first_placement(alpha, small_municipality):
    assert services.default_period(alpha) == (START, END)


def test_financial_result_to_the_cent(alpha, small_municipality):
    f = services.financial(alpha, ALPHA, START, END)
    assert f.revenue_cents == 46740  # EUR 467.40 excl. VAT
    assert f.premiums_cents == 7600  # 38 h × EUR 2.00
    assert f.travel_cents == 1250
    assert (f.service_fee_pct, f.service_fee_cents) == (Decimal("12.50"), 5843)  # 5,842.5 cents, half up
    assert (f.contribution_pct, f.contribution_cents) == (Decimal("1.00"), 467)  # 467.4 cents
    assert f.result_cents == 46740 - 7600 - 1250 - 5843 - 467 == 31580  # EUR 315.80
    assert f.cost_neutral is True and f.contract_reference == "UC-2026-01"


def test_social_results(alpha, small_municipality):
    s = services.social(alpha, START, END)
    assert (s.participants, s.moved_3_to_1, s.exits_full, s.exits_partial) == (2, 1, 1, 1)
    assert [(m.from_name, m.to_name, m.candidates) for m in s.moves] == [("Arrangement 3", "Arrangement 1", 1)]
    # The pool at the end: a, b, c (left in the period), d, e; by current arrangement.
    assert s.pool == 5
    assert [(m.code, m.candidates, m.share_pct, m.target_pct, m.difference_pct) for m in s.mix] == [
        ("1", 2, Decimal("40.0"), Decimal("15.00"), Decimal("25.0")),
        ("3", 2, Decimal("40.0"), Decimal("85.00"), Decimal("-45.0")),
        (None, 1, Decimal("20.0"), None, None),
    ]


def test_go_when_cost_neutral_with_social_results(alpha, small_municipality):
    report = services.go_no_go(alpha, ALPHA, START, END)
    assert report.go is True
    assert [(r.criterion, r.met, r.code) for r in report.reasons] == [
        ("financial", True, "cost_neutral"), ("social", True, "social_results")]


def test_no_go_when_the_result_is_negative(alpha, small_municipality):
    # October: only the later invoice of EUR 100.00 (and later a travel cost of EUR 99.00).
    report = services.go_no_go(alpha, ALPHA, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert report.financial.result_cents == 10000 - 1250 - 100 == 8650
    assert report.go is False  # cost-neutral, but no social result in October
    assert [r.code for r in report.reasons] == ["cost_neutral", "no_social_results"]

    placement = alpha.scalars(sa.select(TimesheetBatch.placement_id)).first()
    premiums.record_travel_cost(alpha, ALPHA, {"placement_id": placement, "cost_date": dt.date(2026, 2, 3),
                                               "amount_cents": 9900, "description": "Taxi"}, None,
                                today=dt.date(2026, 10, 2))
    report = services.go_no_go(alpha, ALPHA, dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert report.financial.result_cents == 10000 - 9900 - 1250 - 100 == -1250
    assert report.financial.cost_neutral is False and report.reasons[0].code == "not_cost_neutral"


def test_without_a_contract_the_result_cannot_be_told(alpha, small_municipality):
    report = services.go_no_go(alpha, ALPHA, dt.date(2027, 1, 1), dt.date(2027, 6, 30))
    assert report.financial.service_fee_cents is None and report.financial.result_cents is None
    assert report.reasons[0].code == "no_contract" and report.reasons[0].met is None
    assert report.go is False  # no social results either: a no-go whatever the money


def test_api_and_page(client, login, alpha, small_municipality):
    alpha.commit()
    login("staff@alpha.test")
    body = client.get("/api/v1/g/alpha/reports/go-no-go").get_json()
    assert (body["from"], body["to"], body["go"]) == ("2026-02-02", "2026-08-01", True)
    assert body["financial"]["result_cents"] == 31580 and body["financial"]["service_fee_cents"] == 5843
    assert body["social"]["moved_3_to_1"] == 1 and body["reasons"][0]["message"].startswith("Het financiële")

    page = client.get("/g/alpha/reports/go-no-go?from=2026-02-02&to=2026-08-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Advies: go" in html
    for figure in ("467,40", "76,00", "12,50", "58,43", "4,67", "315,80"):
        assert figure in html, figure
    assert html.count("<table") == 5  # every figure is in a table

    refused = client.get("/api/v1/g/alpha/reports/go-no-go?from=2026-08-01&to=2026-02-01")
    assert refused.status_code == 422 and "to" in refused.get_json()["errors"]
    bad = client.get("/api/v1/g/alpha/reports/go-no-go?from=gisteren")
    assert bad.status_code == 422 and "from" in bad.get_json()["errors"]
    page = client.get("/g/alpha/reports/go-no-go?from=2026-08-01&to=2026-02-01")
    assert page.status_code == 422 and 'href="#to"' in page.get_data(as_text=True)


def test_welfare_exits_page_keeps_the_form_and_the_api_records(client, login, alpha):
    candidate = factories.candidate(alpha, registered_on=dt.date(2026, 1, 5))
    candidate_id = candidate.id
    alpha.commit()
    token = login("staff@alpha.test")
    response = client.post("/g/alpha/reports/uitstroom", data={
        "candidate_id": str(candidate_id), "exit_date": "2025-12-01", "extent": "partial", "note": "Parttime",
        "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'value="Parttime"' in html and 'value="2025-12-01"' in html
    assert re.findall(r'<li><a href="#(\w+)">', html) == ["exit_date"] and "voor de inschrijving" in html
    assert re.search(r'value="partial"\s+checked', html)

    created = client.post("/api/v1/g/alpha/welfare-exits", json={
        "candidate_id": candidate_id, "exit_date": "2026-02-01", "extent": "partial"},
        headers={"X-CSRFToken": token})
    assert created.status_code == 201 and created.get_json()["extent"] == "partial"
    again = client.post("/api/v1/g/alpha/welfare-exits", json={
        "candidate_id": candidate_id, "exit_date": "2026-02-01", "extent": "partial"},
        headers={"X-CSRFToken": token})
    assert again.status_code == 422 and "exit_date" in again.get_json()["errors"]
    wrong = client.post("/api/v1/g/alpha/welfare-exits", json={
        "candidate_id": candidate_id, "exit_date": "2026-02-01", "extent": "half"}, headers={"X-CSRFToken": token})
    assert wrong.status_code == 422 and "extent" in wrong.get_json()["errors"]
    assert [e["exit_date"] for e in client.get("/api/v1/g/alpha/welfare-exits").get_json()["items"]] == ["2026-02-01"]


def test_every_change_of_arrangement_is_recorded_with_the_day_and_the_user(client, login, alpha):
    one = Arrangement(code="1", name="Arrangement 1", position=1)
    three = Arrangement(code="3", name="Arrangement 3", position=3)
    alpha.add_all([one, three])
    alpha.flush()
    candidate = factories.candidate(alpha, arrangement_id=three.id)
    ids = {"candidate": candidate.id, "one": one.id, "three": three.id}
    alpha.commit()
    alpha.close()
    token = login("staff@alpha.test")
    response = client.patch(f"/api/v1/g/alpha/candidates/{ids['candidate']}", json={
        "arrangement_id": ids["one"], "version": 1}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_json()

    rows = alpha.execute(sa.select(ArrangementChange.from_arrangement_id, ArrangementChange.to_arrangement_id,
                                   ArrangementChange.changed_on, ArrangementChange.changed_by_user_id)
                         .where(ArrangementChange.candidate_id == ids["candidate"]).order_by(ArrangementChange.id)).all()
    assert [(f, t, day) for f, t, day, _ in rows] == [(None, ids["three"], dt.date.today()),
                                                     (ids["three"], ids["one"], dt.date.today())]
    assert rows[1][3] is not None  # the staff member who changed it
    report = services.social(alpha, dt.date.today(), dt.date.today())
    assert report.moved_3_to_1 == 1 and report.history_since == dt.date.today()


# The pages come from the same templates whatever the backend: checked once, on SQLite.
@pytest.mark.browser
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_pages_in_a_browser_pass_axe(new_page):  # noqa: F811  (the fixtures imported above)
    from playwright.sync_api import expect

    page = new_page()
    log_in(page, UTRECHT_STAFF)
    page.get_by_role("link", name="Premies", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Premies")
    check_accessibility(page, "premiums")

    page.goto("/g/utrecht/travel-costs/new")
    page.get_by_label("Bedrag in euro").fill("-3")
    page.get_by_label("Omschrijving").fill("Bus")
    page.get_by_role("button", name="Vastleggen en boeken").click()
    expect(page.locator("#amount")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Omschrijving")).to_have_value("Bus")
    check_accessibility(page, "travel cost form with errors")
    page.goto("/g/utrecht/travel-costs")
    check_accessibility(page, "travel costs")

    page.get_by_role("link", name="Go/no-go", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Go/no-go-rapportage")
    expect(page.locator(".verdict")).to_contain_text("Advies")
    check_accessibility(page, "go/no-go report")

    page.goto("/g/utrecht/reports/uitstroom")
    page.get_by_role("button", name="Vastleggen").click()
    expect(page.locator("#candidate_id")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "welfare exits with errors")


def test_a_period_before_the_rule_set_or_a_bad_year_is_refused_not_a_crash(client, login):
    login("staff@alpha.test")
    early = client.get("/api/v1/g/alpha/reports/go-no-go?from=2010-01-01&to=2010-06-30")
    assert early.status_code == 422 and "to" in early.get_json()["errors"]
    assert client.get("/api/v1/g/alpha/premiums?year=0").status_code == 422
    assert client.get("/g/alpha/premiums?year=0").status_code == 200  # the page falls back to this year
