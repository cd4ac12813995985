"""Proposals, votes and development agreements (shared schema).

A proposal asks the members to give one rule-set parameter a new value from a date. Each
active member (tenant) casts at most one vote on it (database-enforced); at the close of voting
the outcome and everything it was computed from are recorded on the proposal, and an adopted
proposal becomes a new rule-set version.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime, utcnow
from nvsi.rules.models import RuleParameter
from nvsi.tenancy.models import Tenant


def _enum(cls, name: str, length: int = 20) -> sa.Enum:
    return sa.Enum(
        cls, name=name, native_enum=False, create_constraint=True, length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class ProposalStatus(str, enum.Enum):
    """Where a proposal stands. Only ``open`` changes, once, at the close of voting."""

    #: Voting is open.
    OPEN = "open"
    #: Quorum reached and a majority for: the value becomes a rule-set version.
    ADOPTED = "adopted"
    #: Quorum reached but no majority for (a tie is no majority).
    REJECTED = "rejected"
    #: Too few members voted.
    NO_QUORUM = "no_quorum"


class VoteChoice(str, enum.Enum):
    """A member's vote."""

    FOR = "for"
    AGAINST = "against"
    #: Counts for the quorum, not for the majority.
    ABSTAIN = "abstain"


class DevelopmentStatus(str, enum.Enum):
    """Progress of a development agreement."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"


class Proposal(SharedBase):
    """A proposal to change one parameter of the shared rule set, put to the vote of the members."""

    __tablename__ = "proposals"

    id: Mapped[BigIntPK]
    #: The parameter to change.
    parameter_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("rule_parameters.id"), index=True)
    #: The proposed value (exact; checked against the parameter's kind and bounds).
    value: Mapped[Decimal] = mapped_column(sa.Numeric(14, 4))
    #: The first day the value applies when adopted (never before the close of voting).
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    #: Why the change is proposed.
    rationale: Mapped[str] = mapped_column(sa.Text)
    #: The member that proposes; None when the NVSI (an NVSI administrator) proposes.
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    #: The user who submitted the proposal.
    proposed_by_user_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("users.id"))
    #: Start of voting (the moment of proposing).
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: End of voting: 24:00 (Europe/Amsterdam) of the last voting day. Votes are refused from then on.
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    #: See :class:`ProposalStatus`.
    status: Mapped[ProposalStatus] = mapped_column(
        _enum(ProposalStatus, "proposal_status"), default=ProposalStatus.OPEN
    )
    #: When the outcome was computed; None while open.
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Votes for, counted at the close.
    votes_for: Mapped[int | None]
    #: Votes against, counted at the close.
    votes_against: Mapped[int | None]
    #: Abstentions, counted at the close.
    votes_abstain: Mapped[int | None]
    #: Number of active members at the close (the base of the quorum).
    active_members: Mapped[int | None]
    #: Quorum applied (% of the active members that had to vote).
    quorum_pct: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    #: Rule-set version the quorum came from.
    quorum_version: Mapped[int | None]
    #: Majority applied ('for' had to be more than this % of for + against).
    majority_pct: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    #: Rule-set version the majority came from.
    majority_version: Mapped[int | None]
    #: Number of the rule-set version an adopted proposal created.
    rule_set_version: Mapped[int | None]
    #: Why an adopted proposal could not become a version (the rule set refused it), if so.
    adoption_error: Mapped[str | None] = mapped_column(sa.Text)
    #: When the proposal was recorded.
    created_at: Mapped[Created]

    parameter: Mapped[RuleParameter] = relationship(lazy="joined")
    tenant: Mapped[Tenant | None] = relationship(lazy="joined")
    votes: Mapped[list[Vote]] = relationship(
        back_populates="proposal", lazy="selectin", order_by="Vote.id"
    )


class Vote(SharedBase):
    """A member's vote on a proposal; one per member (tenant), changeable while voting is open."""

    __tablename__ = "votes"

    id: Mapped[BigIntPK]
    #: The proposal.
    proposal_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("proposals.id"))
    #: The member voting.
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    #: See :class:`VoteChoice`.
    choice: Mapped[VoteChoice] = mapped_column(_enum(VoteChoice, "vote_choice"))
    #: The municipality administrator who cast (or last changed) the vote.
    cast_by_user_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("users.id"))
    #: When the vote was first cast.
    created_at: Mapped[Created]
    #: When the vote was last cast or changed.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="votes")
    tenant: Mapped[Tenant] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("proposal_id", "tenant_id"),)


class DevelopmentItem(SharedBase):
    """A yearly agreement of the members on joint further development (*doorontwikkeling*)."""

    __tablename__ = "development_items"

    id: Mapped[BigIntPK]
    #: The year the agreement is for.
    year: Mapped[int] = mapped_column(index=True)
    #: Short name.
    title: Mapped[str] = mapped_column(sa.String(200))
    #: What is agreed.
    description: Mapped[str] = mapped_column(sa.Text)
    #: Budget in euro cents (never a float).
    budget_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: See :class:`DevelopmentStatus`.
    status: Mapped[DevelopmentStatus] = mapped_column(
        _enum(DevelopmentStatus, "development_status"), default=DevelopmentStatus.PLANNED
    )
    #: The NVSI administrator who recorded it.
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("users.id"))
    #: When it was recorded.
    created_at: Mapped[Created]
    #: When it was last changed.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint("budget_cents >= 0", name="budget_not_negative"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )
