"""The audit log: append-only in the database (UPDATE, DELETE and, on PostgreSQL, TRUNCATE
refused), the NVSI administrators' page and API over all tenants with filters and paging, a
municipality administrator's page and API over its own tenant only, personal data masked, and
the governance services recording what they change. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.audit.services import record
from nvsi.tenancy.services import get_tenant
from tests import support


def _add(session, action, *, tenant=None, actor_label="someone@nvsi.test", changes=None, occurred_at=None):
    """An event written directly (as an older row would be), committed in the test's transaction."""
    event = AuditEvent(action=action, tenant_id=tenant, actor_label=actor_label, changes=changes,
                       occurred_at=occurred_at or dt.datetime.now(dt.timezone.utc), object_type="test",
                       object_id="1")
    session.add(event)
    session.commit()
    return event


@pytest.fixture
def ids(shared_session):
    return {slug: get_tenant(shared_session, slug).id for slug in ("alpha", "beta", "gamma")}


# -- append-only ----------------------------------------------------------------------------------


def test_no_audit_row_can_be_changed_or_deleted(app, connection, shared_session, backend):
    event = record(shared_session, "test.recorded", changes={"x": 1}, actor_label="system:test")
    shared_session.commit()
    table = AuditEvent.__table__
    attempts = {
        "UPDATE": sa.update(table).where(table.c.id == event.id).values(action="test.rewritten"),
        "UPDATE all": sa.update(table).values(actor_label="nobody"),
        "DELETE": sa.delete(table).where(table.c.id == event.id),
        "DELETE all": sa.delete(table),
    }
    shared = connection.execution_options(schema_translate_map={"nvsi": None} if backend == "sqlite" else None)
    for name, statement in attempts.items():
        savepoint = connection.begin_nested()
        try:
            with pytest.raises(sa.exc.DatabaseError, match="append-only") as refused:
                shared.execute(statement)
        finally:
            savepoint.rollback()
        assert refused.value is not None, name
    if backend == "postgresql":
        savepoint = connection.begin_nested()
        try:
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                connection.exec_driver_sql("TRUNCATE nvsi.audit_events")
        finally:
            savepoint.rollback()
    # Nothing changed: the row reads as written.
    row = connection.execute(sa.text(
        "SELECT action, actor_label FROM " + ("nvsi." if backend == "postgresql" else "") +
        "audit_events WHERE id = :id"), {"id": event.id}).one()
    assert tuple(row) == ("test.recorded", "system:test")


def test_the_orm_cannot_change_or_delete_an_event_either(app, shared_session):
    event = record(shared_session, "test.recorded", actor_label="system:test")
    shared_session.commit()
    event.action = "test.rewritten"
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        shared_session.commit()
    shared_session.rollback()
    shared_session.delete(shared_session.get(AuditEvent, event.id))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        shared_session.commit()


# -- the NVSI administrators' log -----------------------------------------------------------------


def test_nvsi_admin_sees_every_tenant_and_filters(client, login, shared_session, ids):
    _add(shared_session, "employer.created", tenant=ids["alpha"], actor_label="staff@alpha.test")
    _add(shared_session, "employer.created", tenant=ids["beta"], actor_label="staff@beta.test")
    _add(shared_session, "member.suspended", tenant=ids["beta"], actor_label="admin@nvsi.test")
    _add(shared_session, "rules.version_created", actor_label="admin@nvsi.test")
    _add(shared_session, "employer.created", tenant=ids["gamma"], actor_label="old@gamma.test",
         occurred_at=dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc))
    login("admin@nvsi.test")

    def actions(**params):
        response = client.get("/api/v1/audit", query_string=params)
        assert response.status_code == 200, response.get_json()
        return [(e["action"], e["tenant"], e["actor"]) for e in response.get_json()["items"]]

    everything = actions()
    assert ("rules.version_created", None, "admin@nvsi.test") in everything
    assert {t for _, t, _ in everything} >= {"alpha", "beta", "gamma", None}
    assert actions(tenant="beta") == [("member.suspended", "beta", "admin@nvsi.test"),
                                      ("employer.created", "beta", "staff@beta.test")]
    assert set(actions(action="member.")) >= {("member.suspended", "beta", "admin@nvsi.test")}
    assert all(a.startswith("member.") for a, _, _ in actions(action="member."))
    assert actions(actor="STAFF@ALPHA") == [("employer.created", "alpha", "staff@alpha.test")]
    assert actions(date_from="2025-03-01", date_to="2025-03-01") == [("employer.created", "gamma", "old@gamma.test")]
    assert ("employer.created", "gamma", "old@gamma.test") not in actions(date_from="2025-03-02")


def test_paging_goes_back_without_gaps_or_repeats(client, login, shared_session, ids):
    for i in range(7):
        _add(shared_session, f"paging.event{i}", tenant=ids["gamma"])
    login("admin@nvsi.test")
    seen, before = [], None
    while True:
        params = {"tenant": "gamma", "action": "paging.", "per_page": 3}
        if before:
            params["before"] = before
        body = client.get("/api/v1/audit", query_string=params).get_json()
        assert len(body["items"]) <= 3
        seen += [e["action"] for e in body["items"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == [f"paging.event{i}" for i in reversed(range(7))]


def test_personal_data_is_masked_even_in_rows_written_unmasked(client, login, shared_session, ids):
    # An older row that slipped through unmasked (or a field declared personal later) is masked
    # on the way out; rows written through record() are masked when written.
    _add(shared_session, "candidate.imported", tenant=ids["alpha"],
         changes={"bsn": "123456782", "iban": ["NL91ABNA0417164300", "NL20INGB0001234567"], "name": "x"})
    record(shared_session, "candidate.created", tenant_id=ids["alpha"], changes={"bsn": "111222333"},
           actor_label="system:test")
    shared_session.commit()
    stored = shared_session.scalar(sa.select(AuditEvent.changes).where(AuditEvent.action == "candidate.created"))
    assert "111222333" not in str(stored)
    login("admin@nvsi.test")
    response = client.get("/api/v1/audit", query_string={"action": "candidate."})
    text = response.get_data(as_text=True)
    for secret in ("123456782", "NL91ABNA0417164300", "NL20INGB0001234567", "111222333"):
        assert secret not in text
    imported = [e for e in response.get_json()["items"] if e["action"] == "candidate.imported"][0]
    assert imported["changes"]["bsn"].endswith("782") and imported["changes"]["name"] == "x"
    page = client.get("/admin/audit", query_string={"action": "candidate."}).get_data(as_text=True)
    assert "candidate.imported" in page and "123456782" not in page and "NL91ABNA0417164300" not in page


def test_the_page_filters_and_says_what_is_wrong(client, login, shared_session, ids):
    _add(shared_session, "member.suspended", tenant=ids["beta"], actor_label="admin@nvsi.test")
    login("admin@nvsi.test")
    page = client.get("/admin/audit", query_string={"tenant": "beta"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "member.suspended" in html and "Gemeente Beta" in html
    bad = client.get("/admin/audit", query_string={"date_from": "2026-05-02", "date_to": "2026-05-01",
                                                   "actor": "typed@value"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'href="#date_to"' in html and 'value="typed@value"' in html and 'aria-invalid="true"' in html


@pytest.mark.parametrize("params, field", [
    ({"tenant": "nosuchtenant"}, "tenant"),
    ({"date_from": "gisteren"}, "date_from"),
    ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "date_to"),
    ({"per_page": "0"}, "per_page"),
    ({"unknown": "x"}, "unknown"),
])
def test_bad_filters_name_the_field(client, login, params, field):
    login("admin@nvsi.test")
    response = client.get("/api/v1/audit", query_string=params)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("email", ["backoffice@nvsi.test", "admin@alpha.test", "staff@alpha.test"])
def test_only_nvsi_admins_see_the_whole_log(client, login, email):
    login(email)
    assert client.get("/api/v1/audit").status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get("/api/v1/audit").status_code == 401
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- a municipality's own log ---------------------------------------------------------------------


def test_municipality_admin_sees_only_its_own_tenant(client, login, shared_session, ids):
    _add(shared_session, "employer.created", tenant=ids["alpha"], actor_label="staff@alpha.test")
    _add(shared_session, "employer.created", tenant=ids["beta"], actor_label="staff@beta.test")
    _add(shared_session, "rules.version_created", actor_label="admin@nvsi.test")
    login("admin@alpha.test")
    body = client.get("/api/v1/g/alpha/audit").get_json()
    assert body["items"] and {e["tenant"] for e in body["items"]} == {"alpha"}
    assert [e["actor"] for e in body["items"]] == ["staff@alpha.test"]
    # A filter cannot widen the scope: there is no tenant parameter here.
    assert client.get("/api/v1/g/alpha/audit", query_string={"tenant": "beta"}).status_code == 422
    page = client.get("/g/alpha/audit").get_data(as_text=True)
    assert "staff@alpha.test" in page and "staff@beta.test" not in page and "rules.version_created" not in page


def _client(app, email):
    client = app.test_client()
    support.login(client, email)
    return client


def test_municipality_audit_needs_the_admin_role_of_that_tenant(app):
    staff = _client(app, "staff@alpha.test")
    assert staff.get("/api/v1/g/alpha/audit").status_code == 403
    assert staff.get("/g/alpha/audit").status_code == 403
    assert _client(app, "admin@beta.test").get("/api/v1/g/alpha/audit").status_code == 404
    # The NVSI administrator manages the association and is no member of alpha.
    assert _client(app, "admin@nvsi.test").get("/api/v1/g/alpha/audit").status_code == 404


def test_the_navigation_links_the_log_for_those_who_may_see_it(app):
    admin = _client(app, "admin@alpha.test")
    assert 'href="/g/alpha/audit"' in admin.get("/g/alpha/overzicht").get_data(as_text=True)
    staff = _client(app, "staff@alpha.test")
    assert 'href="/g/alpha/audit"' not in staff.get("/g/alpha/overzicht").get_data(as_text=True)
    nvsi = _client(app, "admin@nvsi.test").get("/nvsi/regels").get_data(as_text=True)
    assert 'href="/admin/audit"' in nvsi and 'href="/nvsi/leden"' in nvsi


# -- what the governance services record ----------------------------------------------------------


def test_changes_to_governance_data_are_recorded_with_their_actor(client, login, shared_session, ids):
    token = login("admin@nvsi.test")
    contract = {"reference": "UC-AUDIT-1", "start_date": "2027-01-01", "end_date": "2027-12-31",
                "service_fee_pct": "12.50", "helpdesk_response_hours": 24, "availability_pct": "99.50"}
    created = client.post("/api/v1/contracts", json=contract, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.get_json()
    contract_id = created.get_json()["id"]
    assert client.patch(f"/api/v1/contracts/{contract_id}", json={"end_date": "2027-11-30"},
                        headers={"X-CSRFToken": token}).status_code == 200
    events = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "contract",
                                                                AuditEvent.object_id == str(contract_id))
                                    .order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_label) for e in events] == [("contract.created", "admin@nvsi.test"),
                                                           ("contract.updated", "admin@nvsi.test")]
    assert events[1].changes == {"end_date": ["2027-12-31", "2027-11-30"]}


def test_a_local_framework_change_lands_in_the_tenants_own_log(client, login):
    token = login("admin@alpha.test")
    response = client.put("/api/v1/g/alpha/framework/arrangements", json={
        "arrangements": [{"code": "1", "name": "Arrangement 1"}]}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_json()
    body = client.get("/api/v1/g/alpha/audit", query_string={"action": "framework."}).get_json()
    assert [(e["action"], e["actor"]) for e in body["items"]] == [("framework.arrangements_set", "admin@alpha.test")]
