"""The ledger's pages and API: the trial balance for NVSI administrators (totals that match,
as of a date, drill-down into an account) and a municipality's own view (its accounts, its
transactions, its settlement statements). Both backends; figures by hand from the example of
``tests/test_settlement.py`` (38 h × EUR 12.30 + 21% VAT; premium 38 × EUR 2.00).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from nvsi.contract.models import ContractStatus, ExecutionContract
from nvsi.demo import DEMO_PASSWORD
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.services import Line, post
from nvsi.tenancy.routing import tenant_session as open_tenant_session
from nvsi.tenancy.services import get_tenant, tenant_ref
from tests import support
from tests.test_browser import browser, check_accessibility, complete_second_step, live_server, new_page  # noqa: F401
from tests.test_settlement import book_example, contract, pdf_text

BETA = 2


@pytest.fixture
def booked(tenant_session):
    """The contract; alpha's example in March 2026; a beta invoice of EUR 100 + VAT in April."""
    session = tenant_session("alpha")
    contract(session)
    book_example(session)
    post(session, key="beta:invoice", booking_date=dt.date(2026, 4, 15), tenant_id=BETA, kind="invoice",
         description="Factuur Beta", lines=[Line(chart.RECEIVABLES, 12100), Line(chart.REVENUE, -10000),
                                            Line(chart.VAT_PAYABLE, -2100)])
    session.commit()
    return session


def settle_h1(client, token):
    response = client.post("/api/v1/settlements", json={"tenant": "alpha", "period": "2026-H1"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def rows_by_account(body) -> dict[tuple[str, str | None], tuple[int, int]]:
    return {(r["code"], r["tenant"]): (r["debit_cents"], r["credit_cents"]) for r in body["rows"]}


def test_the_trial_balance_matches_before_and_after_the_settlement(client, login, booked):
    token = login("admin@nvsi.test")
    before = client.get("/api/v1/ledger/trial-balance?as_of=2026-06-30").get_json()
    assert rows_by_account(before) == {
        ("1100", "alpha"): (56555, 0), ("1100", "beta"): (12100, 0), ("1500", None): (0, 9815 + 2100),
        ("1600", "alpha"): (0, 7600), ("4000", "alpha"): (7600, 0), ("8000", "alpha"): (0, 46740),
        ("8000", "beta"): (0, 10000),
    }
    assert before["total_debit_cents"] == before["total_credit_cents"] == 56555 + 12100 + 7600
    assert before["balanced"] is True
    settle_h1(client, token)
    after = client.get("/api/v1/ledger/trial-balance?as_of=2026-06-30").get_json()
    # Alpha's result accounts are emptied: 293.25 owed to alpha, 88.81 to the service company,
    # 9.34 contribution income; beta's half year is untouched.
    assert rows_by_account(after) == {
        ("1100", "alpha"): (56555, 0), ("1100", "beta"): (12100, 0), ("1500", None): (0, 11915),
        ("1600", "alpha"): (0, 7600), ("1700", None): (0, 8881), ("1800", "alpha"): (0, 29325),
        ("8000", "beta"): (0, 10000), ("8100", None): (0, 934),
    }
    assert after["total_debit_cents"] == after["total_credit_cents"] == 56555 + 12100
    # As of a date before any booking: nothing, and still in balance.
    empty = client.get("/api/v1/ledger/trial-balance?as_of=2026-01-01").get_json()
    assert (empty["rows"], empty["total_debit_cents"], empty["balanced"]) == ([], 0, True)
    # One municipality's accounts.
    alpha_only = client.get("/api/v1/ledger/trial-balance?as_of=2026-06-30&tenant=alpha").get_json()
    assert {r["tenant"] for r in alpha_only["rows"]} == {"alpha"}


def test_the_trial_balance_page_shows_debit_credit_and_equal_totals(client, login, booked):
    login("admin@nvsi.test")
    response = client.get("/admin/ledger?as_of=2026-06-30")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Debiteuren (werkgevers)" in page and "Gemeente Alfa" in page and "Gemeente Beta" in page
    assert page.count("762,55") == 2  # the debit total and the credit total
    assert "In evenwicht" in page
    assert "/admin/ledger/rekening/1100?tenant=alpha&amp;as_of=2026-06-30" in page
    # The navigation leads here and to the settlements.
    assert 'href="/admin/ledger"' in page and 'href="/admin/settlements"' in page


def test_bad_dates_and_unknown_municipalities_are_named(client, login, booked):
    login("admin@nvsi.test")
    bad = client.get("/api/v1/ledger/trial-balance?as_of=30-06-2026")
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"as_of"}
    bad = client.get("/api/v1/ledger/trial-balance?tenant=nowhere")
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"tenant"}
    page = client.get("/admin/ledger?as_of=30-06-2026")
    assert page.status_code == 422
    assert 'value="30-06-2026"' in page.get_data(as_text=True)  # the form keeps what was typed
    assert client.get("/api/v1/ledger/accounts/9999/entries").status_code == 404
    per_tenant = client.get("/api/v1/ledger/accounts/1100/entries")
    assert per_tenant.status_code == 422 and set(per_tenant.get_json()["errors"]) == {"tenant"}


def test_drilling_down_into_an_account_shows_its_entries_and_running_balance(client, login, booked):
    token = login("admin@nvsi.test")
    settle_h1(client, token)
    revenue = client.get("/api/v1/ledger/accounts/8000/entries?tenant=alpha&as_of=2026-06-30").get_json()
    assert [(e["kind"], e["amount_cents"], e["balance_cents"]) for e in revenue["entries"]] == [
        ("invoice", -46740, -46740), ("settlement", 46740, 0)]
    assert revenue["closing_balance_cents"] == 0
    fee = client.get("/api/v1/ledger/accounts/1700/entries?date_from=2026-06-30").get_json()
    assert fee["opening_balance_cents"] == 0 and fee["closing_balance_cents"] == -8881
    assert [e["amount_cents"] for e in fee["entries"]] == [-9348, 467]
    page = client.get("/admin/ledger/rekening/8000?tenant=alpha&as_of=2026-06-30").get_data(as_text=True)
    assert "Afsluiting resultaat 2026-H1" in page and "467,40" in page


@pytest.mark.parametrize("user", ["backoffice@nvsi.test", "admin@alpha.test"])
def test_only_nvsi_administrators_see_the_trial_balance(client, login, user):
    login(user)
    assert client.get("/admin/ledger").status_code == 403
    assert client.get("/api/v1/ledger/trial-balance").status_code == 403
    assert client.get("/admin/ledger/rekening/1000").status_code == 403


# -- the municipality's view ---------------------------------------------------------------------


def test_a_municipality_sees_its_own_accounts_and_transactions(client, login, booked):
    login("admin@alpha.test")
    body = client.get("/api/v1/g/alpha/finance?as_of=2026-06-30").get_json()
    assert {(b["code"], b["balance_cents"]) for b in body["balances"]} == {
        ("1100", 56555), ("1600", -7600), ("4000", 7600), ("8000", -46740)}
    assert sorted(t["description"] for t in body["transactions"]) == ["Factuur", "Premie"]
    invoice = next(t for t in body["transactions"] if t["kind"] == "invoice")
    assert sorted(e["amount_cents"] for e in invoice["entries"]) == [-46740, -9815, 56555]
    assert "Beta" not in str(body)  # beta's invoice is beta's
    assert client.get("/api/v1/g/alpha/finance?as_of=2026-02-28").get_json() == {
        "as_of": "2026-02-28", "balances": [], "transactions": []}
    page = client.get("/g/alpha/finance?as_of=2026-06-30")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Debiteuren (werkgevers)" in text and "565,55" in text and "Factuur" in text
    assert 'href="/g/alpha/finance"' in text  # in the navigation
    bad = client.get("/g/alpha/finance?as_of=morgen")
    assert bad.status_code == 422 and 'value="morgen"' in bad.get_data(as_text=True)


def test_a_municipality_reads_its_settlement_statement(app, client, login, booked):
    nvsi = app.test_client()
    settle_h1(nvsi, support.login(nvsi, "admin@nvsi.test"))
    login("admin@alpha.test")
    items = client.get("/api/v1/g/alpha/settlements").get_json()["items"]
    assert [(s["period"], s["result_cents"]) for s in items] == [("2026-H1", 29325)]
    settlement_id = items[0]["id"]
    assert client.get(f"/api/v1/g/alpha/settlements/{settlement_id}").get_json()["service_fee_cents"] == 9348
    listing = client.get("/g/alpha/finance/settlements").get_data(as_text=True)
    assert f"/g/alpha/finance/settlements/{settlement_id}" in listing
    statement = client.get(f"/g/alpha/finance/settlements/{settlement_id}").get_data(as_text=True)
    assert "293,25" in statement and "20,00%" in statement and "UC-2026" in statement
    pdf = client.get(f"/g/alpha/finance/settlements/{settlement_id}/pdf")
    assert pdf.status_code == 200 and "EUR 293,25" in pdf_text(pdf.data)
    # After the settlement alpha's result accounts are empty and 293.25 is owed to it.
    balances = client.get("/api/v1/g/alpha/finance?as_of=2026-06-30").get_json()["balances"]
    assert {(b["code"], b["balance_cents"]) for b in balances} == {("1100", 56555), ("1600", -7600),
                                                                  ("1800", -29325)}


def test_municipality_staff_do_not_see_the_finances(client, login, booked):
    login("staff@alpha.test")
    assert client.get("/g/alpha/finance").status_code == 403
    assert client.get("/api/v1/g/alpha/finance").status_code == 403
    assert client.get("/api/v1/g/alpha/settlements").status_code == 403
    assert 'href="/g/alpha/finance"' not in client.get("/g/alpha/overzicht").get_data(as_text=True)


def test_the_backoffice_sees_a_municipalitys_finances(client, login, booked):
    login("backoffice@nvsi.test")
    assert client.get("/g/alpha/finance").status_code == 200
    assert client.get("/admin/settlements").status_code == 200


# -- in a browser, with axe's WCAG 2.1 A/AA check ---------------------------------------------------

def _book_in_demo(app, slug: str) -> None:
    """An ended contract over the second half of 2025 and the example booked in it, for ``slug``."""
    with app.app_context():
        ref = tenant_ref(get_tenant(db.session, slug))
        db.session.remove()
        with open_tenant_session(db, ref) as session:
            contract(session, reference="UC-2025", status="draft", start_date=dt.date(2025, 7, 1),
                     end_date=dt.date(2025, 12, 31))
            session.query(ExecutionContract).filter_by(reference="UC-2025").update({"status": ContractStatus.ENDED})
            book_example(session, tenant_id=ref.id, day=dt.date(2025, 10, 31), key="browser")
            session.commit()


@pytest.mark.browser
@pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
def test_settling_and_reading_the_ledger_in_a_browser(new_page, live_server):  # noqa: F811
    """An NVSI administrator settles Utrecht's half year and reads the trial balance; Utrecht's
    administrator reads its finances and the statement. Both backends: on SQLite this is also the
    test that the request's own session lets the municipality's session write (separate
    connections, unlike the other tests, which share one)."""

    def log_in(page, email):
        page.goto("/login")
        page.get_by_label("E-mailadres").fill(email)
        page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Inloggen").click()
        complete_second_step(page, email)
        page.wait_for_url(re.compile(r"^(?!.*/(login|auth/))"))

    _book_in_demo(live_server.app, "utrecht")
    admin = new_page()
    log_in(admin, "admin@nvsi.example")
    admin.get_by_role("link", name="Afrekeningen", exact=True).click()
    admin.locator("#year").fill("2025")
    admin.get_by_role("button", name="Tonen").click()
    check_accessibility(admin, "settlement overview")
    admin.get_by_role("link", name="Afrekenen: 2025-H2 van Gemeente Utrecht").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Afrekening 2025-H2 van Gemeente Utrecht")
    expect(admin.get_by_role("row", name=re.compile("Resultaat voor de gemeente"))).to_contain_text("293,25")
    check_accessibility(admin, "settlement preview")
    admin.get_by_role("button", name="Bevestigen en afsluiten").click()
    expect(admin.get_by_text("AFR-utrecht-2025-H2")).to_be_visible()
    check_accessibility(admin, "settlement statement")

    admin.get_by_role("link", name="Grootboek", exact=True).click()
    admin.locator("#as_of").fill("2025-12-31")
    admin.get_by_role("button", name="Tonen").click()
    expect(admin.get_by_text("In evenwicht")).to_be_visible()
    check_accessibility(admin, "trial balance")
    admin.goto("/admin/ledger?as_of=31-12-2025")  # a date field cannot be typed wrong; a URL can
    expect(admin.locator("#as_of")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "trial balance with an error")
    admin.goto("/admin/ledger?as_of=2025-12-31")
    admin.get_by_role("link", name="1800", exact=True).click()
    expect(admin.get_by_text("Afsluiting resultaat 2025-H2")).to_be_visible()
    check_accessibility(admin, "account entries")

    municipality = new_page()
    log_in(municipality, "beheer@utrecht.example")
    municipality.get_by_role("link", name="Financiën", exact=True).click()
    municipality.locator("#as_of").fill("2025-12-31")
    municipality.get_by_role("button", name="Tonen").click()
    expect(municipality.get_by_role("row", name=re.compile("^1800 Af te rekenen met gemeente"))).to_contain_text("293,25")
    check_accessibility(municipality, "municipality finances")
    municipality.get_by_role("link", name="Halfjaarlijkse afrekeningen").click()
    check_accessibility(municipality, "municipality settlements")
    municipality.get_by_role("link", name="Afrekening 2025-H2").click()
    check_accessibility(municipality, "municipality statement")
    with municipality.expect_download() as download:
        municipality.get_by_role("link", name="Download de afrekening (PDF)").click()
    with open(download.value.path(), "rb") as pdf:
        assert "EUR 293,25" in pdf_text(pdf.read())
