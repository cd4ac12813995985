"""The shared rule set: dated values, versions, validation, append-only history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.rules import seed, services
from nvsi.rules.models import RuleParameter, RuleValue

D = Decimal


def test_effective_dates_of_the_minimum_rate(shared_session):
    before = services.shared_rules_on(shared_session, dt.date(2016, 12, 31))["min_hourly_rate"]
    after = services.shared_rules_on(shared_session, dt.date(2017, 1, 1))["min_hourly_rate"]
    assert (before.value, before.version) == (D("12.00"), 1)
    assert (after.value, after.version, after.effective_from) == (D("12.30"), 2, dt.date(2017, 1, 1))


def test_the_seeded_rule_set_is_the_documented_one(shared_session):
    """The migration's frozen copy and nvsi.rules.seed agree, value for value."""
    params = {p.key: p for p in services.parameters(shared_session)}
    assert list(params) == [p[0] for p in seed.PARAMETERS]
    for key, kind, unit, low, high, stricter, *_ in seed.PARAMETERS:
        p = params[key]
        assert (p.kind.value, p.unit, p.min_value, p.max_value) == (kind, unit, low, high)
        assert (p.local_stricter.value if p.local_stricter else None) == stricter
    rules = services.shared_rules_on(shared_session, dt.date(2017, 6, 1))
    expected = {**seed.VERSIONS[0][4], **seed.VERSIONS[1][4]}
    assert {k: r.value for k, r in rules.items()} == expected
    assert rules["premium_per_hour"].value == D("2.00")
    assert rules["premium_payment_moments"].value == 2
    assert rules["contribution_pct"].value == rules["contribution_municipality_pct"].value + rules[
        "contribution_service_company_pct"].value


def test_a_new_version_applies_from_its_date_only(shared_session):
    version = services.create_version(
        shared_session, effective_from=dt.date(2030, 1, 1), title="Tarief 2030",
        values={"min_hourly_rate": "15.10", "premium_per_hour": D("2.50")},
    )
    assert version.number == 3
    assert services.shared_rules_on(shared_session, dt.date(2029, 12, 31))["min_hourly_rate"].value == D("12.30")
    on = services.shared_rules_on(shared_session, dt.date(2030, 1, 1))
    assert (on["min_hourly_rate"].value, on["min_hourly_rate"].version) == (D("15.10"), 3)
    assert on["premium_yearly_cap"].version == 1  # untouched values keep their version
    assert services.version_in_force(shared_session, dt.date(2030, 1, 1)) == 3


def test_a_later_version_for_the_same_date_supersedes(shared_session):
    services.create_version(shared_session, effective_from=dt.date(2030, 1, 1), title="a",
                            values={"min_hourly_rate": "15.00"})
    services.create_version(shared_session, effective_from=dt.date(2030, 1, 1), title="correctie",
                            values={"min_hourly_rate": "15.20"})
    assert services.shared_rules_on(shared_session, dt.date(2030, 2, 1))["min_hourly_rate"].value == D("15.20")


@pytest.mark.parametrize("values, code, field", [
    ({"min_hourly_rate": "12.345"}, "too_many_decimals", "values.min_hourly_rate"),
    ({"min_hourly_rate": "abc"}, "not_a_number", "values.min_hourly_rate"),
    ({"premium_payment_moments": "3"}, "above_maximum", "values.premium_payment_moments"),
    ({"premium_payment_moments": "1.5"}, "too_many_decimals", "values.premium_payment_moments"),
    ({"min_hourly_rate": "-1"}, "below_minimum", "values.min_hourly_rate"),
    ({"no_such_rule": "1"}, "unknown_rule", "values.no_such_rule"),
    ({"contribution_municipality_pct": "1.50"}, "contribution_split", "values.contribution_pct"),
    ({}, "no_values", "values"),
])
def test_invalid_versions_are_refused_with_structured_violations(shared_session, values, code, field):
    with pytest.raises(services.RuleSetError) as caught:
        services.create_version(shared_session, effective_from=dt.date(2030, 1, 1), title="x", values=values)
    (violation,) = caught.value.violations
    assert (violation.code, violation.field) == (code, field)
    assert violation.message_nl and violation.message_en and violation.message_nl != violation.message_en


def test_a_consistent_contribution_split_is_accepted(shared_session):
    services.create_version(shared_session, effective_from=dt.date(2030, 1, 1), title="split", values={
        "contribution_pct": "2.50", "contribution_municipality_pct": "1.50",
        "contribution_service_company_pct": "1.00"})
    rules = services.shared_rules_on(shared_session, dt.date(2030, 1, 1))
    assert rules["contribution_pct"].value == D("2.50")


@pytest.mark.parametrize("statement", [
    sa.update(RuleValue).values(value=D("99")),
    sa.delete(RuleValue),
])
def test_history_cannot_be_rewritten(shared_session, statement):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with shared_session.begin_nested():
            shared_session.execute(statement)
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(RuleValue)) == 23


# -- API and page -------------------------------------------------------------------------------


def test_api_rules_on_a_date(client, login):
    login("staff@alpha.test")
    body = client.get("/api/v1/rules?date=2016-12-31").get_json()
    rule = next(r for r in body["rules"] if r["key"] == "min_hourly_rate")
    assert (rule["value"], rule["version"], body["version"]) == ("12.00", 1, 1)
    assert client.get("/api/v1/rules?date=31-12-2016").status_code == 422


def test_only_nvsi_admins_record_versions(client, login):
    body = {"effective_from": "2030-01-01", "title": "Tarief", "values": {"min_hourly_rate": "15.00"}}
    token = login("admin@alpha.test")
    refused = client.post("/api/v1/rules/versions", json=body, headers={"X-CSRFToken": token})
    assert refused.status_code == 403 and refused.get_json()["allowed_roles"] == ["nvsi_admin"]
    client.post("/logout", data={"csrf_token": token})
    token = login("admin@nvsi.test")
    created = client.post("/api/v1/rules/versions", json=body, headers={"X-CSRFToken": token})
    assert created.status_code == 201 and created.get_json()["number"] == 3


def test_api_refusal_names_the_rule_and_field(client, login):
    token = login("admin@nvsi.test")
    response = client.post("/api/v1/rules/versions", headers={"X-CSRFToken": token}, json={
        "effective_from": "2030-01-01", "title": "x", "values": {"premium_payment_moments": 3}})
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "rule_violation"
    assert body["violations"][0]["rule"] == "premium_payment_moments"
    assert list(body["errors"]) == ["values.premium_payment_moments"]


def test_rules_page_and_version_form(client, login):
    token = login("admin@nvsi.test")
    page = client.get("/nvsi/regels").get_data(as_text=True)
    assert "€\xa012,30" in page and "versie 2" in page  # Babel puts a no-break space after €
    bad = client.post("/nvsi/regels/versies", data={"csrf_token": token, "effective_from": "2030-01-01",
                                                      "title": "Te veel", "value_premium_payment_moments": "3"})
    assert bad.status_code == 422 and 'value="Te veel"' in bad.get_data(as_text=True)
    assert "ten hoogste 2" in bad.get_data(as_text=True)
    good = client.post("/nvsi/regels/versies", data={"csrf_token": token, "effective_from": "2030-01-01",
                                                       "title": "Tarief 2030", "value_min_hourly_rate": "15,10"})
    assert good.status_code == 302
    assert "Tarief 2030" in client.get("/nvsi/regels").get_data(as_text=True)


def test_members_read_but_cannot_post_versions_page(client, login):
    token = login("staff@alpha.test")
    page = client.get("/nvsi/regels").get_data(as_text=True)
    assert "Nieuwe versie vastleggen" not in page
    assert client.post("/nvsi/regels/versies", data={"csrf_token": token}).status_code == 403


def test_parameters_have_both_languages(shared_session):
    for p in shared_session.scalars(sa.select(RuleParameter)):
        assert p.description_nl and p.description_en and p.description_nl != p.description_en
