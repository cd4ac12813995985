"""The candidate pages in headless Chromium: staff register a candidate (a form with errors
first), find them by BSN and record a referral, with axe-core's WCAG 2.1 A/AA check on every
page. The BSN is never in a page or a URL. Uses the live server and browser of
``tests/test_browser.py``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.test_browser import UTRECHT_STAFF, browser, check_accessibility, live_server, log_in, new_page  # noqa: F401

pytestmark = pytest.mark.browser

BSN = "123456782"


# The pages come from the same templates whatever the backend: checked once, on SQLite.
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_register_find_and_refer_a_candidate(new_page):  # noqa: F811  (the fixture imported above)
    page = new_page()
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    log_in(page, UTRECHT_STAFF)
    page.get_by_role("link", name="Kandidaten", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kandidaten")
    check_accessibility(page, "candidate list")

    page.get_by_role("link", name="Kandidaat inschrijven").click()
    page.get_by_label("BSN", exact=True).fill(BSN)
    page.get_by_label("Voornaam").fill("Fatima")
    page.get_by_label("Achternaam").fill("El Amrani")
    page.get_by_label("IBAN").fill("NL92ABNA0417164300")  # wrong check digits
    page.get_by_role("button", name="Inschrijven").click()
    expect(page.locator("#iban")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#consent")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Voornaam")).to_have_value("Fatima")
    expect(page.get_by_label("BSN", exact=True)).to_have_value("")  # typed again, never echoed
    assert BSN not in page.content()
    check_accessibility(page, "candidate form with errors")

    page.get_by_label("BSN", exact=True).fill(BSN)
    page.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    page.get_by_label("De kandidaat heeft vrijwillig ingestemd met deelname").check()
    page.get_by_role("button", name="Inschrijven").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fatima El Amrani")
    expect(page.get_by_text("••••••782")).to_be_visible()
    assert BSN not in page.content()
    check_accessibility(page, "candidate detail")

    page.get_by_role("link", name="Kandidaten", exact=True).first.click()
    page.get_by_label("Zoeken op BSN").fill(BSN)
    page.get_by_role("button", name="Opzoeken").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fatima El Amrani")
    page.get_by_role("button", name="Doorverwijzen naar het WSP").click()
    expect(page.get_by_text("doorverwezen naar het WSP").first).to_be_visible()

    page.get_by_role("link", name="Bewerken").click()
    expect(page.get_by_text(re.compile("Huidig BSN: ••••••782"))).to_be_visible()
    check_accessibility(page, "candidate edit form")
    assert not [url for url in urls if BSN in url]
