"""The guided set-up of the local framework (issue 7, item 3): step by step through the local
values (stricter only, the shared value and the bound beside each), the arrangements, the guidance
schedule and the settings; each step saved on its own, revisited, and shown as done. The rules are
the framework services' own: the page only shows their refusals at the right field."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.onboarding.models import FrameworkSetupStep
from nvsi.tenancy.routing import TenantRef
from tenants.frameworks import services
from tenants.frameworks.models import Arrangement, FrameworkSettings, GuidanceStep, LocalRuleValue
from tests import support

ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")
SETUP = "/g/alpha/kaders/inrichten"
TODAY = dt.date.today().isoformat()


@pytest.fixture
def admin(client, login):
    """alpha's municipality administrator, logged in; the CSRF token."""
    return login("admin@alpha.test")


def saved_steps(shared_session) -> set[str]:
    shared_session.expire_all()
    return set(shared_session.scalars(sa.select(FrameworkSetupStep.step).where(FrameworkSetupStep.tenant_id == 1)))


def local_values(alpha) -> list[tuple[str, Decimal | None]]:
    alpha.expire_all()
    return [(r.key, r.value) for r in alpha.scalars(sa.select(LocalRuleValue).order_by(LocalRuleValue.id))]


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.mark.parametrize("email, status", [
    ("admin@alpha.test", 200), ("staff@alpha.test", 403), ("backoffice@nvsi.test", 403),
])
def test_only_the_municipality_admin_sets_the_framework_up(client, login, email, status):
    login(email)
    for path in ("", "/waarden", "/arrangementen", "/begeleiding", "/instellingen"):
        assert client.get(SETUP + path).status_code == status, path


def test_the_overview_shows_the_steps_and_where_to_begin(client, admin):
    html = client.get(SETUP).get_data(as_text=True)
    assert "0 van 4 stappen opgeslagen." in html
    for n, title in enumerate(["Lokale waarden", "Arrangementen en streefverdeling", "Begeleidingsmomenten",
                               "Aanmeldingen en signalen"], start=1):
        assert f"Stap {n}: {title}</a>" in html
    assert html.count("nog niet opgeslagen") == 4
    assert f'href="{SETUP}/waarden">Beginnen</a>' in html
    assert f'href="{SETUP}"' in client.get("/g/alpha/overzicht").get_data(as_text=True)  # in the navigation


def test_the_values_step_shows_the_shared_value_and_the_bound(client, admin):
    html = client.get(SETUP + "/waarden").get_data(as_text=True)
    row = re.search(r'<label for="value-min_hourly_rate">.*?</tr>', html, re.S).group(0)
    assert "12,30" in row and "versie 2" in row  # the shared minimum rate in force
    # Stricter means higher here, up to the parameter's bound.
    assert re.search(r"van €\s?12,30 per uur tot en met €\s?100,00 per uur", row), row
    row = re.search(r'<label for="value-max_months_part_time">.*?</tr>', html, re.S).group(0)
    assert re.search(r"van 1 maanden tot en met 6 maanden", row), row  # stricter means lower
    assert 'aria-describedby="bound-min_hourly_rate"' in html
    assert "premium_per_hour" not in html  # not locally adjustable: not offered
    assert 'aria-current="step"' in html


@pytest.mark.parametrize("key, value, message", [
    ("min_hourly_rate", "12.00", "Een lokale waarde mag alleen strenger zijn"),
    ("min_hourly_rate", "150", "mag ten hoogste 100,00 zijn"),
    ("max_months_part_time", "7", "mag ten hoogste 6 zijn"),
    ("min_hourly_rate", "veel", "Geen geldig getal"),
])
def test_a_less_strict_or_out_of_bound_value_is_refused_at_its_field(client, admin, alpha, shared_session,
                                                                     key, value, message):
    form = {"csrf_token": admin, "effective_from": TODAY, "value-max_months_full_time": "2", f"value-{key}": value}
    response = client.post(SETUP + "/waarden", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html, html[:3000]
    assert f'<a href="#value-{key}">' in html
    assert re.search(rf'id="value-{key}"[^>]*value="{re.escape(value)}"[^>]*aria-invalid="true"', html)
    assert 'value="2"' in html  # the valid field keeps what was typed too
    assert local_values(alpha) == []  # all or nothing
    assert "values" not in saved_steps(shared_session)


def test_a_value_in_the_past_is_refused(client, admin, alpha):
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    response = client.post(SETUP + "/waarden", data={"csrf_token": admin, "effective_from": yesterday,
                                                     "value-min_hourly_rate": "14.00"})
    assert response.status_code == 422
    assert "terugwerkende kracht" in response.get_data(as_text=True)
    assert local_values(alpha) == []


def test_saving_the_values_applies_them_and_goes_on(client, admin, alpha, shared_session):
    response = client.post(SETUP + "/waarden", data={
        "csrf_token": admin, "effective_from": TODAY, "value-min_hourly_rate": "14,50",
        "value-max_months_part_time": "5"})
    assert response.status_code == 302 and response.headers["Location"] == SETUP + "/arrangementen"
    rules = services.rules_for(alpha, ALPHA, dt.date.today())
    assert (rules["min_hourly_rate"].value, rules["min_hourly_rate"].source) == (Decimal("14.50"), "local")
    assert rules["max_months_part_time"].value == 5
    assert saved_steps(shared_session) == {"values"}
    event = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "framework.setup_saved")).one()
    assert event.tenant_id == 1 and event.object_id == "values" and event.actor_label == "admin@alpha.test"
    assert event.changes["values"] == {"min_hourly_rate": "14,50", "max_months_part_time": "5"}
    # Revisited: the values in force are filled in; saving unchanged adds nothing.
    html = client.get(SETUP + "/waarden").get_data(as_text=True)
    assert re.search(r'id="value-min_hourly_rate"[^>]*value="14.50"', html)
    assert "1 van 4 stappen opgeslagen." in html
    before = local_values(alpha)
    client.post(SETUP + "/waarden", data={"csrf_token": admin, "effective_from": TODAY,
                                         "value-min_hourly_rate": "14.50", "value-max_months_part_time": "5"})
    assert local_values(alpha) == before
    # Emptied: from then on the shared value applies again.
    client.post(SETUP + "/waarden", data={"csrf_token": admin, "effective_from": TODAY,
                                         "value-min_hourly_rate": "", "value-max_months_part_time": "5"})
    assert local_values(alpha)[-1] == ("min_hourly_rate", None)
    assert services.rules_for(alpha, ALPHA, dt.date.today())["min_hourly_rate"].source == "shared"


@pytest.mark.parametrize("form, field, message", [
    ({"arr-0-code": "1", "arr-0-name": "Arrangement 1", "arr-0-target_share_pct": "15",
      "arr-1-code": "3", "arr-1-name": "Arrangement 3", "arr-1-target_share_pct": "75"},
     "arrangements", "tellen op tot 90"),
    ({"arr-0-code": "1", "arr-0-name": "Een", "arr-2-code": "1", "arr-2-name": "Nog een"}, "arr-2-code",
     "komt meer dan eens voor"),
    ({"arr-0-code": "1", "arr-0-name": "Een", "arr-0-target_share_pct": "100", "arr-1-code": "2",
      "arr-1-name": "Twee"}, "arrangements", "Geef elk arrangement een streefpercentage"),
    ({"arr-0-code": "", "arr-0-name": "Zonder code"}, "arr-0-code", ""),
])
def test_arrangements_are_refused_with_the_services_reasons(client, admin, alpha, form, field, message):
    response = client.post(SETUP + "/arrangementen", data={"csrf_token": admin, **form})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<a href="#{field}">' in html and message in html
    for name, value in form.items():
        if value:
            assert f'name="{name}"' in html and f'value="{value}"' in html
    alpha.expire_all()
    assert alpha.scalars(sa.select(Arrangement)).all() == []


def test_saving_the_arrangements(client, admin, alpha, shared_session):
    response = client.post(SETUP + "/arrangementen", data={
        "csrf_token": admin, "arr-0-code": "1", "arr-0-name": "Arrangement 1", "arr-0-target_share_pct": "15",
        "arr-1-code": "3", "arr-1-name": "Arrangement 3", "arr-1-target_share_pct": "85,00"})
    assert response.status_code == 302 and response.headers["Location"] == SETUP + "/begeleiding"
    assert [(a.code, a.target_share_pct) for a in services.arrangements(alpha)] == [
        ("1", Decimal("15.00")), ("3", Decimal("85.00"))]
    assert saved_steps(shared_session) == {"arrangements"}
    html = client.get(SETUP + "/arrangementen").get_data(as_text=True)
    assert 'value="Arrangement 3"' in html


def test_the_guidance_schedule_needs_a_moment(client, admin, alpha):
    response = client.post(SETUP + "/begeleiding", data={"csrf_token": admin})
    assert response.status_code == 422
    assert "Plan ten minste één begeleidingsmoment." in response.get_data(as_text=True)
    bad = client.post(SETUP + "/begeleiding", data={"csrf_token": admin, "step-0-name": "Intake",
                                                   "step-0-anchor": "registration", "step-0-offset_days": "400"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and '<a href="#step-0-offset_days">' in html and "-60 en 365" in html
    alpha.expire_all()
    assert len(alpha.scalars(sa.select(GuidanceStep)).all()) == 4  # the default schedule stays


def test_saving_the_guidance_schedule(client, admin, alpha, shared_session):
    html = client.get(SETUP + "/begeleiding").get_data(as_text=True)
    assert 'value="Intakegesprek"' in html  # the default schedule, to adjust
    response = client.post(SETUP + "/begeleiding", data={
        "csrf_token": admin, "step-0-name": "Intakegesprek", "step-0-anchor": "registration",
        "step-0-offset_days": "0", "step-1-name": "Evaluatie na 2 maanden", "step-1-anchor": "placement_start",
        "step-1-offset_days": "61"})
    assert response.status_code == 302 and response.headers["Location"] == SETUP + "/instellingen"
    assert [(s.name, s.offset_days) for s in services.guidance_schedule(alpha)] == [
        ("Intakegesprek", 0), ("Evaluatie na 2 maanden", 61)]
    assert saved_steps(shared_session) == {"guidance"}


def test_the_settings_step(client, admin, alpha, shared_session):
    version = str(services.settings(alpha).version)
    alpha.rollback()
    bad = client.post(SETUP + "/instellingen", data={"csrf_token": admin, "version": version,
                                                    "min_registrations_per_half_year": "20",
                                                    "reminder_recipients": "werkcoach@alfa.example\ngeen-adres"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Geen geldig e-mailadres: geen-adres." in html
    assert "geen-adres</textarea>" in html and 'value="20"' in html
    stale = client.post(SETUP + "/instellingen", data={"csrf_token": admin, "version": str(int(version) + 5),
                                                      "reminder_recipients": ""})
    assert stale.status_code == 422 and "intussen gewijzigd" in stale.get_data(as_text=True)
    response = client.post(SETUP + "/instellingen", data={
        "csrf_token": admin, "version": version, "min_registrations_per_half_year": "20",
        "reminder_recipients": "werkcoach@alfa.example, Intercedent@Alfa.example"})
    assert response.status_code == 302 and response.headers["Location"] == SETUP
    alpha.expire_all()
    row = alpha.scalars(sa.select(FrameworkSettings)).one()
    assert row.min_registrations_per_half_year == 20
    assert row.reminder_recipients == "werkcoach@alfa.example\nintercedent@alfa.example"
    event = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.object_id == "settings")).one()
    assert event.changes == {"min_registrations_per_half_year": 20, "reminder_recipients": 2}  # no addresses


def test_all_steps_saved(client, admin, shared_session):
    client.post(SETUP + "/waarden", data={"csrf_token": admin, "effective_from": TODAY})
    client.post(SETUP + "/arrangementen", data={"csrf_token": admin, "arr-0-code": "1", "arr-0-name": "Een"})
    client.post(SETUP + "/begeleiding", data={"csrf_token": admin, "step-0-name": "Intake",
                                             "step-0-anchor": "registration", "step-0-offset_days": "0"})
    page = client.get(SETUP + "/instellingen").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    client.post(SETUP + "/instellingen", data={"csrf_token": admin, "version": version, "reminder_recipients": ""})
    assert saved_steps(shared_session) == {"values", "arrangements", "guidance", "settings"}
    html = client.get(SETUP).get_data(as_text=True)
    assert "4 van 4 stappen opgeslagen." in html and "Alle stappen zijn opgeslagen" in html
    assert html.count(">opgeslagen<") == 4


def test_progress_is_per_tenant(app, client, admin, shared_session):
    client.post(SETUP + "/arrangementen", data={"csrf_token": admin, "arr-0-code": "1", "arr-0-name": "Een"})
    beta = app.test_client()
    support.login(beta, "admin@beta.test")
    assert "0 van 4 stappen opgeslagen." in beta.get("/g/beta/kaders/inrichten").get_data(as_text=True)
    assert "1 van 4 stappen opgeslagen." in client.get(SETUP).get_data(as_text=True)
