"""A real browser against a live server: headless Debian Chromium driven by Playwright.

Each backend (SQLite, PostgreSQL) gets a fresh instance seeded with the demo data and served by
werkzeug on a free loopback port. The browser is ``/usr/bin/chromium``: Playwright never downloads
one. Nothing may leave the machine: every request to anything but the live server is aborted and
counted, and the axe-core accessibility engine comes bundled with ``axe-playwright-python``.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from nvsi import create_app
from nvsi.demo import DEMO_PASSWORD, seed_demo
from nvsi.extensions import db
from nvsi.tenancy.routing import current_router
from tests import support
from tests.support import IN_CI, create_pg_database, drop_pg_database

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: How long a Playwright action or assertion may wait before the test fails.
TIMEOUT_MS = 10_000

#: The WCAG 2.1 A/AA rules of axe-core, and the impacts that fail the test.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}

BACKENDS = ["sqlite", "postgresql"]
UTRECHT_STAFF = "medewerker@utrecht.example"
ZWOLLE_STAFF = "medewerker@zwolle.example"
NEW_EMPLOYER = {
    "name": "Schildersbedrijf Vechtstreek B.V.",
    "kvk_number": "69876543",
    "street_address": "Biltstraat 88",
    "postal_code": "3572 BJ",
    "city": "Utrecht",
    "contact_email": "facturen@vechtstreek.example",
}


# -- fixtures -----------------------------------------------------------------------------------


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """The app on a fresh, demo-seeded instance, served over http on a free loopback port.
    Parametrized indirectly with the backend; one server per backend for the whole module."""
    database_url = create_pg_database("nvsi_browser") if request.param == "postgresql" else ""
    instance = tmp_path_factory.mktemp(f"browser-{request.param}")
    try:
        app = create_app({
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "browser-test-secret-key-not-for-production", "DATA_KEY": support.DATA_KEY,
            "SESSION_COOKIE_SECURE": False,  # plain http on loopback
            "REMEMBER_COOKIE_SECURE": False,
        })
        with app.app_context():
            seed_demo(db, current_router())
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


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the browser tests are mandatory)", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser, live_server):
    """Makes pages, each in its own browser context (its own cookies): one per person.

    Only the live server may be reached; any other request is aborted and fails the test."""
    contexts, outside = [], []

    def make():
        context = browser.new_context(base_url=live_server.url, locale="nl-NL")
        context.set_default_timeout(TIMEOUT_MS)

        def guard(route):
            if route.request.url.startswith(live_server.url + "/"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not outside, f"requests left the machine: {outside}"


#: Authenticator secrets enrolled by the browser tests: (live server, account) -> secret.
TOTP_SECRETS: dict[tuple[str, str], str] = {}


def complete_second_step(page, email: str) -> None:
    """After the password step: enrol an authenticator (the first login of the demo's NVSI
    administrator or backoffice: mandatory for them) or type a code from the enrolled one."""
    base = page.url.split("/auth/")[0]
    if "/auth/tweestapsverificatie" in page.url:
        secret = page.locator("#secret").inner_text().replace(" ", "")
        TOTP_SECRETS[(base, email)] = secret
        page.get_by_label("Code uit de app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Bevestigen").click()
        page.get_by_role("link", name="Ik heb de codes bewaard, ga verder").click()
    elif "/auth/code" in page.url:
        secret = TOTP_SECRETS[(base, email)]
        for attempt in range(2):
            if attempt:  # a code works once: the next 30-second step brings new ones
                time.sleep(30 - time.time() % 30 + 0.5)
            for code in support.totp_codes(secret):
                page.get_by_label("Code uit de app, of een herstelcode").fill(code)
                page.get_by_role("button", name="Inloggen").click()
                if "/auth/code" not in page.url:
                    return
        raise AssertionError(f"no code accepted for {email}")


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(re.compile(r"/g/[a-z0-9-]+/overzicht$"))  # the municipality's dashboard


def fill_employer_form(page, values: dict[str, str]) -> None:
    labels = {
        "name": "Naam",
        "kvk_number": "KvK-nummer",
        "street_address": "Straat en huisnummer",
        "postal_code": "Postcode",
        "city": "Plaats",
        "contact_email": "E-mailadres voor facturen",
    }
    for name, value in values.items():
        field = page.get_by_label(labels[name], exact=True)
        expect(field).to_have_attribute("id", name)  # the label belongs to the right input
        field.fill(value)


def axe_violations(page) -> tuple[list[dict], str]:
    """Run axe-core (bundled with axe-playwright-python: offline) on the page as shown; the WCAG
    2.1 A/AA violations of impact serious or critical, and a readable report of all of them."""
    results = Axe().run(page, options={
        "runOnly": {"type": "tag", "values": WCAG_TAGS},
        "resultTypes": ["violations"],
    })
    failing = [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]
    return failing, results.generate_report()


def check_accessibility(page, what: str) -> None:
    failing, report = axe_violations(page)
    assert not failing, f"{what}: {report}"


# -- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("live_server", BACKENDS, indirect=True)
def test_employer_journey_and_tenant_isolation(new_page, live_server):
    # Utrecht staff logs in on their municipality's dashboard and opens the employer list.
    page = new_page()
    log_in(page, UTRECHT_STAFF)
    assert page.url == f"{live_server.url}/g/utrecht/overzicht"
    page.get_by_role("link", name="Opdrachtgevers", exact=True).click()
    page.wait_for_url("**/g/utrecht/opdrachtgevers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Opdrachtgevers")
    expect(page.get_by_role("row", name=re.compile(NEW_EMPLOYER["name"]))).to_have_count(0)

    page.get_by_role("link", name="Opdrachtgever toevoegen").click()
    page.wait_for_url("**/g/utrecht/opdrachtgevers/nieuw")

    # An invalid KvK number: the form comes back with the error next to that field and the
    # name that was typed is kept.
    fill_employer_form(page, {**NEW_EMPLOYER, "kvk_number": "1234"})
    page.get_by_role("button", name="Opslaan").click()
    kvk = page.locator("#kvk_number")
    expect(kvk).to_have_attribute("aria-invalid", "true")
    error = page.locator(".field", has=kvk).locator(".error")
    expect(error).to_have_text(re.compile("precies 8 cijfers"))
    expect(kvk).to_have_accessible_description(re.compile("8 cijfers.*precies 8 cijfers"))
    expect(page.get_by_role("alert")).to_contain_text("precies 8 cijfers")  # the summary on top
    expect(kvk).to_have_value("1234")
    expect(page.get_by_label("Naam", exact=True)).to_have_value(NEW_EMPLOYER["name"])
    expect(page.locator("#city")).not_to_have_attribute("aria-invalid", "true")

    # Corrected, the employer is saved and listed.
    kvk.fill(NEW_EMPLOYER["kvk_number"])
    page.get_by_role("button", name="Opslaan").click()
    page.wait_for_url("**/g/utrecht/opdrachtgevers")
    expect(page.get_by_role("status")).to_contain_text(f"{NEW_EMPLOYER['name']} is toegevoegd")
    row = page.locator("tbody tr", has_text=NEW_EMPLOYER["name"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(NEW_EMPLOYER["kvk_number"])
    expect(row).to_contain_text(NEW_EMPLOYER["contact_email"])
    edit_href = row.get_by_role("link", name=re.compile("^Bewerken")).get_attribute("href")
    match = re.fullmatch(r"/g/utrecht/opdrachtgevers/(\d+)/bewerken", edit_href)
    assert match, edit_href
    edit_path = match.group(0)

    # Zwolle staff, in a browser context of their own, sees nothing of Utrecht.
    other = new_page()
    log_in(other, ZWOLLE_STAFF)
    assert other.url == f"{live_server.url}/g/zwolle/overzicht"
    other.goto("/g/zwolle/opdrachtgevers")
    expect(other.locator("main")).not_to_contain_text(NEW_EMPLOYER["name"])
    for path in ("/g/utrecht/opdrachtgevers", edit_path,
                 f"/g/zwolle/opdrachtgevers/{match.group(1)}/bewerken"):
        response = other.goto(path)
        assert response.status == 404, (path, response.status)
        expect(other.get_by_role("heading", level=1)).to_have_text("Niet gevonden")
        assert NEW_EMPLOYER["name"] not in other.content()

    # Utrecht still has it.
    page.reload()
    expect(page.locator("tbody tr", has_text=NEW_EMPLOYER["name"])).to_have_count(1)


def test_axe_finds_violations(browser):
    """The check below is not vacuous: on a page with known faults axe reports them."""
    page = browser.new_page()
    try:
        page.set_content('<html><body><img src="data:,"><input type="text"></body></html>')
        failing, report = axe_violations(page)
    finally:
        page.close()
    assert {"image-alt", "label", "html-has-lang", "document-title"} <= {v["id"] for v in failing}, report


# The pages come from the same templates whatever the backend: checked once, on SQLite.
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_accessibility(new_page):
    page = new_page()
    page.goto("/login")
    check_accessibility(page, "login page")

    log_in(page, UTRECHT_STAFF)
    check_accessibility(page, "employer list")

    page.goto("/g/utrecht/opdrachtgevers/nieuw")
    fill_employer_form(page, {"name": "Alleen een naam", "kvk_number": "abc", "postal_code": "99"})
    page.get_by_role("button", name="Opslaan").click()
    expect(page.locator("#kvk_number")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "employer form with errors")
