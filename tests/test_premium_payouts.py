"""Premium payouts by SEPA, on both backends: amounts by hand to the cent, the pain.001 file
validated against its XSD, the ledger from pending to posted or voided, one batch per moment
(also when two generate at once, on PostgreSQL), the bank statement's lines applied once, the
command, the pages and the API.

The example: 38 approved hours × EUR 2.00 = EUR 76.00 for one candidate, accrued in February
2026 and paid at the first payment moment, 30 June 2026 (``2026-H1``).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
import sqlalchemy as sa
import xmlschema
from lxml import etree

from nvsi.audit.models import AuditEvent
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.models import LedgerTransaction
from nvsi.ledger.services import balance, trial_balance
from nvsi.payouts import moments, sepa
from nvsi.payouts import services as payouts
from nvsi.payouts.models import BatchStatus, ItemStatus, PayoutBatch, PayoutItem
from nvsi.payouts.moments import Moment
from nvsi.payouts.services import StatementLine
from nvsi.tenancy.routing import TenantRef
from tenants.premiums import services as premiums
from tenants.premiums.models import PremiumFlag
from tests import factories, support
from tests.factories import ALPHA
from tests.test_premiums import approved, days

H1, H2 = Moment(2026, 1), Moment(2026, 2)
BETA = TenantRef(id=2, slug="beta", name="Gemeente Beta", schema="t_beta")
JULY_1 = dt.date(2026, 7, 1)
JAN_4 = dt.date(2027, 1, 4)
IBAN_ANNA = "NL44RABO0123456789"
IBAN_BRAM = "NL69INGB0123456789"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
#: The 38 hours of the example: 8 + 8 + 8 + 8 + 6 in the first week of February.
WEEK_OF_38 = list(zip(days(dt.date(2026, 2, 2), 5), ("8", "8", "8", "8", "6"), strict=True))


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


def worked(session, days_hours, *, iban: str | None = IBAN_ANNA, first_name="Anna", tenant=ALPHA) -> int:
    """A candidate (with ``iban``) placed from 2 February 2026, with these approved hours; the
    candidate's id (an id, not the row: the test's sessions must not interleave)."""
    candidate = factories.candidate(session, first_name=first_name, iban=iban)
    placement = factories.placement(session, tenant, candidate_row=candidate)
    approved(session, placement, days_hours)
    return candidate.id


def accrue(session, up_to: dt.date, tenant=ALPHA) -> None:
    premiums.accrue(session, tenant, up_to, today=up_to)
    session.commit()  # the payout reads in sessions of its own


def shared(app):
    from nvsi.tenancy.routing import RoutingSession

    return RoutingSession(db, router=app.extensions["nvsi.router"])


def the_file(app, batch_id: int) -> bytes:
    session = shared(app)
    try:
        return session.get(PayoutBatch, batch_id).file_xml.encode()
    finally:
        session.close()


def validate(document: bytes) -> etree._Element:
    """The document checked against sepaxml's pain.001.001.03 XSD, with lxml and with xmlschema."""
    assert sepa.XSD.name == "pain.001.001.03.xsd" and sepa.XSD.exists()
    schema = etree.XMLSchema(etree.parse(str(sepa.XSD)))
    root = etree.fromstring(document)
    assert schema.validate(root), schema.error_log
    xmlschema.XMLSchema(str(sepa.XSD)).validate(document.decode())
    return root


def text(root, path: str) -> list[str]:
    return [node.text for node in root.findall(path, NS)]


# -- the batch, the file and the amounts ---------------------------------------------------------


def test_38_hours_pay_76_euros_in_a_pain001_file_valid_against_its_xsd(ctx, alpha, caplog):
    candidate = worked(alpha, WEEK_OF_38)
    accrue(alpha, dt.date(2026, 2, 28))
    assert premiums.accrued_for(alpha, candidate, 2026) == 7600

    with caplog.at_level(logging.DEBUG):
        result = payouts.generate(db, H1, today=JULY_1)

    assert result.created and (result.item_count, result.total_cents, result.skipped_count) == (1, 7600, 0)
    document = the_file(ctx, result.batch_id)
    assert sepa.sha256(document) == result.file_sha256
    root = validate(document)
    end_to_end = f"NVSI-2026-H1-{ALPHA.id}-{candidate}"
    assert text(root, ".//p:GrpHdr/p:MsgId") == ["NVSI-PREMIE-2026-H1"]
    assert text(root, ".//p:GrpHdr/p:NbOfTxs") == ["1"] and text(root, ".//p:GrpHdr/p:CtrlSum") == ["76.00"]
    assert text(root, ".//p:PmtInf/p:PmtInfId") == ["NVSI-PREMIE-2026-H1"]
    assert text(root, ".//p:PmtInf/p:BtchBookg") == ["true"]
    assert text(root, ".//p:PmtInf/p:ReqdExctnDt") == ["2026-07-01"]  # the moment passed: today, a Wednesday
    assert text(root, ".//p:DbtrAcct/p:Id/p:IBAN") == ["NL91ABNA0417164300"]  # INVOICE_SELLER_IBAN
    assert text(root, ".//p:DbtrAgt/p:FinInstnId/p:BIC") == ["ABNANL2A"]
    assert text(root, ".//p:CdtTrfTxInf/p:Amt/p:InstdAmt") == ["76.00"]
    assert root.find(".//p:InstdAmt", NS).get("Ccy") == "EUR"
    assert text(root, ".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId") == [end_to_end]
    assert text(root, ".//p:Cdtr/p:Nm") == ["Anna Jansen"]
    assert text(root, ".//p:CdtrAcct/p:Id/p:IBAN") == [IBAN_ANNA]
    assert text(root, ".//p:RmtInf/p:Ustrd") == ["Premie Flextensie t/m 30-06-2026, Gemeente Alfa"]
    assert IBAN_ANNA not in caplog.text  # never logged (SQL logging included: the column is encrypted)

    session = shared(ctx)
    batch = session.get(PayoutBatch, result.batch_id)
    assert (batch.moment, batch.moment_date, batch.status) == ("2026-H1", dt.date(2026, 6, 30), BatchStatus.GENERATED)
    stored = session.execute(sa.text(
        "SELECT file_xml FROM premium_payout_batches" if ctx.extensions["nvsi.router"].is_sqlite
        else "SELECT file_xml FROM nvsi.premium_payout_batches")).scalar_one()
    assert IBAN_ANNA not in stored and "<Document" not in stored  # encrypted at rest
    [item] = session.scalars(sa.select(PayoutItem)).all()
    assert (item.status, item.amount_cents, item.end_to_end_id, item.iban_masked) == (
        ItemStatus.PENDING, 7600, end_to_end, "••••••••••••••6789")
    # Booked pending: the premium moved from payable to in payment; the ledger balances.
    assert balance(session, chart.PREMIUMS_PAYABLE, ALPHA.id) == 0
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == -7600
    assert trial_balance(session).total == 0
    pending = session.get(LedgerTransaction, item.pending_transaction_id)
    assert (pending.idempotency_key, pending.booking_date, pending.kind) == (
        f"premium-payout:2026-H1:{ALPHA.id}", JULY_1, "premium_payout")
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "payouts.generate")) == 2  # the NVSI's and alpha's
    session.close()
    # Nothing is owed any more: it is in payment.
    assert premiums.payable_by_candidate(alpha) == {}


def test_a_second_generate_for_the_same_moment_does_nothing(ctx, alpha):
    worked(alpha, WEEK_OF_38)
    accrue(alpha, dt.date(2026, 2, 28))
    first = payouts.generate(db, H1, today=JULY_1)
    session = shared(ctx)
    before = [session.scalar(sa.select(sa.func.count()).select_from(t))
              for t in (PayoutBatch, PayoutItem, LedgerTransaction, AuditEvent)]
    session.close()
    # More hours and a later day: still the first batch, unchanged.
    worked(alpha, [(dt.date(2026, 3, 2), "5")], iban=IBAN_BRAM, first_name="Bram")
    accrue(alpha, dt.date(2026, 3, 31))
    again = payouts.generate(db, H1, dt.date(2026, 7, 10), today=dt.date(2026, 7, 8))

    assert (again.batch_id, again.created, again.total_cents) == (first.batch_id, False, 7600)
    session = shared(ctx)
    after = [session.scalar(sa.select(sa.func.count()).select_from(t))
             for t in (PayoutBatch, PayoutItem, LedgerTransaction, AuditEvent)]
    assert after[:3] == [before[0], before[1], before[2] + 1]  # + the accrual of Bram's hours only
    assert after[3] == before[3] + 1
    session.close()


def test_a_candidate_at_the_cap_gets_exactly_2500_over_the_year_and_never_the_excess(ctx, alpha):
    # 1,000 hours in February–March (EUR 2,000), paid at 30 June.
    candidate = worked(alpha, [(d, "20") for d in days(dt.date(2026, 2, 2), 50)])
    accrue(alpha, dt.date(2026, 3, 31))
    first = payouts.generate(db, H1, today=JULY_1)
    assert first.total_cents == 200000
    # 300 more hours in July (EUR 600): EUR 500 fills the cap, EUR 100 is flagged.
    assert alpha.scalar(sa.select(sa.func.count()).select_from(PremiumFlag)) == 0
    from tenants.placements.models import Placement

    placement = alpha.scalars(sa.select(Placement).where(Placement.candidate_id == candidate)).one()
    approved(alpha, placement, [(d, "20") for d in days(dt.date(2026, 7, 1), 15)])
    accrue(alpha, dt.date(2026, 7, 31))
    assert sum(f.cents for f in premiums.flags(alpha)) == 10000  # flagged for review (per day over the cap)

    second = payouts.generate(db, H2, today=JAN_4)

    assert second.created and second.total_cents == 50000
    session = shared(ctx)
    paid = session.scalar(sa.select(sa.func.sum(PayoutItem.amount_cents)).where(
        PayoutItem.candidate_id == candidate, PayoutItem.tenant_id == ALPHA.id))
    assert paid == 250000  # exactly the cap over the year
    session.close()
    assert premiums.payable_by_candidate(alpha) == {}  # the flagged EUR 100 never becomes payable
    assert payouts.preview(db, Moment(2027, 1), today=dt.date(2027, 7, 1)).items == []


def test_only_work_up_to_the_moment_is_paid_the_rest_at_the_next(ctx, alpha):
    candidate = worked(alpha, [(dt.date(2026, 6, 29), "4"), (dt.date(2026, 7, 1), "3")])
    accrue(alpha, dt.date(2026, 7, 1))
    assert payouts.generate(db, H1, today=dt.date(2026, 7, 2)).total_cents == 800
    assert premiums.payable_by_candidate(alpha) == {candidate: 600}
    assert payouts.generate(db, H2, today=JAN_4).total_cents == 600


def test_a_missing_or_invalid_iban_is_skipped_and_listed_not_paid(ctx, alpha):
    paid = worked(alpha, WEEK_OF_38)
    missing = worked(alpha, [(dt.date(2026, 2, 3), "5")], iban=None, first_name="Bram")
    invalid = worked(alpha, [(dt.date(2026, 2, 4), "6")], iban="NL44RABO0123456788", first_name="Cas")
    accrue(alpha, dt.date(2026, 2, 28))

    plan = payouts.preview(db, H1, today=JULY_1)
    assert [(i.name, i.amount_cents) for i in plan.items] == [("Anna Jansen", 7600)]
    assert [(i.name, i.amount_cents, i.skip_reason) for i in plan.skipped] == [
        ("Bram Jansen", 1000, "iban_missing"), ("Cas Jansen", 1200, "iban_invalid")]
    result = payouts.generate(db, H1, today=JULY_1)

    assert (result.item_count, result.total_cents, result.skipped_count) == (1, 7600, 2)
    root = validate(the_file(ctx, result.batch_id))
    assert text(root, ".//p:Cdtr/p:Nm") == ["Anna Jansen"]
    session = shared(ctx)
    rows = {i.candidate_id: i for i in session.scalars(sa.select(PayoutItem))}
    assert (rows[missing].status, rows[missing].skip_reason, rows[missing].end_to_end_id) == (
        ItemStatus.SKIPPED, "iban_missing", None)
    assert (rows[invalid].status, rows[invalid].skip_reason) == (ItemStatus.SKIPPED, "iban_invalid")
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == -7600  # skipped: nothing booked
    assert balance(session, chart.PREMIUMS_PAYABLE, ALPHA.id) == -2200
    session.close()
    # Still owed: paid at the next moment once the IBAN is fixed.
    assert premiums.payable_by_candidate(alpha) == {missing: 1000, invalid: 1200}
    assert paid not in premiums.payable_by_candidate(alpha)


def test_nothing_to_pay_and_moments_the_rule_set_does_not_have_are_refused(ctx, alpha):
    with pytest.raises(payouts.PayoutRefused) as nothing:
        payouts.generate(db, H1, today=JULY_1)
    assert [v.code for v in nothing.value.violations] == ["nothing_to_pay"]
    with pytest.raises(payouts.PayoutRefused) as early:
        payouts.generate(db, H2, today=JULY_1)
    assert [(v.code, v.field) for v in early.value.violations] == [("moment_not_reached", "moment")]
    with pytest.raises(payouts.PayoutRefused) as past:
        payouts.generate(db, H1, dt.date(2026, 6, 1), today=JULY_1)
    assert [(v.code, v.field) for v in past.value.violations] == [("execution_date_past", "execution_date")]

    # One payment moment a year from 2027 on: 31 December only.
    from nvsi.rules.services import create_version

    session = shared(ctx)
    create_version(session, effective_from=dt.date(2027, 1, 1), title="Eén betaalmoment",
                   values={"premium_payment_moments": "1"})
    session.commit()
    assert moments.moment_days(session, 2026) == [dt.date(2026, 6, 30), dt.date(2026, 12, 31)]
    assert moments.moment_days(session, 2027) == [dt.date(2027, 12, 31)]
    assert moments.due_moment(session, dt.date(2027, 7, 3)) is None
    assert moments.due_moment(session, dt.date(2027, 1, 5)) == H2
    session.close()
    with pytest.raises(payouts.PayoutRefused) as no_moment:
        payouts.generate(db, Moment(2027, 1), today=dt.date(2027, 7, 1))
    assert [(v.code, v.rule) for v in no_moment.value.violations] == [
        ("not_a_payment_moment", "premium_payment_moments")]
    assert "31-12-2027" in no_moment.value.violations[0].message_nl


def test_payment_moments_and_execution_dates():
    assert [Moment.parse("2026-h1").day, Moment.parse(" 2026-H2 ").day] == [dt.date(2026, 6, 30),
                                                                           dt.date(2026, 12, 31)]
    for bad in ("2026-H3", "2026", "H1-2026", "1999-H1", None):
        with pytest.raises(moments.InvalidMoment):
            Moment.parse(bad)
    # 30 June 2029 is a Saturday: the bank is asked to pay on Monday 2 July.
    assert moments.default_execution_date(Moment(2029, 1), dt.date(2029, 6, 30)) == dt.date(2029, 7, 2)
    assert moments.default_execution_date(H1, dt.date(2026, 6, 1)) == dt.date(2026, 6, 30)


# -- the ledger: pending → posted, pending → voided ----------------------------------------------


def two_paid(ctx, alpha):
    """Anna (38 h: EUR 76.00) and Bram (20 h: EUR 40.00) in the batch of 2026-H1."""
    anna = worked(alpha, WEEK_OF_38)
    bram = worked(alpha, [(d, "4") for d in days(dt.date(2026, 2, 9), 5)], iban=IBAN_BRAM, first_name="Bram")
    accrue(alpha, dt.date(2026, 2, 28))
    result = payouts.generate(db, H1, today=JULY_1)
    session = shared(ctx)
    items = {i.candidate_id: i for i in session.scalars(sa.select(PayoutItem))}
    return result, items[anna].end_to_end_id, items[bram].end_to_end_id, session


def debit(ref, cents, e2e=None, pmtinf=None, day=dt.date(2026, 7, 2)):
    return StatementLine(ref=ref, direction="debit", amount_cents=cents, booking_date=day, end_to_end_id=e2e,
                         payment_info_id=pmtinf)


def test_the_statement_confirms_each_payment_pending_to_posted_once(ctx, alpha):
    result, anna, bram, session = two_paid(ctx, alpha)
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == -11600
    lines = [debit("camt:S1:1", 7600, anna), debit("camt:S1:2", 4000, bram)]

    outcomes = payouts.confirm_from_statement(session, lines, today=dt.date(2026, 7, 3))
    session.commit()

    assert [(o.outcome, o.batch_id) for o in outcomes] == [("confirmed", result.batch_id)] * 2
    assert all(o.matched for o in outcomes)
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == 0  # 1605 empty after confirmation
    assert balance(session, chart.PREMIUMS_PAYABLE, ALPHA.id) == 0
    assert balance(session, chart.BANK) == -11600
    assert trial_balance(session).total == 0
    batch = session.get(PayoutBatch, result.batch_id)
    assert batch.status is BatchStatus.CONFIRMED and batch.settled_at is not None
    confirmed = session.scalars(sa.select(PayoutItem).order_by(PayoutItem.id)).all()
    assert [(i.status, i.confirmed_on, i.confirmed_by_ref) for i in confirmed] == [
        (ItemStatus.CONFIRMED, dt.date(2026, 7, 2), "camt:S1:1"), (ItemStatus.CONFIRMED, dt.date(2026, 7, 2), "camt:S1:2")]

    # The same statement again (or the same lines): nothing changes.
    transactions = session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction))
    again = payouts.confirm_from_statement(session, lines, today=dt.date(2026, 7, 3))
    assert [o.outcome for o in again] == ["already", "already"] and all(o.matched for o in again)
    # Another line claiming a paid item is a duplicate, for the review queue.
    other = payouts.confirm_from_statement(session, [debit("camt:S2:1", 7600, anna)])
    assert [(o.outcome, o.matched) for o in other] == [("duplicate", False)]
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == transactions
    assert balance(session, chart.BANK) == -11600
    session.close()


def test_a_batch_booked_as_one_debit_is_matched_by_payment_information_id_and_total(ctx, alpha):
    result, _anna, _bram, session = two_paid(ctx, alpha)
    wrong = payouts.confirm_from_statement(session, [debit("camt:S1:7", 11500, pmtinf="NVSI-PREMIE-2026-H1")])
    assert [(o.outcome, o.reason) for o in wrong] == [("unmatched", "amount_differs")]
    unknown = payouts.confirm_from_statement(session, [debit("camt:S1:8", 11600, pmtinf="SOMETHING-ELSE")])
    assert [(o.outcome, o.reason) for o in unknown] == [("unmatched", "not_a_payout")]

    [outcome] = payouts.confirm_from_statement(session, [debit("camt:S1:9", 11600, pmtinf="NVSI-PREMIE-2026-H1")])
    session.commit()

    assert outcome.outcome == "confirmed" and len(outcome.item_ids) == 2
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == 0 and balance(session, chart.BANK) == -11600
    # One transaction per municipality for the batch line, not one per candidate.
    assert session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                          .where(LedgerTransaction.idempotency_key.like("premium-payout-confirm:%"))) == 1
    [again] = payouts.confirm_from_statement(session, [debit("camt:S1:9", 11600, pmtinf="NVSI-PREMIE-2026-H1")])
    assert again.outcome == "already"
    assert session.get(PayoutBatch, result.batch_id).status is BatchStatus.CONFIRMED
    session.close()


def test_a_rejected_payment_is_voided_and_paid_again_at_the_next_moment(ctx, alpha):
    result, anna, bram, session = two_paid(ctx, alpha)
    # The bank refused Bram's payment (account closed) before paying; then debited the rest.
    returned = StatementLine(ref="camt:S1:3", direction="credit", amount_cents=4000, booking_date=dt.date(2026, 7, 2),
                             end_to_end_id=bram, return_reason="AC04")
    outcomes = payouts.confirm_from_statement(session, [returned, debit("camt:S1:4", 7600, anna)])
    session.commit()

    assert [o.outcome for o in outcomes] == ["rejected", "confirmed"]
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == 0
    assert balance(session, chart.PREMIUMS_PAYABLE, ALPHA.id) == -4000  # payable again
    assert balance(session, chart.BANK) == -7600
    assert trial_balance(session).total == 0
    item = session.scalars(sa.select(PayoutItem).where(PayoutItem.end_to_end_id == bram)).one()
    assert (item.status, item.return_reason, item.voided_on) == (ItemStatus.REJECTED, "AC04", dt.date(2026, 7, 2))
    bram_id = item.candidate_id
    assert session.get(PayoutBatch, result.batch_id).status is BatchStatus.PARTLY_REJECTED
    assert [o.outcome for o in payouts.confirm_from_statement(session, [returned])] == ["already"]
    session.commit()
    session.close()

    assert premiums.payable_by_candidate(alpha) == {bram_id: 4000}
    next_moment = payouts.generate(db, H2, today=JAN_4)
    assert (next_moment.item_count, next_moment.total_cents) == (1, 4000)


def test_a_payment_returned_after_it_was_paid_is_back_on_the_bank_and_payable(ctx, alpha):
    result, anna, bram, session = two_paid(ctx, alpha)
    payouts.confirm_from_statement(session, [debit("camt:S1:9", 11600, pmtinf="NVSI-PREMIE-2026-H1")])
    back = StatementLine(ref="camt:S5:1", direction="credit", amount_cents=7600, booking_date=dt.date(2026, 7, 9),
                         end_to_end_id=anna, return_reason="MD07")
    [outcome] = payouts.confirm_from_statement(session, [back])
    session.commit()

    assert outcome.outcome == "returned"
    assert balance(session, chart.BANK) == -4000
    assert balance(session, chart.PREMIUMS_PAYABLE, ALPHA.id) == -7600
    assert balance(session, chart.PREMIUMS_IN_PAYMENT, ALPHA.id) == 0
    assert trial_balance(session).total == 0
    assert session.get(PayoutBatch, result.batch_id).status is BatchStatus.PARTLY_REJECTED
    session.close()


def test_by_hand_confirm_and_reject_are_checked_and_audited(ctx, alpha):
    result, anna, bram, session = two_paid(ctx, alpha)
    items = {i.end_to_end_id: i for i in session.scalars(sa.select(PayoutItem))}
    with pytest.raises(payouts.PayoutRefused) as refused:
        payouts.reject_by_hand(session, items[bram], dt.date(2026, 7, 5), None, " ", 7, today=dt.date(2026, 7, 3))
    assert [(v.code, v.field) for v in refused.value.violations] == [("note_required", "note"),
                                                                      ("booked_on_future", "booked_on")]
    payouts.reject_by_hand(session, items[bram], None, "AC01", "Rekeningnummer onjuist volgens de bank.", 7,
                           today=dt.date(2026, 7, 3))
    payouts.confirm_by_hand(session, items[anna], dt.date(2026, 7, 2), 7, today=dt.date(2026, 7, 3))
    with pytest.raises(payouts.PayoutRefused):
        payouts.confirm_by_hand(session, items[anna], None, 7, today=dt.date(2026, 7, 3))
    session.commit()

    assert (items[bram].status, items[bram].voided_on, items[bram].settled_by_user_id) == (
        ItemStatus.REJECTED, dt.date(2026, 7, 3), 7)
    assert items[anna].status is ItemStatus.CONFIRMED and items[anna].confirmed_by_ref == "manual"
    events = session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(("payouts.reject", "payouts.confirm")))
                             .order_by(AuditEvent.id)).all()
    assert [(e.action, e.tenant_id, e.object_id) for e in events] == [
        ("payouts.reject", ALPHA.id, str(items[bram].id)), ("payouts.confirm", ALPHA.id, str(items[anna].id))]
    assert trial_balance(session).total == 0
    session.close()


# -- at the same moment, on PostgreSQL -----------------------------------------------------------


def test_two_concurrent_generates_on_postgresql_make_one_batch(monkeypatch, tmp_path):
    """Two runs of the same moment at once (a barrier releases both after they read every
    municipality): one writes the batch, the other gets it back; items and postings exist once."""
    import threading

    from nvsi import create_app
    from nvsi.tenancy.routing import RoutingSession, for_each_tenant
    from tenants.candidates.models import Candidate
    from tests import support
    from tests.test_invoice_run import committed_database

    support.require_postgres()
    url = support.create_pg_database("nvsi_payouts")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret",
                      "DATA_KEY": support.DATA_KEY, "DATABASE_URL": url})
    try:
        refs = committed_database(app, slugs=("aa", "bb"))  # 38 h and 20 h in March, per municipality
        with app.app_context():
            def prepare(session, tenant):
                for n, candidate in enumerate(session.scalars(sa.select(Candidate).order_by(Candidate.id))):
                    candidate.iban = (IBAN_ANNA, IBAN_BRAM)[n % 2]
                premiums.accrue(session, tenant, dt.date(2026, 6, 30), today=dt.date(2026, 6, 30))

            for_each_tenant(db, prepare, tenants=list(refs.values()))
        barrier = threading.Barrier(2, timeout=20)
        real_read = payouts._read_accruals

        def read_together(*args, **kwargs):
            found = real_read(*args, **kwargs)
            barrier.wait()
            return found

        monkeypatch.setattr(payouts, "_read_accruals", read_together)
        results, errors = [], []

        def run():
            try:
                with app.app_context():
                    results.append(payouts.generate(db, H1, today=JULY_1))
            except Exception as exc:  # recorded, so a failure shows in the assertion
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert len(results) == 2 and results[0].batch_id == results[1].batch_id
        assert sorted(r.created for r in results) == [False, True]
        with app.app_context():
            check = RoutingSession(db)
            assert check.scalar(sa.select(sa.func.count()).select_from(PayoutBatch)) == 1
            assert check.scalar(sa.select(sa.func.count()).select_from(PayoutItem)) == 4
            assert check.scalar(sa.select(sa.func.sum(PayoutItem.amount_cents))) == 2 * (7600 + 4000)
            assert check.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                .where(LedgerTransaction.kind == "premium_payout")) == 2
            assert trial_balance(check).total == 0
            check.close()
    finally:
        app.extensions["nvsi.router"].dispose()
        with app.app_context():
            db.engine.dispose()
        support.drop_pg_database(url)


def test_decimal_hours_are_paid_to_the_cent(ctx, alpha):
    worked(alpha, [(dt.date(2026, 2, 2), "7.33"), (dt.date(2026, 2, 3), "0.25")])
    accrue(alpha, dt.date(2026, 2, 28))
    result = payouts.generate(db, H1, today=JULY_1)
    # 7.33 × 2.00 = 14.66 and 0.25 × 2.00 = 0.50.
    assert result.total_cents == 1516
    assert text(validate(the_file(ctx, result.batch_id)), ".//p:InstdAmt") == ["15.16"]
    assert Decimal(text(validate(the_file(ctx, result.batch_id)), ".//p:GrpHdr/p:CtrlSum")[0]) == Decimal("15.16")


# -- pages and API -------------------------------------------------------------------------------


@pytest.fixture
def on_july_1(monkeypatch):
    from nvsi.payouts import views

    monkeypatch.setattr(views, "_today", lambda: JULY_1)


@pytest.fixture
def payable(alpha):
    """Anna (EUR 76.00, valid IBAN) and Bram (EUR 10.00, no IBAN) in alpha, accrued by February."""
    anna = worked(alpha, WEEK_OF_38)
    bram = worked(alpha, [(dt.date(2026, 2, 3), "5")], iban=None, first_name="Bram")
    accrue(alpha, dt.date(2026, 2, 28))
    return anna, bram


def test_an_administrator_previews_generates_and_downloads_the_file(client, login, payable, on_july_1):
    login("admin@nvsi.test")
    index = client.get("/admin/payouts")
    assert index.status_code == 200 and 'value="2026-H1"' in index.get_data(as_text=True)  # the moment due

    preview = client.get("/admin/payouts/preview?moment=2026-H1")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and preview.headers["Cache-Control"] == "no-store"
    assert "Gemeente Alfa" in page and "76,00" in page and "Bram Jansen" in page and "geen IBAN bekend" in page
    assert IBAN_ANNA not in page

    token = support.csrf_token(page)
    made = client.post("/admin/payouts", data={"moment": "2026-H1", "execution_date": "2026-07-01",
                                               "csrf_token": token})
    assert made.status_code == 302
    batch_url = made.headers["Location"]
    page = client.get(batch_url).get_data(as_text=True)
    assert "Anna Jansen" in page and "••••6789" in page and IBAN_ANNA not in page
    assert "76,00" in page and "overgeslagen: geen IBAN bekend" in page

    download = client.get(batch_url + "/file")
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Type"].startswith("application/xml")
    assert 'filename="premies-2026-H1.xml"' in download.headers["Content-Disposition"]
    validate(download.data)
    again = client.post("/admin/payouts", data={"moment": "2026-H1", "execution_date": "", "csrf_token": token})
    assert again.status_code == 302 and again.headers["Location"] == batch_url
    assert "al aangemaakt" in client.get(batch_url).get_data(as_text=True)


def test_the_download_is_audited(client, login, payable, on_july_1, shared_session):
    token = login("backoffice@nvsi.test")
    made = client.post("/api/v1/payouts", json={"moment": "2026-H1"}, headers={"X-CSRFToken": token})
    assert made.status_code == 201
    assert client.get(f"/api/v1/payouts/{made.json['id']}/file").status_code == 200
    [event] = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "payouts.download")).all()
    assert event.actor_label == "backoffice@nvsi.test" and event.changes["file_sha256"] == made.json["file_sha256"]


def test_the_pages_name_what_is_wrong_and_keep_what_was_typed(client, login, payable, on_july_1):
    login("backoffice@nvsi.test")
    bad = client.get("/admin/payouts/preview?moment=2026-H9&execution_date=1-7-2026")
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'href="#moment"' in page and 'href="#execution_date"' in page
    assert 'value="2026-H9"' in page and 'value="1-7-2026"' in page and 'aria-invalid="true"' in page
    early = client.get("/admin/payouts/preview?moment=2026-H2")
    assert early.status_code == 422 and "31-12-2026" in early.get_data(as_text=True)
    assert "aanmaken</button>" not in early.get_data(as_text=True)


def test_confirm_and_reject_by_hand_on_the_pages(client, login, payable, on_july_1, shared_session):
    token = login("backoffice@nvsi.test")
    made = client.post("/api/v1/payouts", json={"moment": "2026-H1"}, headers={"X-CSRFToken": token})
    item_id = shared_session.scalar(sa.select(PayoutItem.id).where(PayoutItem.status == ItemStatus.PENDING))
    shared_session.rollback()
    page = client.get(f"/admin/payouts/items/{item_id}")
    assert page.status_code == 200 and "Anna Jansen" in page.get_data(as_text=True)

    refused = client.post(f"/admin/payouts/items/{item_id}/reject",
                          data={"reason": "AC04", "note": "", "booked_on": "", "csrf_token": token})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'href="#note"' in page and '<option value="AC04" selected>' in page
    done = client.post(f"/admin/payouts/items/{item_id}/reject",
                       data={"reason": "AC04", "note": "Rekening opgeheven.", "booked_on": "", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/admin/payouts/{made.json['id']}")
    again = client.post(f"/admin/payouts/items/{item_id}/confirm", data={"booked_on": "", "csrf_token": token})
    assert again.status_code == 422  # no longer waiting for the bank
    item = shared_session.get(PayoutItem, item_id)
    assert (item.status, item.return_reason, item.voided_on) == (ItemStatus.REJECTED, "AC04", JULY_1)
    assert shared_session.get(PayoutBatch, made.json["id"]).status is BatchStatus.REJECTED


def test_the_api_generates_once_lists_items_masked_and_names_bad_input(client, login, payable, on_july_1):
    token = login("admin@nvsi.test")
    headers = {"X-CSRFToken": token}
    preview = client.get("/api/v1/payouts/preview?moment=2026-H1")
    assert preview.status_code == 200 and preview.json["generatable"] is True
    assert (preview.json["item_count"], preview.json["total_cents"]) == (1, 7600)
    assert [(s["name"], s["skip_reason"]) for s in preview.json["skipped"]] == [("Bram Jansen", "iban_missing")]

    first = client.post("/api/v1/payouts", json={"moment": "2026-H1"}, headers=headers)
    second = client.post("/api/v1/payouts", json={"moment": "2026-H1", "execution_date": "2026-07-03"},
                         headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["id"] == second.json["id"] and first.json["execution_date"] == "2026-07-01"
    assert first.headers["Location"].endswith(f"/api/v1/payouts/{first.json['id']}")

    detail = client.get(f"/api/v1/payouts/{first.json['id']}")
    assert detail.headers["Cache-Control"] == "no-store"
    assert IBAN_ANNA not in detail.get_data(as_text=True)
    assert [(i["creditor_name"], i["iban_masked"][-4:], i["amount_cents"], i["status"]) for i in detail.json["items"]] \
        == [("Anna Jansen", "6789", 7600, "pending"), ("Bram Jansen", "", 1000, "skipped")]
    only_alpha = client.get(f"/api/v1/payouts/{first.json['id']}?tenant=alpha&status=pending")
    assert len(only_alpha.json["items"]) == 1

    bad = client.post("/api/v1/payouts", json={"moment": "H1"}, headers=headers)
    assert bad.status_code == 422 and list(bad.json["errors"]) == ["moment"]
    early = client.post("/api/v1/payouts", json={"moment": "2026-H2"}, headers=headers)
    assert early.status_code == 422 and early.json["violations"][0]["code"] == "moment_not_reached"
    assert client.get(f"/api/v1/payouts/{first.json['id']}?status=lost").status_code == 422
    assert client.get("/api/v1/payouts/999999").status_code == 404

    item_id = detail.json["items"][0]["id"]
    no_note = client.post(f"/api/v1/payouts/items/{item_id}/reject", json={"reason": "ac04", "note": "  "},
                          headers=headers)
    assert no_note.status_code == 422 and set(no_note.json["errors"]) == {"reason"}
    no_note = client.post(f"/api/v1/payouts/items/{item_id}/reject", json={"note": " "}, headers=headers)
    assert no_note.status_code == 422 and list(no_note.json["errors"]) == ["note"]
    paid = client.post(f"/api/v1/payouts/items/{item_id}/confirm", json={"booked_on": "2026-07-01"}, headers=headers)
    assert paid.status_code == 200 and paid.json["status"] == "confirmed" and paid.json["confirmed_on"] == "2026-07-01"
    assert client.get(f"/api/v1/payouts/{first.json['id']}").json["status"] == "confirmed"
    assert client.post(f"/api/v1/payouts/{first.json['id']}/sent", headers=headers).json["sent_at"]


@pytest.mark.parametrize("user", ["admin@alpha.test", "staff@alpha.test"])
def test_municipality_users_cannot_reach_the_batches(client, login, user):
    token = login(user)
    assert client.get("/admin/payouts").status_code == 403
    assert client.get("/api/v1/payouts").status_code == 403
    assert client.post("/api/v1/payouts", json={"moment": "2026-H1"}, headers={"X-CSRFToken": token}).status_code == 403


def test_a_municipality_sees_its_own_payouts_and_whose_iban_to_fix(app, client, login, payable, on_july_1,
                                                                   tenant_session):
    beta = tenant_session("beta")
    worked(beta, [(dt.date(2026, 2, 4), "3")], iban=IBAN_BRAM, first_name="Bèta", tenant=BETA)
    accrue(beta, dt.date(2026, 2, 28), tenant=BETA)
    with app.app_context():
        payouts.generate(db, H1, today=JULY_1)

    login("staff@alpha.test")
    page = client.get("/g/alpha/premiums/payouts")
    text_ = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Anna Jansen" in text_ and "••••6789" in text_ and IBAN_ANNA not in text_
    assert "Bram Jansen" in text_ and "geen IBAN bekend" in text_  # skipped, and still to fix
    assert "Bèta" not in text_  # beta's candidate: never on alpha's page
    api = client.get("/api/v1/g/alpha/premiums/payouts").json
    assert [(i["creditor_name"], i["status"], i["tenant"]) for i in api["items"]] == [
        ("Anna Jansen", "pending", "alpha"), ("Bram Jansen", "skipped", "alpha")]
    assert [(u["name"], u["amount_cents"], u["skip_reason"]) for u in api["unpayable"]] == [
        ("Bram Jansen", 1000, "iban_missing")]


# -- the command ---------------------------------------------------------------------------------


def test_the_command_accrues_and_pays_the_moment_due_once(app, payable, alpha, shared_session):
    # Hours approved in March but not accrued yet: the command accrues them up to the moment first.
    worked(alpha, [(dt.date(2026, 3, 2), "2")], iban=IBAN_BRAM, first_name="Cas")
    alpha.commit()
    runner = app.test_cli_runner()
    nothing = runner.invoke(args=["premiums", "payout", "--today", "2026-08-20"])
    assert nothing.exit_code == 0 and "no payment moment due" in nothing.output

    first = runner.invoke(args=["premiums", "payout", "--today", "2026-07-01"])
    assert first.exit_code == 0, first.output
    assert "2026-H1: accrued up to 2026-06-30: EUR 4.00 new" in first.output
    assert "2026-H1: batch" in first.output and "generated: 2 payments, EUR 80.00; 1 skipped" in first.output
    assert IBAN_ANNA not in first.output and "Anna" not in first.output
    again = runner.invoke(args=["premiums", "payout", "--moment", "2026-H1", "--today", "2026-07-02"])
    assert again.exit_code == 0 and "was generated before" in again.output and "accrued" not in again.output
    refused = runner.invoke(args=["premiums", "payout", "--moment", "2026-H2", "--today", "2026-07-02"])
    assert refused.exit_code == 1 and "31-12-2026" in refused.output
    assert runner.invoke(args=["premiums", "payout", "--moment", "2026-H3"]).exit_code == 2

    listing = runner.invoke(args=["payouts", "list"])
    assert "2026-H1\tgenerated\t2 payments\tEUR 80.00" in listing.output
    item_id = shared_session.scalar(sa.select(PayoutItem.id).where(PayoutItem.status == ItemStatus.PENDING,
                                                                  PayoutItem.amount_cents == 7600))
    shared_session.rollback()
    bad = runner.invoke(args=["payouts", "reject", str(item_id), "--note", "x"])
    assert bad.exit_code == 1 and "3 to 500" in bad.output
    rejected = runner.invoke(args=["payouts", "reject", str(item_id), "--note", "Rekening opgeheven", "--reason",
                                   "ac04", "--booked-on", dt.date.today().isoformat()])
    assert rejected.exit_code == 0 and "rejected, EUR 76.00 payable again" in rejected.output
    assert runner.invoke(args=["payouts", "confirm", str(item_id)]).exit_code == 1
    assert runner.invoke(args=["payouts", "confirm"]).exit_code == 2
