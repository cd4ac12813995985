"""What the go/no-go report needs beyond the candidate record: a dated history of arrangement
changes (recorded from the moment this table exists; the candidate row only holds the current
arrangement) and welfare exits (*uitstroom*), full or partial."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, append_only


class ArrangementChange(TenantBase):
    """A candidate's arrangement changed (or was first set) on a day. Written automatically on
    every change of ``candidates.arrangement_id`` (see :mod:`tenants.reports.services`)."""

    __tablename__ = "arrangement_changes"

    id: Mapped[BigIntPK]
    #: The candidate.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    #: The arrangement before (None: none) and after (None: removed).
    from_arrangement_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("arrangements.id"))
    to_arrangement_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("arrangements.id"))
    #: The day of the change.
    changed_on: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    #: Who changed it (user id; None: a job or the command line).
    changed_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was recorded.
    created_at: Mapped[Created]

    candidate = relationship("Candidate")


append_only(ArrangementChange.__table__)


@sa.event.listens_for(Session, "before_flush")
def _record_arrangement_changes(session: Session, _context, _instances) -> None:
    """Every change of a candidate's arrangement (and the first one set) becomes a dated row,
    in the same flush, whichever code path made it."""
    from tenants.candidates.models import Candidate

    for candidate in [o for o in (*session.new, *session.dirty) if isinstance(o, Candidate)]:
        history = sa.inspect(candidate).attrs.arrangement_id.history
        if not history.added:
            continue
        after, new = history.added[0], candidate in session.new
        if new:
            before = None
        elif history.deleted:
            before = history.deleted[0]
        else:  # the old value was not loaded: ask the database
            with session.no_autoflush:
                before = session.scalar(sa.select(Candidate.arrangement_id).where(Candidate.id == candidate.id))
        if before == after or (new and after is None):
            continue
        session.add(ArrangementChange(candidate=candidate, from_arrangement_id=before, to_arrangement_id=after,
                                      changed_on=dt.date.today(), changed_by_user_id=_current_user_id()))


def _current_user_id() -> int | None:
    from flask import has_request_context
    from flask_login import current_user

    if has_request_context() and current_user.is_authenticated:
        return current_user.id
    return None


class ExitExtent(str, enum.Enum):
    """Left welfare entirely, or partly (the benefit went down through earned income)."""

    FULL = "full"
    PARTIAL = "partial"


class WelfareExit(TenantBase):
    """A candidate (partly) left welfare (*uitstroom*) on a day: for the social results."""

    __tablename__ = "welfare_exits"

    id: Mapped[BigIntPK]
    #: The candidate.
    candidate_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    #: The first day off (or partly off) welfare.
    exit_date: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    #: See :class:`ExitExtent`.
    extent: Mapped[ExitExtent] = mapped_column(
        sa.Enum(ExitExtent, name="welfare_exit_extent", native_enum=False, create_constraint=True, length=20,
                values_callable=lambda e: [m.value for m in e])
    )
    #: A note, e.g. "parttime contract bij de opdrachtgever".
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    #: Who recorded it (user id).
    recorded_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was recorded.
    created_at: Mapped[Created]

    candidate = relationship("Candidate", lazy="joined")

    __table_args__ = (sa.UniqueConstraint("candidate_id", "exit_date", "extent"),)
