"""The ledger: double entry enforced by the database, append-only, idempotent, closable periods.

Every test runs on SQLite and PostgreSQL. Several tests go around the Python service on purpose
(plain INSERT/UPDATE/DELETE statements): the guarantees must hold for any writer.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvsi.ledger import chart
from nvsi.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from nvsi.ledger.services import (
    IdempotencyKeyReused,
    LedgerError,
    Line,
    PeriodClosed,
    account_ids,
    balance,
    close_period,
    post,
    reverse,
    trial_balance,
)

ALPHA, BETA = 1, 2
DAY = dt.date(2026, 3, 2)


def invoice_lines(net: int, vat: int, tenant: int = ALPHA) -> list[Line]:
    """Receivable against revenue and VAT, as an invoice books."""
    return [Line(chart.RECEIVABLES, net + vat, tenant), Line(chart.REVENUE, -net, tenant), Line(chart.VAT_PAYABLE, -vat)]


def test_a_balanced_transaction_is_posted_and_moves_the_balances(shared_session):
    txn = post(shared_session, key="t1", booking_date=DAY, lines=invoice_lines(46740, 9815), tenant_id=ALPHA,
               kind="invoice", description="Factuur 1")
    assert len(txn.entries) == 3
    assert balance(shared_session, chart.RECEIVABLES, ALPHA) == 56555
    assert balance(shared_session, chart.REVENUE, ALPHA) == -46740
    assert balance(shared_session, chart.VAT_PAYABLE) == -9815
    assert balance(shared_session, chart.RECEIVABLES, BETA) == 0  # another municipality's account
    assert trial_balance(shared_session).total == 0


def test_unbalanced_or_single_entry_transactions_are_refused_by_the_service(shared_session):
    with pytest.raises(LedgerError, match="sum to 1 cents"):
        post(shared_session, key="bad", booking_date=DAY, tenant_id=ALPHA, kind="x", description="x",
             lines=[Line(chart.BANK, 101), Line(chart.RECEIVABLES, -100)])
    with pytest.raises(LedgerError, match="two or more"):
        post(shared_session, key="bad", booking_date=DAY, tenant_id=ALPHA, kind="x", description="x",
             lines=[Line(chart.BANK, 0)])
    with pytest.raises(LedgerError, match="integer cents"):
        post(shared_session, key="bad", booking_date=DAY, tenant_id=ALPHA, kind="x", description="x",
             lines=[Line(chart.BANK, 1.5), Line(chart.RECEIVABLES, -1.5)])
    with pytest.raises(ValueError, match="per municipality"):
        post(shared_session, key="bad", booking_date=DAY, tenant_id=None, kind="x", description="x",
             lines=[Line(chart.BANK, 100), Line(chart.RECEIVABLES, -100)])


def _raw_post(session, amounts: list[int], *, day=DAY, entry_day=None, tenant_id=ALPHA, key=None) -> uuid.UUID:
    """Write entries and header with plain INSERTs, bypassing every Python check."""
    ids = account_ids(session, [(chart.BANK, None), (chart.RECEIVABLES, ALPHA)])
    accounts = [ids[chart.BANK], ids[f"{chart.RECEIVABLES}/{ALPHA}"]]
    txn = uuid.uuid4()
    for i, cents in enumerate(amounts):
        session.execute(sa.insert(LedgerEntry).values(transaction_id=txn, account_id=accounts[i % 2],
                                                      amount_cents=cents, booking_date=entry_day or day))
    session.execute(sa.insert(LedgerTransaction).values(
        id=txn, idempotency_key=key or str(txn), booking_date=day, tenant_id=tenant_id, kind="raw",
        description="raw"))
    return txn


@pytest.mark.parametrize("amounts", [[100, -99], [100], [100, -50, -49]], ids=["off-by-one", "single", "three"])
def test_the_database_refuses_an_unbalanced_transaction(shared_session, amounts):
    with pytest.raises(sa.exc.DatabaseError, match="balance|two"):
        with shared_session.begin_nested():
            _raw_post(shared_session, amounts)


def test_the_database_refuses_entries_added_to_a_posted_transaction(shared_session):
    txn = _raw_post(shared_session, [100, -100])
    account = shared_session.scalars(sa.select(LedgerAccount.id)).first()
    with pytest.raises(sa.exc.DatabaseError, match="posted"):
        with shared_session.begin_nested():
            shared_session.execute(sa.insert(LedgerEntry).values(transaction_id=txn, account_id=account,
                                                                 amount_cents=5, booking_date=DAY))


def test_the_database_refuses_entries_dated_otherwise_than_their_transaction(shared_session):
    with pytest.raises(sa.exc.DatabaseError, match="dated otherwise"):
        with shared_session.begin_nested():
            _raw_post(shared_session, [100, -100], day=DAY + dt.timedelta(days=1), entry_day=DAY)


def test_an_entry_without_a_transaction_cannot_be_committed(database):
    """The entry→header key is checked at COMMIT: orphan entries never reach the ledger."""
    router = database.app.extensions["nvsi.router"]
    with router.shared_bind().connect() as conn:
        account = conn.execute(sa.insert(LedgerAccount).values(key="orphan-test", code=chart.BANK, tenant_id=None)
                               .returning(LedgerAccount.id)).scalar_one()
        conn.execute(sa.insert(LedgerEntry).values(transaction_id=uuid.uuid4(), account_id=account,
                                                   amount_cents=100, booking_date=DAY))
        with pytest.raises(sa.exc.IntegrityError):
            conn.commit()
        raw = conn.connection.dbapi_connection
        if conn.dialect.name == "sqlite" and raw.in_transaction:
            raw.execute("ROLLBACK")  # SQLite keeps the transaction open when its COMMIT fails
        conn.rollback()
        assert conn.execute(sa.select(LedgerAccount).where(LedgerAccount.key == "orphan-test")).first() is None


@pytest.mark.parametrize("statement", [
    "UPDATE {t} SET amount_cents = 1", "DELETE FROM {t}",
])
def test_ledger_rows_cannot_be_changed_or_deleted(shared_session, backend, statement):
    if backend == "postgresql":  # SQLite has no TRUNCATE (checked first: no deferred events pending)
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with shared_session.begin_nested():
                shared_session.execute(sa.text("TRUNCATE nvsi.ledger_entries CASCADE"))
    _raw_post(shared_session, [100, -100])
    table = "nvsi.ledger_entries" if backend == "postgresql" else "ledger_entries"
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with shared_session.begin_nested():
            shared_session.execute(sa.text(statement.format(t=table)))
    for other in ("ledger_transactions", "ledger_accounts"):
        name = f"nvsi.{other}" if backend == "postgresql" else other
        sql = f"DELETE FROM {name}" if "DELETE" in statement else f"UPDATE {name} SET tenant_id = NULL"
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with shared_session.begin_nested():
                shared_session.execute(sa.text(sql))


def test_a_retry_with_the_same_key_returns_the_first_result(shared_session):
    first = post(shared_session, key="payment:evt_1", booking_date=DAY, tenant_id=ALPHA, kind="payment",
                 description="Betaling", lines=[Line(chart.BANK, 500), Line(chart.RECEIVABLES, -500)])
    again = post(shared_session, key="payment:evt_1", booking_date=DAY, tenant_id=ALPHA, kind="payment",
                 description="Betaling", lines=[Line(chart.BANK, 500), Line(chart.RECEIVABLES, -500)])
    assert again.id == first.id
    assert balance(shared_session, chart.BANK) == 500
    with pytest.raises(IdempotencyKeyReused):
        post(shared_session, key="payment:evt_1", booking_date=DAY, tenant_id=ALPHA, kind="payment",
             description="Betaling", lines=[Line(chart.BANK, 600), Line(chart.RECEIVABLES, -600)])


def test_the_database_refuses_a_second_transaction_with_the_same_key(shared_session):
    _raw_post(shared_session, [100, -100], key="same")
    with pytest.raises(sa.exc.IntegrityError):
        with shared_session.begin_nested():
            _raw_post(shared_session, [100, -100], key="same")


def test_a_correction_is_a_reversal_and_a_transaction_is_reversed_once(shared_session):
    txn = post(shared_session, key="inv", booking_date=DAY, lines=invoice_lines(1000, 210), tenant_id=ALPHA,
               kind="invoice", description="Factuur")
    undo = reverse(shared_session, txn, booking_date=DAY + dt.timedelta(days=3), description="Correctie")
    assert undo.reverses_id == txn.id
    assert reverse(shared_session, txn, booking_date=DAY, description="nog eens").id == undo.id
    assert balance(shared_session, chart.RECEIVABLES, ALPHA) == 0
    # On the day of the invoice the balance was still there: balances as of any date.
    assert balance(shared_session, chart.RECEIVABLES, ALPHA, as_of=DAY) == 1210
    assert balance(shared_session, chart.RECEIVABLES, ALPHA, as_of=DAY - dt.timedelta(days=1)) == 0
    with pytest.raises(LedgerError):
        reverse(shared_session, undo, booking_date=DAY, description="x")


def test_a_closed_period_refuses_new_postings(shared_session):
    post(shared_session, key="before", booking_date=dt.date(2026, 6, 30), lines=invoice_lines(100, 21),
         tenant_id=ALPHA, kind="invoice", description="x")
    close_period(shared_session, ALPHA, dt.date(2026, 1, 1), dt.date(2026, 6, 30), "afrekening 2026-1")
    with pytest.raises(PeriodClosed):
        post(shared_session, key="late", booking_date=dt.date(2026, 6, 30), lines=invoice_lines(100, 21),
             tenant_id=ALPHA, kind="invoice", description="x")
    # The database refuses it too, for a writer that skips the service.
    with pytest.raises(sa.exc.DatabaseError, match="closed"):
        with shared_session.begin_nested():
            _raw_post(shared_session, [100, -100], day=dt.date(2026, 3, 1))
    # The next period, and other municipalities, stay open.
    post(shared_session, key="next", booking_date=dt.date(2026, 7, 1), lines=invoice_lines(100, 21),
         tenant_id=ALPHA, kind="invoice", description="x")
    post(shared_session, key="beta", booking_date=dt.date(2026, 3, 1), lines=invoice_lines(100, 21, BETA),
         tenant_id=BETA, kind="invoice", description="x")


# -- the property: whatever happens, the trial balance is zero ---------------------------------

CODES = [chart.BANK, chart.RECEIVABLES, chart.REVENUE, chart.VAT_PAYABLE, chart.PREMIUMS_PAYABLE,
         chart.PREMIUM_EXPENSE, chart.SERVICE_FEE_PAYABLE, chart.SETTLEMENT_PAYABLE]

amounts = st.lists(st.integers(min_value=-10**9, max_value=10**9).filter(bool), min_size=1, max_size=5)
operation = st.one_of(
    st.tuples(st.just("post"), amounts, st.sampled_from([ALPHA, BETA]), st.integers(0, 9)),
    st.tuples(st.just("reverse"), st.integers(0, 30)),
    st.tuples(st.just("retry"), st.integers(0, 30)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=12))
def test_any_sequence_of_postings_reversals_and_retries_keeps_the_trial_balance_at_zero(shared_session, ops):
    shared_session.begin_nested()  # each example is undone at its end
    try:
        posted = []
        for n, op in enumerate(ops):
            if op[0] == "post":
                _, values, tenant, code_offset = op
                lines = [Line(CODES[(code_offset + i) % len(CODES)], v) for i, v in enumerate(values)]
                lines.append(Line(CODES[(code_offset + len(values)) % len(CODES)], -sum(values)))
                lines = [line for line in lines if line.cents]
                if len(lines) < 2:
                    continue
                posted.append(dict(key=f"op{n}", booking_date=DAY, lines=lines, tenant_id=tenant, kind="test",
                                   description="test"))
                post(shared_session, **posted[-1])
            elif op[0] == "reverse" and posted:
                original = post(shared_session, **posted[op[1] % len(posted)])  # a retry finds it
                if original.reverses_id is None:
                    reverse(shared_session, original, booking_date=DAY, description="reversal")
            elif op[0] == "retry" and posted:
                before = trial_balance(shared_session).rows
                post(shared_session, **posted[op[1] % len(posted)])
                assert trial_balance(shared_session).rows == before  # a retry changes nothing
            tb = trial_balance(shared_session)
            assert tb.total == 0
            assert tb.total_debit == tb.total_credit
    finally:
        shared_session.rollback()
