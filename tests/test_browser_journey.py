"""The whole daily journey in headless Chromium, on both backends (issue 4): staff register a
candidate, place them on an assignment, download the beschikking (a PDF naming the candidate with
a masked BSN), enter hours on the week grid, send them for approval, and the employer, in a
browser of their own and without logging in, approves them through the link; staff then see the
hours as approved. The BSN is typed once and never appears in a page, a URL or the PDF.

Uses the browser and page factory of ``tests/test_browser.py``; the live server is this module's
own, with ``MAIL_BACKEND = "log"`` so that the link is handed to staff on the page.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.dates import format_date
from playwright.sync_api import expect
from pypdf import PdfReader

from nvsi import create_app
from nvsi.demo import seed_demo
from nvsi.extensions import db
from nvsi.tenancy.routing import current_router
from tests import support
from tests.support import create_pg_database, drop_pg_database
from tests.test_browser import (  # noqa: F401  (fixtures)
    BACKENDS,
    UTRECHT_STAFF,
    LiveServer,
    browser,
    check_accessibility,
    log_in,
    new_page,
)

pytestmark = pytest.mark.browser

#: Passes the 11-test; not one of the demo's BSNs.
BSN = "100601844"
BSN_MASKED = "••••••844"
FIRST_NAME, LAST_NAME = "Noor", "Bouzid"
NAME = f"{FIRST_NAME} {LAST_NAME}"
#: A demo assignment (EUR 14.71 an hour, 24 hours a week) and its employer.
ASSIGNMENT = "Ondersteuning Utrecht (Bakkerij Domstad)"
EMPLOYER_CONTACT = "facturen@61234568.example"
APPROVER = "P. de Bakker"


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """A fresh demo instance per backend (as in ``tests/test_browser.py``), with mail logged,
    not sent: staff get the approval link on the page."""
    database_url = create_pg_database("nvsi_journey") if request.param == "postgresql" else ""
    instance = tmp_path_factory.mktemp(f"journey-{request.param}")
    try:
        app = create_app({
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "journey-test-secret-key-not-for-production", "DATA_KEY": support.DATA_KEY,
            "SESSION_COOKIE_SECURE": False,  # plain http on loopback
            "REMEMBER_COOKIE_SECURE": False,
            "MAIL_BACKEND": "log",
            "MAIL_LINK_BASE_URL": "",  # links on the request's host: the live server
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


def long_date(day: dt.date) -> str:
    return format_date(day, "long", locale="nl")


def hours_text(value: str) -> str:
    """``6.5`` as the pages show it: ``6,5``."""
    return value.replace(".", ",")


@pytest.mark.parametrize("live_server", BACKENDS, indirect=True)
def test_register_place_document_hours_and_employer_approval(new_page, live_server, request):  # noqa: F811
    # The pages are the same templates on either backend: the accessibility check runs once.
    axe = request.node.callspec.params["live_server"] == "sqlite"
    today = dt.date.today()
    # Monday of last week: the whole week lies in the past, so every day of it may get hours.
    start = today - dt.timedelta(days=today.weekday() + 7)
    worked = {start: "4", start + dt.timedelta(days=1): "6.5", start + dt.timedelta(days=3): "4"}
    total = "14.5"

    staff = new_page()
    urls: list[str] = []
    staff.on("request", lambda r: urls.append(r.url))

    # -- 1. register the candidate ----------------------------------------------------------------
    log_in(staff, UTRECHT_STAFF)
    staff.get_by_role("link", name="Kandidaten", exact=True).click()
    staff.get_by_role("link", name="Kandidaat inschrijven").click()
    staff.get_by_label("BSN", exact=True).fill(BSN)
    staff.get_by_label("Voornaam").fill(FIRST_NAME)
    staff.get_by_label("Achternaam").fill(LAST_NAME)
    staff.get_by_label("De kandidaat heeft vrijwillig ingestemd met deelname").check()
    staff.get_by_role("button", name="Inschrijven").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(staff.get_by_role("status")).to_contain_text("De kandidaat is ingeschreven.")
    expect(staff.get_by_text(BSN_MASKED)).to_be_visible()
    assert BSN not in staff.content()

    # -- 2. place them on the demo assignment, from last Monday --------------------------------------
    staff.goto("/g/utrecht/plaatsingen")
    staff.get_by_role("link", name="Kandidaat plaatsen").click()
    staff.wait_for_url("**/g/utrecht/plaatsingen/nieuw")
    staff.get_by_label("Kandidaat", exact=True).select_option(label=NAME)
    staff.get_by_label("Opdracht", exact=True).select_option(label=ASSIGNMENT)
    staff.get_by_label("Startdatum", exact=True).fill(start.isoformat())
    staff.get_by_label("Uren per week", exact=True).fill("16")
    staff.get_by_label("Re-integratiedoelen").fill("Werkritme opdoen in de bakkerij.")
    if axe:
        check_accessibility(staff, "placement form")
    staff.get_by_role("button", name="Plaatsen").click()
    staff.wait_for_url(re.compile(r"/g/utrecht/plaatsingen/\d+$"))
    placement_url = staff.url
    expect(staff.get_by_role("heading", level=1)).to_have_text(f"Plaatsing van {NAME}")
    expect(staff.get_by_role("status")).to_contain_text("De plaatsing is vastgelegd.")
    expect(staff.locator("main > dl.facts")).to_contain_text(f"{NAME} (BSN {BSN_MASKED})")
    expect(staff.locator("main > dl.facts")).to_contain_text(long_date(start))
    expect(staff.get_by_text("Nog geen uren ingevoerd.")).to_be_visible()
    assert BSN not in staff.content()
    if axe:
        check_accessibility(staff, "placement page")

    # -- 3. the beschikking: a PDF download naming the candidate, with the BSN masked ---------------
    documents = staff.locator("#documenten")
    link = documents.get_by_role("link", name=re.compile(r"^Beschikking"))
    expect(link).to_have_count(1)
    with staff.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF"), content[:20]
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    flat = re.sub(r"\s+", " ", text)
    assert "beschikking" in flat.lower() and NAME in flat, flat[:800]
    assert "******844" in flat, flat[:800]  # the masking bullets in the PDF's Latin-1
    assert BSN not in flat and BSN.encode() not in content
    # The same file over HTTP: a PDF attachment that no cache keeps.
    response = staff.request.get(link.get_attribute("href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    assert "no-store" in response.headers["cache-control"]
    assert response.body() == content

    # -- 4. hours on the week grid (last week), sent for approval ------------------------------------
    staff.get_by_role("link", name="Uren invoeren").click()
    staff.wait_for_url(re.compile(r"/plaatsingen/\d+/uren"))
    tomorrow = today + dt.timedelta(days=1)
    if today.weekday() < 6:  # this week's grid: tomorrow is shown but cannot get hours
        row = staff.get_by_role("row", name=re.compile(format_date(tomorrow, "EEEE d MMMM", locale="nl")))
        expect(row.get_by_role("textbox")).to_have_count(0)
        expect(row.get_by_label("niet in te vullen")).to_have_count(1)
    staff.goto(f"{placement_url}/uren?week={start.isoformat()}")
    expect(staff.get_by_role("heading", level=1)).to_have_text(f"Uren in de week van {long_date(start)}")
    for day, hours in worked.items():
        field = staff.get_by_label(f"Uren op {long_date(day)}", exact=True)
        expect(field).to_have_attribute("id", f"hours-{day.isoformat()}")
        field.fill(hours_text(hours))
    if axe:
        check_accessibility(staff, "week grid")
    staff.get_by_role("button", name="Versturen ter goedkeuring").click()
    staff.wait_for_url(re.compile(r"/g/utrecht/urenbriefjes/\d+$"))
    batch_url = staff.url
    expect(staff.get_by_role("heading", level=1)).to_have_text("Uren ter goedkeuring")
    expect(staff.get_by_role("status")).to_contain_text("De uren zijn ter goedkeuring verstuurd.")
    expect(staff.get_by_role("status")).to_contain_text("stuur de opdrachtgever de link hieronder")
    for day, hours in worked.items():
        row = staff.get_by_role("row", name=re.compile(format_date(day, "EEEE d MMMM y", locale="nl")))
        expect(row).to_contain_text(hours_text(hours))
        expect(row).to_contain_text("ter goedkeuring")
    expect(staff.get_by_role("heading", name=f"E-mail aan {EMPLOYER_CONTACT}")).to_be_visible()
    approval_link = staff.get_by_label("Goedkeuringslink").input_value()
    assert approval_link.startswith(f"{live_server.url}/uren/"), approval_link
    expect(staff.locator("p.note")).to_contain_text(approval_link)  # the mail text carries it
    assert BSN not in approval_link and BSN not in staff.content()
    if axe:
        check_accessibility(staff, "batch page")

    # -- 5. the employer opens the link in a browser of their own, without logging in -----------------
    employer = new_page()
    response = employer.goto(approval_link)
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "/login" not in employer.url
    expect(employer.get_by_role("heading", level=1)).to_have_text(f"Uren van {NAME} goedkeuren")
    expect(employer.locator("main")).to_contain_text("Bakkerij Domstad")
    for day, hours in worked.items():
        expect(employer.get_by_role("group", name=f"{format_date(day, 'EEEE d MMMM y', locale='nl')}: "
                                                  f"{hours_text(hours)} uur")).to_be_visible()
    page_html = employer.content()
    assert BSN not in page_html and BSN_MASKED not in page_html
    if axe:
        check_accessibility(employer, "approval page")
    approve_all = employer.get_by_role("button", name=f"Alle {len(worked)} dag(en) goedkeuren")
    approve_all.click()  # without a name: refused, nothing decided
    expect(employer.locator("#name")).to_have_attribute("aria-invalid", "true")
    expect(employer.get_by_role("button", name=f"Alle {len(worked)} dag(en) goedkeuren")).to_be_visible()
    employer.get_by_label("Uw naam").fill(APPROVER)
    employer.get_by_role("button", name=f"Alle {len(worked)} dag(en) goedkeuren").click()
    expect(employer.get_by_role("status")).to_contain_text(
        f"Dank u wel: uw beslissing over {len(worked)} dag(en) is vastgelegd.")
    expect(employer.get_by_text("Over alle uren van deze link is beslist. Dank u wel.")).to_be_visible()
    expect(employer.locator("main .status-granted")).to_have_count(len(worked))
    # The employer's browser holds no staff session: the tenant's pages stay closed to it.
    employer.goto(placement_url)
    assert "/login" in employer.url and NAME not in employer.content()

    # -- 6. staff see the hours as approved ------------------------------------------------------------
    staff.goto(batch_url)
    for day in worked:
        row = staff.get_by_role("row", name=re.compile(format_date(day, "EEEE d MMMM y", locale="nl")))
        expect(row).to_contain_text(f"goedgekeurd door {APPROVER}")
    expect(staff.get_by_text("De opdrachtgever heeft over alle regels van deze invoer beslist.")).to_be_visible()
    expect(staff.get_by_label("Goedkeuringslink")).to_have_count(0)

    staff.goto(placement_url)
    section = staff.locator("section", has=staff.get_by_role("heading", name="Uren", exact=True))
    expect(section).to_contain_text(f"Goedgekeurde uren in totaal: {hours_text(total)}.")
    expect(section).not_to_contain_text("wacht(en) op de opdrachtgever")
    week = section.get_by_role("row", name=re.compile(format_date(start, "medium", locale="nl")))
    expect(week.get_by_role("cell")).to_have_text([hours_text(total), "0", "0"])
    # The first approved day is now the placement's first working day.
    expect(staff.locator("main > dl.facts dt:text-is('Eerste werkdag') + dd")).to_have_text(long_date(start))

    staff.goto(f"{placement_url}/uren?week={start.isoformat()}")
    for day, value in worked.items():
        row = staff.get_by_role("row", name=re.compile(format_date(day, "EEEE d MMMM", locale="nl")))
        expect(row.locator(".status-granted")).to_have_text(f"goedgekeurd: {hours_text(value)}")
    expect(staff.get_by_text(f"Goedgekeurd deze week: {hours_text(total)} uur")).to_be_visible()

    assert not [url for url in urls if BSN in url]
