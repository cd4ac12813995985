"""Premium payout batches and their items (shared schema).

One batch per payment moment (a unique key on the moment): the SEPA credit-transfer file
(pain.001.001.03) from the NVSI account, stored encrypted (it holds IBANs) with its SHA-256.
One item per candidate paid (or skipped) in it; an item names its municipality and candidate
(in that tenant's schema: no foreign key), the amount, the end-to-end id the bank reports back,
and where the money stands.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.crypto import Encrypted, mask
from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime
from nvsi.tenancy.models import Tenant


def _enum(cls, name: str, length: int = 20):
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                   values_callable=lambda e: [m.value for m in e])


class BatchStatus(str, enum.Enum):
    """Where a batch stands: the file was made (``generated``), handed to the bank (``sent``);
    once every item is settled: all paid (``confirmed``), some (``partly_rejected``) or none
    (``rejected``) paid."""

    GENERATED = "generated"
    SENT = "sent"
    CONFIRMED = "confirmed"
    PARTLY_REJECTED = "partly_rejected"
    REJECTED = "rejected"


class ItemStatus(str, enum.Enum):
    """Where one payment stands.

    ``pending``: in the file, in PREMIUMS_IN_PAYMENT (1605); ``confirmed``: the bank statement
    shows the debit (paid from BANK 1000); ``rejected``: the bank refused it before paying (back
    to PREMIUMS_PAYABLE 1600, payable at the next moment); ``returned``: paid, then returned by the
    candidate's bank (back on BANK and 1600, payable again); ``skipped``: not in the file (IBAN
    missing or invalid), listed for the municipality to fix; nothing booked.
    """

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    RETURNED = "returned"
    SKIPPED = "skipped"


#: Items whose amount counts as paid or being paid: never paid again.
COMMITTED = (ItemStatus.PENDING, ItemStatus.CONFIRMED)
#: Items still waiting for the bank.
OPEN = (ItemStatus.PENDING,)


class PayoutBatch(SharedBase):
    """The payout of one payment moment: a pain.001 file over every municipality."""

    __tablename__ = "premium_payout_batches"

    id: Mapped[BigIntPK]
    #: The payment moment, e.g. ``2026-H1`` (unique: one batch per moment, ever).
    moment: Mapped[str] = mapped_column(sa.String(7), unique=True)
    #: The moment's day (30 June / 31 December): premium for work up to it is paid.
    moment_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: The requested execution date in the file (``ReqdExctnDt``).
    execution_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: See :class:`BatchStatus`.
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus, "premium_payout_batch_status"),
                                                default=BatchStatus.GENERATED, index=True)
    #: The file's message id (``GrpHdr/MsgId``) and payment information id (``PmtInf/PmtInfId``);
    #: a batch-booked debit on the statement carries the latter.
    message_id: Mapped[str] = mapped_column(sa.String(35))
    payment_info_id: Mapped[str] = mapped_column(sa.String(35), unique=True)
    #: Payments in the file and their total (cents); candidates skipped (not in the file).
    item_count: Mapped[int]
    total_cents: Mapped[int] = mapped_column(sa.BigInteger)
    skipped_count: Mapped[int]
    #: The NVSI account paid from (the association's own: not personal data).
    debtor_name: Mapped[str] = mapped_column(sa.String(70))
    debtor_iban: Mapped[str] = mapped_column(sa.String(34))
    debtor_bic: Mapped[str | None] = mapped_column(sa.String(11))
    #: The pain.001 XML, encrypted at rest (it names candidates and their IBANs); loaded only
    #: when downloaded.
    file_xml: Mapped[str] = mapped_column(Encrypted, deferred=True)
    #: SHA-256 (hex) of the file's bytes as downloaded.
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: The day it was generated: the booking date of its pending postings.
    generated_on: Mapped[dt.date] = mapped_column(sa.Date)
    #: Who generated it (None: the CronJob) and when.
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    created_at: Mapped[Created]
    #: Marked as handed to the bank: when and by whom.
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When the last open item was settled (confirmed, rejected).
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("item_count > 0 AND total_cents > 0", name="not_empty"),
    )


class PayoutItem(SharedBase):
    """One candidate's payment in a batch (or the reason it was left out)."""

    __tablename__ = "premium_payout_items"

    id: Mapped[BigIntPK]
    #: The batch.
    batch_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("premium_payout_batches.id"), index=True)
    #: The municipality, and the candidate in its schema (no foreign key across schemas).
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"))
    candidate_id: Mapped[int] = mapped_column(BigIntType)
    #: See :class:`ItemStatus`.
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus, "premium_payout_item_status"), index=True)
    #: The amount paid (or, when skipped, that could not be paid), in cents.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The end-to-end id in the file (``EndToEndId``), which the bank reports back; None when skipped.
    end_to_end_id: Mapped[str | None] = mapped_column(sa.String(35), unique=True)
    #: The candidate's name as in the file.
    creditor_name: Mapped[str] = mapped_column(sa.String(140))
    #: The IBAN paid to (validated with schwifty), encrypted; None when skipped. Loaded only when
    #: asked for (decrypting is the costly part of reading thousands of items).
    iban: Mapped[str | None] = mapped_column(Encrypted, deferred=True)
    #: Why it was skipped: ``iban_missing``, ``iban_invalid`` or ``iban_outside_sepa``.
    skip_reason: Mapped[str | None] = mapped_column(sa.String(30))
    #: The ledger transactions: pending (1600 → 1605, one per batch and municipality), the
    #: confirmation (1605 → 1000) and the reversal (rejected: 1605 → 1600; returned: 1000 → 1600).
    pending_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    confirm_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    void_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: The booking date of the confirmation, and of the rejection or return.
    confirmed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    voided_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: What confirmed it and what rejected it: a statement line's reference, or ``manual``.
    confirmed_by_ref: Mapped[str | None] = mapped_column(sa.String(200))
    voided_by_ref: Mapped[str | None] = mapped_column(sa.String(200))
    #: The bank's return reason code (ISO 20022, e.g. ``AC04`` account closed) and a note.
    return_reason: Mapped[str | None] = mapped_column(sa.String(10))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    #: Who confirmed or rejected it by hand (None: the bank statement).
    settled_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When the item was written and last changed.
    created_at: Mapped[Created]
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    batch: Mapped[PayoutBatch] = relationship()
    tenant: Mapped[Tenant] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("batch_id", "tenant_id", "candidate_id"),
        sa.Index(None, "tenant_id", "candidate_id"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    @property
    def iban_masked(self) -> str:
        """The IBAN for pages: only the last four characters."""
        return mask(self.iban, 4)
