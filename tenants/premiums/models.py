"""Premium accruals, the excess over the yearly cap awaiting review, and travel cost
reimbursements (in the municipality's schema).

An accrual is history: the table is append-only (database triggers). Each timesheet entry that
counts is accrued once (unique per entry and kind); when an approved correction replaces an
accrued entry, a *reversal* row (the mirror image) is added and the correction accrues anew.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime, append_only


def _enum(cls, name: str, length: int = 20):
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                   values_callable=lambda e: [m.value for m in e])


class AccrualKind(str, enum.Enum):
    """An accrual of an entry's premium, or the reversal of one (its entry was corrected)."""

    ACCRUAL = "accrual"
    REVERSAL = "reversal"


class PremiumAccrual(TenantBase):
    """The premium of one timesheet entry: hours × the premium per hour in force on the work
    date, split into what is accrued (within the candidate's yearly cap) and the excess, which
    is flagged for review and never paid. Amounts in cents; negative on a reversal."""

    __tablename__ = "premium_accruals"

    id: Mapped[BigIntPK]
    #: The timesheet entry the premium is for.
    entry_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("timesheet_entries.id"))
    #: See :class:`AccrualKind`.
    kind: Mapped[AccrualKind] = mapped_column(_enum(AccrualKind, "premium_accrual_kind"))
    #: The candidate who earns it, and the placement the hours were worked in.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"))
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: The day worked; its calendar year is the cap's year.
    work_date: Mapped[dt.date] = mapped_column(sa.Date)
    year: Mapped[int]
    #: The hours (negative on a reversal).
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    #: The premium per hour in force on the work date, in cents.
    rate_cents: Mapped[int]
    #: hours × rate, rounded to the cent: ``accrued_cents + flagged_cents``.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The part within the yearly cap: owed to the candidate (ledger: premiums payable).
    accrued_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The part above the cap: flagged for review, not paid, not booked.
    flagged_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The shared rule-set version the premium per hour came from.
    rules_version: Mapped[int]
    #: The accrual date (the run's day): the ledger booking date.
    accrued_on: Mapped[dt.date] = mapped_column(sa.Date)
    #: The ledger transaction that booked it (None when nothing was booked: zero accrued).
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: When the row was written.
    created_at: Mapped[Created]

    __table_args__ = (
        sa.UniqueConstraint("entry_id", "kind"),
        sa.Index("ix_premium_accruals_candidate_id_year", "candidate_id", "year"),
        sa.CheckConstraint("amount_cents = accrued_cents + flagged_cents", name="amount_split"),
    )


append_only(PremiumAccrual.__table__)


class FlagStatus(str, enum.Enum):
    """Where a flagged excess stands. ``void``: its entry was corrected, the excess is gone."""

    OPEN = "open"
    RESOLVED = "resolved"
    VOID = "void"


class PremiumFlag(TenantBase):
    """Premium above the yearly cap, for the municipality or the backoffice to review. Resolving
    records a decision with a note; it never pays anything beyond the cap."""

    __tablename__ = "premium_flags"

    id: Mapped[BigIntPK]
    #: The accrual whose excess this is (one flag per accrual).
    accrual_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("premium_accruals.id"), unique=True)
    #: The candidate and the cap's year.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    year: Mapped[int]
    #: The excess in cents (above zero).
    cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: See :class:`FlagStatus`.
    status: Mapped[FlagStatus] = mapped_column(_enum(FlagStatus, "premium_flag_status"), default=FlagStatus.OPEN)
    #: The reviewer's note (required to resolve).
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    #: Who resolved it (user id; None: the system, on a correction) and when.
    resolved_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When it was flagged.
    created_at: Mapped[Created]

    accrual: Mapped[PremiumAccrual] = relationship(lazy="joined")
    candidate = relationship("Candidate", lazy="joined")

    __table_args__ = (sa.CheckConstraint("cents > 0", name="cents_positive"),)


class TravelCost(TenantBase):
    """A travel cost reimbursement to a candidate for a day of a placement; booked in the
    ledger when recorded (travel costs against travel costs payable)."""

    __tablename__ = "travel_costs"

    id: Mapped[BigIntPK]
    #: The candidate reimbursed and the placement the journey was for.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: The day of the journey (within the placement).
    cost_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: The amount in cents (above zero).
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: What it is for, e.g. "OV Utrecht–Houten v.v.".
    description: Mapped[str] = mapped_column(sa.String(300))
    #: Who recorded it (user id).
    recorded_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: The ledger transaction that booked it.
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: When it was recorded.
    created_at: Mapped[Created]

    candidate = relationship("Candidate", lazy="joined")
    placement = relationship("Placement", lazy="joined")

    __table_args__ = (sa.CheckConstraint("amount_cents > 0", name="amount_positive"),)
