"""Employers through the API and the pages: validation that names the field, conflicts,
editing with optimistic locking, archiving, lists."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import employer_data

API = "/api/v1/g/alpha/employers"


@pytest.fixture
def token(login):
    return login("staff@alpha.test")


def post(client, token, url, body):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def test_create_read_update_archive_restore(client, token):
    created = post(client, token, API, employer_data(postal_code="3511ab", contact_email="X@Y.NL"))
    assert created.status_code == 201
    employer = created.get_json()
    assert employer["postal_code"] == "3511 AB" and employer["contact_email"] == "x@y.nl"
    assert created.headers["Location"].endswith(f"/employers/{employer['id']}")

    url = f"{API}/{employer['id']}"
    assert client.get(url).get_json()["name"] == "Groen B.V."
    changed = client.patch(url, json={"city": "Zeist", "version": 1}, headers={"X-CSRFToken": token})
    assert changed.status_code == 200 and changed.get_json()["city"] == "Zeist"
    assert changed.get_json()["version"] == 2

    archived = post(client, token, f"{url}/archive", {}).get_json()
    assert archived["archived"] is True and archived["archived_at"]
    names = [e["name"] for e in client.get(API).get_json()["items"]]
    assert "Groen B.V." not in names
    assert [e["name"] for e in client.get(API + "?archived=true").get_json()["items"]] == ["Groen B.V."]
    restored = post(client, token, f"{url}/restore", {}).get_json()
    assert restored["archived"] is False


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("kvk_number", "1234567", "8 cijfers"),
        ("kvk_number", "1234567a", "8 cijfers"),
        ("vat_id", "NL123456789B02", "btw"),
        ("postal_code", "0123 AB", "postcode"),
        ("postal_code", "12345", "postcode"),
        ("contact_email", "geen-mail", "e-mailadres"),
        ("name", "", "naam"),
        ("name", "x" * 201, "naam"),
        ("city", "", "plaats"),
    ],
)
def test_bad_input_names_the_field_and_the_rule(client, token, field, value, fragment):
    response = post(client, token, API, employer_data(**{field: value}))
    assert response.status_code == 422
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert body["code"] == "invalid" and list(body["errors"]) == [field]
    assert fragment.lower() in body["errors"][field][0].lower()


def test_missing_and_unknown_fields(client, token):
    data = employer_data()
    del data["city"]
    data["colour"] = "red"
    body = post(client, token, API, data).get_json()
    assert body["errors"] == {"city": ["Dit veld is verplicht."], "colour": ["Onbekend veld."]}


def test_errors_in_english_for_english_users(client, token):
    client.set_cookie("lang", "en")
    body = post(client, token, API, employer_data(kvk_number="1")).get_json()
    assert "8 digits" in body["errors"]["kvk_number"][0]


def test_not_json_is_415_and_not_an_object_is_400(client, token):
    assert client.post(API, data="x", headers={"X-CSRFToken": token}).status_code == 415
    assert post(client, token, API, ["a"]).status_code == 400


def test_duplicate_kvk_number_is_a_conflict_on_that_field(client, token):
    assert post(client, token, API, employer_data()).status_code == 201
    response = post(client, token, API, employer_data(name="Ander"))
    assert response.status_code == 409
    assert list(response.get_json()["errors"]) == ["kvk_number"]


def test_the_same_kvk_number_in_another_tenant_is_fine(client, login):
    token = login("staff@alphagamma.test")
    assert post(client, token, API, employer_data()).status_code == 201
    assert post(client, token, "/api/v1/g/gamma/employers", employer_data()).status_code == 201


def test_a_stale_edit_is_refused_not_overwritten(client, token):
    url = f"{API}/{post(client, token, API, employer_data()).get_json()['id']}"
    headers = {"X-CSRFToken": token}
    assert client.patch(url, json={"city": "Zeist", "version": 1}, headers=headers).status_code == 200
    stale = client.patch(url, json={"city": "Houten", "version": 1}, headers=headers)
    assert stale.status_code == 409 and stale.get_json()["code"] == "stale"
    assert client.get(url).get_json()["city"] == "Zeist"


def test_patch_needs_the_version(client, token):
    response = client.patch(f"{API}/1", json={"city": "Zeist"}, headers={"X-CSRFToken": token})
    assert response.status_code == 422 and "version" in response.get_json()["errors"]


def test_list_search_and_paging(client, token):
    for i in range(5):
        post(client, token, API, employer_data(name=f"Bedrijf {i}", kvk_number=f"9000000{i}", city="Zwolle"))
    page = client.get(API + "?q=zwolle&per_page=2&page=2").get_json()
    assert page["total"] == 5 and page["per_page"] == 2 and page["page"] == 2
    assert [e["name"] for e in page["items"]] == ["Bedrijf 2", "Bedrijf 3"]
    assert client.get(API + "?q=90000004").get_json()["total"] == 1
    assert client.get(API + "?page=0").status_code == 422


def test_changes_need_a_csrf_token(client, token):
    assert client.post(API, json=employer_data()).status_code == 400
    assert client.post(API, json=employer_data()).get_json()["code"] == "csrf"


# -- pages ----------------------------------------------------------------------------------------


def test_page_form_keeps_what_was_typed_and_says_what_is_wrong(client, token):
    form = {**employer_data(name="Typed Name B.V.", kvk_number="12"), "csrf_token": token}
    response = client.post("/g/alpha/opdrachtgevers/nieuw", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="Typed Name B.V."' in html and 'value="12"' in html
    assert 'aria-invalid="true"' in html and "precies 8 cijfers" in html
    assert 'href="#kvk_number"' in html  # the error summary links to the field
    summary = re.findall(r'<li><a href="#(\w+)">', html)
    assert summary == ["kvk_number"]


def test_page_error_summary_follows_the_form_order(client, token):
    html = client.post("/g/alpha/opdrachtgevers/nieuw", data={"csrf_token": token}).get_data(as_text=True)
    summary = re.findall(r'<li><a href="#(\w+)">', html)
    assert summary == ["name", "kvk_number", "street_address", "postal_code", "city", "contact_email"]


def test_page_create_edit_archive_restore(client, token):
    response = client.post(
        "/g/alpha/opdrachtgevers/nieuw", data={**employer_data(name="Pagina B.V."), "csrf_token": token}
    )
    assert response.status_code == 302
    listing = client.get("/g/alpha/opdrachtgevers").get_data(as_text=True)
    assert "Pagina B.V." in listing and "is toegevoegd" in listing
    employer = client.get(API + "?q=Pagina").get_json()["items"][0]
    edit_url = f"/g/alpha/opdrachtgevers/{employer['id']}/bewerken"
    assert 'value="Pagina B.V."' in client.get(edit_url).get_data(as_text=True)
    saved = client.post(edit_url, data={**employer_data(name="Pagina Twee B.V."), "version": "1", "csrf_token": token})
    assert saved.status_code == 302
    stale = client.post(edit_url, data={**employer_data(name="Oud"), "version": "1", "csrf_token": token})
    assert stale.status_code == 422 and "intussen gewijzigd" in stale.get_data(as_text=True)
    row = '<th scope="row">Pagina Twee B.V.</th>'
    client.post(f"/g/alpha/opdrachtgevers/{employer['id']}/archiveren", data={"csrf_token": token})
    assert row not in client.get("/g/alpha/opdrachtgevers").get_data(as_text=True)
    assert row in client.get("/g/alpha/opdrachtgevers?archived=true").get_data(as_text=True)
    client.post(f"/g/alpha/opdrachtgevers/{employer['id']}/herstellen", data={"csrf_token": token})
    assert row in client.get("/g/alpha/opdrachtgevers").get_data(as_text=True)


def test_page_duplicate_kvk_is_shown_at_the_field(client, token):
    data = {**employer_data(), "csrf_token": token}
    client.post("/g/alpha/opdrachtgevers/nieuw", data=data)
    response = client.post("/g/alpha/opdrachtgevers/nieuw", data=data)
    assert response.status_code == 422
    assert "al een opdrachtgever met dit KvK-nummer" in response.get_data(as_text=True)


def test_navigation_per_role(client, login):
    login("staff@alphagamma.test")
    html = client.get("/g/alpha/opdrachtgevers").get_data(as_text=True)
    nav = html[html.index("<nav"):html.index("</nav>")]
    assert "Gemeente Alfa" in nav and "Gemeente Gamma" in nav and "Alle gemeenten" not in nav
    assert 'href="/g/alpha/overzicht" aria-current="page"' in nav


def test_backoffice_navigation_does_not_list_every_municipality(client, login):
    login("backoffice@nvsi.test")
    html = client.get("/g/beta/opdrachtgevers").get_data(as_text=True)
    nav = html[html.index("<nav"):html.index("</nav>")]
    assert "Alle gemeenten" in nav and "Gemeente Beta" in nav
    assert "Gemeente Alfa" not in nav and "Gemeente Gamma" not in nav
    overview = client.get("/").get_data(as_text=True)
    assert all(name in overview for name in ("Gemeente Alfa", "Gemeente Beta", "Gemeente Gamma"))


def test_a_kvk_race_is_a_conflict_and_the_transaction_stays_usable(tenant_session, monkeypatch):
    """The unique index catches what the pre-check cannot see (a concurrent insert): the
    savepoint keeps the rest of the unit of work alive."""
    from tenants.employers import services
    from tenants.employers.models import Employer

    session = tenant_session("alpha")
    session.add(Employer(**employer_data(kvk_number="77777777")))
    session.flush()
    # As if the other request's insert was not visible yet when the pre-check ran.
    monkeypatch.setattr(services, "_check_kvk_free", lambda *a, **k: None)
    with pytest.raises(services.EmployerConflict):
        services.create_employer(session, employer_data(name="Tweede", kvk_number="77777777"))
    assert session.scalar(sa.select(sa.func.count()).select_from(Employer)) == 2  # still usable
