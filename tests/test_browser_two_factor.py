"""Two-factor login in headless Chromium: the demo's NVSI administrator enrols an authenticator at
first login (QR code and secret, a wrong code, the recovery codes), logs out and in again with a
code; a municipality admin invites a colleague, who accepts through the link from the mail. axe-core
checks every page (WCAG 2.1 A/AA), error states included. Uses the live server and browser of
``tests/test_browser.py``."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from nvsi.demo import DEMO_PASSWORD
from tests.test_browser import TOTP_SECRETS, browser, check_accessibility, complete_second_step, live_server, new_page  # noqa: F401

pytestmark = pytest.mark.browser

NVSI_ADMIN = "admin@nvsi.example"
UTRECHT_ADMIN = "beheer@utrecht.example"


def password_step(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()


@pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
def test_enrolment_and_login_with_a_code(new_page, live_server):  # noqa: F811  (fixtures imported above)
    page = new_page()
    password_step(page, NVSI_ADMIN)
    page.wait_for_url("**/auth/tweestapsverificatie")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tweestapsverificatie instellen")
    expect(page.get_by_role("img", name=re.compile("QR-code"))).to_be_visible()
    expect(page.get_by_role("button", name="Later instellen")).to_have_count(0)  # mandatory for this role
    check_accessibility(page, "enrolment page")

    # Nothing else opens before the enrolment is done.
    page.goto("/nvsi/contract")
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/auth/tweestapsverificatie")
    secret = page.locator("#secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)

    page.get_by_label("Code uit de app").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Bevestigen").click()
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Deze code klopt niet")
    assert page.locator("#secret").inner_text().replace(" ", "") == secret  # the same QR code, still
    check_accessibility(page, "enrolment with a wrong code")

    page.get_by_label("Code uit de app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Bevestigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Uw herstelcodes")
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    check_accessibility(page, "recovery codes")
    page.get_by_role("link", name="Ik heb de codes bewaard, ga verder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Welkom"))

    page.get_by_role("link", name="NVSI-beheerder").click()  # the account name: the security page
    expect(page.get_by_role("heading", level=1)).to_have_text("Beveiliging van uw account")
    expect(page.get_by_text("Ongebruikte herstelcodes: 10.")).to_be_visible()
    check_accessibility(page, "security page")
    page.get_by_role("button", name="Uitloggen").click()

    # Next time: the password, then a code.
    TOTP_SECRETS[(live_server.url, NVSI_ADMIN)] = secret
    password_step(page, NVSI_ADMIN)
    page.wait_for_url("**/auth/code")
    check_accessibility(page, "code page")
    page.get_by_label("Code uit de app, of een herstelcode").fill("12345")
    page.get_by_role("button", name="Inloggen").click()
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "code page with an error")
    complete_second_step(page, NVSI_ADMIN)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Welkom"))

    # A recovery code works too (once).
    page.get_by_role("button", name="Uitloggen").click()
    password_step(page, NVSI_ADMIN)
    page.get_by_label("Code uit de app, of een herstelcode").fill(codes[0])
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_role("status")).to_contain_text("nog 9 herstelcodes")


@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_an_invited_colleague_sets_a_password_and_may_enrol_later(new_page, live_server):  # noqa: F811
    admin = new_page()
    password_step(admin, UTRECHT_ADMIN)
    admin.get_by_role("link", name="Gebruikers").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Gebruikers")
    check_accessibility(admin, "users page")
    admin.get_by_role("link", name="Gebruiker uitnodigen").click()
    admin.get_by_label("Naam").fill("Nina Nieuw")
    admin.get_by_label("E-mailadres").fill("nina@")
    admin.get_by_role("button", name="Uitnodiging versturen").click()
    expect(admin.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(admin.get_by_label("Naam")).to_have_value("Nina Nieuw")
    check_accessibility(admin, "invitation form with errors")
    admin.get_by_label("E-mailadres").fill("nina@utrecht.example")
    admin.get_by_label("Beheerder: daarnaast gebruikers en lokale kaders").check()
    admin.get_by_role("button", name="Uitnodiging versturen").click()
    expect(admin.get_by_role("status")).to_contain_text("De uitnodiging is verstuurd")
    expect(admin.locator("tbody tr", has_text="nina@utrecht.example")).to_contain_text("uitgenodigd")

    # The demo sends no mail (MAIL_BACKEND=log): the link is made as the mail would carry it.
    from nvsi.auth import invitations
    from nvsi.auth.models import Role
    from nvsi.extensions import db

    with live_server.app.test_request_context(base_url=live_server.url):
        link = invitations.invite(db.session, email="nina@utrecht.example", name="Nina Nieuw",
                                  role=Role.MUNICIPALITY_ADMIN, tenant_id=_utrecht_id(live_server),
                                  invited_by=None)
        db.session.commit()
        db.session.remove()

    colleague = new_page()
    colleague.goto(link)
    expect(colleague.get_by_role("heading", level=1)).to_have_text("Welkom, Nina Nieuw")
    check_accessibility(colleague, "invitation page")
    colleague.get_by_label("Nieuw wachtwoord", exact=True).fill("een goed wachtwoord voor nina")
    colleague.get_by_label("Herhaal het nieuwe wachtwoord").fill("een goed wachtwoord")
    colleague.get_by_role("button", name="Wachtwoord opslaan en verder").click()
    expect(colleague.locator("#password_confirmation")).to_have_attribute("aria-invalid", "true")
    check_accessibility(colleague, "invitation page with errors")
    colleague.get_by_label("Nieuw wachtwoord", exact=True).fill("een goed wachtwoord voor nina")
    colleague.get_by_label("Herhaal het nieuwe wachtwoord").fill("een goed wachtwoord voor nina")
    colleague.get_by_role("button", name="Wachtwoord opslaan en verder").click()
    expect(colleague.get_by_role("heading", level=1)).to_have_text("Tweestapsverificatie instellen")
    colleague.get_by_role("button", name="Later instellen").click()
    colleague.wait_for_url("**/g/utrecht/overzicht")
    expect(colleague.locator(".account")).to_contain_text("Nina Nieuw")

    admin.reload()
    expect(admin.locator("tbody tr", has_text="nina@utrecht.example")).to_contain_text("actief")


def _utrecht_id(server) -> int:
    from nvsi.extensions import db
    from nvsi.tenancy.services import get_tenant

    with server.app.app_context():
        try:
            return get_tenant(db.session, "utrecht").id
        finally:
            db.session.remove()
