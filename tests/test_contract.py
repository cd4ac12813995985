"""The execution contract: one active contract (enforced by the database, also under concurrent
inserts on PostgreSQL), amendments as versions, terms on a date, the go/no-go review, role
checks, and errors that name the field."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.models import AuditEvent
from nvsi.auth.models import User
from nvsi.contract import services
from nvsi.contract.models import ContractStatus, ContractVersion, ExecutionContract
from nvsi.db import SharedBase
from tests import support

API = "/api/v1/contracts"


def contract_data(**overrides) -> dict:
    """Valid input for a contract (JSON)."""
    data = dict(
        reference="UC-2017-01", start_date="2017-01-01", end_date="2017-12-31",
        service_fee_pct="12.50", helpdesk_response_hours=24, availability_pct="99.50",
    )
    data.update(overrides)
    return data


@pytest.fixture
def admin(login):
    return login("admin@nvsi.test")


def post(client, token, url, body=None):
    return client.post(url, json=body if body is not None else {}, headers={"X-CSRFToken": token})


def create(client, token, **overrides) -> dict:
    response = post(client, token, API, contract_data(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# -- the admin's work ------------------------------------------------------------------------------


def test_create_read_change_amend_and_end(client, admin):
    created = post(client, admin, API, contract_data())
    assert created.status_code == 201
    contract = created.get_json()
    assert created.headers["Location"].endswith(f"{API}/{contract['id']}")
    assert contract["status"] == "active"
    assert contract["service_company"] == "Flextensie Nederland b.v."
    # Defaults: the go/no-go review 6 months after the start; the service company bears 1%.
    assert contract["review_date"] == "2017-07-01"
    [v1] = contract["versions"]
    assert v1 == {**v1, "number": 1, "effective_from": "2017-01-01", "service_fee_pct": "12.50",
                  "service_company_contribution_pct": "1.00", "helpdesk_response_hours": 24,
                  "availability_pct": "99.50"}

    url = f"{API}/{contract['id']}"
    assert client.get(url).get_json()["reference"] == "UC-2017-01"
    extended = client.patch(url, json={"end_date": "2018-12-31"}, headers={"X-CSRFToken": admin})
    assert extended.status_code == 200 and extended.get_json()["end_date"] == "2018-12-31"

    amended = post(client, admin, f"{url}/versions",
                   {"effective_from": "2018-01-01", "service_fee_pct": 11, "note": "Na de evaluatie"})
    assert amended.status_code == 201
    assert amended.get_json() == {**amended.get_json(), "number": 2, "service_fee_pct": "11.00",
                                  "helpdesk_response_hours": 24, "note": "Na de evaluatie"}
    versions = client.get(url).get_json()["versions"]
    assert [(v["number"], v["service_fee_pct"]) for v in versions] == [(1, "12.50"), (2, "11.00")]

    assert [c["reference"] for c in client.get(API).get_json()["items"]] == ["UC-2017-01"]
    ended = post(client, admin, f"{url}/end", {"end_date": "2018-06-30"})
    assert ended.status_code == 200
    assert ended.get_json()["status"] == "ended" and ended.get_json()["end_date"] == "2018-06-30"
    assert client.get("/api/v1/contract").status_code == 404
    # An ended contract stays readable, versions included.
    assert len(client.get(url).get_json()["versions"]) == 2


def test_a_second_active_contract_is_a_conflict(client, admin):
    first = create(client, admin)
    second = post(client, admin, API, contract_data(reference="UC-2018-01", start_date="2018-01-01",
                                                    end_date="2018-12-31"))
    assert second.status_code == 409
    body = second.get_json()
    assert body["code"] == "active_contract_exists"
    assert "UC-2017-01" in body["detail"] and "maar één actief" in body["detail"]
    assert body["errors"]["status"] == [body["detail"]]

    # A successor as a draft is fine; putting it in force waits for the first to end.
    draft = create(client, admin, reference="UC-2018-01", start_date="2018-01-01",
                   end_date="2018-12-31", status="draft")
    assert draft["status"] == "draft"
    assert post(client, admin, f"{API}/{draft['id']}/activate").status_code == 409
    assert post(client, admin, f"{API}/{first['id']}/end").status_code == 200
    activated = post(client, admin, f"{API}/{draft['id']}/activate")
    assert activated.status_code == 200 and activated.get_json()["status"] == "active"
    assert client.get("/api/v1/contract").get_json()["reference"] == "UC-2018-01"


def test_periods_of_contracts_in_force_do_not_overlap(client, admin):
    first = create(client, admin)
    post(client, admin, f"{API}/{first['id']}/end")
    overlapping = post(client, admin, API, contract_data(reference="UC-2017-02", start_date="2017-12-01"))
    assert overlapping.status_code == 409 and overlapping.get_json()["code"] == "period_overlaps"
    assert "start_date" in overlapping.get_json()["errors"]


def test_the_database_refuses_a_second_active_contract(shared_session):
    # Past the service's check, straight to the table: the partial unique index still refuses.
    def row(reference):
        return ExecutionContract(
            reference=reference, service_company="x", status=ContractStatus.ACTIVE,
            start_date=dt.date(2017, 1, 1), end_date=dt.date(2017, 12, 31), review_date=dt.date(2017, 7, 1),
        )

    shared_session.add(row("A"))
    shared_session.flush()
    shared_session.add(ExecutionContract(
        reference="D", service_company="x", status=ContractStatus.DRAFT, start_date=dt.date(2018, 1, 1),
        end_date=dt.date(2018, 12, 31), review_date=dt.date(2018, 7, 1),
    ))
    shared_session.flush()  # drafts and ended contracts are not limited
    with pytest.raises(sa.exc.IntegrityError):
        with shared_session.begin_nested():
            shared_session.add(row("B"))
            shared_session.flush()


@pytest.fixture
def scratch_pg():
    """An empty PostgreSQL database with the shared tables the contract needs."""
    url = support.create_pg_database("nvsi_race")
    engine = sa.create_engine(url, pool_size=2)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql('CREATE SCHEMA "nvsi"')
            # The audit log too: creating a contract records it (nvsi.audit).
            tables = [User.__table__, ExecutionContract.__table__, ContractVersion.__table__, AuditEvent.__table__]
            SharedBase.metadata.create_all(conn, tables=tables)
        yield engine
    finally:
        engine.dispose()
        support.drop_pg_database(url)


def test_one_active_contract_under_two_concurrent_inserts_on_postgresql(scratch_pg, monkeypatch):
    """Two requests pass the application's check at the same moment (a barrier holds both until
    each has seen "no active contract"); the database lets exactly one of them commit."""
    barrier = threading.Barrier(2, timeout=10)
    checked = services._check_no_other_active

    def check_then_wait(session, contract=None):
        checked(session, contract)
        barrier.wait()  # both have passed the check; now both insert

    monkeypatch.setattr(services, "_check_no_other_active", check_then_wait)
    results: dict[str, object] = {}

    def register(reference: str):
        with Session(scratch_pg) as session:
            data = services_input(reference)
            try:
                services.create_contract(session, data, None)
                session.commit()
                results[reference] = "created"
            except Exception as exc:  # recorded, so a failure shows in the assertion
                session.rollback()
                results[reference] = exc

    threads = [threading.Thread(target=register, args=(ref,)) for ref in ("UC-A", "UC-B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(map(type, results.values()), key=str) == sorted([str, services.ContractConflict], key=str), results
    [loser] = [r for r in results.values() if isinstance(r, services.ContractConflict)]
    [winner] = [ref for ref, r in results.items() if r == "created"]
    assert loser.code == "active_contract_exists" and loser.params == {"reference": winner}
    assert isinstance(loser.__cause__, sa.exc.IntegrityError)  # refused by the database, not the check
    with scratch_pg.connect() as conn:
        rows = conn.execute(sa.select(ExecutionContract.reference, ExecutionContract.status)).all()
    assert rows == [(winner, ContractStatus.ACTIVE)]


def services_input(reference: str) -> dict:
    """Validated input for :func:`services.create_contract` (what ``ContractArgs`` yields)."""
    return dict(
        reference=reference, service_company="Flextensie Nederland b.v.", status=ContractStatus.ACTIVE,
        start_date=dt.date(2017, 1, 1), end_date=dt.date(2017, 12, 31), review_date=None, note=None,
        service_fee_pct=Decimal("12.50"), service_company_contribution_pct=Decimal("1.00"),
        helpdesk_response_hours=24, availability_pct=Decimal("99.50"),
    )


# -- terms on a date -------------------------------------------------------------------------------


def test_terms_on_a_date_come_from_the_latest_version_in_force(client, admin, shared_session):
    contract = create(client, admin, end_date="2018-12-31")
    url = f"{API}/{contract['id']}/versions"
    assert post(client, admin, url, {"effective_from": "2017-07-01", "service_fee_pct": "11.00"}).status_code == 201
    assert post(client, admin, url, {"effective_from": "2018-01-01", "helpdesk_response_hours": 8}).status_code == 201

    def terms(day):
        return services.contract_terms_on(shared_session, dt.date.fromisoformat(day))

    with pytest.raises(services.NoContractInForce):
        terms("2016-12-31")
    assert (terms("2017-01-01").version, terms("2017-06-30").version) == (1, 1)
    assert terms("2017-06-30").service_fee_pct == Decimal("12.50")
    on_july = terms("2017-07-01")
    assert (on_july.version, on_july.service_fee_pct, on_july.helpdesk_response_hours) == (2, Decimal("11.00"), 24)
    on_new_year = terms("2018-01-01")
    # Terms not given in an amendment are carried over.
    assert (on_new_year.version, on_new_year.service_fee_pct, on_new_year.helpdesk_response_hours) == (
        3, Decimal("11.00"), 8)
    assert isinstance(on_new_year.service_company_contribution_pct, Decimal)
    with pytest.raises(services.NoContractInForce):
        terms("2019-01-01")

    # The same through the API, for every logged-in user.
    assert client.get("/api/v1/contract/terms?on=2017-07-01").get_json() == {
        "on": "2017-07-01", "contract_id": contract["id"], "reference": "UC-2017-01", "version": 2,
        "effective_from": "2017-07-01", "service_fee_pct": "11.00", "service_company_contribution_pct": "1.00",
        "helpdesk_response_hours": 24, "availability_pct": "99.50",
    }
    missing = client.get("/api/v1/contract/terms?on=2016-12-31")
    assert missing.status_code == 404 and missing.get_json()["code"] == "no_contract_in_force"
    assert client.get("/api/v1/contract/terms?on=31-12-2016").get_json()["errors"]["on"]


def test_an_ended_contract_still_answers_for_its_own_period(client, admin, shared_session):
    first = create(client, admin)
    post(client, admin, f"{API}/{first['id']}/end")
    create(client, admin, reference="UC-2018-01", start_date="2018-01-01", end_date="2018-12-31",
           service_fee_pct="10.00")
    assert services.contract_terms_on(shared_session, dt.date(2017, 12, 31)).reference == "UC-2017-01"
    later = services.contract_terms_on(shared_session, dt.date(2018, 1, 1))
    assert (later.reference, later.service_fee_pct) == ("UC-2018-01", Decimal("10.00"))


def test_drafts_have_no_terms_in_force(client, admin, shared_session):
    create(client, admin, status="draft")
    with pytest.raises(services.NoContractInForce):
        services.contract_terms_on(shared_session, dt.date(2017, 3, 1))


def test_amendments_never_rewrite_history(client, admin):
    contract = create(client, admin)
    url = f"{API}/{contract['id']}/versions"
    post(client, admin, url, {"effective_from": "2017-07-01", "service_fee_pct": "11.00"})
    for day in ("2017-07-01", "2017-03-01"):
        refused = post(client, admin, url, {"effective_from": day, "service_fee_pct": "9.00"})
        assert refused.status_code == 422
        assert "2017-07-01" in refused.get_json()["errors"]["effective_from"][0]
    after_end = post(client, admin, url, {"effective_from": "2018-01-01", "service_fee_pct": "9.00"})
    assert after_end.status_code == 422 and after_end.get_json()["errors"]["effective_from"]
    nothing_new = post(client, admin, url, {"effective_from": "2017-09-01"})
    assert nothing_new.status_code == 422 and nothing_new.get_json()["errors"]["service_fee_pct"]
    versions = client.get(f"{API}/{contract['id']}").get_json()["versions"]
    assert [(v["number"], v["service_fee_pct"]) for v in versions] == [(1, "12.50"), (2, "11.00")]
    # The end date cannot move before the latest version.
    shorter = client.patch(f"{API}/{contract['id']}", json={"end_date": "2017-06-30"}, headers={"X-CSRFToken": admin})
    assert shorter.status_code == 422 and shorter.get_json()["errors"]["end_date"]


# -- go/no-go --------------------------------------------------------------------------------------


def test_go_no_go_is_recorded_once(client, admin):
    contract = create(client, admin, review_date="2017-06-15")
    assert contract["review_date"] == "2017-06-15"
    url = f"{API}/{contract['id']}/review"
    no_reason = post(client, admin, url, {"outcome": "no_go", "decided_on": "2017-06-20"})
    assert no_reason.status_code == 422 and no_reason.get_json()["errors"]["note"]
    assert post(client, admin, url, {"outcome": "maybe", "decided_on": "2017-06-20"}).get_json()["errors"]["outcome"]
    recorded = post(client, admin, url, {"outcome": "go", "decided_on": "2017-06-20", "note": "Kostenneutraal"})
    assert recorded.status_code == 200
    body = recorded.get_json()
    assert (body["review_outcome"], body["review_decided_on"], body["review_note"]) == ("go", "2017-06-20", "Kostenneutraal")
    assert body["review_recorded_by_id"]
    again = post(client, admin, url, {"outcome": "no_go", "decided_on": "2017-06-21", "note": "toch niet"})
    assert again.status_code == 409 and again.get_json()["code"] == "review_recorded"
    moved = client.patch(f"{API}/{contract['id']}", json={"review_date": "2017-08-01"}, headers={"X-CSRFToken": admin})
    assert moved.status_code == 409


def test_the_review_of_a_short_contract_is_on_its_last_day(client, admin):
    assert create(client, admin, end_date="2017-03-31")["review_date"] == "2017-03-31"


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("service_fee_pct", "abc", "getal"),
        ("service_fee_pct", "101", "tussen 0 en 100"),
        ("service_fee_pct", -1, "tussen 0 en 100"),
        ("service_fee_pct", "12.555", "2 decimalen"),
        ("service_fee_pct", True, "getal"),
        ("availability_pct", 0, "groter zijn dan 0"),
        ("helpdesk_response_hours", 0, "uren"),
        ("helpdesk_response_hours", "veel", "geheel getal"),
        ("reference", "UC 2017", "kenmerk"),
        ("start_date", "1-1-2017", "JJJJ-MM-DD"),
        ("end_date", "2016-12-31", "na de begindatum"),
        ("review_date", "2018-02-01", "binnen de looptijd"),
        ("status", "ended", "draft"),
        ("colour", "red", "Onbekend veld"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, admin, field, value, fragment):
    response = post(client, admin, API, contract_data(**{field: value}))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid"
    assert fragment in " ".join(body["errors"][field]), body["errors"]


def test_missing_fields_are_named(client, admin):
    errors = post(client, admin, API, {}).get_json()["errors"]
    assert set(errors) == {"reference", "start_date", "end_date", "service_fee_pct",
                           "helpdesk_response_hours", "availability_pct"}


def test_json_numbers_are_read_as_the_decimal_written(client, admin):
    contract = create(client, admin, service_fee_pct=12.1, availability_pct=99.9)
    assert contract["versions"][0]["service_fee_pct"] == "12.10"
    assert contract["versions"][0]["availability_pct"] == "99.90"


def test_duplicate_reference_is_a_conflict(client, admin):
    create(client, admin, status="draft")
    again = post(client, admin, API, contract_data(status="draft"))
    assert again.status_code == 409 and again.get_json()["errors"]["reference"]


def test_unknown_contract_is_404(client, admin):
    assert client.get(f"{API}/999999").status_code == 404
    assert post(client, admin, f"{API}/999999/activate").status_code == 404


# -- who sees what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["backoffice@nvsi.test", "admin@alpha.test", "staff@beta.test"])
def test_members_and_backoffice_see_the_contract_in_force_without_internal_fields(app, client, admin, email):
    contract = create(client, admin)
    post(client, admin, f"{API}/{contract['id']}/review",
         {"outcome": "go", "decided_on": "2017-06-20", "note": "intern"})
    post(client, admin, f"{API}/{contract['id']}/versions",
         {"effective_from": "2017-07-01", "service_fee_pct": "11.00", "note": "intern"})

    client = app.test_client()  # another browser
    token = support.login(client, email)
    view = client.get("/api/v1/contract").get_json()
    assert view["reference"] == "UC-2017-01" and view["review_outcome"] == "go"
    assert [v["service_fee_pct"] for v in view["versions"]] == ["12.50", "11.00"]
    text = str(view)
    assert "intern" not in text and "created_by_id" not in text and "review_note" not in text
    assert client.get("/api/v1/contract/terms?on=2017-08-01").get_json()["service_fee_pct"] == "11.00"
    # Managing the contract is for NVSI administrators only.
    assert client.get(API).status_code == 403
    assert client.get(f"{API}/{contract['id']}").status_code == 403
    refused = post(client, token, API, contract_data(reference="X-1", status="draft"))
    assert refused.status_code == 403 and refused.get_json()["allowed_roles"] == ["nvsi_admin"]
    for action in ("activate", "end", "review", "versions"):
        assert post(client, token, f"{API}/{contract['id']}/{action}").status_code == 403
    assert client.patch(f"{API}/{contract['id']}", json={}, headers={"X-CSRFToken": token}).status_code == 403


def test_anonymous_visitors_get_401(client):
    assert client.get("/api/v1/contract").status_code == 401
    assert client.get(API).status_code == 401


def test_no_active_contract_is_a_clear_404(client, login):
    login("staff@alpha.test")
    response = client.get("/api/v1/contract")
    assert response.status_code == 404 and response.get_json()["code"] == "no_active_contract"


# -- pages -----------------------------------------------------------------------------------------


def page_form(token, **overrides) -> dict:
    data = {k: str(v) for k, v in contract_data(**overrides).items()}
    data.update(csrf_token=token, status=overrides.get("status", "active"), service_company="Flextensie Nederland b.v.")
    return data


def test_pages_register_amend_review_and_end(client, admin):
    assert "geen actief uitvoeringscontract" in client.get("/nvsi/contract").get_data(as_text=True)
    form = client.get("/nvsi/contract/nieuw")
    assert form.status_code == 200 and 'name="service_fee_pct"' in form.get_data(as_text=True)

    created = client.post("/nvsi/contract/nieuw", data=page_form(admin, review_date=""))
    assert created.status_code == 302
    detail = client.get(created.headers["Location"]).get_data(as_text=True)
    assert "UC-2017-01" in detail and "12,50%" in detail and "1 juli 2017" in detail
    contract_id = int(created.headers["Location"].rstrip("/").split("/")[-1])

    amend = f"/nvsi/contract/{contract_id}/wijziging"
    assert 'value="12.50"' in client.get(amend).get_data(as_text=True)
    bad = client.post(amend, data={"csrf_token": admin, "effective_from": "2016-01-01", "service_fee_pct": "11"})
    assert bad.status_code == 422 and 'href="#effective_from"' in bad.get_data(as_text=True)
    ok = client.post(amend, data={"csrf_token": admin, "effective_from": "2017-07-01", "service_fee_pct": "11",
                                  "service_company_contribution_pct": "", "helpdesk_response_hours": "",
                                  "availability_pct": "", "note": ""})
    assert ok.status_code == 302

    review = f"/nvsi/contract/{contract_id}/go-no-go"
    no_go = client.post(review, data={"csrf_token": admin, "outcome": "no_go", "decided_on": "2017-07-02", "note": ""})
    assert no_go.status_code == 422 and 'aria-invalid="true"' in no_go.get_data(as_text=True)
    assert client.post(review, data={"csrf_token": admin, "outcome": "go", "decided_on": "2017-07-02"}).status_code == 302

    edit = f"/nvsi/contract/{contract_id}/bewerken"
    assert client.post(edit, data={"csrf_token": admin, "reference": "UC-2017-01", "end_date": "2018-12-31"}).status_code == 302
    ended = client.post(f"/nvsi/contract/{contract_id}/beeindigen", data={"csrf_token": admin, "end_date": ""},
                        follow_redirects=True)
    text = ended.get_data(as_text=True)
    assert "is beëindigd" in text and "11,00%" in text and "go: doorgaan" in text


def test_page_second_active_contract_says_why(client, admin):
    client.post("/nvsi/contract/nieuw", data=page_form(admin))
    again = client.post("/nvsi/contract/nieuw", data=page_form(admin, reference="UC-2018-01"))
    assert again.status_code == 422
    assert "maar één actief" in again.get_data(as_text=True)


def test_members_see_the_contract_page_without_admin_actions(app, client, admin):
    create(client, admin)
    client = app.test_client()
    support.login(client, "staff@beta.test")
    page = client.get("/nvsi/contract").get_data(as_text=True)
    assert "UC-2017-01" in page and "12,50%" in page
    assert "/nvsi/contract/nieuw" not in page and "wijziging" not in page
    assert client.get("/nvsi/contract/nieuw").status_code == 403
