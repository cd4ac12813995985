"""Bank statements (camt.053) of the NVSI account and their lines (shared schema).

A statement is stored once: its identification at the bank together with the account IBAN is
unique, and so is the SHA-256 of the file it came in together with its place in that file (a
file may hold the statements of several days). A line is stored once per statement (the
bank's entry reference, or a stable hash of the entry when the bank gives none). Importing the
same statement again therefore finds it and changes nothing.

A line moves from ``new`` (imported, not yet looked at) to ``matched`` (booked: to an invoice,
as a Stripe payout, or confirmed as a premium payout), ``unmatched`` (the review queue of the
backoffice) or ``ignored`` (not the platform's money, or handled elsewhere; with a note).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.crypto import Encrypted
from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime


def _enum(cls, name: str, length: int = 20):
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                   values_callable=lambda e: [m.value for m in e])


class BankStatement(SharedBase):
    """One account statement of the bank (``Stmt`` of a camt.053 file)."""

    __tablename__ = "bank_statements"

    id: Mapped[BigIntPK]
    #: The statement's identification at the bank (``Stmt/Id``) and its sequence number.
    statement_ref: Mapped[str] = mapped_column(sa.String(140))
    sequence_number: Mapped[str | None] = mapped_column(sa.String(40))
    #: The message it came in (``GrpHdr/MsgId``).
    message_id: Mapped[str | None] = mapped_column(sa.String(140))
    #: The account the statement is of (the NVSI's own: not personal data).
    account_iban: Mapped[str] = mapped_column(sa.String(34))
    #: The day the bank made it, and the first and last booking day of its lines.
    issued_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    first_booking_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    last_booking_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: Opening and closing booked balance (cents; negative: overdrawn), when the bank gives them.
    opening_balance_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    closing_balance_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: The uploaded file: its name, its SHA-256 and the statement's place in it (0, 1, …);
    #: unique together, so the same file is read once.
    file_name: Mapped[str] = mapped_column(sa.String(255))
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    file_index: Mapped[int] = mapped_column(default=0)
    #: Number of lines, and the total credited and debited (cents, positive).
    line_count: Mapped[int]
    credit_cents: Mapped[int] = mapped_column(sa.BigInteger)
    debit_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: Who uploaded it (None: the command line).
    imported_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    imported_at: Mapped[Created]

    lines: Mapped[list[BankLine]] = relationship(back_populates="statement", order_by="BankLine.position")

    __table_args__ = (sa.UniqueConstraint("statement_ref", "account_iban"),
                      sa.UniqueConstraint("file_sha256", "file_index"))


class Direction(str, enum.Enum):
    """Money in (credit) or out (debit) of the NVSI account."""

    CREDIT = "credit"
    DEBIT = "debit"


class LineStatus(str, enum.Enum):
    """Where a statement line stands (see the module's docstring)."""

    NEW = "new"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    IGNORED = "ignored"


class MatchKind(str, enum.Enum):
    """What a matched line was booked as."""

    INVOICE = "invoice"
    STRIPE_PAYOUT = "stripe_payout"
    PREMIUM_PAYOUT = "premium_payout"


class BankLine(SharedBase):
    """One booked amount on a statement (an entry, or one transaction of a batch entry)."""

    __tablename__ = "bank_lines"

    id: Mapped[BigIntPK]
    statement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("bank_statements.id"), index=True)
    #: Its place on the statement (1, 2, …).
    position: Mapped[int]
    #: Unique within the statement: the bank's reference of the entry (account servicer
    #: reference, else entry reference; ``/2`` for a batch's second transaction), or ``h:`` and
    #: a hash of the entry's content when the bank gives none.
    entry_key: Mapped[str] = mapped_column(sa.String(160))
    #: The references as the bank gave them.
    account_servicer_ref: Mapped[str | None] = mapped_column(sa.String(140))
    end_to_end_id: Mapped[str | None] = mapped_column(sa.String(140))
    #: The payment information id of our own transfer file (a premium payout batch booked as one).
    payment_info_id: Mapped[str | None] = mapped_column(sa.String(140))
    #: See :class:`Direction`; a reversal (storno) is flagged.
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "bank_line_direction", 10))
    reversal: Mapped[bool] = mapped_column(default=False)
    #: The amount (cents, never negative: the direction says which way) and its currency.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    booking_date: Mapped[dt.date] = mapped_column(sa.Date)
    value_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: ISO bank transaction code, e.g. ``PMNT/RCDT/ESCT``; a return's reason code (``AC04``).
    bank_transaction_code: Mapped[str | None] = mapped_column(sa.String(40))
    return_reason: Mapped[str | None] = mapped_column(sa.String(10))
    #: The other party: its name, and its IBAN (personal data when it is a person's:
    #: encrypted, shown masked).
    counterparty_name: Mapped[str | None] = mapped_column(sa.String(140))
    counterparty_iban: Mapped[str | None] = mapped_column(Encrypted)
    #: The remittance information: free text, and the structured creditor reference.
    remittance_info: Mapped[str | None] = mapped_column(sa.String(500))
    creditor_reference: Mapped[str | None] = mapped_column(sa.String(40))
    #: See :class:`LineStatus`, and why a line is in the review queue (``no_reference``,
    #: ``unknown_reference``, ``invoice_settled``, ``debit``, ``booking_failed``, …).
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus, "bank_line_status"), default=LineStatus.NEW,
                                               index=True)
    review_reason: Mapped[str | None] = mapped_column(sa.String(40))
    #: What it was booked as, and for an invoice: the municipality, the invoice (in that
    #: tenant's schema: no foreign key) and its number, and the payment's external reference.
    match_kind: Mapped[MatchKind | None] = mapped_column(_enum(MatchKind, "bank_line_match_kind"))
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(BigIntType)
    invoice_number: Mapped[str | None] = mapped_column(sa.String(40))
    payment_ref: Mapped[str | None] = mapped_column(sa.String(160))
    #: The ledger transaction of a line booked here (a Stripe payout); an invoice's payment
    #: has its own in the tenant's ``payments``.
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: The backoffice's note (why ignored, or on a manual match).
    note: Mapped[str | None] = mapped_column(sa.String(500))
    #: When and by whom it was matched or ignored (no user: automatically).
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by_user_id: Mapped[int | None] = mapped_column(BigIntType)

    statement: Mapped[BankStatement] = relationship(back_populates="lines")

    __table_args__ = (
        sa.UniqueConstraint("statement_id", "entry_key"),
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    )
