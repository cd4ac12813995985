"""The bank and payment pages in headless Chromium, with axe-core's WCAG 2.1 A/AA check on every
page (forms with errors included): the backoffice uploads a camt.053 statement (a wrong file
first), opens the review queue and matches a line by hand to a municipality's invoice (a wrong
invoice number first); the municipality sees the payment and its overdue invoice. Uses the live
server and browser of ``tests/test_browser.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from nvsi.demo import DEMO_PASSWORD
from nvsi.extensions import db
from nvsi.tenancy.routing import tenant_session
from nvsi.tenancy.services import get_tenant, tenant_ref
from tests import invoice_helpers
from tests.test_browser import browser, check_accessibility, complete_second_step, live_server, new_page  # noqa: F401

pytestmark = pytest.mark.browser

BACKOFFICE = "backoffice@flextensie.example"
UTRECHT_STAFF = "medewerker@utrecht.example"
CAMT = Path(__file__).parent / "fixtures" / "camt"


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    complete_second_step(page, email)  # the backoffice enrols an authenticator at first login
    page.wait_for_url(re.compile(r"^(?!.*/(login|auth/))"))


def issue_invoice(app) -> str:
    """An invoice of Utrecht (EUR 565.55, due 23 March 2026); its number."""
    with app.app_context():
        tenant = tenant_ref(get_tenant(db.session, "utrecht"))
        db.session.remove()
        with tenant_session(db, tenant) as session:
            invoice = invoice_helpers.invoice(session)
            number = invoice.number
            session.commit()
    return number


# The pages come from the same templates whatever the backend: checked once, on SQLite.
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_upload_a_statement_and_match_a_line_by_hand(new_page, live_server):  # noqa: F811
    number = issue_invoice(live_server.app)
    page = new_page()
    log_in(page, BACKOFFICE)
    page.goto("/admin/bank")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bankafschriften")
    check_accessibility(page, "bank statements, none yet")

    page.get_by_label("Afschrift (camt.053, XML)").set_input_files(str(CAMT / "statement_malformed.xml"))
    page.get_by_role("button", name="Inlezen").click()
    expect(page.locator("#file")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("valuta USD; alleen EUR wordt verwerkt")
    check_accessibility(page, "upload refused, with the problems")

    page.get_by_label("Afschrift (camt.053, XML)").set_input_files(str(CAMT / "statement_2026-03-20.xml"))
    page.get_by_role("button", name="Inlezen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Afschrift NVSI-2026-03-20")
    expect(page.get_by_role("status")).to_contain_text("Afschrift ingelezen")
    check_accessibility(page, "statement with its lines")

    page.goto("/admin/bank/wachtrij")
    check_accessibility(page, "review queue")
    page.get_by_role("row", name=re.compile("Voor de uren van maart")).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Bankregel \d+$"))
    expect(page.get_by_text("NL02ABNA0123456789")).to_have_count(0)  # the person's IBAN only masked
    check_accessibility(page, "a queued line with its forms")

    page.get_by_label("Gemeente", exact=True).select_option(label="Gemeente Utrecht")
    page.get_by_label("Factuurnummer").fill("F2026-000999")
    page.get_by_role("button", name="Afletteren").click()
    expect(page.locator("#invoice_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#invoice_number")).to_have_value("F2026-000999")
    check_accessibility(page, "manual match with an unknown invoice")
    page.get_by_label("Factuurnummer").fill(number)
    page.get_by_role("button", name="Afletteren").click()
    expect(page.get_by_role("status")).to_contain_text(f"afgeletterd op factuur {number}")
    check_accessibility(page, "the line, matched")

    staff = new_page()
    log_in(staff, UTRECHT_STAFF)
    staff.goto("/g/utrecht/betalingen")
    expect(staff.get_by_role("heading", level=1)).to_have_text("Betalingen")
    expect(staff.get_by_role("row", name=re.compile(number)).first).to_be_visible()
    check_accessibility(staff, "payments and overdue invoices")
    staff.get_by_role("link", name=number).first.click()
    expect(staff.get_by_role("heading", name="Herinneringen")).to_be_visible()
    check_accessibility(staff, "invoice page with its reminders")
