"""Member administration: statuses and key figures, suspend and reinstate (with a reason,
audited), and what a suspended or leaving member's users can still do: read, not write (every
tenant endpoint, pages and API). Both backends. Offboarding itself: tests/test_offboarding.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.auth.models import User
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.services import Line, post
from nvsi.members import services
from nvsi.onboarding.models import ApplicationStatus, MembershipApplication
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.routing import for_each_tenant
from nvsi.tenancy.services import active_tenants, get_tenant, user_tenants
from nvsi.tenancy.web import READING_POSTS
from tenants.placements.services import end_placement
from tenants.timesheets.services import approve_all, submit_hours
from tests import factories, support
from tests.factories import ALPHA
from tests.test_browser import browser, live_server, new_page  # noqa: F401  (fixtures)
from tests.test_cross_tenant import (  # noqa: F401  (alpha_ids is a fixture)
    CASES,
    _call,
    _each_endpoint,
    _snapshot,
    _url,
    alpha_ids,
)

TODAY = dt.date(2026, 3, 2)


def _client(app, email):
    client = app.test_client()
    token = support.login(client, email)
    return client, token


def _suspend(shared_session, slug="alpha"):
    tenant = get_tenant(shared_session, slug)
    tenant.status = TenantStatus.SUSPENDED
    shared_session.commit()
    return tenant


# -- statuses and key figures ---------------------------------------------------------------------


def _known_data_set(session):
    """Alpha: 3 candidates; one placement running on TODAY, one ended early, one not started;
    7.5 approved hours in 2026 (and 5 hours still waiting)."""
    first, second, _third = (factories.candidate(session) for _ in range(3))
    running = factories.placement(session, candidate_row=first, start_date=dt.date(2026, 2, 2))
    ended = factories.placement(session, candidate_row=second, start_date=dt.date(2026, 1, 5))
    end_placement(session, ended, dt.date(2026, 2, 1))
    factories.placement(session, candidate_row=second, start_date=dt.date(2026, 4, 1))
    batch = submit_hours(session, ALPHA, running, [
        {"work_date": dt.date(2026, 2, 3), "hours": Decimal("4")},
        {"work_date": dt.date(2026, 2, 4), "hours": Decimal("3.5")},
    ], None, today=TODAY)
    approve_all(session, batch, "P. de Vries")
    submit_hours(session, ALPHA, running, [{"work_date": dt.date(2026, 2, 5), "hours": Decimal("5")}],
                 None, today=TODAY)
    session.commit()


def test_key_figures_per_member(app, tenant_session, shared_session):
    _known_data_set(tenant_session("alpha"))
    members = {m.tenant.slug: m for m in services.list_members(shared_session)}
    # Revenue from the ledger: an invoice counts; the settlement that empties the account does not.
    alpha_id = members["alpha"].tenant.id
    post(shared_session, key="members-invoice", booking_date=dt.date(2026, 3, 2), tenant_id=alpha_id, kind="invoice",
         description="Factuur", lines=[Line(chart.RECEIVABLES, 56555), Line(chart.REVENUE, -46740),
                                       Line(chart.VAT_PAYABLE, -9815)])
    post(shared_session, key="members-settlement", booking_date=dt.date(2026, 6, 30), tenant_id=alpha_id,
         kind="settlement", description="Afrekening", lines=[Line(chart.REVENUE, 46740),
                                                              Line(chart.SETTLEMENT_PAYABLE, -46740)])
    router = app.extensions["nvsi.router"]
    figures = services.key_figures(db, shared_session, list(members.values()), TODAY, router)
    alpha, beta = figures[members["alpha"].tenant.id], figures[members["beta"].tenant.id]
    assert (alpha.users, alpha.candidates, alpha.active_placements, alpha.approved_hours) == (3, 3, 1, Decimal("7.50"))
    assert (beta.users, beta.candidates, beta.active_placements, beta.approved_hours) == (2, 0, 0, Decimal("0.00"))
    assert (alpha.invoiced_revenue_cents, beta.invoiced_revenue_cents) == (46740, 0)
    # Next year the hours start again from zero.
    next_year = services.key_figures(db, shared_session, [members["alpha"]], dt.date(2027, 1, 10), router)
    assert next_year[members["alpha"].tenant.id].approved_hours == Decimal("0.00")


def test_overview_lists_statuses_figures_and_applicants(app, shared_session):
    _suspend(shared_session, "gamma")
    shared_session.add(MembershipApplication(
        status=ApplicationStatus.VERIFIED, cbs_code="GM0363", municipality_name="Gemeente Amsterdam",
        oin="00000001002564440000", contact_name="A. Jansen", contact_email="a.jansen@amsterdam.example",
        billing_email="facturen@amsterdam.example", invoice_address="Amstel 1", postal_code="1011 PN",
        city="Amsterdam"))
    shared_session.commit()
    client, _ = _client(app, "admin@nvsi.test")
    body = client.get("/api/v1/members").get_json()
    by_slug = {m["slug"]: m for m in body["items"]}
    assert {s: m["status"] for s, m in by_slug.items()}.items() >= {
        "alpha": "active", "beta": "active", "gamma": "suspended"}.items()
    assert by_slug["alpha"]["figures"]["users"] == 3 and by_slug["alpha"]["figures"]["candidates"] == 0
    assert by_slug["alpha"]["offboarding"] is None
    assert [(a["name"], a["status"], a["verified"]) for a in body["applicants"]] == [
        ("Gemeente Amsterdam", "applicant", True)]
    page = client.get("/nvsi/leden").get_data(as_text=True)
    assert "Gemeente Alfa" in page and "opgeschort" in page and "Gemeente Amsterdam" in page
    assert "aanmelding" in page
    one = client.get("/api/v1/members/gamma").get_json()
    assert one["status"] == "suspended" and one["figures"]["active_placements"] == 0


@pytest.mark.parametrize("email", ["backoffice@nvsi.test", "admin@alpha.test", "staff@alpha.test"])
def test_only_nvsi_admins_administer_members(app, email):
    client, token = _client(app, email)
    assert client.get("/api/v1/members").status_code == 403
    assert client.get("/nvsi/leden").status_code == 403
    assert client.post("/api/v1/members/alpha/suspend", json={"reason": "x"},
                       headers={"X-CSRFToken": token}).status_code == 403


def test_an_unknown_member_is_404(app):
    client, token = _client(app, "admin@nvsi.test")
    assert client.get("/api/v1/members/nosuch").status_code == 404
    assert client.post("/api/v1/members/nosuch/suspend", json={"reason": "x"},
                       headers={"X-CSRFToken": token}).status_code == 404
    assert client.get("/nvsi/leden/nosuch").status_code == 404


# -- suspend and reinstate ------------------------------------------------------------------------


def test_suspend_and_reinstate_with_a_reason_are_audited(app, shared_session):
    client, token = _client(app, "admin@nvsi.test")
    headers = {"X-CSRFToken": token}
    missing = client.post("/api/v1/members/alpha/suspend", json={}, headers=headers)
    assert missing.status_code == 422 and "reason" in missing.get_json()["errors"]
    empty = client.post("/api/v1/members/alpha/suspend", json={"reason": "  "}, headers=headers)
    assert empty.status_code == 422 and "reason" in empty.get_json()["errors"]
    early = client.post("/api/v1/members/alpha/reinstate", json={"reason": "x"}, headers=headers)
    assert early.status_code == 409 and early.get_json()["code"] == "not_suspended"

    done = client.post("/api/v1/members/alpha/suspend", json={"reason": "Contributie onbetaald"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["status"] == "suspended"
    again = client.post("/api/v1/members/alpha/suspend", json={"reason": "x"}, headers=headers)
    assert again.status_code == 409 and again.get_json()["code"] == "not_active"
    back = client.post("/api/v1/members/alpha/reinstate", json={"reason": "Betaald"}, headers=headers)
    assert back.status_code == 200 and back.get_json()["status"] == "active"

    alpha_id = get_tenant(shared_session, "alpha").id
    events = shared_session.execute(
        sa.select(AuditEvent.action, AuditEvent.actor_label, AuditEvent.changes)
        .where(AuditEvent.tenant_id == alpha_id, AuditEvent.action.startswith("member.")).order_by(AuditEvent.id)
    ).all()
    assert [tuple(e) for e in events] == [
        ("member.suspended", "admin@nvsi.test", {"status": ["active", "suspended"], "reason": "Contributie onbetaald"}),
        ("member.reinstated", "admin@nvsi.test", {"status": ["suspended", "active"], "reason": "Betaald"}),
    ]


def test_suspend_through_the_page(app, shared_session):
    client, token = _client(app, "admin@nvsi.test")
    refused = client.post("/nvsi/leden/alpha/opschorten", data={"reason": "", "csrf_token": token})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'href="#reason"' in html and 'aria-invalid="true"' in html and "Vul een reden in." in html
    done = client.post("/nvsi/leden/alpha/opschorten", data={"reason": "Onderzoek", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/nvsi/leden/alpha")
    page = client.get("/nvsi/leden/alpha").get_data(as_text=True)
    assert "opgeschort" in page and "Onderzoek" in page and "member.suspended" in page
    assert 'action="/nvsi/leden/alpha/heractiveren"' in page
    assert get_tenant(shared_session, "alpha").status is TenantStatus.SUSPENDED


# -- a suspended member's users: read yes, write no -----------------------------------------------


def _read_only_check(app, connection, tenant_session, alpha_ids, code, message):  # noqa: F811
    client, token = _client(app, "admin@alpha.test")
    before = _snapshot(tenant_session, "alpha")

    def call(endpoint):
        method = CASES[endpoint][0]
        response = _call(client, token, endpoint, _url(app, endpoint, "alpha", alpha_ids), alpha_ids)
        if method in ("GET", "HEAD") or endpoint in READING_POSTS:
            if response.status_code >= 400:
                return f"read refused: {response.status_code}"
            return None
        if response.status_code != 403:
            return f"write allowed: {response.status_code}"
        if endpoint.startswith("tenant_api."):
            body = response.get_json()
            if body["code"] != code or body["detail"] != message:
                return f"wrong problem: {body}"
        elif message not in response.get_data(as_text=True):
            return "no read-only message on the page"
        if _snapshot(tenant_session, "alpha") != before:
            return "alpha's rows changed"

    assert _each_endpoint(connection, sorted(CASES), call) == []


def test_a_suspended_members_users_can_read_but_not_write(app, connection, tenant_session, shared_session,
                                                          alpha_ids):  # noqa: F811
    _suspend(shared_session)
    _read_only_check(app, connection, tenant_session, alpha_ids, "tenant_suspended",
                     "lidmaatschap opgeschort: alleen lezen")


def test_a_leaving_members_users_can_read_but_not_write(app, connection, tenant_session, shared_session,
                                                        alpha_ids):  # noqa: F811
    member = services.get_member(shared_session, "alpha")
    services.start_offboarding(shared_session, member, "Opgezegd per 1 januari")
    shared_session.commit()
    _read_only_check(app, connection, tenant_session, alpha_ids, "tenant_leaving",
                     "lidmaatschap wordt beëindigd: alleen lezen")


def test_after_reinstating_writes_work_again(app, shared_session):
    tenant = _suspend(shared_session)
    client, token = _client(app, "staff@alpha.test")
    employer = {"name": "Na Heropening B.V.", "kvk_number": "76543210", "street_address": "Straat 1",
                "postal_code": "3511 AB", "city": "Utrecht", "contact_email": "f@heropening.example"}
    refused = client.post("/api/v1/g/alpha/employers", json=employer, headers={"X-CSRFToken": token})
    assert refused.status_code == 403 and refused.get_json()["code"] == "tenant_suspended"
    tenant.status = TenantStatus.ACTIVE
    shared_session.commit()
    assert client.post("/api/v1/g/alpha/employers", json=employer, headers={"X-CSRFToken": token}).status_code == 201


def test_a_suspended_member_stays_in_its_users_navigation_and_jobs_skip_it(app, shared_session):
    _suspend(shared_session)
    staff = shared_session.scalar(sa.select(User).where(User.email == "staff@alpha.test"))
    assert [t.slug for t in user_tenants(shared_session, staff)] == ["alpha"]
    assert "alpha" not in [t.slug for t in active_tenants(shared_session)]
    visited = for_each_tenant(db, lambda session, tenant: tenant.slug, router=app.extensions["nvsi.router"])
    assert "alpha" not in visited and {"beta", "gamma"} <= set(visited)
    client, _ = _client(app, "staff@alpha.test")
    assert client.get("/g/alpha/opdrachtgevers").status_code == 200


# -- in a browser -----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)  # the same templates on both backends
def test_member_and_audit_pages_in_a_browser(new_page):  # noqa: F811
    """An NVSI admin suspends Utrecht through the pages (a form with an error first), looks at the
    offboarding page and the audit log; Utrecht's admin reads their own log and is refused a
    change; axe-core's WCAG 2.1 A/AA check on every page."""
    import re

    from playwright.sync_api import expect

    from nvsi.demo import DEMO_PASSWORD
    from tests.test_browser import check_accessibility, complete_second_step

    def log_in(page, email):
        page.goto("/login")
        page.get_by_label("E-mailadres").fill(email)
        page.get_by_label("Wachtwoord").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Inloggen").click()
        complete_second_step(page, email)
        page.wait_for_url(re.compile(r"^(?!.*/(login|auth/))"))

    admin = new_page()
    log_in(admin, "admin@nvsi.example")
    admin.get_by_role("link", name="Leden", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Leden")
    check_accessibility(admin, "members overview")
    admin.get_by_role("link", name="Gemeente Utrecht").click()
    check_accessibility(admin, "member page")
    admin.get_by_role("button", name="Opschorten").click()
    expect(admin.locator("#reason")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "suspend form with an error")
    admin.get_by_label("Reden").fill("Contributie 2026 onbetaald")
    admin.get_by_role("button", name="Opschorten").click()
    expect(admin.get_by_text("Het lidmaatschap is opgeschort: alleen lezen.")).to_be_visible()
    expect(admin.get_by_text("Contributie 2026 onbetaald")).to_be_visible()
    check_accessibility(admin, "member page, suspended")
    admin.get_by_role("link", name="Vertrek van deze gemeente starten").click()
    check_accessibility(admin, "offboarding page")
    admin.goto("/admin/audit?date_from=2026-05-02&date_to=2026-05-01")
    expect(admin.locator("#date_to")).to_have_attribute("aria-invalid", "true")
    check_accessibility(admin, "audit log with a filter error")
    admin.goto("/admin/audit?tenant=utrecht")
    expect(admin.get_by_role("rowheader", name="member.suspended")).to_be_visible()
    check_accessibility(admin, "audit log")

    municipal = new_page()
    log_in(municipal, "beheer@utrecht.example")
    municipal.get_by_role("link", name="Auditlog").click()
    expect(municipal.get_by_role("rowheader", name="member.suspended")).to_be_visible()
    check_accessibility(municipal, "municipality's audit log")
    municipal.goto("/g/utrecht/opdrachtgevers/nieuw")
    municipal.get_by_role("button", name=re.compile("Opslaan|Toevoegen")).click()
    expect(municipal.get_by_text("lidmaatschap opgeschort: alleen lezen")).to_be_visible()
    check_accessibility(municipal, "read-only refusal")
