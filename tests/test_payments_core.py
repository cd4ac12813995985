"""Applying money to invoices (the core the webhook and the bank import share), both backends:
full, partial and over-payments, refunds, and the same payment reported twice."""

from __future__ import annotations

import datetime as dt

import pytest

from nvsi.ledger import chart
from nvsi.ledger.services import Line, balance, post, trial_balance
from tenants.invoicing.models import PaymentStatus
from tenants.payments.models import PaymentMethod
from tenants.payments.services import PaymentError, apply_payment, refund_payment
from tests import factories
from tests import invoice_helpers as make
from tests.factories import ALPHA

DAY = dt.date(2026, 3, 20)


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def invoice(alpha):
    """38 h × EUR 12.30 + 21% VAT = EUR 565.55, with its receivable in the ledger."""
    made = make.invoice(alpha, employer=factories.employer(alpha))
    assert (made.net_cents, made.vat_cents, made.gross_cents) == (46740, 9815, 56555)
    post(alpha, key=f"invoice-test:{made.number}", booking_date=made.issue_date, tenant_id=ALPHA.id,
         kind="invoice", description="test", lines=[Line(chart.RECEIVABLES, 56555), Line(chart.REVENUE, -46740),
                                                    Line(chart.VAT_PAYABLE, -9815)])
    return made


def pay(alpha, invoice, cents, ref, **kw):
    return apply_payment(alpha, ALPHA, invoice, cents, method=PaymentMethod.BANK_TRANSFER, external_ref=ref,
                         received_on=DAY, **kw)


def test_a_full_payment_settles_the_receivable(alpha, invoice):
    payment = pay(alpha, invoice, 56555, "camt:1:1")
    assert (payment.applied_cents, payment.excess_cents) == (56555, 0)
    assert invoice.status is PaymentStatus.PAID and invoice.outstanding_cents == 0
    assert balance(alpha, chart.RECEIVABLES, ALPHA.id) == 0
    assert balance(alpha, chart.BANK) == 56555
    assert trial_balance(alpha).total == 0


def test_the_same_payment_reported_twice_is_booked_once(alpha, invoice):
    first = pay(alpha, invoice, 56555, "stripe:pi_1", clearing=chart.PAYMENTS_IN_TRANSIT)
    again = pay(alpha, invoice, 56555, "stripe:pi_1", clearing=chart.PAYMENTS_IN_TRANSIT)
    assert again.id == first.id
    assert invoice.paid_cents == 56555
    assert balance(alpha, chart.PAYMENTS_IN_TRANSIT) == 56555


def test_a_partial_payment_leaves_the_rest_outstanding(alpha, invoice):
    pay(alpha, invoice, 50000, "camt:1:1")
    assert invoice.status is PaymentStatus.PARTIALLY_PAID and invoice.outstanding_cents == 6555
    assert balance(alpha, chart.RECEIVABLES, ALPHA.id) == 6555
    pay(alpha, invoice, 6555, "camt:1:2")
    assert invoice.status is PaymentStatus.PAID


def test_an_overpayment_is_held_as_the_employers_credit(alpha, invoice):
    payment = pay(alpha, invoice, 60000, "camt:1:1")
    assert (payment.applied_cents, payment.excess_cents) == (56555, 3445)
    assert invoice.status is PaymentStatus.PAID
    assert balance(alpha, chart.EMPLOYER_CREDIT, ALPHA.id) == -3445
    assert trial_balance(alpha).total == 0


def test_a_refund_takes_back_the_overpayment_first_then_reopens_the_invoice(alpha, invoice):
    pay(alpha, invoice, 60000, "stripe:pi_1", clearing=chart.PAYMENTS_IN_TRANSIT)
    refund = refund_payment(alpha, ALPHA, invoice, 10000, method=PaymentMethod.STRIPE, external_ref="stripe-refund:re_1",
                            refunded_on=DAY, clearing=chart.PAYMENTS_IN_TRANSIT)
    assert (refund.amount_cents, refund.excess_cents, refund.applied_cents) == (-10000, -3445, -6555)
    assert invoice.status is PaymentStatus.PARTIALLY_PAID and invoice.outstanding_cents == 6555
    assert balance(alpha, chart.EMPLOYER_CREDIT, ALPHA.id) == 0
    assert balance(alpha, chart.RECEIVABLES, ALPHA.id) == 6555
    assert balance(alpha, chart.PAYMENTS_IN_TRANSIT) == 50000
    with pytest.raises(PaymentError, match="larger"):
        refund_payment(alpha, ALPHA, invoice, 60000, method=PaymentMethod.STRIPE, external_ref="stripe-refund:re_2",
                       refunded_on=DAY)


def test_a_credit_note_is_not_paid(alpha, invoice):
    note = make.credit_note(alpha, invoice)
    with pytest.raises(PaymentError, match="credit note"):
        pay(alpha, note, 100, "camt:1:9")
