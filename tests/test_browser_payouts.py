"""The premium payout pages in headless Chromium, with axe-core's WCAG 2.1 A/AA check on every
page (forms with errors included): the backoffice previews the moment due (a wrong moment first),
generates the batch, opens a payment and records the bank's refusal (without a note first); the
municipality sees its candidates' payouts and whose IBAN to fix. Uses the live server (demo data)
and browser of ``tests/test_browser.py``; "today" is 4 January 2027, just after the moment
``2026-H2``."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from nvsi.demo import DEMO_PASSWORD
from nvsi.extensions import db
from nvsi.tenancy.routing import tenant_session
from nvsi.tenancy.services import get_tenant, tenant_ref
from tests.test_browser import browser, check_accessibility, complete_second_step, live_server, new_page  # noqa: F401

pytestmark = pytest.mark.browser

BACKOFFICE = "backoffice@flextensie.example"
UTRECHT_STAFF = "medewerker@utrecht.example"
TODAY = dt.date(2027, 1, 4)


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mailadres").fill(email)
    page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    complete_second_step(page, email)
    page.wait_for_url(re.compile(r"^(?!.*/(login|auth/))"))


def worked_in_utrecht(app) -> None:
    """Approved hours in November 2026 for Sanne de Vries (IBAN known; 24 h = EUR 48.00) and
    Mohamed El Amrani (no IBAN; 6 h = EUR 12.00), accrued."""
    from tenants.assignments.models import Assignment
    from tenants.candidates.models import Candidate
    from tenants.placements.models import Placement
    from tenants.placements.services import create_placement
    from tenants.premiums.services import accrue
    from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry

    with app.app_context():
        tenant = tenant_ref(get_tenant(db.session, "utrecht"))
        db.session.remove()
        with tenant_session(db, tenant) as session:
            sanne = session.scalars(sa.select(Placement)).first()
            mohamed = session.scalars(sa.select(Candidate).where(Candidate.first_name == "Mohamed")).one()
            assignment = session.scalars(sa.select(Assignment).order_by(Assignment.id.desc())).first()
            other = create_placement(session, tenant, {
                "candidate_id": mohamed.id, "assignment_id": assignment.id, "start_date": sanne.start_date,
                "hours_per_week": Decimal("12")}, None)
            for placement, days_hours in ((sanne, [(0, "8"), (1, "8"), (2, "8")]), (other, [(0, "6")])):
                batch = TimesheetBatch(placement_id=placement.id)
                session.add(batch)
                session.flush()
                session.add_all([TimesheetEntry(
                    placement_id=placement.id, batch_id=batch.id, work_date=placement.start_date + dt.timedelta(days=d),
                    hours=Decimal(h), status=EntryStatus.APPROVED, decided_at=dt.datetime.now(dt.UTC),
                    decided_by="P. de Vries <p@linde.example>") for d, h in days_hours])
            session.flush()
            accrue(session, tenant, dt.date(2026, 12, 31), today=dt.date(2026, 12, 31))
            session.commit()


@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_generate_a_batch_and_record_a_refusal_in_the_browser(new_page, live_server, monkeypatch):  # noqa: F811
    from nvsi.payouts import views

    monkeypatch.setattr(views, "_today", lambda: TODAY)  # the live server runs in this process
    worked_in_utrecht(live_server.app)
    page = new_page()
    log_in(page, BACKOFFICE)
    page.goto("/admin/payouts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Premie-uitbetalingen")
    expect(page.get_by_label("Betaalmoment", exact=True)).to_have_value("2026-H2")  # the moment due
    check_accessibility(page, "payouts, none yet")

    page.get_by_label("Betaalmoment", exact=True).fill("2026-H7")
    page.get_by_role("button", name="Voorbeeld bekijken").click()
    expect(page.locator("#moment")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#moment")).to_have_value("2026-H7")
    expect(page.get_by_role("alert")).to_contain_text("Geen geldig betaalmoment")
    check_accessibility(page, "a wrong moment")

    page.get_by_label("Betaalmoment", exact=True).fill("2026-H2")
    page.get_by_role("button", name="Voorbeeld bekijken").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Voorbeeld premie-uitbetaling 2026-H2")
    expect(page.get_by_role("row", name=re.compile("Mohamed El Amrani"))).to_contain_text("geen IBAN bekend")
    check_accessibility(page, "the preview")

    page.get_by_role("button", name="Batch 2026-H2 aanmaken").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Premie-uitbetaling 2026-H2")
    expect(page.get_by_role("status")).to_contain_text("De batch van 2026-H2 is aangemaakt: 1 betalingen")
    expect(page.get_by_text("NL20INGB0001234567")).to_have_count(0)  # only masked
    expect(page.get_by_role("row", name=re.compile("Sanne de Vries"))).to_contain_text("••••4567")
    check_accessibility(page, "the batch")

    page.get_by_role("row", name=re.compile("Sanne de Vries")).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Betaling aan Sanne de Vries (2026-H2)")
    check_accessibility(page, "a payment with its forms")
    page.get_by_label("Reden van de bank").select_option("AC04")
    page.get_by_role("button", name="Vastleggen als geweigerd").click()
    expect(page.locator("#note")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Reden van de bank")).to_have_value("AC04")
    check_accessibility(page, "a refusal without a note")
    page.get_by_label("Toelichting").fill("De bank meldt: rekening opgeheven.")
    page.get_by_role("button", name="Vastleggen als geweigerd").click()
    expect(page.get_by_role("status")).to_contain_text("als geweigerd vastgelegd")
    expect(page.get_by_role("row", name=re.compile("Sanne de Vries"))).to_contain_text("geweigerd door de bank")

    staff = new_page()
    log_in(staff, UTRECHT_STAFF)
    staff.goto("/g/utrecht/premiums/payouts")
    expect(staff.get_by_role("heading", level=1)).to_have_text("Premie-uitbetalingen")
    expect(staff.get_by_role("row", name=re.compile("Sanne de Vries"))).to_contain_text("geweigerd door de bank")
    expect(staff.get_by_role("link", name="Mohamed El Amrani").first).to_be_visible()
    expect(staff.get_by_text("NL20INGB0001234567")).to_have_count(0)
    check_accessibility(staff, "the municipality's payouts")
