"""The reminder model: the inbox of the piepsysteem, and its record of what was mailed."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime


class ReminderKind(str, enum.Enum):
    """What a reminder is about (and what its ``subject_id`` names)."""

    #: 5.5 months after the start of a placement (subject: the placement).
    END_OF_PLACEMENT = "end_of_placement"
    #: 2.5 months after the first working day of a placement above 24 hours a week (the placement).
    LONG_HOURS = "long_hours"
    #: 2 months at more than 20 hours a week: refer the candidate to the WSP (the candidate).
    WSP_REFERRAL = "wsp_referral"
    #: A guidance moment that was planned and has not taken place (the guidance moment).
    GUIDANCE_OVERDUE = "guidance_overdue"


class Reminder(TenantBase):
    """A *signaal* of the piepsysteem: a deadline of one placement, candidate or guidance moment.

    It exists once: (kind, subject, due day) is unique, so running the daily job twice, or
    catching up days later, never makes a second one. It is mailed once: ``sent_at`` is set in
    the same transaction that hands the mail over; while it is empty and there are recipients,
    the next run tries again. It stays in the municipality's inbox either way."""

    __tablename__ = "reminders"

    id: Mapped[BigIntPK]
    #: See :class:`ReminderKind`.
    kind: Mapped[ReminderKind] = mapped_column(
        sa.Enum(ReminderKind, name="reminder_kind", native_enum=False, create_constraint=True,
                length=30, values_callable=lambda e: [m.value for m in e])
    )
    #: The id of what it is about: a placement, a candidate or a guidance moment (see the kind).
    subject_id: Mapped[int] = mapped_column(BigIntType)
    #: The placement concerned (every kind has one; for a WSP referral the qualifying placement).
    placement_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: The candidate concerned.
    candidate_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("candidates.id"), index=True)
    #: The day it became due (it is sent on that day or, catching up, later).
    due_on: Mapped[dt.date] = mapped_column(sa.Date)
    #: When it was created (by the daily job).
    created_at: Mapped[Created]
    #: Who it is mailed to: the framework's reminder recipients when it was created, one per
    #: line; empty: the inbox only.
    recipients: Mapped[str] = mapped_column(sa.Text, default="")
    #: The mail's subject line (Dutch; no candidate name, no BSN).
    subject: Mapped[str] = mapped_column(sa.String(200))
    #: The mail's text (Dutch; names the candidate, never a BSN or IBAN).
    body: Mapped[str] = mapped_column(sa.Text)
    #: When the mail was handed over; None: not (yet) sent.
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: How it was sent: the mail backend ("smtp", or "log": not really sent).
    sent_via: Mapped[str | None] = mapped_column(sa.String(10))
    #: Failed attempts to send it.
    send_attempts: Mapped[int] = mapped_column(default=0)
    #: The last failure (kind and SMTP code only: no address, no content).
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    #: When someone marked it read in the inbox; None: unread.
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Who marked it read (user id).
    read_by_user_id: Mapped[int | None] = mapped_column(BigIntType)

    placement = relationship("Placement", lazy="select")
    candidate = relationship("Candidate", lazy="select")

    __table_args__ = (
        sa.UniqueConstraint("kind", "subject_id", "due_on"),
        sa.Index("ix_reminders_due_on", "due_on"),
        sa.CheckConstraint("sent_at IS NULL OR sent_via IS NOT NULL", name="sent_via_when_sent"),
    )

    @property
    def recipient_list(self) -> list[str]:
        return [line for line in self.recipients.splitlines() if line.strip()]

    @property
    def unread(self) -> bool:
        return self.read_at is None
