"""The guidance moment model."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime
from tenants.frameworks.models import GuidanceAnchor


class GuidanceMoment(TenantBase):
    """A *begeleidingsmoment* of one placement: planned when the placement is created, from the
    municipality's guidance schedule as it was then (anchor and offset are copied, so a later
    change of the schedule leaves existing placements alone); staff record the outcome."""

    __tablename__ = "guidance_moments"

    id: Mapped[BigIntPK]
    #: The placement.
    placement_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: Name, e.g. "Evaluatie na 3 maanden".
    name: Mapped[str] = mapped_column(sa.String(100))
    #: What it is planned from (see :class:`GuidanceAnchor`).
    anchor: Mapped[GuidanceAnchor] = mapped_column(
        sa.Enum(GuidanceAnchor, name="guidance_anchor", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e])
    )
    #: Days after (negative: before) the anchor.
    offset_days: Mapped[int]
    #: Order in the schedule.
    position: Mapped[int] = mapped_column(default=0)
    #: The day it is planned for.
    planned_on: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    #: The day it took place; None: not yet.
    done_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: What came out of it.
    outcome: Mapped[str] = mapped_column(sa.Text, default="")
    #: Does the assignment still serve the re-integration goals? None: not assessed.
    still_serves_goals: Mapped[bool | None] = mapped_column(sa.Boolean)
    #: Who recorded the outcome (user id).
    recorded_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When the outcome was recorded.
    recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the moment was planned.
    created_at: Mapped[Created]

    placement = relationship("Placement", lazy="select")

    __table_args__ = (
        sa.CheckConstraint("done_on IS NOT NULL OR still_serves_goals IS NULL", name="assessed_when_done"),
    )

    @property
    def done(self) -> bool:
        return self.done_on is not None

    def is_overdue(self, today: dt.date) -> bool:
        """Planned before today and not done."""
        return self.done_on is None and self.planned_on < today
