"""No request reaches another tenant's rows.

Every route under /g/<tenant>/ and /api/v1/g/<tenant>/ is listed in CASES; a test fails when a
new tenant route is not, so every new endpoint joins this suite.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from nvsi.db import TenantBase
from tenants.employers.models import Employer
from tests.conftest import employer_data

EMPLOYER_FORM = {k: v for k, v in employer_data(name="Overname B.V.", kvk_number="87654321").items()}
EMPLOYER_PATCH = {"name": "Overgenomen", "version": 1}
TODAY = dt.date.today().isoformat()
LOCAL_VALUE = {"key": "min_hourly_rate", "value": "20.00", "effective_from": TODAY, "note": "x"}

#: endpoint -> (method, needs an employer id, form body, JSON body)
CASES = {
    "tenant.employers": ("GET", False, None, None),
    "tenant.new_employer": ("GET", False, None, None),
    "tenant.edit_employer": ("POST", True, {**EMPLOYER_FORM, "version": "1"}, None),
    "tenant.archive_employer": ("POST", True, {}, None),
    "tenant.restore_employer": ("POST", True, {}, None),
    "tenant_api.api_list_employers": ("GET", False, None, None),
    "tenant_api.api_create_employer": ("POST", False, None, EMPLOYER_FORM),
    "tenant_api.api_get_employer": ("GET", True, None, None),
    "tenant_api.api_update_employer": ("PATCH", True, None, EMPLOYER_PATCH),
    "tenant_api.api_archive_employer": ("POST", True, None, {}),
    "tenant_api.api_restore_employer": ("POST", True, None, {}),
    "tenant.framework": ("GET", False, None, None),
    "tenant.set_local_value": ("POST", False, LOCAL_VALUE, None),
    "tenant.set_arrangements": ("POST", False, {"arr-0-code": "9", "arr-0-name": "Overname"}, None),
    "tenant.set_guidance": ("POST", False, {"step-0-name": "X", "step-0-anchor": "registration",
                                           "step-0-offset_days": "1"}, None),
    "tenant.update_settings": ("POST", False, {"min_registrations_per_half_year": "99", "version": "1",
                                               "reminder_recipients": "x@y.nl"}, None),
    "tenant_api.api_tenant_rules": ("GET", False, None, None),
    "tenant_api.api_get_framework": ("GET", False, None, None),
    "tenant_api.api_set_local_value": ("POST", False, None, LOCAL_VALUE),
    "tenant_api.api_set_arrangements": ("PUT", False, None, {"arrangements": [{"code": "9", "name": "X"}]}),
    "tenant_api.api_set_guidance": ("PUT", False, None, {"steps": [{"name": "X", "anchor": "registration",
                                                                   "offset_days": 1}]}),
    "tenant_api.api_update_settings": ("PATCH", False, None, {"version": 1, "min_registrations_per_half_year": 99}),
}


def tenant_endpoints(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith(("tenant.", "tenant_api."))}


def test_every_tenant_endpoint_is_in_the_cross_tenant_suite(app):
    missing = tenant_endpoints(app) - set(CASES)
    assert not missing, f"add these tenant endpoints to CASES: {sorted(missing)}"
    assert set(CASES) <= tenant_endpoints(app)


def _url(app, endpoint: str, slug: str, employer_id: int | None) -> str:
    with app.test_request_context():
        from flask import url_for

        kwargs = {"tenant_slug": slug}
        if CASES[endpoint][1]:
            kwargs["employer_id"] = employer_id
        return url_for(endpoint, **kwargs)


def _call(client, token, endpoint, url):
    method, _, form, body = CASES[endpoint]
    if body is not None:
        return client.open(url, method=method, json=body, headers={"X-CSRFToken": token})
    data = None if form is None else {**form, "csrf_token": token}
    return client.open(url, method=method, data=data)


def _snapshot(tenant_session, slug: str) -> dict:
    """Every row of every tenant table of ``slug``."""
    session = tenant_session(slug)
    return {
        table.name: [tuple(row) for row in session.execute(sa.select(table).order_by(*table.primary_key))]
        for table in TenantBase.metadata.sorted_tables
    }


@pytest.mark.parametrize("user", ["staff@beta.test", "admin@beta.test"])
@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_another_tenants_user_gets_404_and_changes_nothing(app, client, login, tenant_session, endpoint, user):
    token = login(user)
    before = _snapshot(tenant_session, "alpha")
    response = _call(client, token, endpoint, _url(app, endpoint, "alpha", 1))
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    assert _snapshot(tenant_session, "alpha") == before


@pytest.mark.parametrize("endpoint", sorted(e for e, case in CASES.items() if case[1]))
def test_another_tenants_ids_in_your_own_tenant_give_404(app, client, login, tenant_session, endpoint):
    """Beta's user, in beta's URL, with an id that exists only in alpha."""
    alpha = tenant_session("alpha")
    only_in_alpha = Employer(**employer_data(name="Alleen Alfa", kvk_number="55555555"))
    alpha.add(only_in_alpha)
    alpha.commit()
    assert tenant_session("beta").get(Employer, only_in_alpha.id) is None
    token = login("staff@beta.test")
    before = _snapshot(tenant_session, "alpha")
    response = _call(client, token, endpoint, _url(app, endpoint, "beta", only_in_alpha.id))
    assert response.status_code == 404
    assert _snapshot(tenant_session, "alpha") == before


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_missing_and_forbidden_tenants_look_the_same(app, client, login, endpoint):
    token = login("staff@beta.test")
    forbidden = _call(client, token, endpoint, _url(app, endpoint, "alpha", 1))
    missing = _call(client, token, endpoint, _url(app, endpoint, "nosuchtenant", 1))
    assert forbidden.status_code == missing.status_code == 404
    # The page repeats the requested path (the language switch returns there) and carries a
    # fresh CSRF token; nothing else may differ.
    def normalised(response, slug):
        text = response.get_data(as_text=True).replace(f"/{slug}", "/X")
        return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", text)

    assert normalised(forbidden, "alpha") == normalised(missing, "nosuchtenant")


@pytest.mark.parametrize(
    "email, status",
    [
        ("staff@alpha.test", 200),  # member
        ("staff@alphagamma.test", 200),  # member of two tenants
        ("backoffice@nvsi.test", 200),  # processes every tenant
        ("admin@nvsi.test", 404),  # manages the association, not the municipalities' data
        ("staff@beta.test", 404),
    ],
)
def test_who_reaches_a_tenant(client, login, email, status):
    login(email)
    assert client.get("/api/v1/g/alpha/employers").status_code == status
    assert client.get("/g/alpha/opdrachtgevers").status_code == status


def test_member_of_two_tenants_sees_each_tenants_own_rows(client, login):
    login("staff@alphagamma.test")
    alpha = client.get("/api/v1/g/alpha/employers").get_json()
    gamma = client.get("/api/v1/g/gamma/employers").get_json()
    assert [e["name"] for e in alpha["items"]] == ["Alfa Bouw B.V."]
    assert gamma["items"] == []


def test_anonymous_visitors_learn_nothing_about_tenants(client):
    for slug in ("alpha", "nosuchtenant"):
        api = client.get(f"/api/v1/g/{slug}/employers")
        assert api.status_code == 401 and api.get_json()["code"] == "unauthenticated"
        page = client.get(f"/g/{slug}/opdrachtgevers")
        assert page.status_code == 302 and "/login" in page.headers["Location"]


@pytest.mark.parametrize("slug", ["ALPHA", "a", "../alpha", "alpha;drop", "t_alpha", "1alpha"])
def test_invalid_slugs_are_plain_404(client, login, slug):
    login("staff@alpha.test")
    assert client.get(f"/api/v1/g/{slug}/employers").status_code == 404


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_the_tenants_own_admin_reaches_every_endpoint(app, client, login, endpoint):
    """The 404s above are isolation, not broken endpoints: the owner gets through."""
    token = login("admin@alpha.test")
    response = _call(client, token, endpoint, _url(app, endpoint, "alpha", 1))
    assert response.status_code < 400, (response.status_code, response.get_data(as_text=True)[:400])
