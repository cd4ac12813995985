"""Applying money to invoices: the one place that books a payment or a refund.

Both the Stripe webhook and the bank-statement import call :func:`apply_payment`; it is
idempotent on the payment's external reference (unique in the database), books the ledger in the
caller's transaction, and moves the invoice's payment state (never its content).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.db import savepoint
from nvsi.ledger import chart
from nvsi.ledger.services import Line, post
from nvsi.tenancy.routing import TenantRef
from tenants.invoicing.models import DocumentType, Invoice
from tenants.invoicing.services import payment_status
from tenants.payments.models import Payment, PaymentMethod


class PaymentError(ValueError):
    """A payment that cannot be applied (e.g. to a credit note)."""


def payment_by_ref(session: Session, external_ref: str) -> Payment | None:
    """The payment booked under ``external_ref``, if any."""
    return session.scalars(sa.select(Payment).where(Payment.external_ref == external_ref)).first()


def payments_for(session: Session, invoice_id: int) -> list[Payment]:
    """The payments and refunds of an invoice, oldest first."""
    return list(session.scalars(sa.select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id)))


def apply_payment(
    session: Session,
    tenant: TenantRef,
    invoice: Invoice,
    cents: int,
    *,
    method: PaymentMethod,
    external_ref: str,
    received_on: dt.date,
    clearing: str = chart.BANK,
    user_id: int | None = None,
) -> Payment:
    """Book ``cents`` received for ``invoice``; the same ``external_ref`` again changes nothing.

    Up to the outstanding amount settles the receivable; anything beyond it is an overpayment,
    held as the employer's credit (account 1750) for a refund or set-off. ``clearing`` is the
    account the money arrived on: the bank (1000), or 1050 for a card/iDEAL payment the provider
    has confirmed but not yet paid out. A partial payment leaves the invoice partially paid.
    """
    existing = payment_by_ref(session, external_ref)
    if existing is not None:
        return existing
    if cents <= 0:
        raise PaymentError("a payment is a positive amount; a refund is booked with refund_payment")
    if invoice.doc_type is not DocumentType.INVOICE:
        raise PaymentError("only invoices are paid; a credit note is settled against its invoice")
    applied = max(0, min(cents, invoice.outstanding_cents))
    excess = cents - applied
    lines = [Line(clearing, cents)]
    if applied:
        lines.append(Line(chart.RECEIVABLES, -applied))
    if excess:
        lines.append(Line(chart.EMPLOYER_CREDIT, -excess))
    txn = post(session, key=f"payment:{tenant.slug}:{external_ref}", booking_date=received_on, lines=lines,
               tenant_id=tenant.id, kind="payment", description=f"Betaling factuur {invoice.number}",
               source=("invoice", f"{tenant.slug}/{invoice.id}"), user_id=user_id)
    payment = Payment(invoice_id=invoice.id, method=method, external_ref=external_ref, amount_cents=cents,
                      applied_cents=applied, excess_cents=excess, received_on=received_on,
                      ledger_transaction_id=txn.id, recorded_by_user_id=user_id)
    with savepoint(session):
        session.add(payment)
        invoice.paid_cents += applied
        invoice.status = payment_status(invoice)
    return payment


def refund_payment(
    session: Session,
    tenant: TenantRef,
    invoice: Invoice,
    cents: int,
    *,
    method: PaymentMethod,
    external_ref: str,
    refunded_on: dt.date,
    clearing: str = chart.BANK,
    user_id: int | None = None,
) -> Payment:
    """Book ``cents`` paid back to the employer for ``invoice`` (idempotent on ``external_ref``).

    A refund first takes back the overpayment held as the employer's credit, then reopens the
    invoice by the rest.
    """
    existing = payment_by_ref(session, external_ref)
    if existing is not None:
        return existing
    if cents <= 0:
        raise PaymentError("a refund is a positive amount")
    credit_held = sum(p.excess_cents for p in payments_for(session, invoice.id))
    from_credit = min(cents, max(credit_held, 0))
    reopened = min(cents - from_credit, invoice.paid_cents)
    if from_credit + reopened != cents:
        raise PaymentError("a refund larger than what was paid")
    lines = [Line(clearing, -cents)]
    if from_credit:
        lines.append(Line(chart.EMPLOYER_CREDIT, from_credit))
    if reopened:
        lines.append(Line(chart.RECEIVABLES, reopened))
    txn = post(session, key=f"refund:{tenant.slug}:{external_ref}", booking_date=refunded_on, lines=lines,
               tenant_id=tenant.id, kind="refund", description=f"Terugbetaling factuur {invoice.number}",
               source=("invoice", f"{tenant.slug}/{invoice.id}"), user_id=user_id)
    payment = Payment(invoice_id=invoice.id, method=method, external_ref=external_ref, amount_cents=-cents,
                      applied_cents=-reopened, excess_cents=-from_credit, received_on=refunded_on,
                      ledger_transaction_id=txn.id, recorded_by_user_id=user_id)
    with savepoint(session):
        session.add(payment)
        invoice.paid_cents -= reopened
        invoice.status = payment_status(invoice)
    return payment
