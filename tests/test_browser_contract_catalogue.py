"""The contract and catalogue pages in headless Chromium: the admin registers a contract and a
municipality asks access to Flextensie, with axe-core's WCAG 2.1 A/AA check on every page
(forms with errors included). Uses the live server and browser of ``tests/test_browser.py``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from nvsi.demo import DEMO_PASSWORD
from tests.test_browser import browser, check_accessibility, complete_second_step, live_server, new_page  # noqa: F401

pytestmark = pytest.mark.browser

NVSI_ADMIN = "admin@nvsi.example"
UTRECHT_ADMIN = "beheer@utrecht.example"


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    complete_second_step(page, email)  # the NVSI admin enrols an authenticator at first login
    page.wait_for_url(re.compile(r"^(?!.*/(login|auth/))"))


# The pages come from the same templates whatever the backend: checked once, on SQLite.
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_contract_and_catalogue_pages(new_page):  # noqa: F811  (the fixture imported above)
    admin = new_page()
    log_in(admin, NVSI_ADMIN)
    admin.goto("/nvsi/contract")
    check_accessibility(admin, "contract page without a contract")

    admin.goto("/nvsi/contract/nieuw")
    admin.get_by_label("Kenmerk", exact=True).fill("UC 2017")  # a space is not allowed
    admin.get_by_role("button", name="Vastleggen").click()
    expect(admin.locator("#reference")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "contract form with errors")
    admin.get_by_label("Kenmerk", exact=True).fill("UC-2017-01")
    admin.get_by_label("Begindatum", exact=True).fill("2017-01-01")
    admin.get_by_label("Einddatum", exact=True).fill("2017-12-31")
    admin.get_by_label("Vergoeding servicebedrijf (% van de bruto-omzet)", exact=True).fill("12.50")
    admin.get_by_label("Reactietijd helpdesk (uren)", exact=True).fill("24")
    admin.get_by_label("Beschikbaarheid (%)", exact=True).fill("99.50")
    admin.get_by_role("button", name="Vastleggen").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Uitvoeringscontract UC-2017-01")
    expect(admin.get_by_text("12,50% van de bruto-omzet")).to_be_visible()
    check_accessibility(admin, "contract detail")

    admin.get_by_role("link", name="Uitkomst go/no-go vastleggen").click()
    admin.get_by_label("no-go: niet doorgaan", exact=True).check()
    admin.get_by_role("button", name="Vastleggen").click()
    expect(admin.locator("#note")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "go/no-go form with errors")

    member = new_page()
    log_in(member, UTRECHT_ADMIN)
    member.goto("/nvsi/contract")
    check_accessibility(member, "contract page, member view")
    member.goto("/nvsi/producten")
    check_accessibility(member, "catalogue")
    member.get_by_role("link", name="Flextensie", exact=True).click()
    member.get_by_label("Motivatie").fill("Wij willen starten.")
    member.get_by_role("button", name="Toegang aanvragen").click()
    expect(member.get_by_text("in behandeling").first).to_be_visible()
    check_accessibility(member, "product page after the request")

    admin.goto("/nvsi/producten/aanvragen")
    check_accessibility(admin, "requests")
    admin.get_by_role("link", name=re.compile("^Afwijzen")).click()
    admin.get_by_role("button", name="Afwijzen").click()
    expect(admin.locator("#note")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "refusal form with errors")
    admin.goto("/nvsi/producten/nieuw")
    check_accessibility(admin, "product form")
