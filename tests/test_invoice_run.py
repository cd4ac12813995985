"""The invoice run: figures by hand to the cent (38 hours at EUR 12.30 with 21% VAT), VAT rounded
once per invoice, one invoice per employer with a line per placement, gapless numbers, due date,
the ledger posting, idempotence, frozen documents; on committed databases: two concurrent runs on
PostgreSQL, and a run killed half-way (a real process exit) that the next run completes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from stdnum import iso11649

from nvsi import create_app, migrate
from nvsi.extensions import db
from nvsi.ledger.chart import RECEIVABLES, REVENUE, VAT_PAYABLE
from nvsi.ledger.models import LedgerTransaction
from nvsi.ledger.services import entries_by_transaction, trial_balance
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.routing import RoutingSession, TenantRef, bind_tenant
from tenants.invoicing import services
from tenants.invoicing.cli import parse_period
from tenants.invoicing.models import EntryRole, Invoice, InvoicedEntry, InvoiceLine, InvoiceSeries, PaymentStatus
from tenants.timesheets import services as timesheets
from tests import factories, support

D = Decimal
ALPHA = factories.ALPHA
BETA = TenantRef(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
#: ISO week 10 of 2026: Monday 2 March to Sunday 8 March; invoiced on Monday 9 March.
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
ISSUED = dt.date(2026, 3, 9)
TODAY = dt.date(2026, 11, 23)


# -- helpers ----------------------------------------------------------------------------------------


def working(session, tenant=ALPHA, *, rate_cents=1230, employer=None, first_name="Anna", last_name="Jansen",
            assignment=None):
    """A placement from 2 February 2026 on an assignment at ``rate_cents`` an hour."""
    employer = employer or factories.employer(session)
    assignment = assignment or factories.assignment(session, tenant, employer_id=employer.id, hourly_rate_cents=rate_cents)
    candidate = factories.candidate(session, first_name=first_name, last_name=last_name)
    return factories.placement(session, tenant, candidate_row=candidate, assignment_row=assignment)


def approved(session, placement, *days_hours, tenant=ALPHA):
    """Submit ``(day, hours)`` pairs and have the employer approve them all; returns the entries."""
    batch = timesheets.submit_hours(session, tenant, placement,
                                    [{"work_date": day, "hours": D(hours)} for day, hours in days_hours],
                                    user_id=None, today=TODAY)
    timesheets.approve_all(session, batch, "P. de Vries")
    return batch.entries


def week_of_38_hours(session, placement, tenant=ALPHA):
    """38 hours in week 10: 8 + 8 + 8 + 8 + 6."""
    return approved(session, placement, *((WEEK[0] + dt.timedelta(days=i), h) for i, h in enumerate(
        ("8", "8", "8", "8", "6"))), tenant=tenant)


def run(session, tenant=ALPHA, period=WEEK, issued=ISSUED):
    return services.run_tenant(session, tenant, *period, issued)


def invoices(session) -> list[Invoice]:
    session.expire_all()
    return list(session.scalars(sa.select(Invoice).order_by(Invoice.id)))


@pytest.fixture
def alpha(app, tenant_session):
    """Alpha's session, in an app context (the run reads the seller from the configuration)."""
    with app.app_context():
        yield tenant_session("alpha")


# -- the figures --------------------------------------------------------------------------------------


def test_38_hours_at_12_30_with_21_percent_vat(alpha):
    """38 × 12.30 = 467.40; 21% of it = 98.154, rounded once to 98.15; 565.55 to pay in 14 days."""
    placement = working(alpha)
    week_of_38_hours(alpha, placement)
    result = run(alpha)
    assert (result.invoices, result.entries) == (1, 5)
    [invoice] = invoices(alpha)
    assert (invoice.net_cents, invoice.vat_cents, invoice.gross_cents) == (46740, 9815, 56555)
    assert invoice.number == "GM9001-F2026-000001"  # alpha's CBS code, the series of the year
    assert invoice.issue_date == ISSUED and invoice.due_date == dt.date(2026, 3, 23)
    assert (invoice.period_start, invoice.period_end) == WEEK
    assert invoice.status is PaymentStatus.OPEN and invoice.outstanding_cents == 56555
    assert iso11649.is_valid(invoice.payment_reference) and "GM9001F2026000001" in invoice.payment_reference
    [line] = invoice.lines
    assert (line.hours, line.rate_cents, line.net_cents, line.vat_category, line.vat_rate) == \
        (D("38.00"), 1230, 46740, "S", D("21.00"))
    assert (line.service_start, line.service_end) == (dt.date(2026, 3, 2), dt.date(2026, 3, 6))
    assert line.description == "Groenonderhoud Lindelaan – Anna J., 2–6 maart 2026"
    assert line.placement_id == placement.id
    # The parties as they were on the invoice date.
    assert invoice.seller["name"] and invoice.seller["iban"] and invoice.seller["vat_id"] and invoice.seller["kvk"]
    assert invoice.buyer["name"] == "Groen B.V." and invoice.buyer["employer_id"] == invoice.employer_id
    assert alpha.scalar(sa.select(sa.func.count()).select_from(InvoicedEntry)
                        .where(InvoicedEntry.line_id == line.id, InvoicedEntry.role == EntryRole.INVOICED)) == 5


def test_the_ledger_posting_of_an_invoice(alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    [invoice] = invoices(alpha)
    transaction = alpha.get(LedgerTransaction, invoice.ledger_transaction_id)
    assert transaction.idempotency_key == "invoice:alpha:GM9001-F2026-000001"
    assert (transaction.kind, transaction.booking_date, transaction.tenant_id) == ("invoice", ISSUED, ALPHA.id)
    assert (transaction.source_type, transaction.source_id) == ("invoice", f"alpha/{invoice.id}")
    entries = entries_by_transaction(alpha, [transaction.id])[transaction.id]
    booked = {(e.account.code, e.account.tenant_id): e.amount_cents for e in entries}
    assert booked == {(RECEIVABLES, ALPHA.id): 56555, (REVENUE, ALPHA.id): -46740, (VAT_PAYABLE, None): -9815}
    assert trial_balance(alpha).total == 0


def test_vat_is_rounded_once_per_invoice_not_per_line(alpha):
    """Two placements of one employer, 1 hour each at EUR 12.50: per line 21% is 2.625 → 2.63,
    twice 5.26; on the invoice's 25.00 it is 5.25. The invoice says 5.25."""
    employer = factories.employer(alpha)
    for name in ("Anna", "Bram"):
        approved(alpha, working(alpha, employer=employer, rate_cents=1250, first_name=name), (WEEK[0], "1"))
    run(alpha)
    [invoice] = invoices(alpha)
    assert [line.net_cents for line in invoice.lines] == [1250, 1250]
    assert sum(services.round_cents(D(line.net_cents) * 21 / 100) for line in invoice.lines) == 526
    assert (invoice.net_cents, invoice.vat_cents, invoice.gross_cents) == (2500, 525, 3025)


def test_line_net_is_rounded_half_up_once():
    assert services.line_net_cents(D("0.25"), 1230) == 308  # 307.5
    assert services.line_net_cents(D("-0.25"), 1230) == -308  # a credit note mirrors it
    assert services.vat_total_cents([("S", D("21"), 46740)]) == 9815  # 9815.4


def test_one_invoice_per_employer_with_a_line_per_placement_and_gapless_numbers(alpha):
    first, second = factories.employer(alpha, name="Eerste B.V."), factories.employer(alpha, name="Tweede B.V.")
    a = working(alpha, employer=first, first_name="Anna")
    b = working(alpha, employer=first, first_name="Bram", rate_cents=1400)
    c = working(alpha, employer=second, first_name="Cees")
    approved(alpha, a, (dt.date(2026, 3, 2), "4"), (dt.date(2026, 3, 3), "4"))
    approved(alpha, b, (dt.date(2026, 3, 4), "2.5"))
    approved(alpha, c, (dt.date(2026, 3, 5), "7.75"))
    approved(alpha, c, (dt.date(2026, 3, 9), "8"))  # the next week: not in this run
    result = run(alpha)
    assert (result.invoices, result.entries) == (2, 4)
    docs = invoices(alpha)
    assert [d.number for d in docs] == ["GM9001-F2026-000001", "GM9001-F2026-000002"]
    assert [d.sequence for d in docs] == [1, 2]
    assert [d.buyer["name"] for d in docs] == ["Eerste B.V.", "Tweede B.V."]
    assert [(line.placement_id, line.hours, line.net_cents) for line in docs[0].lines] == \
        [(a.id, D("8.00"), 9840), (b.id, D("2.50"), 3500)]
    assert [(line.placement_id, line.hours, line.net_cents) for line in docs[1].lines] == [(c.id, D("7.75"), 9533)]
    assert docs[0].vat_cents == services.round_cents(D(9840 + 3500) * D("0.21"))  # 2801.4 → 2801
    assert alpha.scalar(sa.select(InvoiceSeries.last_number).where(InvoiceSeries.code == "F2026")) == 2
    # The next week continues the series.
    run(alpha, period=(dt.date(2026, 3, 9), dt.date(2026, 3, 15)), issued=dt.date(2026, 3, 16))
    assert [d.number for d in invoices(alpha)][-1] == "GM9001-F2026-000003"


def test_the_run_is_set_based_its_statements_do_not_grow_with_the_hours(alpha, connection):
    """One employer with one hour, or three employers with six placements and thirty entries:
    the run sends the same number of statements to the database, give or take the ledger's
    closed-period check, which ``post_many`` makes once per document."""
    statements = []
    sa.event.listen(connection, "before_cursor_execute", lambda *args: statements.append(1))

    def statements_of_a_run(monday):
        statements.clear()
        run(alpha, period=(monday, monday + dt.timedelta(days=6)), issued=monday + dt.timedelta(days=7))
        return len(statements)

    def hours(placement, monday, days):
        approved(alpha, placement, *((monday + dt.timedelta(days=i), "6") for i in range(days)))

    lone = working(alpha)
    hours(lone, dt.date(2026, 2, 23), 1)
    statements_of_a_run(dt.date(2026, 2, 23))  # the first run makes the series and ledger accounts
    hours(lone, dt.date(2026, 3, 2), 1)
    small = statements_of_a_run(dt.date(2026, 3, 2))
    for employer in (factories.employer(alpha) for _ in range(3)):
        for _ in range(2):
            hours(working(alpha, employer=employer), dt.date(2026, 3, 9), 5)
    statements.clear()
    large = statements_of_a_run(dt.date(2026, 3, 9))
    assert invoices(alpha)[-1].number == "GM9001-F2026-000005"
    assert small <= large <= small + 2, (small, large)  # 3 invoices instead of 1


def test_running_again_adds_nothing(alpha):
    week_of_38_hours(alpha, working(alpha))
    assert run(alpha).invoices == 1
    again = run(alpha)
    assert (again.invoices, again.credit_notes, again.entries) == (0, 0, 0)
    assert len(invoices(alpha)) == 1
    assert alpha.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                        .where(LedgerTransaction.kind == "invoice", LedgerTransaction.tenant_id == ALPHA.id)) == 1


def test_only_approved_hours_are_invoiced_and_late_approvals_follow_in_the_next_run(alpha):
    placement = working(alpha)
    approved(alpha, placement, (dt.date(2026, 3, 2), "8"))
    waiting = timesheets.submit_hours(alpha, ALPHA, placement, [{"work_date": dt.date(2026, 3, 3), "hours": D("5")}],
                                      user_id=None, today=TODAY)
    run(alpha)
    [first] = invoices(alpha)
    assert first.lines[0].hours == D("8.00")
    timesheets.approve_all(alpha, waiting, "P. de Vries")  # approved after the run of its week
    run(alpha, period=(dt.date(2026, 3, 9), dt.date(2026, 3, 15)), issued=dt.date(2026, 3, 16))
    late = invoices(alpha)[-1]
    assert (late.lines[0].hours, late.lines[0].service_start) == (D("5.00"), dt.date(2026, 3, 3))
    assert (late.period_start, late.period_end) == (dt.date(2026, 3, 3), dt.date(2026, 3, 15))


def test_an_hour_is_never_invoiced_twice_the_database_says_so(alpha):
    [entry] = approved(alpha, working(alpha), (WEEK[0], "8"))
    run(alpha)
    line_id = alpha.scalar(sa.select(InvoiceLine.id))
    with pytest.raises(sa.exc.IntegrityError):
        with alpha.begin_nested():
            alpha.execute(sa.insert(InvoicedEntry).values(entry_id=entry.id, line_id=line_id,
                                                          role=EntryRole.INVOICED, hours=D("8")))


def test_an_issued_invoice_cannot_be_edited_or_deleted(alpha):
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    [invoice] = invoices(alpha)
    for statement in (sa.update(Invoice).where(Invoice.id == invoice.id).values(net_cents=1, gross_cents=9816),
                      sa.update(Invoice).where(Invoice.id == invoice.id).values(due_date=dt.date(2026, 12, 31)),
                      sa.update(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).values(hours=D("1")),
                      sa.delete(InvoicedEntry),
                      sa.delete(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)):
        with pytest.raises(sa.exc.DBAPIError, match="never edited"):
            with alpha.begin_nested():
                alpha.execute(statement)
    # The payment state is the part that moves.
    with alpha.begin_nested():
        alpha.execute(sa.update(Invoice).where(Invoice.id == invoice.id).values(paid_cents=100))
    assert invoices(alpha)[0].paid_cents == 100 and invoices(alpha)[0].net_cents == 46740


def test_tenants_have_their_own_series_and_ledger_accounts(alpha, tenant_session):
    beta = tenant_session("beta")
    week_of_38_hours(alpha, working(alpha))
    run(alpha)
    week_of_38_hours(beta, working(beta, BETA), tenant=BETA)
    run(beta, BETA)
    [b] = invoices(beta)
    assert b.number == "GM9002-F2026-000001"
    transaction = beta.get(LedgerTransaction, b.ledger_transaction_id)
    assert transaction.tenant_id == BETA.id and transaction.idempotency_key == "invoice:beta:GM9002-F2026-000001"


def test_the_command_runs_every_tenant_and_prints_a_summary(app, alpha):
    week_of_38_hours(alpha, working(alpha))
    alpha.commit()  # (into the test's outer transaction, which is rolled back)
    result = app.test_cli_runner().invoke(args=["invoices", "run", "--period", "2026-W10", "--issue-date", "2026-03-09"])
    assert result.exit_code == 0, result.output
    assert "invoice run 2026-03-02 – 2026-03-08, issued 2026-03-09" in result.output
    assert "alpha: 1 invoices (EUR 565.55)" in result.output
    assert "beta: 0 invoices" in result.output
    assert "3 tenants, 0 failed; 1 invoices (EUR 565.55 incl. VAT)" in result.output
    again = app.test_cli_runner().invoke(args=["invoices", "run", "--from", "2026-03-02", "--to", "2026-03-08",
                                               "--issue-date", "2026-03-09"])
    assert "3 tenants, 0 failed; 0 invoices" in again.output


@pytest.mark.parametrize("args, message", [
    (["--period", "2026-10"], "ISO week"),
    (["--period", "2026-W54"], "not a week of that year"),
    (["--from", "2026-03-02"], "go together"),
    (["--from", "2026-03-08", "--to", "2026-03-02"], "before --from"),
    (["--period", "2026-W10", "--from", "2026-03-02", "--to", "2026-03-08"], "not both"),
])
def test_the_command_refuses_a_bad_period(app, args, message):
    result = app.test_cli_runner().invoke(args=["invoices", "run", *args])
    assert result.exit_code == 2 and message in result.output


def test_the_default_period_is_the_previous_iso_week():
    assert parse_period(None, None, None, dt.date(2026, 3, 11)) == WEEK  # a Wednesday of week 11
    assert parse_period(None, None, None, dt.date(2026, 3, 9)) == WEEK  # its Monday
    assert parse_period("2026-W01", None, None, TODAY) == (dt.date(2025, 12, 29), dt.date(2026, 1, 4))


# -- committed databases: concurrency and crashes --------------------------------------------------------


def committed_database(app, slugs=("aa", "bb")) -> dict[str, TenantRef]:
    """Migrate ``app``'s empty database and give each tenant an employer with two placements and
    a week of approved hours (38 h at EUR 12.30 and 20 h at EUR 14.00), all committed."""
    refs = {}
    with app.app_context():
        router = app.extensions["nvsi.router"]
        migrate.upgrade_shared(router)
        for i, slug in enumerate(slugs, start=1):
            tenancy.register_tenant(db.session, slug, f"Gemeente {slug}", f"GM80{i:02d}")
            db.session.commit()
            if router.is_sqlite:
                router.tenant_file("t_" + slug).touch()
            refs[slug] = tenancy.provision_tenant(db.session, router, slug)
        db.session.remove()
        for tenant in refs.values():
            session = RoutingSession(db)
            bind_tenant(session, tenant.schema)
            employer = factories.employer(session)
            week_of_38_hours(session, working(session, tenant, employer=employer), tenant)
            approved(session, working(session, tenant, employer=employer, rate_cents=1400, first_name="Bram"),
                     *((WEEK[0] + dt.timedelta(days=i), "4") for i in range(5)), tenant=tenant)
            session.commit()
            session.close()
    return refs


def state(app, tenant: TenantRef):
    """(numbers, invoiced entries, distinct invoiced entries, ledger transactions) of a tenant."""
    with app.app_context():
        session = RoutingSession(db)
        bind_tenant(session, tenant.schema)
        try:
            numbers = list(session.scalars(sa.select(Invoice.number).order_by(Invoice.sequence)))
            links = session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(InvoicedEntry.entry_id)))
                                    .where(InvoicedEntry.role == EntryRole.INVOICED)).one()
            postings = session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                      .where(LedgerTransaction.tenant_id == tenant.id))
            lines = session.scalar(sa.select(sa.func.count()).select_from(InvoiceLine))
            gross = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Invoice.gross_cents), 0)))
            return dict(numbers=numbers, links=tuple(links), postings=postings, lines=lines, gross=gross)
        finally:
            session.close()


#: One employer per tenant: 38 h × 12.30 = 467.40 and 20 h × 14.00 = 280.00; VAT on 747.40 is 156.954.
EXPECTED_GROSS = 74740 + 15695


@pytest.fixture
def pg_app(tmp_path):
    """An app on a new PostgreSQL database (committed data; dropped afterwards)."""
    support.require_postgres()
    url = support.create_pg_database("nvsi_invoice_run")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret",
                      "DATA_KEY": support.DATA_KEY, "DATABASE_URL": url})
    try:
        yield app
    finally:
        app.extensions["nvsi.router"].dispose()
        with app.app_context():
            db.engine.dispose()
        support.drop_pg_database(url)


def test_two_concurrent_runs_on_postgresql_invoice_each_hour_once(pg_app, monkeypatch):
    """Two runs start at the same moment (a barrier releases both just before they lock the
    series); each tenant ends with one invoice, numbered 1, and each entry linked once."""
    refs = committed_database(pg_app)
    barrier = threading.Barrier(2, timeout=20)
    real_lock = services.lock_series
    waited = threading.local()

    def lock_together(session, code):
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return real_lock(session, code)

    monkeypatch.setattr(services, "lock_series", lock_together)
    outcomes, errors = [], []

    def one_run():
        try:
            with pg_app.app_context():
                outcomes.append(services.run_all(db, *WEEK, ISSUED, tenants=[refs["aa"]]))
        except Exception as exc:  # recorded, so a failure shows in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    made = sorted(o["aa"].result.invoices for o in outcomes)
    assert made == [0, 1] and all(o["aa"].error is None for o in outcomes)
    after = state(pg_app, refs["aa"])
    assert after == dict(numbers=["GM8001-F2026-000001"], links=(10, 10), postings=1, lines=2, gross=EXPECTED_GROSS)


def test_the_unique_entry_key_stops_a_second_run_that_skipped_the_lock(pg_app, monkeypatch):
    """The last line of defence: even a run that does not wait for the series lock (simulated by
    two runs numbering in different series) cannot invoice an hour a second time."""
    refs = committed_database(pg_app, slugs=("aa",))
    with pg_app.app_context():
        services.run_all(db, *WEEK, ISSUED, tenants=[refs["aa"]])
        # A run that would not see the committed links (its check of "not invoiced yet" is
        # bypassed): the insert of the links must fail on the unique key.
        monkeypatch.setattr(services, "_uninvoiced", lambda end: sa.and_(
            timesheets.counts(), services.TimesheetEntry.work_date <= end))
        outcome = services.run_all(db, *WEEK, dt.date(2027, 1, 4), tenants=[refs["aa"]])["aa"]
    assert outcome.result is None and "IntegrityError" in outcome.error
    assert state(pg_app, refs["aa"])["numbers"] == ["GM8001-F2026-000001"]  # nothing of the failed run


CRASHING_RUN = r"""
import datetime as dt, json, os, sys
from nvsi import create_app
from nvsi.extensions import db
from tenants.invoicing import services

config = json.loads(sys.argv[1])
app = create_app(config)
real, calls = services.post_many, []

def post_then_die(session, postings):
    # The second tenant: its invoices, lines and ledger entries are written, not committed.
    result = real(session, postings)
    calls.append(len(postings))
    if len(calls) == 2:
        os._exit(3)
    return result

services.post_many = post_then_die
with app.app_context():
    services.run_all(db, dt.date(2026, 3, 2), dt.date(2026, 3, 8), dt.date(2026, 3, 9))
print("not reached")
"""


def test_a_run_killed_half_way_leaves_whole_invoices_and_the_next_run_completes_it(fresh_app):
    refs = committed_database(fresh_app)
    config = {"TESTING": True, "INSTANCE_PATH": fresh_app.instance_path, "SECRET_KEY": "test-secret",
              "DATA_KEY": support.DATA_KEY, "DATABASE_URL": fresh_app.config["DATABASE_URL"],
              "MAIL_BACKEND": "log"}
    fresh_app.extensions["nvsi.router"].dispose()
    with fresh_app.app_context():
        db.engine.dispose()  # the child process has the database to itself
    root = Path(__file__).resolve().parents[1]
    child = subprocess.run([sys.executable, "-c", CRASHING_RUN, json.dumps(config)], cwd=root,
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "NVSI_LOG_FORMAT": "text"})
    assert child.returncode == 3, child.stderr[-2000:]
    whole = dict(numbers=["GM8001-F2026-000001"], links=(10, 10), postings=1, lines=2, gross=EXPECTED_GROSS)
    assert state(fresh_app, refs["aa"]) == whole
    assert state(fresh_app, refs["bb"]) == dict(numbers=[], links=(0, 0), postings=0, lines=0, gross=0)
    with fresh_app.app_context():
        outcomes = services.run_all(db, *WEEK, ISSUED)
    assert {slug: o.result.invoices for slug, o in outcomes.items()} == {"aa": 0, "bb": 1}
    assert state(fresh_app, refs["aa"]) == whole
    assert state(fresh_app, refs["bb"]) == dict(whole, numbers=["GM8002-F2026-000001"])
