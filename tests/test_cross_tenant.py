"""No request reaches another tenant's rows.

Every route under /g/<tenant>/ and /api/v1/g/<tenant>/ is listed in CASES; a test fails when a
new tenant route is not, so every new endpoint joins this suite.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi.auth.models import Membership, Role, User
from nvsi.auth.services import unusable_password
from nvsi.crypto import cipher
from nvsi.db import TenantBase, utcnow
from nvsi.tenancy.routing import TenantRef
from tenants.assignments.models import Assignment
from tenants.assignments.services import create_assignment
from tenants.candidates.models import Candidate
from tenants.documents.models import Document, DocumentKind
from tenants.employers.models import Employer
from tenants.guidance.models import GuidanceMoment
from tenants.invoicing.models import Invoice
from tenants.placements.models import Placement
from tenants.placements.services import create_placement
from tenants.premiums.models import AccrualKind, PremiumAccrual, PremiumFlag
from tenants.reminders.models import Reminder, ReminderKind
from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry
from tenants.timesheets.services import submit_hours
from tests import invoice_helpers
from tests.conftest import employer_data

EMPLOYER_FORM = {k: v for k, v in employer_data(name="Overname B.V.", kvk_number="87654321").items()}
EMPLOYER_PATCH = {"name": "Overgenomen", "version": 1}
TODAY = dt.date.today().isoformat()
LOCAL_VALUE = {"key": "min_hourly_rate", "value": "20.00", "effective_from": TODAY, "note": "x"}
INVITE = {"name": "Overname", "email": "overname@example.test", "role": "municipality_staff"}
ASSIGNMENT = {"employer_id": 1, "title": "Overname", "hours_per_week": "16", "hourly_rate": "15.00",
              "location": "X", "start_date": "2026-01-01", "displacement_declared_by": "P. de Vries"}

#: endpoint -> (method, the URL's id argument or None, form body, JSON body); a body may be a
#: function of the arranged ids (see ARRANGE).
CASES = {
    "tenant.employers": ("GET", None, None, None),
    "tenant.new_employer": ("GET", None, None, None),
    "tenant.edit_employer": ("POST", "employer_id", {**EMPLOYER_FORM, "version": "1"}, None),
    "tenant.archive_employer": ("POST", "employer_id", {}, None),
    "tenant.restore_employer": ("POST", "employer_id", {}, None),
    "tenant_api.api_list_employers": ("GET", None, None, None),
    "tenant_api.api_create_employer": ("POST", None, None, EMPLOYER_FORM),
    "tenant_api.api_get_employer": ("GET", "employer_id", None, None),
    "tenant_api.api_update_employer": ("PATCH", "employer_id", None, EMPLOYER_PATCH),
    "tenant_api.api_archive_employer": ("POST", "employer_id", None, {}),
    "tenant_api.api_restore_employer": ("POST", "employer_id", None, {}),
    "tenant.framework": ("GET", None, None, None),
    "tenant.set_local_value": ("POST", None, LOCAL_VALUE, None),
    "tenant.set_arrangements": ("POST", None, {"arr-0-code": "9", "arr-0-name": "Overname"}, None),
    "tenant.set_guidance": ("POST", None, {"step-0-name": "X", "step-0-anchor": "registration",
                                          "step-0-offset_days": "1"}, None),
    "tenant.update_settings": ("POST", None, {"min_registrations_per_half_year": "99", "version": "1",
                                              "reminder_recipients": "x@y.nl"}, None),
    "tenant_api.api_tenant_rules": ("GET", None, None, None),
    "tenant_api.api_get_framework": ("GET", None, None, None),
    "tenant_api.api_set_local_value": ("POST", None, None, LOCAL_VALUE),
    "tenant_api.api_set_arrangements": ("PUT", None, None, {"arrangements": [{"code": "9", "name": "X"}]}),
    "tenant_api.api_set_guidance": ("PUT", None, None, {"steps": [{"name": "X", "anchor": "registration",
                                                                  "offset_days": 1}]}),
    "tenant_api.api_update_settings": ("PATCH", None, None, {"version": 1, "min_registrations_per_half_year": 99}),
    "tenant.framework_setup": ("GET", None, None, None),
    "tenant.framework_setup_values": ("POST", None, {"effective_from": TODAY, "value-min_hourly_rate": "20.00"}, None),
    "tenant.framework_setup_arrangements": ("POST", None, {"arr-0-code": "9", "arr-0-name": "Overname"}, None),
    "tenant.framework_setup_guidance": ("POST", None, {"step-0-name": "X", "step-0-anchor": "registration",
                                                       "step-0-offset_days": "1"}, None),
    "tenant.framework_setup_settings": ("POST", None, {"min_registrations_per_half_year": "99", "version": "1",
                                                       "reminder_recipients": "x@y.nl"}, None),
    "tenant.assignments": ("GET", None, None, None),
    "tenant.new_assignment": ("POST", None, {**ASSIGNMENT, "employer_id": "1", "displacement_confirmed": "ja"}, None),
    "tenant.assignment": ("GET", "assignment_id", None, None),
    "tenant_api.api_list_assignments": ("GET", None, None, None),
    "tenant_api.api_create_assignment": ("POST", None, None, ASSIGNMENT),
    "tenant_api.api_get_assignment": ("GET", "assignment_id", None, None),
    "tenant.placements": ("GET", None, None, None),
    "tenant.new_placement": ("GET", None, None, None),
    "tenant.placement": ("GET", "placement_id", None, None),
    "tenant.end_placement": ("POST", "placement_id", {"end_date": "2026-02-01"}, None),
    "tenant_api.api_list_placements": ("GET", None, None, None),
    "tenant_api.api_get_placement": ("GET", "placement_id", None, None),
    "tenant_api.api_create_placement": ("POST", None, None, lambda ids: {
        "candidate_id": ids["candidate_id"], "assignment_id": ids["assignment_id"],
        "start_date": "2026-03-02", "hours_per_week": "16"}),
    "tenant_api.api_end_placement": ("POST", "placement_id", None, {"end_date": "2026-02-01"}),
    "tenant.candidates": ("GET", None, None, None),
    "tenant.new_candidate": ("POST", None, {"bsn": "123456782", "first_name": "Over", "last_name": "Name",
                                            "registered_on": "2026-01-05", "consent": "true"}, None),
    "tenant.find_candidate_by_bsn": ("POST", None, {"bsn": "123456794"}, None),
    "tenant.candidate": ("GET", "candidate_id", None, None),
    "tenant.edit_candidate": ("POST", "candidate_id", {"first_name": "Overname", "version": "1"}, None),
    "tenant.change_candidate_status": ("POST", "candidate_id", {"status": "referred_wsp"}, None),
    "tenant_api.api_list_candidates": ("GET", None, None, None),
    "tenant_api.api_create_candidate": ("POST", None, None, {"bsn": "123456708", "first_name": "Over",
                                                             "last_name": "Name", "consent": True}),
    "tenant_api.api_lookup_candidate": ("POST", None, None, {"bsn": "123456721"}),
    "tenant_api.api_get_candidate": ("GET", "candidate_id", None, None),
    "tenant_api.api_update_candidate": ("PATCH", "candidate_id", None, {"first_name": "Overname", "version": 1}),
    "tenant_api.api_change_candidate_status": ("POST", "candidate_id", None, {
        "status": "left_welfare", "left_on": "2026-02-01", "left_reason": "Regulier werk"}),
    "tenant.download_document": ("GET", "document_id", None, None),
    "tenant.sign_document": ("POST", "document_id", {"party": "municipality"}, None),
    "tenant.regenerate_document": ("POST", "placement_id", {"kind": "beschikking"}, None),
    "tenant_api.api_list_documents": ("GET", "placement_id", None, None),
    "tenant_api.api_regenerate_document": ("POST", "placement_id", None, {"kind": "beschikking"}),
    "tenant_api.api_download_document": ("GET", "document_id", None, None),
    "tenant_api.api_sign_document": ("POST", "document_id", None, {"party": "candidate"}),
    "tenant.guidance": ("GET", None, None, None),
    "tenant.guidance_moment": ("POST", "moment_id", {"done_on": "2026-01-05", "outcome": "Overname"}, None),
    "tenant_api.api_list_guidance": ("GET", "placement_id", None, None),
    "tenant_api.api_overdue_guidance": ("GET", None, None, None),
    "tenant_api.api_get_guidance_moment": ("GET", "moment_id", None, None),
    "tenant_api.api_record_outcome": ("POST", "moment_id", None, {"done_on": "2026-01-05", "outcome": "Overname"}),
    "tenant.timesheet": ("GET", "placement_id", None, None),
    "tenant.submit_timesheet": ("POST", "placement_id", {"week": "2026-01-05", "hours-2026-01-06": "4"}, None),
    "tenant.timesheet_batch": ("GET", "batch_id", None, None),
    "tenant.send_approval_link": ("POST", "batch_id", {}, None),
    "tenant_api.api_timesheet": ("GET", "placement_id", None, None),
    "tenant_api.api_submit_timesheet": ("POST", "placement_id", None,
                                        {"entries": [{"work_date": "2026-01-06", "hours": "4"}]}),
    "tenant_api.api_get_timesheet_batch": ("GET", "batch_id", None, None),
    "tenant_api.api_new_approval_link": ("POST", "batch_id", None, {}),
    "tenant.reminders": ("GET", None, None, None),
    "tenant.mark_reminder_read": ("POST", "reminder_id", {}, None),
    "tenant_api.api_list_reminders": ("GET", None, None, None),
    "tenant_api.api_get_reminder": ("GET", "reminder_id", None, None),
    "tenant_api.api_mark_reminder_read": ("POST", "reminder_id", None, {}),
    "tenant.dashboard": ("GET", None, None, None),
    "tenant_api.api_dashboard": ("GET", None, None, None),
    "tenant.finance": ("GET", None, None, None),
    "tenant.finance_settlements": ("GET", None, None, None),
    "tenant.finance_settlement": ("GET", "settlement_id", None, None),
    "tenant.finance_settlement_pdf": ("GET", "settlement_id", None, None),
    "tenant_api.api_finance": ("GET", None, None, None),
    "tenant_api.api_finance_settlements": ("GET", None, None, None),
    "tenant_api.api_finance_settlement": ("GET", "settlement_id", None, None),
    "tenant.premiums": ("GET", None, None, None),
    "tenant.resolve_premium_flag": ("POST", "flag_id", {"note": "Overname"}, None),
    "tenant.travel_costs": ("GET", None, None, None),
    "tenant.new_travel_cost": ("POST", None, lambda ids: {
        "placement_id": str(ids["placement_id"]), "cost_date": "2026-01-06", "amount": "12,50",
        "description": "OV"}, None),
    "tenant_api.api_premiums": ("GET", None, None, None),
    "tenant_api.api_resolve_premium_flag": ("POST", "flag_id", None, {"note": "Overname"}),
    "tenant_api.api_travel_costs": ("GET", None, None, None),
    "tenant_api.api_create_travel_cost": ("POST", None, None, lambda ids: {
        "placement_id": ids["placement_id"], "cost_date": "2026-01-06", "amount": "12.50", "description": "OV"}),
    "tenant.premium_payouts": ("GET", None, None, None),
    "tenant_api.api_premium_payouts": ("GET", None, None, None),
    "tenant.go_no_go": ("GET", None, None, None),
    "tenant_api.api_go_no_go": ("GET", None, None, None),
    "tenant.welfare_exits": ("POST", None, lambda ids: {
        "candidate_id": str(ids["candidate_id"]), "exit_date": "2026-02-02", "extent": "partial"}, None),
    "tenant_api.api_welfare_exits": ("GET", None, None, None),
    "tenant_api.api_create_welfare_exit": ("POST", None, None, lambda ids: {
        "candidate_id": ids["candidate_id"], "exit_date": "2026-02-02", "extent": "full"}),
    "tenant.invoices": ("GET", None, None, None),
    "tenant.invoice": ("GET", "invoice_id", None, None),
    "tenant.invoice_pdf": ("GET", "invoice_id", None, None),
    "tenant.invoice_ubl": ("GET", "invoice_id", None, None),
    "tenant_api.api_list_invoices": ("GET", None, None, None),
    "tenant_api.api_get_invoice": ("GET", "invoice_id", None, None),
    "tenant_api.api_invoice_pdf": ("GET", "invoice_id", None, None),
    "tenant_api.api_invoice_ubl": ("GET", "invoice_id", None, None),
    "tenant.payments": ("GET", None, None, None),
    "tenant_api.api_payments": ("GET", None, None, None),
    "tenant_api.api_dunning": ("GET", None, None, None),
    "tenant.users": ("GET", None, None, None),
    "tenant.invite_user": ("POST", None, INVITE, None),
    "tenant.deactivate_user": ("POST", "user_id", {}, None),
    "tenant.reactivate_user": ("POST", "user_id", {}, None),
    "tenant.resend_invitation": ("POST", "user_id", {}, None),
    "tenant_api.api_list_users": ("GET", None, None, None),
    "tenant_api.api_invite_user": ("POST", None, None, INVITE),
    "tenant_api.api_get_user": ("GET", "user_id", None, None),
    "tenant_api.api_deactivate_user": ("POST", "user_id", None, {}),
    "tenant_api.api_reactivate_user": ("POST", "user_id", None, {}),
    "tenant_api.api_resend_invitation": ("POST", "user_id", None, {}),
    "tenant.audit": ("GET", None, None, None),
    "tenant_api.api_audit": ("GET", None, None, None),
}


def _arrange_employer(session) -> int:
    employer = Employer(**employer_data(name="Alleen Alfa", kvk_number="55555555"))
    session.add(employer)
    session.flush()
    return employer.id


def _arrange_assignment(session) -> int:
    return create_assignment(session, ALPHA, {**{k: v for k, v in ASSIGNMENT.items() if k != "hourly_rate"},
                                              "hourly_rate_cents": 1500, "hours_per_week": Decimal("16"),
                                              "start_date": dt.date(2026, 1, 1), "end_date": None}, None).id


_BSNS = itertools.count(111222333)


def _arrange_candidate(session) -> int:
    bsn = str(next(_BSNS))
    row = Candidate(bsn=bsn, bsn_hash=cipher().lookup_hash(bsn), first_name="Alleen",
                    last_name="Alfa", registered_on=dt.date(2026, 1, 1), consent_at=utcnow())
    session.add(row)
    session.flush()
    return row.id


def _arrange_placement(session) -> int:
    return create_placement(session, ALPHA, {
        "candidate_id": _arrange_candidate(session), "assignment_id": _arrange_assignment(session),
        "start_date": dt.date(2026, 1, 5), "hours_per_week": Decimal("16")}, None).id


def _newest_placement(session) -> int:
    return session.scalar(sa.select(sa.func.max(Placement.id))) or _arrange_placement(session)


def _arrange_document(session) -> int:
    """The inzetbevestiging of alpha's newest placement (a placement comes with its documents)."""
    return session.scalar(sa.select(Document.id).where(Document.placement_id == _newest_placement(session),
                                                       Document.kind == DocumentKind.INZETBEVESTIGING))


def _arrange_moment(session) -> int:
    """A guidance moment of alpha's newest placement (planned with it)."""
    return session.scalar(sa.select(sa.func.min(GuidanceMoment.id))
                          .where(GuidanceMoment.placement_id == _newest_placement(session)))


def _arrange_timesheet_batch(session) -> int:
    """Hours sent for approval on alpha's newest placement (its first day)."""
    placement = session.get(Placement, _newest_placement(session))
    return submit_hours(session, ALPHA, placement, [{"work_date": placement.start_date, "hours": Decimal("4")}],
                        None, today=dt.date(2026, 11, 23)).id


def _arrange_reminder(session) -> int:
    """An unread reminder about alpha's newest placement."""
    placement = session.get(Placement, _newest_placement(session))
    row = Reminder(kind=ReminderKind.END_OF_PLACEMENT, subject_id=placement.id, placement_id=placement.id,
                   candidate_id=placement.candidate_id, due_on=dt.date(2026, 6, 20), recipients="",
                   subject="Einde plaatsing nadert", body="Alleen Alfa", send_attempts=0)
    session.add(row)
    session.flush()
    return row.id


def _arrange_premium_flag(session) -> int:
    """Premium above the yearly cap, flagged for review, on an approved day of alpha's newest placement."""
    placement = session.get(Placement, _newest_placement(session))
    batch = TimesheetBatch(placement_id=placement.id)
    session.add(batch)
    session.flush()
    entry = TimesheetEntry(placement_id=placement.id, batch_id=batch.id, work_date=placement.start_date,
                           hours=Decimal("8"), status=EntryStatus.APPROVED, decided_at=utcnow(), decided_by="x")
    session.add(entry)
    session.flush()
    accrual = PremiumAccrual(entry_id=entry.id, kind=AccrualKind.ACCRUAL, candidate_id=placement.candidate_id,
                             placement_id=placement.id, work_date=entry.work_date, year=entry.work_date.year,
                             hours=entry.hours, rate_cents=200, amount_cents=1600, accrued_cents=0,
                             flagged_cents=1600, rules_version=1, accrued_on=dt.date(2026, 11, 23))
    session.add(accrual)
    session.flush()
    flag = PremiumFlag(accrual_id=accrual.id, candidate_id=placement.candidate_id, year=accrual.year, cents=1600)
    session.add(flag)
    session.flush()
    return flag.id


def _arrange_user(session) -> int:
    """A user invited to alpha only (an account in the shared schema, a membership of alpha)."""
    user = User(email="alleen@alfa.test", name="Alleen Alfa", password_hash=unusable_password(),
                role=Role.MUNICIPALITY_STAFF)
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, tenant_id=ALPHA.id))
    session.flush()
    return user.id


def _arrange_invoice(session) -> int:
    """An issued invoice in alpha (38 h at EUR 12.30 to a new employer), made with the models."""
    return invoice_helpers.invoice(session).id


def _arrange_settlement(session) -> int:
    """A settled half year of alpha (the row only; the ledger is not needed to read it)."""
    from nvsi.contract.services import create_contract
    from nvsi.settlement.models import Settlement

    contract = create_contract(session, {
        "reference": "UC-XT", "service_company": "Flextensie Nederland b.v.", "status": "draft",
        "start_date": dt.date(2026, 1, 1), "end_date": dt.date(2026, 12, 31), "service_fee_pct": Decimal("20"),
        "service_company_contribution_pct": Decimal("1"), "helpdesk_response_hours": 24,
        "availability_pct": Decimal("99")}, None)
    row = Settlement(tenant_id=ALPHA.id, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 6, 30),
                     revenue_cents=46740, premiums_cents=7600, travel_cents=0, service_fee_pct=Decimal("20"),
                     service_fee_cents=9348, contribution_municipality_pct=Decimal("1"),
                     contribution_municipality_cents=467, contribution_service_company_pct=Decimal("1"),
                     contribution_service_company_cents=467, annual_fee_due=False, annual_fee_cents=0,
                     result_cents=29325, contract_id=contract.id, contract_reference="UC-XT", contract_version=1,
                     rule_versions={}, ledger_transactions={})
    session.add(row)
    session.flush()
    return row.id


#: The URL id argument -> how to make a row in alpha that has no twin in beta (returns its id).
#: A domain with a new kind of id adds its maker here.
ARRANGE = {
    "employer_id": _arrange_employer,
    "assignment_id": _arrange_assignment,
    "candidate_id": _arrange_candidate,
    "placement_id": _arrange_placement,
    "document_id": _arrange_document,
    "moment_id": _arrange_moment,
    "batch_id": _arrange_timesheet_batch,
    "reminder_id": _arrange_reminder,
    "invoice_id": _arrange_invoice,
    "user_id": _arrange_user,
    "settlement_id": _arrange_settlement,
    "flag_id": _arrange_premium_flag,
}


ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")


def tenant_endpoints(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith(("tenant.", "tenant_api."))}


def test_every_tenant_endpoint_is_in_the_cross_tenant_suite(app):
    missing = tenant_endpoints(app) - set(CASES)
    assert not missing, f"add these tenant endpoints to CASES: {sorted(missing)}"
    assert set(CASES) <= tenant_endpoints(app)
    assert {case[1] for case in CASES.values()} - {None} <= set(ARRANGE)


@pytest.fixture
def alpha_ids(tenant_session) -> dict[str, int]:
    """For every kind of id: a row that exists in alpha only (committed in the test's transaction)."""
    session = tenant_session("alpha")
    ids = {arg: make(session) for arg, make in ARRANGE.items()}
    session.commit()
    beta = tenant_session("beta")
    for arg, value in ids.items():
        table = {"employer_id": Employer, "assignment_id": Assignment, "candidate_id": Candidate,
                 "placement_id": Placement, "batch_id": TimesheetBatch,
                 "reminder_id": Reminder, "invoice_id": Invoice, "flag_id": PremiumFlag}.get(arg)
        if table is not None:
            assert beta.get(table, value) is None, f"{arg} {value} exists in beta too"
    return ids


def _url(app, endpoint: str, slug: str, ids: dict[str, int]) -> str:
    with app.test_request_context():
        from flask import url_for

        kwargs = {"tenant_slug": slug}
        if CASES[endpoint][1]:
            kwargs[CASES[endpoint][1]] = ids[CASES[endpoint][1]]
        return url_for(endpoint, **kwargs)


def _call(client, token, endpoint, url, ids):
    method, _, form, body = CASES[endpoint]
    form, body = (form(ids) if callable(form) else form), (body(ids) if callable(body) else body)
    if body is not None:
        return client.open(url, method=method, json=body, headers={"X-CSRFToken": token})
    data = None if form is None else {**form, "csrf_token": token}
    return client.open(url, method=method, data=data)


def _snapshot(tenant_session, slug: str) -> dict:
    """Every row of every tenant table of ``slug``."""
    session = tenant_session(slug)
    try:
        return {
            table.name: [tuple(row) for row in session.execute(sa.select(table).order_by(*table.primary_key))]
            for table in TenantBase.metadata.sorted_tables
        }
    finally:
        session.close()  # its savepoint must not outlive the caller's


def _each_endpoint(connection, endpoints, call) -> list[str]:
    """``call(endpoint)`` for every endpoint, each inside a savepoint rolled back afterwards (so
    no call sees another's effects); returns the failures, by endpoint."""
    failures = []
    for endpoint in endpoints:
        savepoint = connection.begin_nested()
        try:
            problem = call(endpoint)
        finally:
            savepoint.rollback()
        if problem:
            failures.append(f"{endpoint}: {problem}")
    return failures


@pytest.mark.parametrize("user", ["staff@beta.test", "admin@beta.test"])
def test_another_tenants_user_gets_404_and_changes_nothing(app, client, connection, login, tenant_session,
                                                           alpha_ids, user):
    token = login(user)
    before = _snapshot(tenant_session, "alpha")

    def call(endpoint):
        response = _call(client, token, endpoint, _url(app, endpoint, "alpha", alpha_ids), alpha_ids)
        if response.status_code != 404:
            return f"status {response.status_code}"
        if _snapshot(tenant_session, "alpha") != before:
            return "alpha's rows changed"

    assert _each_endpoint(connection, sorted(CASES), call) == []


def test_another_tenants_ids_in_your_own_tenant_give_404(app, client, connection, login, tenant_session, alpha_ids):
    """Beta's admin, in beta's URL, with ids that exist only in alpha."""
    token = login("admin@beta.test")
    before = _snapshot(tenant_session, "alpha")

    def call(endpoint):
        response = _call(client, token, endpoint, _url(app, endpoint, "beta", alpha_ids), alpha_ids)
        if response.status_code != 404:
            return f"status {response.status_code}"
        if _snapshot(tenant_session, "alpha") != before:
            return "alpha's rows changed"

    assert _each_endpoint(connection, sorted(e for e, case in CASES.items() if case[1]), call) == []


def test_missing_and_forbidden_tenants_look_the_same(app, client, connection, login, alpha_ids):
    token = login("staff@beta.test")

    # The page repeats the requested path (the language switch returns there) and carries a
    # fresh CSRF token; nothing else may differ.
    def normalised(response, slug):
        text = response.get_data(as_text=True).replace(f"/{slug}", "/X")
        return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", text)

    def call(endpoint):
        forbidden = _call(client, token, endpoint, _url(app, endpoint, "alpha", alpha_ids), alpha_ids)
        missing = _call(client, token, endpoint, _url(app, endpoint, "nosuchtenant", alpha_ids), alpha_ids)
        if not forbidden.status_code == missing.status_code == 404:
            return f"status {forbidden.status_code} / {missing.status_code}"
        if normalised(forbidden, "alpha") != normalised(missing, "nosuchtenant"):
            return "bodies differ"

    assert _each_endpoint(connection, sorted(CASES), call) == []


def test_the_tenants_own_admin_reaches_every_endpoint(app, client, connection, login, alpha_ids):
    """The 404s above are isolation, not broken endpoints: the owner gets through."""
    token = login("admin@alpha.test")

    def call(endpoint):
        response = _call(client, token, endpoint, _url(app, endpoint, "alpha", alpha_ids), alpha_ids)
        if response.status_code >= 400:
            return f"status {response.status_code}: {response.get_data(as_text=True)[:200]}"

    assert _each_endpoint(connection, sorted(CASES), call) == []


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
