"""The whole onboarding journey in headless Chromium, on both backends (issue 7): a municipality
signs up (a refused attempt first: the form says why and keeps what was typed), the contact
confirms the address through the link in the mail (read from a real SMTP server), the NVSI
administrator logs in with two-factor login and approves, the page shows the provisioning running
in the background until the tenant is ready, the invited contact opens the invitation from the
mail, sets a password and an authenticator (codes computed with pyotp), logs in again with a code,
and sets up the local framework step by step. axe-core checks every new page (WCAG 2.1 A/AA).

Uses the browser and page factory of ``tests/test_browser.py``; the live server is this module's
own, with its mail going to an in-process SMTP server (aiosmtpd).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import expect

from nvsi import create_app, migrate
from nvsi.auth.models import Role
from nvsi.auth.services import create_user
from nvsi.demo import DEMO_PASSWORD
from nvsi.extensions import db
from nvsi.tenancy.routing import current_router
from tests import smtp, support
from tests.support import create_pg_database, drop_pg_database
from tests.test_browser import (  # noqa: F401  (fixtures)
    BACKENDS,
    TOTP_SECRETS,
    LiveServer,
    browser,
    check_accessibility,
    complete_second_step,
    new_page,
)

pytestmark = pytest.mark.browser

NVSI_ADMIN = "admin@nvsi.example"
CONTACT = "Fatima el Idrissi"
CONTACT_EMAIL = "f.elidrissi@delft.example"
PASSWORD = "een goed wachtwoord voor delft"
#: How long the provisioning may take before the test gives up (it takes seconds).
PROVISIONING_MS = 90_000


class Mailbox:
    """The live server's SMTP server: what it received, and the links in it."""

    def __init__(self, server: smtp.LocalSMTP):
        self.server = server

    def link(self, subject_part: str, path: str, timeout: float = 30.0) -> str:
        """The first link to ``path`` in the newest mail whose subject contains ``subject_part``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.server.messages):
                if subject_part in message.subject:
                    found = re.search(rf"http://127\.0\.0\.1:\d+{re.escape(path)}\S+", message.text)
                    assert found, message.text
                    return found.group(0)
            time.sleep(0.2)
        raise AssertionError(f"no mail about {subject_part!r}; got {[m.subject for m in self.server.messages]}")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    server = smtp.LocalSMTP()
    server.controller.start()
    try:
        yield Mailbox(server)
    finally:
        server.controller.stop()


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory, mailbox) -> Iterator[LiveServer]:
    """A fresh instance per backend, mailing through the module's SMTP server; approval
    provisions in a thread of the server process, as in production."""
    database_url = create_pg_database("nvsi_onboarding") if request.param == "postgresql" else ""
    instance = tmp_path_factory.mktemp(f"onboarding-{request.param}")
    try:
        app = create_app({
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "onboarding-test-secret-key-not-for-production", "DATA_KEY": support.DATA_KEY,
            "SESSION_COOKIE_SECURE": False,  # plain http on loopback
            "REMEMBER_COOKIE_SECURE": False,
            **mailbox.server.settings(),
            "MAIL_LINK_BASE_URL": "",  # links on the request's host: the live server
            "ONBOARDING_PROVISION_IN_BACKGROUND": True,
        })
        with app.app_context():
            # An empty platform with its rule set and one NVSI administrator (who enrols an
            # authenticator at the first login): the journey brings the municipality itself.
            migrate.upgrade_shared(current_router())
            create_user(db.session, NVSI_ADMIN, "NVSI-beheerder", DEMO_PASSWORD, Role.NVSI_ADMIN)
            db.session.commit()
            db.session.remove()
        server = LiveServer(app)
        server.start()
        try:
            yield server
        finally:
            server.stop()
            with app.app_context():
                db.engine.dispose()
    finally:
        if database_url:
            drop_pg_database(database_url)


def fill_signup(page, oin: str) -> None:
    page.get_by_label("Gemeente", exact=True).select_option("GM0503")
    page.get_by_label("OIN (organisatie-identificatienummer)").fill(oin)
    page.get_by_label("Naam", exact=True).fill(CONTACT)
    page.get_by_label("E-mailadres", exact=True).fill(CONTACT_EMAIL)
    page.get_by_label("Telefoonnummer").fill("015 260 2222")
    page.get_by_label("E-mailadres voor facturen").fill("facturen@delft.example")
    page.get_by_label("Factuuradres (straat en huisnummer of postbus)").fill("Markt 87")
    page.get_by_label("Postcode").fill("2611 GW")
    page.get_by_label("Plaats").fill("Delft")


@pytest.mark.parametrize("live_server", BACKENDS, indirect=True)
def test_sign_up_approval_invitation_and_local_framework(new_page, live_server, mailbox, request):  # noqa: F811
    # The pages are the same templates on either backend: the accessibility checks run once.
    axe = request.node.callspec.params["live_server"] == "sqlite"

    # -- 1. the municipality signs up; the first attempt is refused and says why -------------------------
    applicant = new_page()
    applicant.goto("/aanmelden")
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Gemeente aanmelden als lid van de NVSI")
    if axe:
        check_accessibility(applicant, "sign-up form")
    fill_signup(applicant, oin="00000001002220648000")  # the RSIN fails the 11-test
    applicant.get_by_label(re.compile("Gebruikersovereenkomst Flextensie")).check()  # the terms left out
    applicant.get_by_role("button", name="Aanmelden").click()
    summary = applicant.locator(".error-summary")
    expect(summary).to_contain_text("elfproef")
    expect(summary).to_contain_text("Lees en accepteer de lidmaatschapsvoorwaarden")
    expect(applicant.locator("#oin")).to_have_attribute("aria-invalid", "true")
    expect(applicant.get_by_label("Naam", exact=True)).to_have_value(CONTACT)  # what was typed stays
    expect(applicant.get_by_label("Gemeente", exact=True)).to_have_value("GM0503")
    expect(applicant.get_by_label(re.compile("Gebruikersovereenkomst Flextensie"))).to_be_checked()
    if axe:
        check_accessibility(applicant, "sign-up form with errors")
    applicant.get_by_label("OIN (organisatie-identificatienummer)").fill("00000001002220647000")
    applicant.get_by_text("Lees de tekst").nth(1).click()  # the membership terms, with the contribution
    expect(applicant.get_by_text(re.compile("De contributie bedraagt 2% van de bruto-omzet"))).to_be_visible()
    applicant.get_by_label(re.compile("Lidmaatschapsvoorwaarden NVSI")).check()
    applicant.get_by_role("button", name="Aanmelden").click()
    applicant.wait_for_url("**/aanmelden/ontvangen")
    expect(applicant.get_by_role("status")).to_contain_text("De aanmelding van gemeente Delft is ontvangen")
    if axe:
        check_accessibility(applicant, "sign-up received")

    # -- 2. the contact confirms the address through the link in the mail ----------------------------------
    link = mailbox.link("Bevestig uw aanmelding", "/aanmelden/bevestigen/")
    assert link.startswith(live_server.url)
    applicant.goto(link)
    if axe:
        check_accessibility(applicant, "verification page")
    applicant.get_by_role("button", name="E-mailadres bevestigen").click()
    expect(applicant.get_by_role("status")).to_contain_text("Het e-mailadres is bevestigd")

    # -- 3. the NVSI administrator logs in (two-factor) and approves ----------------------------------------
    admin = new_page()
    admin.goto("/login")
    admin.get_by_label("E-mailadres").fill(NVSI_ADMIN)
    admin.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    admin.get_by_role("button", name="Inloggen").click()
    complete_second_step(admin, NVSI_ADMIN)
    admin.get_by_role("link", name="Aanmeldingen", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Aanmeldingen van gemeenten")
    row = admin.get_by_role("row", name=re.compile("Delft"))
    expect(row).to_contain_text("wacht op besluit")
    if axe:
        check_accessibility(admin, "applications list")
    row.get_by_role("link", name="Delft").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Aanmelding van gemeente Delft")
    expect(admin.locator("dl.facts")).to_contain_text("00000001002220647000")
    expect(admin.get_by_role("row", name=re.compile("Lidmaatschapsvoorwaarden"))).to_contain_text(CONTACT)
    expect(admin.get_by_label("Korte naam in de adressen van de gemeente")).to_have_value("delft")
    if axe:
        check_accessibility(admin, "application page")
    admin.get_by_role("button", name="Aanmelding goedkeuren").click()
    expect(admin.get_by_role("status").first).to_contain_text("De aanmelding van gemeente Delft is goedgekeurd")
    progress = admin.locator("#inrichting")
    expect(progress.get_by_role("heading")).to_have_text("Inrichting van de omgeving")
    # The page follows the background work by itself (no reload by the test) until it is done.
    expect(progress).to_contain_text("De omgeving van Delft is klaar", timeout=PROVISIONING_MS)
    for step in ("Gemeente geregistreerd", "Database aangemaakt en bijgewerkt", "Database gecontroleerd",
                 "Beheerder van de gemeente uitgenodigd"):
        expect(progress.get_by_role("listitem").filter(has_text=step)).to_contain_text("klaar")
    expect(admin.locator("progress")).to_have_attribute("value", "4")
    if axe:
        check_accessibility(admin, "application page with the provisioning done")

    # -- 4. the contact opens the invitation, sets a password and an authenticator ---------------------------
    invitation = mailbox.link("Uitnodiging voor NVSI Flextensie", "/auth/invitation/")
    municipal = new_page()
    municipal.goto(invitation)
    expect(municipal.get_by_role("heading", level=1)).to_have_text(f"Welkom, {CONTACT}")
    municipal.get_by_label("Nieuw wachtwoord", exact=True).fill(PASSWORD)
    municipal.get_by_label("Herhaal het nieuwe wachtwoord").fill(PASSWORD)
    municipal.get_by_role("button", name="Wachtwoord opslaan en verder").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Tweestapsverificatie instellen")
    secret = municipal.locator("#secret").inner_text().replace(" ", "")
    municipal.get_by_label("Code uit de app").fill(pyotp.TOTP(secret).now())
    municipal.get_by_role("button", name="Bevestigen").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Uw herstelcodes")
    municipal.get_by_role("link", name="Ik heb de codes bewaard, ga verder").click()
    municipal.wait_for_url("**/g/delft/overzicht")
    municipal.get_by_role("button", name="Uitloggen").click()

    # -- 5. and logs in: password, then a code from the authenticator ----------------------------------------
    TOTP_SECRETS[(live_server.url, CONTACT_EMAIL)] = secret
    municipal.goto("/login")
    municipal.get_by_label("E-mailadres").fill(CONTACT_EMAIL)
    municipal.get_by_label("Wachtwoord").fill(PASSWORD)
    municipal.get_by_role("button", name="Inloggen").click()
    municipal.wait_for_url("**/auth/code")
    complete_second_step(municipal, CONTACT_EMAIL)
    municipal.wait_for_url("**/g/delft/overzicht")
    expect(municipal.locator(".account")).to_contain_text(CONTACT)

    # -- 6. the local framework, step by step ---------------------------------------------------------------
    municipal.get_by_role("link", name="Kaders inrichten").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Lokale kaders inrichten")
    expect(municipal.get_by_text("0 van 4 stappen opgeslagen.")).to_be_visible()
    if axe:
        check_accessibility(municipal, "set-up overview")
    municipal.get_by_role("link", name="Beginnen").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Stap 1: Lokale waarden")
    rate = municipal.get_by_label("Minimumtarief dat de opdrachtgever per gewerkt uur betaalt.")
    expect(municipal.locator("#bound-min_hourly_rate")).to_contain_text("12,30")
    if axe:
        check_accessibility(municipal, "set-up: values")
    rate.fill("12,00")  # less strict than the shared 12.30: refused
    municipal.get_by_role("button", name="Opslaan en verder").click()
    expect(municipal.locator(".error-summary")).to_contain_text("Een lokale waarde mag alleen strenger zijn")
    expect(rate).to_have_attribute("aria-invalid", "true")
    expect(rate).to_have_value("12,00")
    if axe:
        check_accessibility(municipal, "set-up: values with an error")
    rate.fill("14,50")
    municipal.get_by_role("button", name="Opslaan en verder").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Stap 2: Arrangementen en streefverdeling")
    expect(municipal.get_by_role("status")).to_contain_text("Stap 1, Lokale waarden, is opgeslagen.")
    for i, (code, name, share) in enumerate([("1", "Arrangement 1", "15"), ("3", "Arrangement 3", "85")]):
        municipal.get_by_label(f"Code, rij {i + 1}").fill(code)
        municipal.get_by_label(f"Naam, rij {i + 1}").fill(name)
        municipal.get_by_label(f"Streefpercentage, rij {i + 1}").fill(share)
    if axe:
        check_accessibility(municipal, "set-up: arrangements")
    municipal.get_by_role("button", name="Opslaan en verder").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Stap 3: Begeleidingsmomenten")
    expect(municipal.get_by_label("Moment, rij 1")).to_have_value("Intakegesprek")  # the default schedule
    municipal.get_by_label("Dagen, rij 4").fill("61")  # the evaluation after two months instead of three
    municipal.get_by_label("Moment, rij 4").fill("Evaluatie na 2 maanden")
    if axe:
        check_accessibility(municipal, "set-up: guidance")
    municipal.get_by_role("button", name="Opslaan en verder").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Stap 4: Aanmeldingen en signalen")
    municipal.get_by_label("Minimum aantal aanmeldingen per half jaar").fill("20")
    municipal.get_by_label("Ontvangers van signalen (één e-mailadres per regel)").fill("werkcoach@delft.example")
    if axe:
        check_accessibility(municipal, "set-up: settings")
    municipal.get_by_role("button", name="Opslaan en afronden").click()
    expect(municipal.get_by_role("heading", level=1)).to_have_text("Lokale kaders inrichten")
    expect(municipal.get_by_text("4 van 4 stappen opgeslagen.")).to_be_visible()
    expect(municipal.get_by_text(re.compile("Alle stappen zijn opgeslagen"))).to_be_visible()
    if axe:
        check_accessibility(municipal, "set-up done")

    # The rules in force now carry the municipality's own value.
    municipal.get_by_role("link", name="Lokale kaders", exact=True).click()
    rule = municipal.get_by_role("row", name=re.compile("Minimumtarief"))
    expect(rule).to_contain_text("14,50")
    expect(rule).to_contain_text("lokaal")
