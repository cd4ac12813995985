"""Candidates through the API and the pages: BSN (11-test) and IBAN checks with field errors,
one registration per BSN per municipality, lookup by BSN through the keyed hash, status changes,
and privacy: the BSN and IBAN never in clear in the database, the SQLite file, the logs (SQL
statement logging included), the URLs or the pages and API answers."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
import sqlalchemy as sa

from nvsi.auth.models import Role
from nvsi.auth.services import create_user, get_user_by_email
from nvsi.crypto import PersonalText, cipher
from nvsi.tenancy.services import get_tenant
from tenants.candidates.models import Candidate
from tenants.frameworks.models import Arrangement
from tests import support

API = "/api/v1/g/alpha/candidates"
PAGES = "/g/alpha/kandidaten"
BSN = "123456782"  # passes the 11-test
OTHER_BSN = "123456794"
MORE_BSNS = ["123456708", "123456721", "123456733", "123456745", "123456757"]
IBAN = "NL91ABNA0417164300"
TODAY = dt.date.today()


def candidate_data(**overrides) -> dict:
    """Valid API input for a candidate."""
    data = dict(
        bsn=BSN, first_name="Anna", last_name="de Vries", email="anna@example.org", phone="06 1234 5678",
        iban=IBAN, registered_on="2026-01-05", consent=True, work_preferences="Groenonderhoud, ochtenden",
    )
    data.update(overrides)
    return data


@pytest.fixture
def token(login):
    return login("staff@alpha.test")


def post(client, token, url, body):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def create(client, token, **overrides) -> dict:
    response = post(client, token, API, candidate_data(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_no_personal_numbers(text: str) -> None:
    for secret in (BSN, OTHER_BSN, IBAN, "1234.56.782", "NL91 ABNA 0417 1643 00", "0417164300"):
        assert secret not in text


# -- registering, reading, editing ---------------------------------------------------------------


def test_register_read_and_edit_show_only_masked_numbers(client, token, shared_session):
    response = post(client, token, API, candidate_data(bsn="1234.56.782", iban="nl91 abna 0417 1643 00",
                                                       email="Anna@Example.ORG"))
    assert response.status_code == 201
    assert_no_personal_numbers(response.get_data(as_text=True))
    body = response.get_json()
    assert "bsn" not in body and "iban" not in body
    assert body["bsn_masked"] == "••••••782" and body["iban_masked"] == "••••••••••••••4300"
    assert body["email"] == "anna@example.org" and body["status"] == "registered"
    staff = get_user_by_email(shared_session, "staff@alpha.test")
    assert body["consent_recorded_by"] == staff.id and body["consent_at"]
    assert response.headers["Location"].endswith(f"/candidates/{body['id']}")
    assert response.headers["Cache-Control"] == "no-store"

    url = f"{API}/{body['id']}"
    read = client.get(url)
    assert read.get_json()["name"] == "Anna de Vries"
    assert_no_personal_numbers(read.get_data(as_text=True))

    changed = client.patch(url, json={"phone": "+31 6 1111 2222", "iban": None, "version": 1},
                           headers={"X-CSRFToken": token})
    assert changed.status_code == 200
    assert changed.get_json()["iban_masked"] == "" and changed.get_json()["version"] == 2
    stale = client.patch(url, json={"phone": "0612345678", "version": 1}, headers={"X-CSRFToken": token})
    assert stale.status_code == 409 and list(stale.get_json()["errors"]) == ["version"]


def test_stored_numbers_are_normalised(client, token, tenant_session):
    create(client, token, bsn=" 1234 56 782 ", iban="nl91 abna 0417 1643 00")
    row = tenant_session("alpha").execute(sa.text("SELECT id FROM t_alpha.candidates")).one()
    candidate = tenant_session("alpha").get(Candidate, row.id)
    assert (candidate.bsn, candidate.iban) == (BSN, IBAN)
    assert candidate.bsn_hash == cipher().lookup_hash(BSN)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("123456789", "elfproef"),  # 9 digits, fails the 11-test
        ("111222334", "elfproef"),
        ("12345678", "elfproef"),  # 8 digits: a leading zero left out
        ("1234567", "9 cijfers"),
        ("1234567820", "9 cijfers"),
        ("12345678a", "9 cijfers"),
        ("", "9 cijfers"),
    ],
)
def test_an_invalid_bsn_is_a_clear_field_error_that_does_not_repeat_it(client, token, value, fragment):
    response = post(client, token, API, candidate_data(bsn=value))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["bsn"]
    assert fragment in body["errors"]["bsn"][0]
    if value:
        assert value not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("NL92ABNA0417164300", "controlegetal"),
        ("NL91ABNA041716430", "aantal tekens"),
        ("XX91ABNA0417164300", "landcode"),
        ("NL91 ABNA 0417 1643 0!", "Geen geldig IBAN"),
    ],
)
def test_an_invalid_iban_is_a_clear_field_error_that_does_not_repeat_it(client, token, value, fragment):
    response = post(client, token, API, candidate_data(iban=value))
    assert response.status_code == 422
    body = response.get_json()
    assert list(body["errors"]) == ["iban"] and fragment in body["errors"]["iban"][0]
    assert value.replace(" ", "") not in response.get_data(as_text=True).replace(" ", "")


def test_every_bad_field_is_named_at_once(client, token):
    body = post(client, token, API, candidate_data(
        bsn="123456789", iban="NL00", email="geen-mail", phone="bel me", first_name="", consent=False,
        registered_on=(TODAY + dt.timedelta(days=1)).isoformat(),
    )).get_json()
    assert set(body["errors"]) == {"bsn", "iban", "email", "phone", "first_name", "consent", "registered_on"}
    assert "vrijwillig" in body["errors"]["consent"][0]
    assert "toekomst" in body["errors"]["registered_on"][0]


def test_consent_is_required(client, token):
    data = candidate_data()
    del data["consent"]
    body = post(client, token, API, data).get_json()
    assert list(body["errors"]) == ["consent"] and "vrijwillig heeft ingestemd" in body["errors"]["consent"][0]


def test_the_registration_date_defaults_to_today(client, token):
    data = candidate_data()
    del data["registered_on"]
    assert post(client, token, API, data).get_json()["registered_on"] == TODAY.isoformat()


def test_a_bsn_registers_once_per_municipality(client, login):
    token = login("staff@alphagamma.test")
    create(client, token)
    twice = post(client, token, API, candidate_data(bsn="1234 56 782", first_name="Ander"))
    assert twice.status_code == 409
    body = twice.get_json()
    assert body["code"] == "bsn_taken" and list(body["errors"]) == ["bsn"]
    assert_no_personal_numbers(twice.get_data(as_text=True))
    # Another municipality keeps its own register.
    assert post(client, token, "/api/v1/g/gamma/candidates", candidate_data()).status_code == 201


def test_editing_to_an_existing_bsn_is_a_conflict(client, token):
    create(client, token)
    other = create(client, token, bsn=OTHER_BSN, first_name="Bram")
    response = client.patch(f"{API}/{other['id']}", json={"bsn": BSN, "version": 1}, headers={"X-CSRFToken": token})
    assert response.status_code == 409 and list(response.get_json()["errors"]) == ["bsn"]


def test_the_arrangement_is_one_of_the_active_ones(client, token, tenant_session):
    alpha = tenant_session("alpha")
    active = Arrangement(code="A1", name="Arrangement 1", active=True)
    retired = Arrangement(code="A9", name="Oud", active=False)
    alpha.add_all([active, retired])
    alpha.commit()
    created = create(client, token, arrangement_id=active.id)
    assert created["arrangement_name"] == "Arrangement 1"
    for bad in (retired.id, 999999):
        response = post(client, token, API, candidate_data(bsn=OTHER_BSN, arrangement_id=bad))
        assert response.status_code == 422 and list(response.get_json()["errors"]) == ["arrangement_id"]


# -- finding ------------------------------------------------------------------------------------


def test_lookup_by_exact_bsn_goes_in_the_body(client, token):
    created = create(client, token)
    found = post(client, token, f"{API}/lookup", {"bsn": "1234.56.782"})
    assert found.status_code == 200 and [c["id"] for c in found.get_json()["items"]] == [created["id"]]
    assert post(client, token, f"{API}/lookup", {"bsn": OTHER_BSN}).get_json() == {"items": []}
    invalid = post(client, token, f"{API}/lookup", {"bsn": "123456789"})
    assert invalid.status_code == 422 and list(invalid.get_json()["errors"]) == ["bsn"]


def test_a_bsn_is_never_searched_through_the_url(client, token):
    create(client, token)
    response = client.get(f"{API}?q={BSN}")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["q"]
    assert BSN not in response.get_data(as_text=True)


def test_list_search_by_name_status_filter_and_paging(client, token):
    ids = {}
    names = [("Anna", "de Vries"), ("Bram", "Bakker"), ("Cor", "de Vries"), ("Dirk", "Jansen"), ("Eva", "de Vries")]
    for bsn, (first, last) in zip(MORE_BSNS, names, strict=True):
        ids[first] = create(client, token, bsn=bsn, first_name=first, last_name=last, iban=None)["id"]
    page = client.get(f"{API}?q=de%20vries&per_page=2&page=2").get_json()
    assert page["total"] == 3 and [c["first_name"] for c in page["items"]] == ["Eva"]
    assert client.get(f"{API}?q=ANNA DE").get_json()["total"] == 1
    assert client.get(f"{API}?q=%25").get_json()["total"] == 0  # LIKE wildcards are literal
    post(client, token, f"{API}/{ids['Dirk']}/status", {"status": "referred_wsp"})
    referred = client.get(f"{API}?status=referred_wsp").get_json()
    assert [c["first_name"] for c in referred["items"]] == ["Dirk"]
    assert client.get(f"{API}?status=weg").status_code == 422


# -- status -------------------------------------------------------------------------------------


def test_status_changes(client, token):
    url = f"{API}/{create(client, token)['id']}/status"
    referred = post(client, token, url, {"status": "referred_wsp"})
    assert referred.status_code == 200 and referred.get_json()["status"] == "referred_wsp"

    incomplete = post(client, token, url, {"status": "left_welfare"})
    assert incomplete.status_code == 422 and set(incomplete.get_json()["errors"]) == {"left_on", "left_reason"}
    early = post(client, token, url, {"status": "left_welfare", "left_on": "2025-12-31", "left_reason": "Werk"})
    assert early.status_code == 422 and list(early.get_json()["errors"]) == ["left_on"]

    left = post(client, token, url, {"status": "left_welfare", "left_on": "2026-03-01",
                                     "left_reason": "Regulier werk bij de opdrachtgever"})
    body = left.get_json()
    assert (body["status"], body["left_on"], body["left_reason"]) == (
        "left_welfare", "2026-03-01", "Regulier werk bij de opdrachtgever")

    again = post(client, token, url, {"status": "referred_wsp"})
    assert again.status_code == 409 and again.get_json()["code"] == "status"
    assert "uitgestroomd" in again.get_json()["errors"]["status"][0]


def test_placed_is_set_by_a_placement_not_here(client, token):
    url = f"{API}/{create(client, token)['id']}/status"
    response = post(client, token, url, {"status": "placed"})
    assert response.status_code == 422 and "plaatsing" in response.get_json()["errors"]["status"][0]


# -- roles --------------------------------------------------------------------------------------


def test_backoffice_works_with_candidates_an_nvsi_admin_member_does_not(client, login, shared_session):
    token = login("backoffice@nvsi.test")
    assert client.get(API).status_code == 200
    client.post("/logout", data={"csrf_token": token})
    create_user(shared_session, "lid@nvsi.test", "Lid", support.PASSWORD, Role.NVSI_ADMIN,
                [get_tenant(shared_session, "alpha")])
    shared_session.commit()
    login("lid@nvsi.test")
    assert client.get("/api/v1/g/alpha/employers").status_code == 200  # a member of alpha ...
    refused = client.get(API)
    assert refused.status_code == 403 and "medewerker gemeente" in refused.get_json()["detail"]
    assert client.get(PAGES).status_code == 403


# -- privacy: database, file, logs --------------------------------------------------------------


def test_the_database_holds_no_bsn_or_iban_in_clear(client, token, tenant_session):
    create(client, token)
    alpha = tenant_session("alpha")
    # Raw SQL: no column type decrypts anything here.
    row = alpha.execute(sa.text("SELECT bsn, iban, bsn_hash FROM t_alpha.candidates")).one()
    assert BSN not in row.bsn and IBAN not in row.iban
    assert cipher().decrypt(row.bsn) == BSN and cipher().decrypt(row.iban) == IBAN  # the right columns
    assert row.bsn_hash == cipher().lookup_hash(BSN) and BSN not in row.bsn_hash
    everything = alpha.execute(sa.text("SELECT * FROM t_alpha.candidates")).one()
    assert_no_personal_numbers(" ".join(str(value) for value in everything))
    # Two registrations of one number give different ciphertexts (random IV): no equality leak.
    assert cipher().encrypt(BSN) != cipher().encrypt(BSN)


@pytest.mark.parametrize("fresh_app", ["sqlite"], indirect=True)
def test_the_tenant_sqlite_file_holds_no_bsn_or_iban_in_clear(fresh_app, tmp_path):
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession, bind_tenant
    from tenants.candidates.services import register_candidate
    from tenants.employers.services import create_employer
    from tests.conftest import employer_data

    runner = fresh_app.test_cli_runner()
    assert runner.invoke(args=["migrate"]).exit_code == 0
    assert runner.invoke(args=["tenants", "create", "delft", "--name", "Delft", "--cbs-code", "GM0503"]).exit_code == 0
    with fresh_app.app_context():
        session = RoutingSession(db)
        bind_tenant(session, "t_delft")
        data = {k: v for k, v in candidate_data(registered_on=dt.date(2026, 1, 5)).items() if k != "consent"}
        register_candidate(session, {**data, "consent": True, "last_name": "Zandbergen-Oosterhuis"}, None)
        create_employer(session, employer_data())
        session.commit()
        session.close()
    router = fresh_app.extensions["nvsi.router"]
    tenant_file = router.tenant_file("t_delft")
    content = tenant_file.read_bytes()
    assert b"Zandbergen-Oosterhuis" in content  # the grep does see the committed row
    for path in tenant_file.parent.parent.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (BSN, IBAN):
                assert secret.encode() not in data, path
                assert secret.encode("utf-16-le") not in data, path


@pytest.fixture
def statement_logging():
    """SQLAlchemy logs every statement with its parameters (as ``echo=True`` would). Requested
    before ``client``/``token`` so the test's connection is made with logging on."""
    logger = logging.getLogger("sqlalchemy.engine")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(before)


def _exercise_everything(client, token):
    """Every candidate path that handles a BSN or IBAN, API and pages, valid and invalid."""
    created = create(client, token)
    url = f"{API}/{created['id']}"
    post(client, token, API, candidate_data())  # duplicate
    post(client, token, API, candidate_data(bsn="123456789", iban="NL92ABNA0417164300"))
    post(client, token, f"{API}/lookup", {"bsn": BSN})
    client.patch(url, json={"bsn": OTHER_BSN, "iban": IBAN, "version": 1}, headers={"X-CSRFToken": token})
    client.get(API)
    client.get(url)
    form = {**candidate_data(bsn="1234.56.782", iban="NL91 ABNA 0417 1643 00"), "consent": "true",
            "csrf_token": token}
    client.post(f"{PAGES}/nieuw", data=form)  # a duplicate on the page
    client.post(f"{PAGES}/nieuw", data={**form, "bsn": OTHER_BSN, "email": "x"})  # error elsewhere
    client.post(f"{PAGES}/zoeken-op-bsn", data={"bsn": OTHER_BSN, "csrf_token": token})
    client.get(f"{PAGES}/{created['id']}")
    client.get(PAGES)


def _log_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return caplog.text + "\n".join(parts)


def test_no_bsn_or_iban_in_the_logs_even_with_sql_logging(statement_logging, client, token, caplog):
    caplog.set_level(logging.DEBUG)
    _exercise_everything(client, token)
    text = _log_text(caplog)
    assert "INSERT INTO" in text and "candidates" in text  # statements and parameters were logged
    assert_no_personal_numbers(text)


@pytest.fixture
def row_logging():
    """SQLAlchemy at DEBUG also logs every result row (as ``echo="debug"`` would)."""
    logger = logging.getLogger("sqlalchemy.engine")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(before)


def test_no_bsn_or_iban_in_the_logs_even_with_result_rows_logged(row_logging, client, token, caplog):
    caplog.set_level(logging.DEBUG)
    _exercise_everything(client, token)
    text = _log_text(caplog)
    assert "Row (" in text  # rows were logged; their decrypted values are masked
    assert "••••••782" in text or "••••••794" in text
    assert_no_personal_numbers(text)


def test_decrypted_values_have_a_masked_repr():
    value = PersonalText(BSN)
    assert value == BSN and f"{value}" == BSN and str(value) == BSN
    assert repr(value) == "'••••••782'" and BSN not in repr([value]) and BSN not in "%r" % (value,)


# -- pages --------------------------------------------------------------------------------------


def test_page_register_shows_the_candidate_masked(client, token):
    form = {**candidate_data(), "consent": "true", "csrf_token": token}
    response = client.post(f"{PAGES}/nieuw", data=form)
    assert response.status_code == 302
    with client.session_transaction() as cookie_session:  # signed, not encrypted: names no one
        flashes = str(cookie_session.get("_flashes"))
    assert "ingeschreven" in flashes and "Anna" not in flashes and "Vries" not in flashes
    detail = client.get(response.headers["Location"])
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "Anna de Vries" in html and "••••••782" in html
    assert "4300" in html
    assert_no_personal_numbers(html)
    assert detail.headers["Cache-Control"] == "no-store"
    listing = client.get(PAGES).get_data(as_text=True)
    assert "de Vries, Anna" in listing and "••••••782" in listing
    assert_no_personal_numbers(listing)


def test_page_form_keeps_input_on_error_but_not_the_bsn_or_iban(client, token):
    form = {**candidate_data(email="geen-mail", first_name="Typed Anna", work_preferences="Alleen ochtenden"),
            "consent": "true", "csrf_token": token}
    response = client.post(f"{PAGES}/nieuw", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="Typed Anna"' in html and 'value="geen-mail"' in html and "Alleen ochtenden" in html
    assert 'value="2026-01-05"' in html and re.search(r'id="consent"[^>]*checked', html)
    assert 'aria-invalid="true"' in html and re.findall(r'<li><a href="#(\w+)">', html) == ["email"]
    assert "Typ het BSN opnieuw" in html and "Typ het IBAN opnieuw" in html
    assert_no_personal_numbers(html)


def test_page_form_names_bad_bsn_iban_and_missing_consent(client, token):
    form = {**candidate_data(bsn="123456789", iban="NL92ABNA0417164300"), "csrf_token": token}
    del form["consent"]
    html = client.post(f"{PAGES}/nieuw", data=form).get_data(as_text=True)
    assert re.findall(r'<li><a href="#(\w+)">', html) == ["bsn", "iban", "consent"]
    assert "elfproef" in html and "controlegetal" in html and "vrijwillig heeft ingestemd" in html
    assert "123456789" not in html and "NL92ABNA0417164300" not in html


def test_page_duplicate_bsn(client, token):
    create(client, token)
    form = {**candidate_data(first_name="Ander"), "consent": "true", "csrf_token": token}
    response = client.post(f"{PAGES}/nieuw", data=form)
    assert response.status_code == 422 and "al een kandidaat met dit BSN" in response.get_data(as_text=True)


def test_page_lookup_by_bsn(client, token):
    created = create(client, token)
    found = client.post(f"{PAGES}/zoeken-op-bsn", data={"bsn": "1234 56 782", "csrf_token": token})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/kandidaten/{created['id']}")
    missing = client.post(f"{PAGES}/zoeken-op-bsn", data={"bsn": OTHER_BSN, "csrf_token": token})
    assert missing.status_code == 200 and "geen kandidaat met dit BSN" in missing.get_data(as_text=True)
    invalid = client.post(f"{PAGES}/zoeken-op-bsn", data={"bsn": "123456789", "csrf_token": token})
    assert invalid.status_code == 422 and "elfproef" in invalid.get_data(as_text=True)
    assert_no_personal_numbers(missing.get_data(as_text=True) + invalid.get_data(as_text=True))
    by_name = client.get(f"{PAGES}?q={BSN}")
    assert by_name.status_code == 422 and "BSN-veld" in by_name.get_data(as_text=True)


def test_page_edit_keeps_the_numbers_when_left_empty(client, token, tenant_session):
    created = create(client, token)
    url = f"{PAGES}/{created['id']}/bewerken"
    html = client.get(url).get_data(as_text=True)
    assert "Huidig BSN: ••••••782" in html and 'value="Anna"' in html
    assert_no_personal_numbers(html)
    form = {"csrf_token": token, "version": "1", "bsn": "", "iban": "", "first_name": "Anna",
            "last_name": "de Vries-Bakker", "email": "", "phone": "", "arrangement_id": "",
            "registered_on": "2026-01-05", "work_preferences": ""}
    assert client.post(url, data=form).status_code == 302
    body = client.get(f"{API}/{created['id']}").get_json()
    assert body["last_name"] == "de Vries-Bakker" and body["bsn_masked"] == "••••••782"
    assert body["iban_masked"].endswith("4300") and body["email"] is None
    stale = client.post(url, data=form)
    assert stale.status_code == 422 and "intussen gewijzigd" in stale.get_data(as_text=True)


def test_page_status_actions(client, token):
    created = create(client, token)
    url = f"{PAGES}/{created['id']}/status"
    detail = client.get(f"{PAGES}/{created['id']}").get_data(as_text=True)
    assert "Doorverwijzen naar het WSP" in detail and "Uitstroom vastleggen" in detail
    assert client.post(url, data={"status": "referred_wsp", "csrf_token": token}).status_code == 302
    bad = client.post(url, data={"status": "left_welfare", "left_on": "", "left_reason": "Werk", "csrf_token": token})
    assert bad.status_code == 422 and re.findall(r'<li><a href="#(\w+)">', bad.get_data(as_text=True)) == ["left_on"]
    assert 'value="Werk"' in bad.get_data(as_text=True)
    done = client.post(url, data={"status": "left_welfare", "left_on": "2026-03-01", "left_reason": "Regulier werk",
                                  "csrf_token": token})
    assert done.status_code == 302
    html = client.get(f"{PAGES}/{created['id']}").get_data(as_text=True)
    assert "uitgestroomd" in html and "Regulier werk" in html and "Doorverwijzen naar het WSP" not in html


def test_the_section_navigation_links_to_the_candidates(client, token):
    html = client.get("/g/alpha/opdrachtgevers").get_data(as_text=True)
    assert 'href="/g/alpha/kandidaten"' in html
