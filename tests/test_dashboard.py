"""The tenant dashboard: its figures on a small known data set, the API and the page (inline SVG
charts with their tables, no script)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from tenants.candidates.models import CandidateStatus
from tenants.dashboard import services
from tenants.frameworks.services import replace_arrangements, settings
from tenants.placements.services import end_placement
from tenants.timesheets.services import approve_all, submit_hours
from tests import factories, support
from tests.factories import ALPHA

TODAY = dt.date(2026, 11, 23)


def _known_data_set(session) -> dict:
    """Six candidates, four placements, some hours; see the expectations in the test."""
    arr1, arr3 = replace_arrangements(session, ALPHA, [
        {"code": "1", "name": "Arrangement 1", "target_share_pct": Decimal("15")},
        {"code": "3", "name": "Arrangement 3", "target_share_pct": Decimal("85")},
    ])
    settings(session).min_registrations_per_half_year = 10
    c1 = factories.candidate(session, arrangement_id=arr1.id, registered_on=dt.date(2026, 1, 5))
    c2 = factories.candidate(session, arrangement_id=arr3.id, registered_on=dt.date(2026, 3, 1))
    factories.candidate(session, arrangement_id=arr3.id, registered_on=dt.date(2026, 8, 1))
    factories.candidate(session, arrangement_id=arr3.id, registered_on=dt.date(2026, 9, 1),
                        status=CandidateStatus.LEFT_WELFARE, left_on=dt.date(2026, 10, 1), left_reason="Regulier werk")
    factories.candidate(session, registered_on=dt.date(2026, 10, 10), status=CandidateStatus.REFERRED_WSP)
    factories.candidate(session, registered_on=dt.date(2026, 11, 20))
    # c1: running until 30 November (ends soon), and a next one from December (not active yet).
    p1 = factories.placement(session, candidate_row=c1, start_date=dt.date(2026, 6, 1))
    factories.placement(session, candidate_row=c1, start_date=dt.date(2026, 12, 1), hours_per_week=Decimal("10"))
    # c2: one ended early, then one running into next year.
    ended = factories.placement(session, candidate_row=c2, start_date=dt.date(2026, 6, 1))
    end_placement(session, ended, dt.date(2026, 8, 31))
    factories.placement(session, candidate_row=c2, start_date=dt.date(2026, 9, 1), hours_per_week=Decimal("16"))
    # Hours: approved in October and November; one day in November still waiting for approval.
    approved = submit_hours(session, ALPHA, p1, [
        {"work_date": dt.date(2026, 10, 15), "hours": Decimal("6")},
        {"work_date": dt.date(2026, 11, 2), "hours": Decimal("4")},
        {"work_date": dt.date(2026, 11, 3), "hours": Decimal("3.5")},
    ], None, today=TODAY)
    approve_all(session, approved, "P. de Vries")
    submit_hours(session, ALPHA, p1, [{"work_date": dt.date(2026, 11, 4), "hours": Decimal("5")}], None, today=TODAY)
    session.flush()
    return {"p1": p1}


def test_figures_on_a_known_data_set(app, tenant_session):
    session = tenant_session("alpha")
    arranged = _known_data_set(session)
    d = services.dashboard(session, TODAY)

    assert d.active_placements == 2  # not the one ended early, not the one starting in December
    assert d.hours_this_month == Decimal("7.50")  # approved only: not the 5 hours still waiting
    assert [(m.month, m.hours) for m in d.hours_by_month] == [
        (dt.date(2026, 6, 1), Decimal("0.00")), (dt.date(2026, 7, 1), Decimal("0.00")),
        (dt.date(2026, 8, 1), Decimal("0.00")), (dt.date(2026, 9, 1), Decimal("0.00")),
        (dt.date(2026, 10, 1), Decimal("6.00")), (dt.date(2026, 11, 1), Decimal("7.50")),
    ]
    # Pool: registered or placed (not the one who left welfare, not the one referred to the WSP).
    assert d.pool_total == 4
    assert [(s.code, s.candidates, s.share_pct, s.target_pct, s.difference_pct) for s in d.pool] == [
        ("1", 1, Decimal("25.0"), Decimal("15.00"), Decimal("10.00")),
        ("3", 2, Decimal("50.0"), Decimal("85.00"), Decimal("-35.00")),
        (None, 1, Decimal("25.0"), None, None),
    ]
    assert (d.half_year_start, d.half_year_end) == (dt.date(2026, 7, 1), dt.date(2026, 12, 31))
    assert (d.registrations, d.min_registrations, d.registrations_short) == (4, 10, 6)
    assert (d.left_welfare, d.registered_total, d.outflow_pct) == (1, 6, Decimal("16.7"))
    assert [p.id for p in d.ending_soon] == [arranged["p1"].id]
    assert d.unread_reminders == 0


def test_half_years_and_an_empty_tenant(app, tenant_session):
    assert services.half_year(dt.date(2026, 6, 30)) == (dt.date(2026, 1, 1), dt.date(2026, 6, 30))
    assert services.half_year(dt.date(2026, 7, 1)) == (dt.date(2026, 7, 1), dt.date(2026, 12, 31))
    d = services.dashboard(tenant_session("gamma"), dt.date(2026, 1, 15))
    assert (d.active_placements, d.hours_this_month, d.pool_total, d.pool) == (0, Decimal("0.00"), 0, [])
    assert d.outflow_pct is None and d.min_registrations is None and d.registrations_short is None
    assert [m.month for m in d.hours_by_month][:2] == [dt.date(2025, 8, 1), dt.date(2025, 9, 1)]


def _arrange_today(tenant_session):
    """A placement that ends in ten days, relative to the real today (the views use it)."""
    today = dt.date.today()
    session = tenant_session("alpha")
    arr1, _arr3 = replace_arrangements(session, ALPHA, [
        {"code": "1", "name": "Arrangement 1", "target_share_pct": Decimal("15")},
        {"code": "3", "name": "Arrangement 3", "target_share_pct": Decimal("85")},
    ])
    candidate = factories.candidate(session, arrangement_id=arr1.id, registered_on=today)
    placement = factories.placement(session, candidate_row=candidate, start_date=today - dt.timedelta(days=7),
                                    end_date=today + dt.timedelta(days=10))
    session.commit()
    return placement


def test_dashboard_api(client, login, tenant_session):
    placement = _arrange_today(tenant_session)
    login("staff@alpha.test")
    response = client.get("/api/v1/g/alpha/dashboard")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["today"] == dt.date.today().isoformat()
    assert body["active_placements"] == 1 and body["hours_this_month"] == "0.00"
    assert len(body["hours_by_month"]) == 6 and body["hours_by_month"][-1]["month"] == dt.date.today().strftime("%Y-%m")
    assert body["pool_total"] == 1
    assert [(s["code"], s["candidates"], s["share_pct"], s["target_pct"]) for s in body["pool"]] == [
        ("1", 1, "100.0", "15.00"), ("3", 0, "0.0", "85.00")]
    assert body["registrations"]["count"] == 1 and body["registrations"]["minimum"] is None
    assert body["outflow"] == {"left_welfare": 0, "registered": 1, "rate_pct": "0.0"}
    assert [p["id"] for p in body["ending_soon"]] == [placement.id]
    assert body["ending_soon"][0]["candidate_name"] == "Anna Jansen"
    assert placement.candidate.bsn not in response.get_data(as_text=True)


def test_dashboard_page_has_accessible_charts_and_no_script(client, login, tenant_session):
    placement = _arrange_today(tenant_session)
    login("staff@alpha.test")
    response = client.get("/g/alpha/overzicht")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script" not in html and "http" not in re.sub(r'(href|action|xmlns)="[^"]*"', "", html)
    # Each chart is an image with a title, and its figures are in a table too.
    charts = re.findall(r'<svg class="chart"[^>]*role="img" aria-labelledby="([\w-]+)"', html)
    assert charts == ["uren-titel", "pool-titel"]
    for chart in charts:
        assert f'<title id="{chart}">' in html
    assert "Goedgekeurde uren per maand" in html and "Kandidaten per arrangement" in html
    assert html.count('<table class="table">') == 3  # hours, pool, ending soon
    assert '<rect x="190" y="' in html and 'width="260.0"' in html  # arrangement 1: 100% of the bar
    assert placement.candidate.name in html and f"/g/alpha/plaatsingen/{placement.id}" in html
    assert "geen minimum afgesproken" in html
    # The dashboard is the first page of the tenant's section navigation.
    subnav = html[html.index('class="subnav"'):]
    assert re.search(r'<li><a href="([^"]+)"', subnav).group(1) == "/g/alpha/overzicht"
    assert 'href="/g/alpha/overzicht" aria-current="page"' in html


def test_registrations_chart_against_the_minimum(client, login, tenant_session):
    _arrange_today(tenant_session)
    session = tenant_session("alpha")
    settings(session).min_registrations_per_half_year = 4
    session.commit()
    login("staff@alpha.test")
    html = client.get("/g/alpha/overzicht").get_data(as_text=True)
    assert "1 van minimaal 4" in html and "Nog 3 nodig om het minimum te halen." in html
    assert 'aria-labelledby="aanmeldingen-titel"' in html


def test_who_sees_the_dashboard(app, client, login):
    login("backoffice@nvsi.test")
    assert client.get("/api/v1/g/alpha/dashboard").status_code == 200
    other = app.test_client()
    support.login(other, "staff@beta.test")
    assert other.get("/api/v1/g/alpha/dashboard").status_code == 404
    assert other.get("/g/alpha/overzicht").status_code == 404
