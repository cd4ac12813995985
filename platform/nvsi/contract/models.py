"""The execution contract (*uitvoeringscontract*) and its versions (shared schema).

The NVSI holds exactly one active execution contract with the service company. The database
enforces this with a partial unique index on the status, so two concurrent activations cannot
both succeed. The terms (fee, contribution share, service levels) live in numbered versions:
an amendment is a new version with an effective date; old versions are never changed.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime, utcnow

#: The service company the NVSI contracts with (DOMAIN.md, source 004).
SERVICE_COMPANY = "Flextensie Nederland b.v."

#: The one condition the partial unique index covers: at most one row may match it.
ACTIVE_ONLY = "status = 'active'"


def _enum(cls, name: str, length: int = 20) -> sa.Enum:
    return sa.Enum(
        cls, name=name, native_enum=False, create_constraint=True, length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class ContractStatus(str, enum.Enum):
    """Life cycle of an execution contract."""

    #: Being prepared (e.g. the successor of the running contract); has no effect yet.
    DRAFT = "draft"
    #: The contract in force. At most one (database-enforced).
    ACTIVE = "active"
    #: Ended; kept, with its versions, for the settlements of its period.
    ENDED = "ended"


class ReviewOutcome(str, enum.Enum):
    """Outcome of the go/no-go review (DOMAIN.md: "go/no-go after 6 months")."""

    GO = "go"
    NO_GO = "no_go"


class ExecutionContract(SharedBase):
    """An *uitvoeringscontract* between the NVSI and the service company: its period and its
    go/no-go review. The terms are in :class:`ContractVersion`."""

    __tablename__ = "execution_contracts"

    id: Mapped[BigIntPK]
    #: The contract's reference, e.g. "UC-2017-01"; unique.
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The other party: the service company.
    service_company: Mapped[str] = mapped_column(sa.String(200), default=SERVICE_COMPANY)
    #: See :class:`ContractStatus`; at most one contract is active (partial unique index).
    status: Mapped[ContractStatus] = mapped_column(
        _enum(ContractStatus, "contract_status"), default=ContractStatus.DRAFT
    )
    #: First day of the contract.
    start_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Last day of the contract (an extension moves it; ending early brings it forward).
    end_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Date of the go/no-go review; by default 6 months after the start.
    review_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Outcome of the go/no-go review; None until it is recorded.
    review_outcome: Mapped[ReviewOutcome | None] = mapped_column(_enum(ReviewOutcome, "review_outcome"))
    #: The day the go/no-go decision was taken.
    review_decided_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    #: Explanation of the go/no-go decision (financial and social results). NVSI-internal.
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    #: Who recorded the go/no-go outcome.
    review_recorded_by_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Who registered the contract.
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: When the contract was registered.
    created_at: Mapped[Created]
    #: Last change of the contract's own fields (not its versions).
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[ContractVersion]] = relationship(
        back_populates="contract", order_by="ContractVersion.number"
    )

    __table_args__ = (
        # Exactly one contract in force, also under concurrent writes: the database refuses a
        # second row with status 'active'.
        sa.Index(
            "uq_execution_contracts_one_active", "status", unique=True,
            postgresql_where=sa.text(ACTIVE_ONLY), sqlite_where=sa.text(ACTIVE_ONLY),
        ),
        sa.CheckConstraint("end_date > start_date", name="period"),
        sa.CheckConstraint("review_date >= start_date AND review_date <= end_date", name="review_in_period"),
        sa.CheckConstraint(
            "(review_outcome IS NULL AND review_decided_on IS NULL)"
            " OR (review_outcome IS NOT NULL AND review_decided_on IS NOT NULL)",
            name="review_complete",
        ),
    )

    @property
    def current_version(self) -> ContractVersion | None:
        """The version with the highest number (the latest amendment)."""
        return self.versions[-1] if self.versions else None

    def version_on(self, day: dt.date) -> ContractVersion | None:
        """The version in force on ``day``: the latest with ``effective_from <= day``."""
        candidates = [v for v in self.versions if v.effective_from <= day]
        return max(candidates, key=lambda v: v.effective_from) if candidates else None


class ContractVersion(SharedBase):
    """The terms of an execution contract from a date on. Version 1 starts with the contract;
    every amendment adds a version with a later ``effective_from``. Never updated."""

    __tablename__ = "contract_versions"

    id: Mapped[BigIntPK]
    #: The contract.
    contract_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("execution_contracts.id"))
    #: 1, 2, 3, … per contract, in order of creation.
    number: Mapped[int] = mapped_column()
    #: First day these terms apply.
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    #: The service company's fee, as a percentage of the gross revenue (e.g. 12.50).
    service_fee_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    #: The part of the 2% contribution the service company bears (DOMAIN.md: 1%).
    service_company_contribution_pct: Mapped[Decimal] = mapped_column(
        sa.Numeric(5, 2), default=Decimal("1.00")
    )
    #: Service level: the helpdesk answers within this many hours.
    helpdesk_response_hours: Mapped[int] = mapped_column()
    #: Service level: availability of the administrative service, as a percentage (e.g. 99.50).
    availability_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    #: Why this version exists (the amendment). NVSI-internal.
    note: Mapped[str | None] = mapped_column(sa.Text)
    #: Who added the version.
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: When the version was added.
    created_at: Mapped[Created]

    contract: Mapped[ExecutionContract] = relationship(back_populates="versions")

    __table_args__ = (
        sa.UniqueConstraint("contract_id", "number"),
        sa.UniqueConstraint("contract_id", "effective_from"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
        sa.CheckConstraint("service_fee_pct >= 0 AND service_fee_pct <= 100", name="service_fee_pct_range"),
        sa.CheckConstraint(
            "service_company_contribution_pct >= 0 AND service_company_contribution_pct <= 100",
            name="contribution_pct_range",
        ),
        sa.CheckConstraint("helpdesk_response_hours > 0", name="helpdesk_response_hours_positive"),
        sa.CheckConstraint("availability_pct > 0 AND availability_pct <= 100", name="availability_pct_range"),
    )
