"""Local frameworks: stricter-only values, merging with the shared rules, conflicts after a new
shared version, arrangements and target mix, guidance schedule, settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.rules import services as shared
from nvsi.tenancy.routing import TenantRef
from tenants.frameworks import services
from tenants.frameworks.models import FrameworkSettings, GuidanceStep, LocalRuleValue

D = Decimal
TODAY = dt.date.today()
ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")
API = "/api/v1/g/alpha"


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


def set_value(session, key, value, on=TODAY):
    return services.set_local_value(session, ALPHA, key=key, value=value, effective_from=on, today=TODAY)


def refused(session, key, value, on=TODAY):
    with pytest.raises(services.FrameworkError) as caught:
        set_value(session, key, value, on)
    return caught.value.violations[0]


def test_a_stricter_local_value_applies(alpha):
    set_value(alpha, "min_hourly_rate", "13.50")
    set_value(alpha, "max_months_part_time", "4")
    rules = services.rules_for(alpha, ALPHA, TODAY)
    assert (rules["min_hourly_rate"].value, rules["min_hourly_rate"].source) == (D("13.50"), "local")
    assert rules["min_hourly_rate"].shared_value == D("12.30")
    assert (rules["max_months_part_time"].value, rules["max_months_part_time"].source) == (4, "local")
    assert rules["premium_per_hour"].source == "shared"
    # Before the local value's date the shared value applies.
    assert services.rules_for(alpha, ALPHA, TODAY - dt.timedelta(days=1))["min_hourly_rate"].value == D("12.30")


def test_rules_for_other_tenants_are_not_affected(alpha, tenant_session):
    set_value(alpha, "min_hourly_rate", "13.50")
    beta = TenantRef(id=2, slug="beta", name="Beta", schema="t_beta")
    assert services.rules_for(tenant_session("beta"), beta, TODAY)["min_hourly_rate"].value == D("12.30")


@pytest.mark.parametrize("key, value, code, version", [
    ("min_hourly_rate", "12.00", "not_stricter", 2),  # lower than the shared 12.30 of version 2
    ("max_months_part_time", "7", "above_maximum", None),  # the parameter's own bound
    ("max_months_full_time", "4", "above_maximum", None),
    ("premium_per_hour", "3.00", "not_locally_adjustable", None),
    ("vat_rate_pct", "25", "not_locally_adjustable", None),
    ("no_such_rule", "1", "unknown_rule", None),
    ("min_hourly_rate", "12.301", "too_many_decimals", None),
])
def test_only_stricter_values_within_bounds(alpha, key, value, code, version):
    violation = refused(alpha, key, value)
    assert (violation.code, violation.version) == (code, version)
    assert violation.rule == key


def test_no_retroactive_local_values(alpha):
    assert refused(alpha, "min_hourly_rate", "14.00", TODAY - dt.timedelta(days=1)).code == "in_the_past"


def test_a_value_less_strict_than_a_planned_shared_version_is_refused(alpha):
    shared.create_version(alpha, effective_from=TODAY + dt.timedelta(days=30), title="Hoger",
                          values={"min_hourly_rate": "14.00"})
    violation = refused(alpha, "min_hourly_rate", "13.00")
    assert violation.code == "not_stricter" and violation.version == 3
    assert "14,00" in violation.message_nl or "14.00" in violation.message_nl


def test_a_new_shared_version_flags_the_tenant_and_the_shared_value_applies(alpha):
    set_value(alpha, "min_hourly_rate", "13.00")
    assert services.conflicts(alpha, ALPHA, TODAY) == []
    later = TODAY + dt.timedelta(days=60)
    shared.create_version(alpha, effective_from=later, title="Hoger", values={"min_hourly_rate": "13.40"})
    (conflict,) = services.conflicts(alpha, ALPHA, TODAY)
    assert (conflict.code, conflict.rule, conflict.version) == ("local_less_strict", "min_hourly_rate", 3)
    assert later.isoformat() in conflict.message_nl and "ten minste" in conflict.message_nl
    # Until the new version: the local value; from then on: the (stricter) shared value.
    assert services.rules_for(alpha, ALPHA, later - dt.timedelta(days=1))["min_hourly_rate"].value == D("13.00")
    on = services.rules_for(alpha, ALPHA, later)["min_hourly_rate"]
    assert (on.value, on.source, on.version) == (D("13.40"), "shared", 3)
    # Following the advice clears the flag.
    set_value(alpha, "min_hourly_rate", "13.40", later)
    assert services.conflicts(alpha, ALPHA, TODAY) == []


def test_an_empty_value_returns_to_the_shared_rule(alpha):
    set_value(alpha, "min_hourly_rate", "13.00")
    set_value(alpha, "min_hourly_rate", "", TODAY + dt.timedelta(days=10))
    assert services.rules_for(alpha, ALPHA, TODAY + dt.timedelta(days=10))["min_hourly_rate"].source == "shared"


def test_local_history_cannot_be_rewritten(alpha):
    set_value(alpha, "min_hourly_rate", "13.00")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with alpha.begin_nested():
            alpha.execute(sa.update(LocalRuleValue).values(value=D("1")))


def test_arrangements_and_target_mix(alpha):
    services.replace_arrangements(alpha, ALPHA, [
        {"code": "1", "name": "Arrangement 1", "target_share_pct": D("15")},
        {"code": "3", "name": "Arrangement 3", "target_share_pct": D("85")},
    ])
    assert [(a.code, a.target_share_pct) for a in services.arrangements(alpha)] == [("1", D("15")), ("3", D("85"))]
    services.replace_arrangements(alpha, ALPHA, [{"code": "3", "name": "Arrangement 3"}])
    assert [a.code for a in services.arrangements(alpha)] == ["3"]
    assert [a.active for a in services.arrangements(alpha, include_inactive=True)] == [False, True]


@pytest.mark.parametrize("items, code", [
    ([{"code": "1", "name": "A", "target_share_pct": D("15")}, {"code": "3", "name": "B", "target_share_pct": D("80")}],
     "mix_not_100"),
    ([{"code": "1", "name": "A", "target_share_pct": D("15")}, {"code": "3", "name": "B"}], "incomplete_mix"),
    ([{"code": "1", "name": "A"}, {"code": "1", "name": "B"}], "duplicate_code"),
])
def test_bad_arrangements_are_refused(alpha, items, code):
    with pytest.raises(services.FrameworkError) as caught:
        services.replace_arrangements(alpha, ALPHA, items)
    assert caught.value.violations[0].code == code


def test_default_guidance_schedule_and_replacing_it(alpha):
    names = [s.name for s in services.guidance_schedule(alpha)]
    assert names == ["Intakegesprek", "Gesprek voor de start van de plaatsing", "Contact na de eerste werkdag",
                     "Evaluatie na 3 maanden"]
    services.replace_guidance(alpha, ALPHA, [{"name": "Intake", "anchor": "registration", "offset_days": 0}])
    assert [s.name for s in services.guidance_schedule(alpha)] == ["Intake"]


def test_new_tenants_get_the_same_defaults_as_migrated_ones(fresh_app):
    """A tenant made by create_all + initialise equals one made by the migrations."""
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession, bind_tenant

    runner = fresh_app.test_cli_runner()
    runner.invoke(args=["migrate"])
    assert runner.invoke(args=["tenants", "create", "delft", "--name", "Delft", "--cbs-code", "GM0503"]).exit_code == 0
    with fresh_app.app_context():
        session = RoutingSession(db)
        bind_tenant(session, "t_delft")
        steps = [(s.name, s.anchor.value, s.offset_days) for s in session.scalars(sa.select(GuidanceStep))]
        assert len(steps) == 4 and steps[0] == ("Intakegesprek", "registration", 0)
        assert session.scalar(sa.select(sa.func.count()).select_from(FrameworkSettings)) == 1
        session.close()


# -- API and pages ------------------------------------------------------------------------------


def test_api_rules_for_the_tenant(client, login, alpha):
    set_value(alpha, "min_hourly_rate", "13.50")
    alpha.commit()
    login("staff@alpha.test")
    body = client.get(f"{API}/rules").get_json()
    rule = next(r for r in body["rules"] if r["key"] == "min_hourly_rate")
    assert (rule["value"], rule["source"], rule["shared_value"]) == ("13.50", "local", "12.30")
    old = client.get(f"{API}/rules?date=2016-12-31").get_json()
    assert next(r for r in old["rules"] if r["key"] == "min_hourly_rate")["value"] == "12.00"


def test_only_the_municipality_admin_changes_the_framework(client, login):
    body = {"key": "min_hourly_rate", "value": "13.00", "effective_from": TODAY.isoformat()}
    token = login("staff@alpha.test")
    assert client.post(f"{API}/framework/values", json=body, headers={"X-CSRFToken": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    token = login("admin@alpha.test")
    created = client.post(f"{API}/framework/values", json=body, headers={"X-CSRFToken": token})
    assert created.status_code == 201 and created.get_json()["value"] == "13.0000"


def test_api_refusal_says_which_bound_was_broken(client, login):
    token = login("admin@alpha.test")
    response = client.post(f"{API}/framework/values", headers={"X-CSRFToken": token},
                           json={"key": "min_hourly_rate", "value": "11", "effective_from": TODAY.isoformat()})
    body = response.get_json()
    assert response.status_code == 422
    assert body["violations"][0]["code"] == "not_stricter" and body["violations"][0]["version"] == 2
    assert "12.30" in body["errors"]["value"][0] or "12,30" in body["errors"]["value"][0]


def test_api_arrangements_guidance_settings(client, login):
    token = login("admin@alpha.test")
    headers = {"X-CSRFToken": token}
    bad = client.put(f"{API}/framework/arrangements", headers=headers, json={"arrangements": [
        {"code": "1", "name": "A", "target_share_pct": "15"}, {"code": "3", "name": "B", "target_share_pct": "80"}]})
    assert bad.status_code == 422 and bad.get_json()["violations"][0]["code"] == "mix_not_100"
    ok = client.put(f"{API}/framework/arrangements", headers=headers, json={"arrangements": [
        {"code": "1", "name": "A", "target_share_pct": "15"}, {"code": "3", "name": "B", "target_share_pct": "85"}]})
    assert ok.status_code == 200
    assert client.put(f"{API}/framework/guidance", headers=headers, json={"steps": [
        {"name": "X", "anchor": "somewhere", "offset_days": 1}]}).status_code == 422
    settings = client.patch(f"{API}/framework/settings", headers=headers, json={
        "version": 1, "min_registrations_per_half_year": 12, "reminder_recipients": ["a@alpha.nl", "B@alpha.nl"]})
    assert settings.status_code == 200
    assert settings.get_json()["reminder_recipients"] == ["a@alpha.nl", "b@alpha.nl"]
    stale = client.patch(f"{API}/framework/settings", headers=headers, json={"version": 1, "reminder_recipients": []})
    assert stale.status_code == 422 and stale.get_json()["violations"][0]["code"] == "stale"
    bad_mail = client.patch(f"{API}/framework/settings", headers=headers,
                            json={"version": 2, "reminder_recipients": ["geen-adres"]})
    assert bad_mail.status_code == 422 and "reminder_recipients" in bad_mail.get_json()["errors"]
    framework = client.get(f"{API}/framework").get_json()
    assert [a["code"] for a in framework["arrangements"]] == ["1", "3"]
    assert framework["settings"]["min_registrations_per_half_year"] == 12


def test_framework_page_keeps_input_and_shows_conflicts(client, login, alpha):
    set_value(alpha, "min_hourly_rate", "13.00")
    shared.create_version(alpha, effective_from=TODAY + dt.timedelta(days=5), title="x",
                          values={"min_hourly_rate": "13.50"})
    alpha.commit()
    token = login("admin@alpha.test")
    page = client.get("/g/alpha/kaders").get_data(as_text=True)
    assert "moeten worden aangepast" in page and "13,50" in page
    bad = client.post("/g/alpha/kaders/arrangementen", data={
        "csrf_token": token, "arr-0-code": "1", "arr-0-name": "Eén", "arr-0-target_share_pct": "15",
        "arr-1-code": "3", "arr-1-name": "Drie", "arr-1-target_share_pct": "80"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'value="Drie"' in html and "100%" in html
    good = client.post("/g/alpha/kaders/arrangementen", data={
        "csrf_token": token, "arr-0-code": "1", "arr-0-name": "Eén", "arr-0-target_share_pct": "15",
        "arr-1-code": "3", "arr-1-name": "Drie", "arr-1-target_share_pct": "85"})
    assert good.status_code == 302


def test_staff_see_the_framework_read_only(client, login):
    login("staff@alpha.test")
    page = client.get("/g/alpha/kaders").get_data(as_text=True)
    assert "Regels die vandaag gelden" in page and "Lokale waarde instellen" not in page
