"""The product catalogue: Flextensie seeded by the migration, browsing for every role, products
managed by NVSI administrators, and the access-request flow (one open request per product per
municipality, the municipality checked against the user's own, grant and refusal with reason)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nvsi.auth.models import Role
from nvsi.auth.services import create_user
from nvsi.catalogue.models import AccessRequest, AccessStatus, Product
from nvsi.tenancy.services import get_tenant
from tests import support

API = "/api/v1/catalogue"


def product_data(**overrides) -> dict:
    data = dict(
        code="werkfit", name_nl="Werkfit", description_nl="Trainingsprogramma.",
        target_group_nl="Werkzoekenden.", goals_nl="Werkfit worden.", conditions_nl="Geen.",
    )
    data.update(overrides)
    return data


def post(client, token, url, body=None):
    return client.post(url, json=body if body is not None else {}, headers={"X-CSRFToken": token})


def flextensie_id(client) -> int:
    items = client.get(f"{API}/products").get_json()["items"]
    return next(p["id"] for p in items if p["code"] == "flextensie")


def browser(app, email):
    """Another logged-in browser: (client, CSRF token)."""
    client = app.test_client()
    return client, support.login(client, email)


@pytest.fixture
def member(app):
    return browser(app, "admin@alpha.test")


@pytest.fixture
def nvsi(app):
    return browser(app, "admin@nvsi.test")


# -- browsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["admin@nvsi.test", "backoffice@nvsi.test", "admin@alpha.test", "staff@beta.test"])
def test_flextensie_is_in_the_catalogue_for_every_role(client, login, email):
    login(email)
    [flextensie] = [p for p in client.get(f"{API}/products").get_json()["items"] if p["code"] == "flextensie"]
    assert flextensie["name_nl"] == "Flextensie" and flextensie["available"] is True
    assert "re-integratie instrument" in flextensie["description_nl"]
    assert "ca. 3 jaar" in flextensie["target_group_nl"]
    assert "25-30%" in flextensie["goals_nl"]
    assert "jaarlijkse vergoeding" in flextensie["conditions_nl"]
    assert "re-integration instrument" in flextensie["description_en"]
    assert client.get(f"{API}/products/{flextensie['id']}").get_json()["code"] == "flextensie"
    page = client.get("/nvsi/producten")
    assert page.status_code == 200 and "Flextensie" in page.get_data(as_text=True)
    detail = client.get(f"/nvsi/producten/{flextensie['id']}").get_data(as_text=True)
    assert "Doelgroep" in detail and "Voorwaarden" in detail


def test_the_catalogue_in_english(client, login):
    login("staff@beta.test")
    client.set_cookie("lang", "en")
    detail = client.get(f"/nvsi/producten/{flextensie_id(client)}").get_data(as_text=True)
    assert "Target group" in detail and "re-integration instrument" in detail


def test_anonymous_visitors_get_401_or_the_login(client):
    assert client.get(f"{API}/products").status_code == 401
    assert client.get("/nvsi/producten").status_code == 302


# -- managing products -----------------------------------------------------------------------------


def test_admin_adds_changes_and_withdraws_a_product(app, client, nvsi):
    admin, token = nvsi
    created = post(admin, token, f"{API}/products", product_data(name_en="Work-fit"))
    assert created.status_code == 201
    product = created.get_json()
    assert created.headers["Location"].endswith(f"/products/{product['id']}")
    assert product["delivery_nl"] is None and product["available"] is True

    url = f"{API}/products/{product['id']}"
    changed = admin.patch(url, json={"goals_en": "Become fit for work.", "available": False},
                          headers={"X-CSRFToken": token})
    assert changed.status_code == 200 and changed.get_json()["available"] is False
    assert admin.get(url).status_code == 200  # the NVSI still sees it

    member, member_token = browser(app, "admin@alpha.test")
    assert "werkfit" not in [p["code"] for p in member.get(f"{API}/products").get_json()["items"]]
    assert member.get(url).status_code == 404
    assert post(member, member_token, f"{url}/requests", {}).status_code == 404


@pytest.mark.parametrize(
    "field, value, fragment",
    [("code", "Werk Fit", "kleine letters"), ("code", "w", "2 tot 40"), ("name_nl", "", "naam"),
     ("goals_nl", "", "verplicht"), ("conditions_nl", "x" * 10_001, "Ten hoogste"), ("colour", "red", "Onbekend")],
)
def test_bad_product_input_is_422_naming_the_field(nvsi, field, value, fragment):
    admin, token = nvsi
    response = post(admin, token, f"{API}/products", product_data(**{field: value}))
    assert response.status_code == 422
    assert fragment in " ".join(response.get_json()["errors"][field])


def test_a_product_code_is_unique(nvsi):
    admin, token = nvsi
    taken = post(admin, token, f"{API}/products", product_data(code="flextensie"))
    assert taken.status_code == 409 and taken.get_json()["errors"]["code"]


@pytest.mark.parametrize("email", ["backoffice@nvsi.test", "admin@alpha.test", "staff@alpha.test"])
def test_only_nvsi_admins_manage_products(app, email):
    client, token = browser(app, email)
    refused = post(client, token, f"{API}/products", product_data())
    assert refused.status_code == 403 and refused.get_json()["allowed_roles"] == ["nvsi_admin"]
    patched = client.patch(f"{API}/products/{flextensie_id(client)}", json={"available": False},
                           headers={"X-CSRFToken": token})
    assert patched.status_code == 403
    assert client.get("/nvsi/producten/nieuw").status_code == 403


# -- access requests -------------------------------------------------------------------------------


def test_request_grant_and_refuse_flow(app, member, nvsi):
    client, token = member
    admin, admin_token = nvsi
    url = f"{API}/products/{flextensie_id(client)}/requests"

    asked = post(client, token, url, {"tenant": "alpha", "motivation": "Wij willen starten."})
    assert asked.status_code == 201
    request = asked.get_json()
    assert (request["tenant"], request["status"], request["product_code"]) == ("alpha", "pending", "flextensie")
    again = post(client, token, url, {"tenant": "alpha"})
    assert again.status_code == 409 and again.get_json()["code"] == "request_open"
    assert again.get_json()["errors"]["tenant"]

    # Staff of alpha see the status; another municipality does not even see the request.
    staff, _ = browser(app, "staff@alpha.test")
    assert [r["status"] for r in staff.get(f"{API}/requests").get_json()["items"]] == ["pending"]
    other, _ = browser(app, "staff@beta.test")
    assert other.get(f"{API}/requests").get_json()["items"] == []
    assert other.get(f"{API}/requests/{request['id']}").status_code == 404

    pending = admin.get(f"{API}/requests?status=pending").get_json()["items"]
    assert [r["id"] for r in pending] == [request["id"]]
    no_reason = post(admin, admin_token, f"{API}/requests/{request['id']}/refuse", {"note": ""})
    assert no_reason.status_code == 422 and "reden" in no_reason.get_json()["errors"]["note"][0]
    refused = post(admin, admin_token, f"{API}/requests/{request['id']}/refuse", {"note": "Eerst de overeenkomst tekenen."})
    assert refused.status_code == 200 and refused.get_json()["status"] == "refused"
    seen = client.get(f"{API}/requests/{request['id']}").get_json()
    assert (seen["status"], seen["decision_note"]) == ("refused", "Eerst de overeenkomst tekenen.")
    assert post(admin, admin_token, f"{API}/requests/{request['id']}/grant").status_code == 409

    # After a refusal the municipality may ask again; granted access cannot be asked twice.
    second = post(client, token, url, {})  # the user's only municipality
    assert second.status_code == 201 and second.get_json()["tenant"] == "alpha"
    granted = post(admin, admin_token, f"{API}/requests/{second.get_json()['id']}/grant")
    assert granted.status_code == 200 and granted.get_json()["status"] == "granted"
    third = post(client, token, url, {"tenant": "alpha"})
    assert third.status_code == 409 and third.get_json()["code"] == "already_granted"
    statuses = [(r["status"], r["decision_note"]) for r in staff.get(f"{API}/requests").get_json()["items"]]
    assert sorted(statuses, key=str) == sorted([("granted", None), ("refused", "Eerst de overeenkomst tekenen.")], key=str)


@pytest.mark.parametrize("tenant", ["beta", "nergens", "ALPHA", "1"])
def test_the_municipality_must_be_one_of_yours(member, tenant):
    client, token = member
    response = post(client, token, f"{API}/products/{flextensie_id(client)}/requests", {"tenant": tenant})
    assert response.status_code == 422
    # Not yours and not existing give the same answer.
    assert response.get_json()["errors"] == {"tenant": ["Kies een van uw gemeenten."]}


def test_a_member_of_several_municipalities_must_choose(app, shared_session):
    alpha, gamma = get_tenant(shared_session, "alpha"), get_tenant(shared_session, "gamma")
    create_user(shared_session, "admin@two.test", "twee", support.PASSWORD, Role.MUNICIPALITY_ADMIN, [alpha, gamma])
    shared_session.commit()
    client, token = browser(app, "admin@two.test")
    url = f"{API}/products/{flextensie_id(client)}/requests"
    assert post(client, token, url, {}).get_json()["errors"]["tenant"]
    assert post(client, token, url, {"tenant": "gamma"}).get_json()["tenant"] == "gamma"
    assert post(client, token, url, {"tenant": "alpha"}).get_json()["tenant"] == "alpha"
    page = client.get(f"/nvsi/producten/{flextensie_id(client)}").get_data(as_text=True)
    assert '<select id="tenant"' not in page  # both have a request now: nothing left to choose


@pytest.mark.parametrize("email", ["admin@nvsi.test", "backoffice@nvsi.test", "staff@alpha.test"])
def test_only_municipality_admins_request_access(app, email):
    client, token = browser(app, email)
    response = post(client, token, f"{API}/products/{flextensie_id(client)}/requests", {"tenant": "alpha"})
    assert response.status_code == 403
    assert response.get_json()["allowed_roles"] == ["municipality_admin"]


def test_only_nvsi_admins_decide_and_the_backoffice_sees_no_requests(app, member):
    client, token = member
    request = post(client, token, f"{API}/products/{flextensie_id(client)}/requests", {}).get_json()
    assert post(client, token, f"{API}/requests/{request['id']}/grant").status_code == 403
    assert post(client, token, f"{API}/requests/{request['id']}/refuse", {"note": "x"}).status_code == 403
    backoffice, _ = browser(app, "backoffice@nvsi.test")
    assert backoffice.get(f"{API}/requests").status_code == 403


def test_the_database_allows_one_open_request_per_product_and_municipality(shared_session):
    product_id = shared_session.scalar(sa.select(Product.id).where(Product.code == "flextensie"))
    tenant_id = get_tenant(shared_session, "alpha").id
    shared_session.add(AccessRequest(product_id=product_id, tenant_id=tenant_id, status=AccessStatus.PENDING))
    shared_session.flush()
    with pytest.raises(sa.exc.IntegrityError):
        with shared_session.begin_nested():
            shared_session.add(AccessRequest(product_id=product_id, tenant_id=tenant_id, status=AccessStatus.PENDING))
            shared_session.flush()
    other = get_tenant(shared_session, "beta").id
    shared_session.add(AccessRequest(product_id=product_id, tenant_id=other, status=AccessStatus.PENDING))
    shared_session.flush()  # another municipality may ask at the same time


def test_bad_status_filter_is_422(nvsi):
    admin, _ = nvsi
    assert admin.get(f"{API}/requests?status=open").get_json()["errors"]["status"]


# -- pages -----------------------------------------------------------------------------------------


def test_pages_request_then_grant(app, member, nvsi):
    client, token = member
    product_url = f"/nvsi/producten/{flextensie_id(client)}"
    page = client.get(product_url).get_data(as_text=True)
    assert "Toegang aanvragen" in page and 'name="tenant" value="alpha"' in page

    foreign = client.post(f"{product_url}/aanvragen", data={"csrf_token": token, "tenant": "beta"})
    assert foreign.status_code == 422 and 'href="#tenant"' in foreign.get_data(as_text=True)
    assert "Kies een van uw gemeenten." in foreign.get_data(as_text=True)

    sent = client.post(f"{product_url}/aanvragen", data={"csrf_token": token, "tenant": "alpha",
                                                          "motivation": "Graag"}, follow_redirects=True)
    assert "is ontvangen" in sent.get_data(as_text=True) and "in behandeling" in sent.get_data(as_text=True)
    twice = client.post(f"{product_url}/aanvragen", data={"csrf_token": token, "tenant": "alpha"})
    assert twice.status_code == 409 and "loopt al een aanvraag" in twice.get_data(as_text=True)
    assert "lopende aanvraag" in twice.get_data(as_text=True)  # nothing left to ask for

    admin, admin_token = nvsi
    listing = admin.get("/nvsi/producten/aanvragen").get_data(as_text=True)
    assert "Gemeente Alfa" in listing and "Graag" in listing
    request_id = admin.get(f"{API}/requests").get_json()["items"][0]["id"]
    done = admin.post(f"/nvsi/producten/aanvragen/{request_id}/toekennen", data={"csrf_token": admin_token},
                      follow_redirects=True)
    assert "is toegekend" in done.get_data(as_text=True)
    assert "toegekend" in client.get("/nvsi/producten").get_data(as_text=True)


def test_page_refusal_needs_a_reason(member, nvsi):
    client, token = member
    request_id = post(client, token, f"{API}/products/{flextensie_id(client)}/requests", {}).get_json()["id"]
    admin, admin_token = nvsi
    url = f"/nvsi/producten/aanvragen/{request_id}/afwijzen"
    assert admin.get(url).status_code == 200
    empty = admin.post(url, data={"csrf_token": admin_token, "note": ""})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.get_data(as_text=True)
    assert admin.post(url, data={"csrf_token": admin_token, "note": "Nog niet."}).status_code == 302
    assert "Nog niet." in client.get("/nvsi/producten").get_data(as_text=True)


def test_page_product_form(nvsi):
    admin, token = nvsi
    bad = admin.post("/nvsi/producten/nieuw", data={"csrf_token": token, **product_data(goals_nl="")})
    assert bad.status_code == 422 and 'href="#goals_nl"' in bad.get_data(as_text=True)
    made = admin.post("/nvsi/producten/nieuw", data={"csrf_token": token, "available": "true", **product_data()})
    assert made.status_code == 302
    edit_url = made.headers["Location"] + "/bewerken"
    form = admin.get(edit_url).get_data(as_text=True)
    assert "Trainingsprogramma." in form and 'name="code"' not in form
    fields = {"csrf_token": token, **{k: v for k, v in product_data().items() if k != "code"}}
    withdrawn = admin.post(edit_url, data=fields)  # no "available": the box was unticked
    assert withdrawn.status_code == 302
    assert "niet meer aangeboden" in admin.get(made.headers["Location"]).get_data(as_text=True)
