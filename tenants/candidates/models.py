"""The candidate model. BSN and IBAN are personal data: stored encrypted, found by keyed hash."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.crypto import Encrypted, mask
from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime, utcnow


class CandidateStatus(str, enum.Enum):
    """Where a candidate stands."""

    REGISTERED = "registered"
    PLACED = "placed"
    REFERRED_WSP = "referred_wsp"
    LEFT_WELFARE = "left_welfare"


class Candidate(TenantBase):
    """A *kandidaat*: a person on welfare who registered voluntarily for the instrument."""

    __tablename__ = "candidates"

    id: Mapped[BigIntPK]
    #: BSN, encrypted (never stored, logged or shown in clear).
    bsn: Mapped[str] = mapped_column(Encrypted)
    #: Keyed hash of the BSN: finds a candidate by BSN; unique within the municipality.
    bsn_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Given name(s).
    first_name: Mapped[str] = mapped_column(sa.String(100))
    #: Family name, with prefix (tussenvoegsel).
    last_name: Mapped[str] = mapped_column(sa.String(100))
    #: E-mail address, optional.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    #: Phone number, optional.
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    #: IBAN for premium payouts, encrypted; optional until the first payout.
    iban: Mapped[str | None] = mapped_column(Encrypted)
    #: The municipality's arrangement for this candidate (local framework).
    arrangement_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("arrangements.id"))
    #: Date of registration (aanmelding).
    registered_on: Mapped[dt.date] = mapped_column(sa.Date)
    #: When the candidate's voluntary consent was recorded.
    consent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Who recorded the consent (user id).
    consent_recorded_by: Mapped[int | None] = mapped_column(BigIntType)
    #: Work preferences, free text.
    work_preferences: Mapped[str] = mapped_column(sa.Text, default="")
    #: See :class:`CandidateStatus`.
    status: Mapped[CandidateStatus] = mapped_column(
        sa.Enum(CandidateStatus, name="candidate_status", native_enum=False, create_constraint=True,
                length=20, values_callable=lambda e: [m.value for m in e]),
        default=CandidateStatus.REGISTERED,
    )
    #: Date the candidate left welfare (uitstroom), with the reason.
    left_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: Why the candidate left welfare (e.g. regular job).
    left_reason: Mapped[str | None] = mapped_column(sa.String(200))
    #: When the record was created.
    created_at: Mapped[Created]
    #: Last change.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Optimistic lock.
    version: Mapped[int] = mapped_column(default=1)

    arrangement = relationship("Arrangement", lazy="joined")

    __table_args__ = (sa.Index("ix_candidates_last_name", "last_name"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def bsn_masked(self) -> str:
        return mask(self.bsn)

    @property
    def iban_masked(self) -> str:
        return mask(self.iban, 4)
