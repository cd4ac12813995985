"""The half-yearly settlement, figures by hand to the cent, on both backends.

The example (DOMAIN.md, the issue): 38 hours at EUR 12.30 = EUR 467.40 revenue excluding VAT
(VAT 21% = 98.15), premium EUR 2 an hour = 76.00, no travel costs; the contract's service fee
20% = 93.48; the 2% contribution split 1% municipality / 1% service company = 4.67 each
(4.674 rounded half-up); no annual fee (the rule set's 0.00). Result for the municipality:
467.40 − 76.00 − 93.48 − 4.67 = 293.25; the service company nets 93.48 − 4.67 = 88.81; the
NVSI's contribution income is 9.34.

The revenue and premiums are booked with ledger postings directly, as the invoice run and the
premium accrual book them.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from nvsi.audit.models import AuditEvent
from nvsi.contract.services import create_contract
from nvsi.ledger import chart
from nvsi.ledger.models import LedgerTransaction
from nvsi.ledger.services import Line, PeriodClosed, account_ids, balance, post, trial_balance
from nvsi.settlement import services
from nvsi.settlement.models import Settlement
from nvsi.settlement.services import HalfYear, SettlementRefused, annual_fee_due, percentage_of
from tests import factories
from tests.factories import ALPHA

H1 = HalfYear(2026, 1)
TODAY = dt.date(2026, 11, 23)


def contract(session, fee="20.00", **overrides):
    """The execution contract in force in 2026, with a service fee of ``fee`` percent."""
    data = dict(reference="UC-2026", service_company="Flextensie Nederland b.v.", status="active",
                start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 12, 31), service_fee_pct=Decimal(fee),
                service_company_contribution_pct=Decimal("1.00"), helpdesk_response_hours=24,
                availability_pct=Decimal("99.00"))
    data.update(overrides)
    return create_contract(session, data, None)


def book_example(session, tenant_id: int = ALPHA.id, day=dt.date(2026, 3, 31), key="ex"):
    """The example's invoice (38 h × 12.30 + 21% VAT) and premium accrual (38 h × 2.00)."""
    post(session, key=f"{key}:invoice", booking_date=day, tenant_id=tenant_id, kind="invoice", description="Factuur",
         lines=[Line(chart.RECEIVABLES, 56555), Line(chart.REVENUE, -46740), Line(chart.VAT_PAYABLE, -9815)])
    post(session, key=f"{key}:premium", booking_date=day, tenant_id=tenant_id, kind="premium", description="Premie",
         lines=[Line(chart.PREMIUM_EXPENSE, 7600), Line(chart.PREMIUMS_PAYABLE, -7600)])


@pytest.fixture
def alpha(tenant_session):
    """Alpha's session with the contract and the example booked in the first half of 2026."""
    session = tenant_session("alpha")
    contract(session)
    book_example(session)
    return session


def test_the_example_is_settled_to_the_cent(alpha):
    settlement = services.settle(alpha, ALPHA, H1, today=TODAY, user_id=None)
    assert (settlement.revenue_cents, settlement.premiums_cents, settlement.travel_cents) == (46740, 7600, 0)
    assert (settlement.service_fee_pct, settlement.service_fee_cents) == (Decimal("20.00"), 9348)
    assert settlement.contribution_municipality_cents == settlement.contribution_service_company_cents == 467
    assert (settlement.annual_fee_cents, settlement.result_cents) == (0, 29325)
    assert settlement.service_company_net_cents == 8881
    assert settlement.contribution_total_cents == 934
    assert (settlement.contract_reference, settlement.contract_version) == ("UC-2026", 1)
    assert set(settlement.rule_versions) == {"contribution_municipality_pct", "contribution_service_company_pct",
                                             "annual_fee"}
    # The ledger: owed to alpha 293.25, to the service company 88.81; the NVSI earned 9.34.
    assert balance(alpha, chart.SETTLEMENT_PAYABLE, ALPHA.id) == -29325
    assert balance(alpha, chart.SERVICE_FEE_PAYABLE) == -8881
    assert balance(alpha, chart.CONTRIBUTION_INCOME) == -934
    # The half year's result accounts are empty; the trial balance is zero.
    assert services.period_movements(alpha, ALPHA.id, H1) == {code: 0 for code in chart.RESULT_ACCOUNTS}
    tb = trial_balance(alpha, as_of=H1.end)
    assert tb.total == 0 and tb.total_debit == tb.total_credit
    # The posted transactions are the ones the settlement names, keyed and sourced as documented.
    assert list(settlement.ledger_transactions) == ["service_fee", "contribution_municipality",
                                                    "contribution_service_company", "closing"]
    posted = alpha.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.source_type == "settlement")).all()
    assert {str(t.id) for t in posted} == set(settlement.ledger_transactions.values())
    assert {t.idempotency_key for t in posted} == {f"settlement:1:2026-01-01:{s}" for s in settlement.ledger_transactions}
    assert {(t.booking_date, t.source_id) for t in posted} == {(H1.end, str(settlement.id))}
    # An administrator can later see who settled what.
    event = alpha.scalars(sa.select(AuditEvent).where(AuditEvent.action == "settlement.settle")).one()
    assert (event.tenant_id, event.object_id, event.changes["result_cents"]) == (ALPHA.id, str(settlement.id), 29325)


def test_a_settled_half_year_refuses_new_postings(alpha, backend):
    services.settle(alpha, ALPHA, H1, today=TODAY)
    with pytest.raises(PeriodClosed):
        post(alpha, key="late", booking_date=dt.date(2026, 5, 1), tenant_id=ALPHA.id, kind="invoice",
             description="Te laat", lines=[Line(chart.RECEIVABLES, 121), Line(chart.REVENUE, -100),
                                            Line(chart.VAT_PAYABLE, -21)])
    # A writer that skips the service is refused by the database.
    ids = account_ids(alpha, [(chart.RECEIVABLES, ALPHA.id), (chart.REVENUE, ALPHA.id)])
    txn = uuid.uuid4()
    prefix = "nvsi." if backend == "postgresql" else ""
    with pytest.raises(sa.exc.DatabaseError, match="closed"):
        with alpha.begin_nested():
            for account, cents in ((ids[f"1100/{ALPHA.id}"], 100), (ids[f"8000/{ALPHA.id}"], -100)):
                alpha.execute(sa.text(f"INSERT INTO {prefix}ledger_entries (transaction_id, account_id, amount_cents, "
                                      "booking_date) VALUES (:t, :a, :c, :d)"),
                              {"t": txn.hex if backend == "sqlite" else txn, "a": account, "c": cents,
                               "d": dt.date(2026, 6, 30)})
            alpha.execute(sa.text(f"INSERT INTO {prefix}ledger_transactions (id, idempotency_key, booking_date, "
                                  "tenant_id, kind, description, posted_at) VALUES (:t, 'raw', :d, :tenant, 'raw', "
                                  "'raw', CURRENT_TIMESTAMP)"),
                          {"t": txn.hex if backend == "sqlite" else txn, "d": dt.date(2026, 6, 30),
                           "tenant": ALPHA.id})
    # The next half year is open.
    post(alpha, key="next", booking_date=dt.date(2026, 7, 1), tenant_id=ALPHA.id, kind="invoice", description="x",
         lines=[Line(chart.RECEIVABLES, 121), Line(chart.REVENUE, -100), Line(chart.VAT_PAYABLE, -21)])


def test_settling_twice_changes_nothing(alpha):
    first = services.settle(alpha, ALPHA, H1, today=TODAY)
    before = trial_balance(alpha).rows
    again = services.settle(alpha, ALPHA, H1, today=TODAY)
    assert again.id == first.id
    assert trial_balance(alpha).rows == before
    assert alpha.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1


def test_a_settlement_is_never_changed(alpha, backend):
    settlement = services.settle(alpha, ALPHA, H1, today=TODAY)
    table = "nvsi.settlements" if backend == "postgresql" else "settlements"
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with alpha.begin_nested():
            alpha.execute(sa.text(f"UPDATE {table} SET result_cents = 0 WHERE id = :id"), {"id": settlement.id})


def test_other_municipalities_are_settled_on_their_own(alpha, tenant_session):
    beta_ref = ALPHA.__class__(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
    book_example(alpha, tenant_id=2, key="beta")
    services.settle(alpha, ALPHA, H1, today=TODAY)
    beta = tenant_session("beta")
    # Beta's half year is still open: its own revenue is there, and it can be booked into.
    assert services.compute(beta, beta_ref, H1).revenue_cents == 46740
    post(beta, key="beta-late", booking_date=dt.date(2026, 5, 1), tenant_id=2, kind="invoice", description="x",
         lines=[Line(chart.RECEIVABLES, 121, 2), Line(chart.REVENUE, -100, 2), Line(chart.VAT_PAYABLE, -21)])


def test_a_posting_that_slips_in_while_settling_undoes_the_settlement(alpha, monkeypatch):
    """Another job books an invoice dated in the half year after the figures were read (its
    commit comes before the period is closed): the settlement refuses rather than leave
    revenue that its statement does not show."""
    real_compute = services.compute

    def compute_then_someone_posts(session, tenant, period):
        figures = real_compute(session, tenant, period)
        post(session, key="late-invoice", booking_date=dt.date(2026, 6, 29), tenant_id=ALPHA.id, kind="invoice",
             description="Late", lines=[Line(chart.RECEIVABLES, 121), Line(chart.REVENUE, -100),
                                        Line(chart.VAT_PAYABLE, -21)])
        return figures

    monkeypatch.setattr(services, "compute", compute_then_someone_posts)
    alpha.begin_nested()
    with pytest.raises(SettlementRefused) as refused:
        services.settle(alpha, ALPHA, H1, today=TODAY)
    alpha.rollback()
    assert [v.code for v in refused.value.violations] == ["ledger_changed"]


def test_a_half_year_that_has_not_ended_is_refused(alpha):
    with pytest.raises(SettlementRefused) as refused:
        services.settle(alpha, ALPHA, H1, today=H1.end)
    assert [v.code for v in refused.value.violations] == ["period_not_ended"]
    assert "2026-07-01" in refused.value.violations[0].message_nl
    assert alpha.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 0


def test_approved_hours_not_yet_invoiced_are_refused(alpha):
    from tenants.timesheets.services import approve_all, submit_hours

    placement = factories.placement(alpha)
    batch = submit_hours(alpha, ALPHA, placement, [{"work_date": dt.date(2026, 2, 3), "hours": Decimal("6")},
                                                   {"work_date": dt.date(2026, 2, 4), "hours": Decimal("2.5")}],
                         None, today=TODAY)
    approve_all(alpha, batch, "P. de Vries")
    with pytest.raises(SettlementRefused) as refused:
        services.settle(alpha, ALPHA, H1, today=TODAY)
    (problem,) = refused.value.violations
    assert problem.code == "uninvoiced_hours"
    assert "2 goedgekeurde urenregels (8,50 uur)" in problem.message_nl
    # The same hours do not hold up the next half year.
    assert services.uninvoiced_hours(alpha, HalfYear(2026, 2)) == (0, Decimal("0.00"))


def test_without_a_contract_in_force_it_is_refused(tenant_session):
    session = tenant_session("alpha")
    book_example(session)
    with pytest.raises(SettlementRefused) as refused:
        services.settle(session, ALPHA, H1, today=TODAY)
    assert [v.code for v in refused.value.violations] == ["no_contract_in_force"]


def test_rounding_is_half_up_to_the_cent():
    assert percentage_of(46740, Decimal("1")) == 467      # 467.4
    assert percentage_of(50, Decimal("1")) == 1           # 0.5 → up
    assert percentage_of(149, Decimal("1")) == 1          # 1.49 → down
    assert percentage_of(-50, Decimal("1")) == -1         # a net credit: half away from zero
    assert percentage_of(46740, Decimal("12.50")) == 5843  # 5842.5 → up


@pytest.mark.parametrize(("registered", "period", "due"), [
    (dt.date(2025, 3, 1), HalfYear(2026, 1), True),    # a member all year: charged in H1
    (dt.date(2025, 3, 1), HalfYear(2026, 2), False),   # ... and not again in H2
    (dt.date(2026, 6, 30), HalfYear(2026, 1), True),   # joined on the last day of H1
    (dt.date(2026, 7, 1), HalfYear(2026, 1), False),   # not yet a member in H1
    (dt.date(2026, 7, 1), HalfYear(2026, 2), True),    # joined in H2: charged in its first settlement
    (dt.date(2026, 9, 1), HalfYear(2027, 2), False),   # later years: H1 only
    (dt.date(2026, 9, 1), HalfYear(2027, 1), True),
])
def test_when_the_annual_fee_is_due(registered, period, due):
    assert annual_fee_due(registered, period) is due


def test_the_annual_fee_is_charged_and_posted_when_due(alpha):
    """Alpha registered (in the test set-up) in 2026, after 30 June: its 2026 fee comes with H2.
    A fee of EUR 1,500.00 from a rule-set version in force in H2."""
    from nvsi.rules.models import RuleParameter, RuleSetVersion, RuleValue

    version = RuleSetVersion(number=999, effective_from=dt.date(2026, 7, 1), title="Jaarlijkse vergoeding",
                             rationale="test")
    alpha.add(version)
    alpha.flush()
    parameter = alpha.scalar(sa.select(RuleParameter).where(RuleParameter.key == "annual_fee"))
    alpha.add(RuleValue(version_id=version.id, parameter_id=parameter.id, value=Decimal("1500.00")))
    alpha.flush()
    h2 = HalfYear(2026, 2)
    book_example(alpha, day=dt.date(2026, 9, 30), key="h2")
    settlement = services.settle(alpha, ALPHA, h2, today=dt.date(2027, 1, 4))
    assert settlement.annual_fee_due and settlement.annual_fee_cents == 150000
    assert settlement.rule_versions["annual_fee"] == 999
    assert settlement.result_cents == 46740 - 7600 - 9348 - 467 - 150000  # −120,675: owed by alpha
    assert balance(alpha, chart.ANNUAL_FEE_INCOME) == -150000
    assert balance(alpha, chart.SETTLEMENT_PAYABLE, ALPHA.id) == 120675
    assert trial_balance(alpha).total == 0


def test_from_approved_hours_through_the_invoice_run_to_the_settlement(app, tenant_session):
    """The real money flows: the employer approves 38 hours at EUR 12.30 in March, the invoice
    run invoices them (467.40 + VAT), the premium run accrues 38 × 2.00, a EUR 12.50 travel cost
    is booked; the settlement is refused while the hours are not invoiced, then settles to the
    cent: 467.40 − 76.00 − 12.50 − 93.48 − 4.67 = 280.75."""
    from tenants.invoicing.services import run_tenant
    from tenants.premiums.services import accrue, record_travel_cost
    from tests.test_invoice_run import ISSUED, WEEK, week_of_38_hours, working

    with app.app_context():
        alpha = tenant_session("alpha")
        contract(alpha)
        placement = working(alpha)
        week_of_38_hours(alpha, placement)
        with pytest.raises(SettlementRefused) as refused:
            services.settle(alpha, ALPHA, H1, today=TODAY)
        assert [v.code for v in refused.value.violations] == ["uninvoiced_hours"]
        run_tenant(alpha, ALPHA, *WEEK, ISSUED)
        accrue(alpha, ALPHA, WEEK[1], today=ISSUED)
        record_travel_cost(alpha, ALPHA, {"placement_id": placement.id, "cost_date": WEEK[0], "amount_cents": 1250,
                                          "description": "OV"}, None, today=ISSUED)
        settlement = services.settle(alpha, ALPHA, H1, today=TODAY)
        assert (settlement.revenue_cents, settlement.premiums_cents, settlement.travel_cents) == (46740, 7600, 1250)
        assert (settlement.service_fee_cents, settlement.contribution_municipality_cents) == (9348, 467)
        assert settlement.result_cents == 28075
        assert balance(alpha, chart.SETTLEMENT_PAYABLE, ALPHA.id) == -28075
        assert services.period_movements(alpha, ALPHA.id, H1) == {code: 0 for code in chart.RESULT_ACCOUNTS}
        assert trial_balance(alpha).total == 0
        # The premium and invoice runs cannot book into the settled half year any more.
        with pytest.raises(PeriodClosed):
            accrue(alpha, ALPHA, WEEK[1], today=dt.date(2026, 6, 30))


# -- pages and API -------------------------------------------------------------------------------


@pytest.fixture
def booked(tenant_session):
    """The contract and the example, committed (visible to the app's requests)."""
    session = tenant_session("alpha")
    contract(session)
    book_example(session)
    session.commit()
    return session


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_an_administrator_previews_confirms_and_downloads_the_statement(client, login, booked):
    token = login("admin@nvsi.test")
    overview = client.get("/admin/settlements?year=2026")
    assert overview.status_code == 200
    assert "/admin/settlements/alpha/2026-H1" in overview.get_data(as_text=True)
    preview = client.get("/admin/settlements/alpha/2026-H1")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    for figure in ("467,40", "76,00", "93,48", "4,67", "293,25", "88,81", "9,34", "20,00%", "UC-2026"):
        assert figure in page, figure
    assert "Bevestigen en afsluiten" in page
    confirmed = client.post("/admin/settlements/alpha/2026-H1", data={"csrf_token": token})
    assert confirmed.status_code == 302
    statement_url = confirmed.headers["Location"]
    statement = client.get(statement_url).get_data(as_text=True)
    assert "AFR-alpha-2026-H1" in statement and "293,25" in statement and "admin" in statement
    # Opening the preview again leads to the statement; nothing is posted twice.
    assert client.get("/admin/settlements/alpha/2026-H1").headers["Location"].endswith(statement_url)
    pdf = client.get(statement_url + "/pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.data)
    for figure in ("Gemeente Alfa", "2026-H1", "EUR 467,40", "EUR -76,00", "EUR -93,48", "EUR -4,67", "EUR 293,25",
                   "20,00% van de omzet", "1,00% van de omzet", "EUR 88,81", "EUR 9,34", "UC-2026, versie 1",
                   "contribution_municipality_pct versie"):
        assert figure in text, figure


def test_a_half_year_that_runs_is_shown_but_cannot_be_confirmed(client, login, booked):
    token = login("backoffice@nvsi.test")
    running = dt.date.today()
    label = services.HalfYear.containing(running).label
    page = client.get(f"/admin/settlements/alpha/{label}").get_data(as_text=True)
    assert "Bevestigen en afsluiten" not in page and "afrekenen kan pas vanaf" in page
    refused = client.post(f"/admin/settlements/alpha/{label}", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "afrekenen kan pas vanaf" in refused.get_data(as_text=True)


def test_the_api_settles_once_and_names_bad_input(client, login, booked):
    token = login("admin@nvsi.test")
    headers = {"X-CSRFToken": token}
    preview = client.get("/api/v1/settlements/preview?tenant=alpha&period=2026-H1").get_json()
    assert preview["settleable"] is True and preview["refusals"] == []
    assert (preview["figures"]["result_cents"], preview["figures"]["service_fee_pct"]) == (29325, "20.00")
    created = client.post("/api/v1/settlements", json={"tenant": "alpha", "period": "2026-H1"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["result_cents"], body["service_company_net_cents"], body["contribution_total_cents"]) == (
        29325, 8881, 934)
    assert body["tenant"] == "alpha" and body["period"] == "2026-H1"
    again = client.post("/api/v1/settlements", json={"tenant": "alpha", "period": "2026-H1"}, headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert client.get(created.headers["Location"]).get_json()["ledger_transactions"] == body["ledger_transactions"]
    assert [s["id"] for s in client.get("/api/v1/settlements?year=2026").get_json()["items"]] == [body["id"]]
    bad = client.post("/api/v1/settlements", json={"tenant": "nowhere", "period": "2026-H3"}, headers=headers)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"period"}
    bad = client.post("/api/v1/settlements", json={"tenant": "nowhere", "period": "2026-H2"}, headers=headers)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"tenant"}
    running = services.HalfYear.containing(dt.date.today()).label
    refused = client.post("/api/v1/settlements", json={"tenant": "alpha", "period": running}, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["period"][0].startswith(f"Het halfjaar {running} loopt")


@pytest.mark.parametrize("user", ["admin@alpha.test", "staff@alpha.test"])
def test_municipality_users_cannot_settle(client, login, booked, user):
    token = login(user)
    assert client.get("/admin/settlements").status_code == 403
    assert client.post("/api/v1/settlements", json={"tenant": "alpha", "period": "2026-H1"},
                       headers={"X-CSRFToken": token}).status_code == 403


# -- committed database: two settlements at once --------------------------------------------------


def test_two_concurrent_settlements_on_postgresql_settle_once(monkeypatch, tmp_path):
    """Two administrators confirm the same half year at the same moment (a barrier releases both
    after they found no settlement): the ledger lock lets one settle while the other waits and
    then gets that settlement back; the postings exist once."""
    import threading

    from nvsi import create_app
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession
    from nvsi.tenancy.routing import tenant_session as open_tenant_session
    from tenants.invoicing.services import run_all
    from tests import support
    from tests.test_invoice_run import ISSUED, WEEK, committed_database

    support.require_postgres()
    url = support.create_pg_database("nvsi_settlement")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret",
                      "DATA_KEY": support.DATA_KEY, "DATABASE_URL": url})
    try:
        ref = committed_database(app, slugs=("aa",))["aa"]
        with app.app_context():
            run_all(db, *WEEK, ISSUED, tenants=[ref])
            shared = RoutingSession(db)
            contract(shared)
            shared.commit()
            shared.close()
        barrier = threading.Barrier(2, timeout=20)
        real_lock = services.lock_for_closing

        def lock_together(*args, **kwargs):
            barrier.wait()  # both found no settlement; now both ask for the lock
            return real_lock(*args, **kwargs)

        monkeypatch.setattr(services, "lock_for_closing", lock_together)
        ids, errors = [], []

        def settle():
            try:
                with app.app_context(), open_tenant_session(db, ref) as session:
                    ids.append(services.settle(session, ref, H1, today=TODAY).id)
                    session.commit()
            except Exception as exc:  # recorded, so a failure shows in the assertion
                errors.append(exc)

        threads = [threading.Thread(target=settle) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert len(ids) == 2 and ids[0] == ids[1]
        with app.app_context():
            check = RoutingSession(db)
            assert check.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1
            settled = check.scalars(sa.select(Settlement)).one()
            assert settled.revenue_cents == 46740 + 28000  # 38 h × 12.30 and 20 h × 14.00
            assert check.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                .where(LedgerTransaction.source_type == "settlement")) == 4
            assert trial_balance(check).total == 0
            check.close()
    finally:
        app.extensions["nvsi.router"].dispose()
        with app.app_context():
            db.engine.dispose()
        support.drop_pg_database(url)


def test_a_posting_in_flight_is_waited_for_and_settled_on_postgresql(tmp_path):
    """A premium posting dated in the half year is written but not yet committed when the
    settlement starts: the settlement waits for it (the ledger's lock per municipality) and
    includes it, instead of closing the half year under an uncommitted posting."""
    import threading
    import time

    from nvsi import create_app
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession
    from nvsi.tenancy.routing import tenant_session as open_tenant_session
    from tenants.invoicing.services import run_all
    from tests import support
    from tests.test_invoice_run import ISSUED, WEEK, committed_database

    support.require_postgres()
    url = support.create_pg_database("nvsi_settlement")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret",
                      "DATA_KEY": support.DATA_KEY, "DATABASE_URL": url})
    try:
        ref = committed_database(app, slugs=("aa",))["aa"]
        with app.app_context():
            run_all(db, *WEEK, ISSUED, tenants=[ref])
            shared = RoutingSession(db)
            contract(shared)
            shared.commit()
            shared.close()
        posted, errors = threading.Event(), []

        def slow_posting():
            try:
                with app.app_context(), open_tenant_session(db, ref) as session:
                    post(session, key="late-premium", booking_date=dt.date(2026, 6, 30), tenant_id=ref.id,
                         kind="premium", description="premie", lines=[Line(chart.PREMIUM_EXPENSE, 1000),
                                                                       Line(chart.PREMIUMS_PAYABLE, -1000)])
                    posted.set()
                    time.sleep(1.5)  # the settlement starts meanwhile
                    session.commit()
            except Exception as exc:  # recorded, so a failure shows in the assertion
                errors.append(exc)
                posted.set()

        writer = threading.Thread(target=slow_posting)
        writer.start()
        assert posted.wait(20)
        with app.app_context(), open_tenant_session(db, ref) as session:
            settled = services.settle(session, ref, H1, today=TODAY)
            session.commit()
            premiums = settled.premiums_cents
        writer.join(30)
        assert not errors, errors
        assert premiums == 1000  # the posting in flight is part of the settlement
        with app.app_context():
            check = RoutingSession(db)
            assert balance(check, chart.PREMIUM_EXPENSE, ref.id, as_of=H1.end) == 0  # emptied by the closing
            assert trial_balance(check).total == 0
            check.close()
    finally:
        app.extensions["nvsi.router"].dispose()
        with app.app_context():
            db.engine.dispose()
        support.drop_pg_database(url)


def test_the_command_settles_every_municipality_once(app, tenant_session):
    session = tenant_session("alpha")
    contract(session)
    book_example(session)
    session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["settlements", "settle", "--period", "2026-H1", "--today", "2026-11-23"])
    assert first.exit_code == 0, first.output
    assert "alpha: settled, result EUR 293.25" in first.output
    assert "2026-H1: 3 municipalities; 3 settled, 0 settled before, 0 refused" in first.output
    again = runner.invoke(args=["settlements", "settle", "--period", "2026-H1", "--today", "2026-11-23",
                                "--tenant", "alpha"])
    assert again.exit_code == 0 and "alpha: already, result EUR 293.25" in again.output
    running = runner.invoke(args=["settlements", "settle", "--period", "2026-H2", "--today", "2026-11-23"])
    assert running.exit_code == 1 and "0 settled, 0 settled before, 3 refused" in running.output
    assert runner.invoke(args=["settlements", "settle", "--period", "2026-H3"]).exit_code == 2
