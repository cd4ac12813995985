"""Payments received per invoice, online payment attempts and dunning notices (tenant schema)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime, utcnow


def _enum(cls, name: str, length: int = 20):
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                   values_callable=lambda e: [m.value for m in e])


class PaymentMethod(str, enum.Enum):
    """How the money came in (or went back)."""

    STRIPE = "stripe"
    BANK_TRANSFER = "bank_transfer"
    MANUAL = "manual"


class Payment(TenantBase):
    """Money received for an invoice (``amount_cents`` > 0) or refunded (< 0).

    ``external_ref`` is unique: the same Stripe payment or bank-statement line is booked once,
    however often it is reported.
    """

    __tablename__ = "payments"

    id: Mapped[BigIntPK]
    #: The invoice it pays.
    invoice_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoices.id"), index=True)
    #: See :class:`PaymentMethod`.
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod, "payment_method"))
    #: E.g. ``stripe:pi_123``, ``stripe-refund:re_456``, ``camt:<statement>:<entry>``.
    external_ref: Mapped[str] = mapped_column(sa.String(160), unique=True)
    #: The whole amount received (negative: refunded), in cents.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The part that settled the invoice, and the part beyond it (an overpayment, held as the
    #: employer's credit).
    applied_cents: Mapped[int] = mapped_column(sa.BigInteger)
    excess_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: The day the money moved (the booking date).
    received_on: Mapped[dt.date] = mapped_column(sa.Date)
    #: The ledger transaction (shared schema).
    ledger_transaction_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    #: Who matched it by hand (None: a webhook or the statement import).
    recorded_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    created_at: Mapped[Created]

    __table_args__ = (
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        sa.CheckConstraint("applied_cents + excess_cents = amount_cents", name="parts_add_up"),
    )


class AttemptStatus(str, enum.Enum):
    """Where an online payment attempt stands (moved only by verified webhooks)."""

    CREATED = "created"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


class PaymentAttempt(TenantBase):
    """One press of "Betalen met iDEAL of kaart": a Checkout Session at the payment provider."""

    __tablename__ = "payment_attempts"

    id: Mapped[BigIntPK]
    invoice_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoices.id"), index=True)
    #: The key sent with the create request: a retry of the same attempt makes no second session.
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    #: The provider's Checkout Session and PaymentIntent ids (once known).
    provider_session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    provider_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    #: The amount asked, in cents.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: See :class:`AttemptStatus`.
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus, "payment_attempt_status"),
                                                  default=AttemptStatus.CREATED)
    #: The provider's last word on a failure (no personal data).
    failure_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[Created]
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DunningLevel(str, enum.Enum):
    """The steps after the due date: reminders at +5 and +12 days, then a final notice."""

    FIRST_REMINDER = "first_reminder"
    SECOND_REMINDER = "second_reminder"
    FINAL_NOTICE = "final_notice"


class DunningNotice(TenantBase):
    """A reminder sent (or due) for an unpaid invoice; one per invoice per level."""

    __tablename__ = "dunning_notices"

    id: Mapped[BigIntPK]
    invoice_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoices.id"), index=True)
    #: See :class:`DunningLevel`.
    level: Mapped[DunningLevel] = mapped_column(_enum(DunningLevel, "dunning_level"))
    #: The day it became due, and the amount outstanding then (cents).
    due_on: Mapped[dt.date] = mapped_column(sa.Date)
    outstanding_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: When it was mailed (None: not yet; the job retries).
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[Created]

    __table_args__ = (sa.UniqueConstraint("invoice_id", "level"),)
