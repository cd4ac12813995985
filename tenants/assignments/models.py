"""The assignment model."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime


class Assignment(TenantBase):
    """An *opdracht*: flexible work an employer has done, at an hourly rate, for a period."""

    __tablename__ = "assignments"

    id: Mapped[BigIntPK]
    #: The employer (opdrachtgever).
    employer_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("employers.id"), index=True)
    #: Short title, e.g. "Groenonderhoud Lindelaan".
    title: Mapped[str] = mapped_column(sa.String(200))
    #: What the work is.
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: Hours per week the work takes (at most two decimals).
    hours_per_week: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    #: Hourly rate the employer pays, in euro cents; at least the minimum rate in force.
    hourly_rate_cents: Mapped[int]
    #: Where the work is done.
    location: Mapped[str] = mapped_column(sa.String(200))
    #: First day of the assignment.
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Last day of the assignment; None: open-ended.
    end_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: Name of the employer's representative who declared that the work displaces no regular job.
    displacement_declared_by: Mapped[str] = mapped_column(sa.String(200))
    #: When that declaration was made.
    displacement_declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Who recorded the declaration (user id).
    displacement_recorded_by: Mapped[int | None] = mapped_column(BigIntType)
    #: When the record was created.
    created_at: Mapped[Created]

    employer = relationship("Employer", lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("hours_per_week > 0", name="hours_positive"),
        sa.CheckConstraint("hourly_rate_cents > 0", name="rate_positive"),
    )
