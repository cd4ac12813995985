"""The placement model."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase


class PlacementStatus(str, enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Placement(TenantBase):
    """A *plaatsing*: a candidate on an assignment from a start date, for some hours per week,
    checked against the rules in force for the municipality on the start date."""

    __tablename__ = "placements"

    id: Mapped[BigIntPK]
    #: The candidate.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    #: The assignment.
    assignment_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("assignments.id"), index=True)
    #: First day of the placement.
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Last day (inclusive): computed from the maximum duration for the hours, or earlier.
    end_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Hours per week (at most two decimals).
    hours_per_week: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    #: First day actually worked (set with the first approved hours, or by staff).
    first_working_day: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: The re-integration goals, as in the inzetbevestiging.
    goals: Mapped[str] = mapped_column(sa.Text, default="")
    #: See :class:`PlacementStatus`.
    status: Mapped[PlacementStatus] = mapped_column(
        sa.Enum(PlacementStatus, name="placement_status", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e]),
        default=PlacementStatus.ACTIVE,
    )
    #: The shared rule-set version in force on the start date (the rules it was checked against).
    rules_version: Mapped[int]
    #: Who created it (user id).
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was created.
    created_at: Mapped[Created]

    candidate = relationship("Candidate", lazy="joined")
    assignment = relationship("Assignment", lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="end_after_start"),
        sa.CheckConstraint("hours_per_week > 0", name="hours_positive"),
    )
