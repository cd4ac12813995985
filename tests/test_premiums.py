"""Premiums: approved hours × EUR 2.00 accrue to the candidate, up to the yearly cap of EUR 2,500;
the excess is flagged for review and never paid; corrections reverse and re-accrue; a re-run
accrues nothing. Figures by hand, to the cent, checked in the ledger too. Both backends.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from nvsi import create_app
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.models import LedgerEntry, LedgerTransaction
from nvsi.ledger.services import PeriodClosed, balance, close_period
from nvsi.tenancy.routing import RoutingSession, bind_tenant, for_each_tenant
from tenants.premiums import services
from tenants.premiums.models import AccrualKind, FlagStatus, PremiumAccrual, PremiumFlag
from tenants.timesheets.models import EntryStatus, TimesheetBatch, TimesheetEntry
from tests import factories, support
from tests.factories import ALPHA
from tests.test_invoice_run import WEEK, committed_database

TODAY = dt.date(2026, 11, 23)


def approved(session, placement, days_hours, corrects=None):
    """Approved entries on ``placement``: [(day, hours)] (as the employer's approval leaves them)."""
    batch = TimesheetBatch(placement_id=placement.id)
    session.add(batch)
    session.flush()
    rows = [TimesheetEntry(placement_id=placement.id, batch_id=batch.id, work_date=day, hours=Decimal(hours),
                           status=EntryStatus.APPROVED, decided_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                           decided_by="P. de Vries <p@groen.example>",
                           corrects_entry_id=corrects.id if corrects is not None else None)
            for day, hours in days_hours]
    session.add_all(rows)
    session.flush()
    return rows


def days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


def ledger_lines(session, txn) -> dict[str, int]:
    rows = session.execute(
        sa.select(LedgerEntry.amount_cents, LedgerEntry.account_id).where(LedgerEntry.transaction_id == txn.id))
    from nvsi.ledger.models import LedgerAccount

    keys = dict(session.execute(sa.select(LedgerAccount.id, LedgerAccount.key)).all())
    return {keys[account]: cents for cents, account in rows}


def test_38_approved_hours_accrue_76_euros_booked_premium_expense_against_payable(alpha):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(d, "7.60") for d in days(dt.date(2026, 2, 2), 5)])  # 5 × 7,6 = 38 hours
    run = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)

    assert (run.entries, run.accrued_cents, run.flagged_cents) == (5, 7600, 0)
    assert services.accrued_for(alpha, placement.candidate_id, 2026) == 7600
    [txn] = run.transactions
    assert txn.booking_date == TODAY and txn.kind == "premium" and txn.tenant_id == ALPHA.id
    assert ledger_lines(alpha, txn) == {"4000/1": 7600, "1600/1": -7600}
    assert balance(alpha, chart.PREMIUM_EXPENSE, ALPHA.id) == 7600
    assert balance(alpha, chart.PREMIUMS_PAYABLE, ALPHA.id) == -7600
    rows = alpha.scalars(sa.select(PremiumAccrual)).all()
    assert {(r.rate_cents, r.amount_cents, r.year, r.rules_version is not None, r.ledger_transaction_id) for r in rows} \
        == {(200, 1520, 2026, True, txn.id)}
    assert services.payable_by_candidate(alpha) == {placement.candidate_id: 7600}


def test_a_rerun_accrues_nothing_and_posts_nothing(alpha):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "8")])
    first = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)
    transactions = alpha.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction))
    again = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)

    assert first.accrued_cents == 1600 and not again.changed and again.transactions == []
    assert alpha.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == transactions
    assert balance(alpha, chart.PREMIUMS_PAYABLE, ALPHA.id) == -1600


def test_only_hours_up_to_the_date_and_only_approved_hours_accrue(alpha):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "4"), (dt.date(2026, 3, 2), "6")])
    batch = TimesheetBatch(placement_id=placement.id)
    alpha.add(batch)
    alpha.flush()
    alpha.add(TimesheetEntry(placement_id=placement.id, batch_id=batch.id, work_date=dt.date(2026, 2, 3),
                             hours=Decimal("5"), status=EntryStatus.SUBMITTED))
    alpha.flush()

    assert services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY).accrued_cents == 800
    assert services.accrue(alpha, ALPHA, up_to=dt.date(2026, 3, 31), today=TODAY).accrued_cents == 1200


def test_at_2490_ten_more_hours_accrue_10_euros_and_flag_10_never_paid(alpha):
    placement = factories.placement(alpha)
    # 1,245 hours = EUR 2,490.00: 51 days of 24 hours and one of 21.
    approved(alpha, placement, [(d, "24") for d in days(dt.date(2026, 2, 2), 51)] + [(dt.date(2026, 3, 25), "21")])
    assert services.accrue(alpha, ALPHA, up_to=dt.date(2026, 3, 31), today=TODAY).accrued_cents == 249000

    approved(alpha, placement, [(dt.date(2026, 4, 1), "6"), (dt.date(2026, 4, 2), "4")])
    run = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 4, 30), today=TODAY)

    assert (run.accrued_cents, run.flagged_cents) == (1000, 1000)
    candidate = placement.candidate_id
    assert services.accrued_for(alpha, candidate, 2026) == 250000  # exactly the cap
    assert services.payable_by_candidate(alpha) == {candidate: 250000}  # the excess is never payable
    assert balance(alpha, chart.PREMIUMS_PAYABLE, ALPHA.id) == -250000  # nor booked
    # The first day (6 hours, EUR 12) fills the cap up to EUR 10; the second (EUR 8) is all excess.
    open_flags = services.flags(alpha)
    assert [(f.cents, f.year, f.candidate_id, f.accrual.work_date) for f in open_flags] == [
        (200, 2026, candidate, dt.date(2026, 4, 1)), (800, 2026, candidate, dt.date(2026, 4, 2))]
    [summary] = services.candidate_years(alpha, ALPHA, 2026, today=TODAY)
    assert (summary.accrued_cents, summary.flagged_cents, summary.cap_cents, summary.remaining_cents) == \
        (250000, 1000, 250000, 0)

    # Resolving records the decision (with a note) and pays nothing.
    services.resolve_flag(alpha, ALPHA, open_flags[0], "Boven het wettelijk maximum; niet uitbetaald.", None)
    assert open_flags[0].status is FlagStatus.RESOLVED
    assert services.payable_by_candidate(alpha) == {candidate: 250000}
    assert balance(alpha, chart.PREMIUMS_PAYABLE, ALPHA.id) == -250000
    with pytest.raises(services.PremiumError) as refused:
        services.resolve_flag(alpha, ALPHA, open_flags[0], "nogmaals", None)
    assert [v.code for v in refused.value.violations] == ["flag_closed"]
    with pytest.raises(services.PremiumError) as refused:
        services.resolve_flag(alpha, ALPHA, open_flags[1], "   ", None)
    assert [(v.code, v.field) for v in refused.value.violations] == [("note_required", "note")]


def test_the_cap_resets_on_1_january(alpha):
    candidate = factories.candidate(alpha)
    december = factories.placement(alpha, candidate_row=candidate, start_date=dt.date(2026, 7, 6))
    # 1,250 hours in 2026 (the cap, EUR 2,500) ...
    approved(alpha, december, [(d, "24") for d in days(dt.date(2026, 7, 6), 52)]
             + [(dt.date(2026, 8, 27), "2")])
    approved(alpha, december, [(dt.date(2026, 12, 31), "5")])  # ... so 31 December is all excess,
    approved(alpha, december, [(dt.date(2027, 1, 1), "5")])  # and 1 January starts afresh.
    run = services.accrue(alpha, ALPHA, up_to=dt.date(2027, 1, 31), today=dt.date(2027, 1, 4))

    assert services.accrued_for(alpha, candidate.id, 2026) == 250000
    assert services.accrued_for(alpha, candidate.id, 2027) == 1000
    assert run.flagged_cents == 1000
    assert [(f.year, f.cents) for f in services.flags(alpha)] == [(2026, 1000)]


def test_a_correction_reverses_the_accrual_and_accrues_the_new_hours(alpha):
    placement = factories.placement(alpha)
    [old] = approved(alpha, placement, [(dt.date(2026, 2, 2), "8")])
    services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "6")], corrects=old)  # was 8, is 6

    run = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)

    assert (run.reversed_entries, run.reversed_cents, run.entries, run.accrued_cents) == (1, 1600, 1, 1200)
    assert services.accrued_for(alpha, placement.candidate_id, 2026) == 1200
    kinds = alpha.execute(sa.select(PremiumAccrual.entry_id, PremiumAccrual.kind, PremiumAccrual.accrued_cents)
                          .order_by(PremiumAccrual.id)).all()
    assert [(k, c) for _, k, c in kinds] == [(AccrualKind.ACCRUAL, 1600), (AccrualKind.REVERSAL, -1600),
                                             (AccrualKind.ACCRUAL, 1200)]
    reversal, accrual = run.transactions
    assert reversal.kind == "premium_correction" and ledger_lines(alpha, reversal) == {"1600/1": 1600, "4000/1": -1600}
    assert ledger_lines(alpha, accrual) == {"4000/1": 1200, "1600/1": -1200}
    assert balance(alpha, chart.PREMIUMS_PAYABLE, ALPHA.id) == -1200
    assert not services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY).changed


def test_a_correction_frees_room_under_the_cap_and_voids_its_flag(alpha):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(d, "24") for d in days(dt.date(2026, 2, 2), 52)])  # 1,248 h = EUR 2,496
    [last] = approved(alpha, placement, [(dt.date(2026, 3, 30), "4")])  # EUR 8: 4 accrued, 4 flagged
    services.accrue(alpha, ALPHA, up_to=dt.date(2026, 3, 31), today=TODAY)
    [flag] = services.flags(alpha)
    assert flag.cents == 400
    approved(alpha, placement, [(dt.date(2026, 3, 30), "1")], corrects=last)  # it was 1 hour after all

    run = services.accrue(alpha, ALPHA, up_to=dt.date(2026, 3, 31), today=TODAY)

    assert (run.reversed_cents, run.accrued_cents, run.flagged_cents) == (400, 200, 0)
    assert services.accrued_for(alpha, placement.candidate_id, 2026) == 249800
    alpha.refresh(flag)
    assert flag.status is FlagStatus.VOID and services.flags(alpha) == []


def test_accruals_are_append_only_in_the_database(alpha):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "8")])
    services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with alpha.begin_nested():
            alpha.execute(sa.update(PremiumAccrual).values(accrued_cents=0))


def test_a_settled_period_refuses_the_accrual(alpha, shared_session):
    placement = factories.placement(alpha)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "8")])
    close_period(alpha, ALPHA.id, dt.date(2026, 7, 1), dt.date(2026, 12, 31), "settlement 2026-H2")
    with pytest.raises(PeriodClosed):
        services.accrue(alpha, ALPHA, up_to=dt.date(2026, 2, 28), today=TODAY)
    assert alpha.scalar(sa.select(sa.func.count()).select_from(PremiumAccrual)) == 0


def test_the_command_accrues_every_tenant_once(app, tenant_session):
    alpha = tenant_session("alpha")
    placement = factories.placement(alpha)
    approved(alpha, placement, [(dt.date(2026, 2, 2), "7.5")])
    candidate_id = placement.candidate_id
    alpha.commit()
    alpha.close()
    first = app.test_cli_runner().invoke(args=["premiums", "accrue", "--up-to", "2026-02-28"])
    assert first.exit_code == 0, first.output
    assert "alpha: 1 entries, EUR 15.00 accrued, EUR 0.00 flagged" in first.output
    again = app.test_cli_runner().invoke(args=["premiums", "accrue", "--up-to", "2026-02-28"])
    assert again.exit_code == 0 and "alpha: 0 entries" in again.output
    check = tenant_session("alpha")
    assert check.scalar(sa.select(sa.func.sum(PremiumFlag.cents))) is None
    assert services.accrued_for(check, candidate_id, 2026) == 1500


def _flagged(alpha):
    """A candidate at the cap with EUR 8.00 flagged on 1 April (committed in the test's transaction)."""
    placement = factories.placement(alpha)
    approved(alpha, placement, [(d, "24") for d in days(dt.date(2026, 2, 2), 52)] + [(dt.date(2026, 3, 30), "2")])
    approved(alpha, placement, [(dt.date(2026, 4, 1), "4")])
    services.accrue(alpha, ALPHA, up_to=dt.date(2026, 4, 30), today=TODAY)
    [flag] = services.flags(alpha)
    ids = {"flag": flag.id, "candidate": placement.candidate_id}
    alpha.commit()
    alpha.close()
    return ids


def test_the_page_shows_the_cap_and_resolves_with_a_note_kept_on_errors(client, login, alpha):
    ids = _flagged(alpha)
    token = login("admin@alpha.test")
    html = client.get("/g/alpha/premiums?year=2026").get_data(as_text=True)
    assert "2.500,00" in html and "8,00" in html and "<td>1.254</td>" in html  # cap, flagged, hours
    url = f"/g/alpha/premiums/flags/{ids['flag']}/resolve"

    refused = client.post(url, data={f"note-{ids['flag']}": "  ", "csrf_token": token})
    assert refused.status_code == 422
    assert f'href="#note-{ids["flag"]}"' in refused.get_data(as_text=True)

    done = client.post(url, data={f"note-{ids['flag']}": "Boven het maximum, niet uitbetaald", "csrf_token": token})
    assert done.status_code == 302
    assert "Geen open meldingen" in client.get("/g/alpha/premiums?year=2026").get_data(as_text=True)


def test_the_api_lists_and_resolves(client, login, alpha):
    ids = _flagged(alpha)
    token = login("staff@alpha.test")
    body = client.get("/api/v1/g/alpha/premiums?year=2026").get_json()
    assert body["cap_cents"] == 250000
    assert [(c["candidate_id"], c["accrued_cents"], c["flagged_cents"], c["remaining_cents"])
            for c in body["candidates"]] == [(ids["candidate"], 250000, 800, 0)]
    assert [(f["id"], f["cents"], f["status"]) for f in body["flags"]] == [(ids["flag"], 800, "open")]
    url = f"/api/v1/g/alpha/premiums/flags/{ids['flag']}/resolve"
    missing = client.post(url, json={}, headers={"X-CSRFToken": token})
    assert missing.status_code == 422 and "note" in missing.get_json()["errors"]
    resolved = client.post(url, json={"note": "Gecontroleerd"}, headers={"X-CSRFToken": token})
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    assert client.get("/api/v1/g/alpha/premiums?year=2026").get_json()["flags"] == []


def test_two_concurrent_runs_on_postgresql_accrue_each_entry_once(tmp_path, monkeypatch):
    """Two runs released at the same moment (a barrier just before each takes the tenant's
    lock): one accrues everything, the other waits, then finds nothing left to accrue."""
    support.require_postgres()
    url = support.create_pg_database("nvsi_premiums")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret",
                      "DATA_KEY": support.DATA_KEY, "DATABASE_URL": url})
    try:
        refs = committed_database(app, slugs=("aa",))  # 38 h and 20 h approved in one week
        barrier = threading.Barrier(2, timeout=20)
        real_lock = services._lock

        def lock_together(session, tenant):
            barrier.wait()
            return real_lock(session, tenant)

        monkeypatch.setattr(services, "_lock", lock_together)
        runs, errors = [], []

        def one_run():
            try:
                with app.app_context():
                    runs.append(for_each_tenant(db, lambda s, t: services.accrue(s, t, WEEK[1], today=TODAY),
                                                tenants=[refs["aa"]])["aa"])
            except Exception as exc:  # recorded, so a failure shows in the assertion
                errors.append(exc)

        threads = [threading.Thread(target=one_run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert sorted((r.entries, r.accrued_cents) for r in runs) == [(0, 0), (10, 11600)]  # 58 h × EUR 2
        with app.app_context():
            session = RoutingSession(db)
            bind_tenant(session, refs["aa"].schema)
            rows = session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(PremiumAccrual.entry_id)),
                                             sa.func.sum(PremiumAccrual.accrued_cents))).one()
            premium_postings = session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                              .where(LedgerTransaction.kind == "premium"))
            session.close()
        assert tuple(rows) == (10, 10, 11600) and premium_postings == 1
    finally:
        app.extensions["nvsi.router"].dispose()
        with app.app_context():
            db.engine.dispose()
        support.drop_pg_database(url)
