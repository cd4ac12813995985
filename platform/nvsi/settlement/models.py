"""A municipality's settled half year (shared schema).

One row per municipality per half year, written once when the half year is settled: every
figure in cents, the percentages and the rule-set and contract versions they came from, who
settled it and when, and the ledger transactions it posted. Append-only (the database refuses
UPDATE and DELETE): a settlement is a record, never edited; the ledger is closed behind it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, append_only
from nvsi.tenancy.models import Tenant


class Settlement(SharedBase):
    """The settlement of one half year of one municipality (see :mod:`nvsi.settlement.services`)."""

    __tablename__ = "settlements"

    id: Mapped[BigIntPK]
    #: The municipality. No cascade: financial records are kept 7 years.
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    #: First and last day of the half year (1 January–30 June or 1 July–31 December).
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)
    #: R: gross revenue excluding VAT (the movement of REVENUE 8000 in the half year).
    revenue_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: P: premiums (PREMIUM_EXPENSE 4000) and T: travel costs (TRAVEL_EXPENSE 4100).
    premiums_cents: Mapped[int] = mapped_column(sa.BigInteger)
    travel_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: F = R × the contract's service fee percentage, rounded half-up to cents.
    service_fee_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    service_fee_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: Cm = R × the municipality's contribution percentage (rule set), rounded half-up.
    contribution_municipality_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    contribution_municipality_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: Cs = R × the service company's contribution percentage, out of the service fee.
    contribution_service_company_pct: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    contribution_service_company_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: A: the annual fee, when due in this half year (else 0).
    annual_fee_due: Mapped[bool] = mapped_column(sa.Boolean)
    annual_fee_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: R − P − T − F − Cm − A: owed to the municipality (negative: owed by it).
    result_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The execution contract and its version that gave the service fee.
    contract_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("execution_contracts.id"))
    contract_reference: Mapped[str] = mapped_column(sa.String(40))
    contract_version: Mapped[int]
    #: Rule key → rule-set version of each rule used (contributions, annual fee).
    rule_versions: Mapped[dict] = mapped_column(sa.JSON)
    #: Posting step → ledger transaction id (text), in posting order.
    ledger_transactions: Mapped[dict] = mapped_column(sa.JSON)
    #: Who settled it (None: a job) and when.
    settled_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    settled_at: Mapped[Created]

    #: The municipality's registry row (name and slug for statements).
    tenant: Mapped[Tenant] = relationship(lazy="joined", viewonly=True)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "period_start"),
        sa.CheckConstraint("period_end > period_start", name="period_order"),
    )

    @property
    def label(self) -> str:
        """``2026-H1``."""
        return f"{self.period_start.year}-H{1 if self.period_start.month == 1 else 2}"

    @property
    def service_company_net_cents(self) -> int:
        """What the service company keeps: its fee less its contribution."""
        return self.service_fee_cents - self.contribution_service_company_cents

    @property
    def contribution_total_cents(self) -> int:
        """The NVSI's contribution income from this half year (municipality + service company)."""
        return self.contribution_municipality_cents + self.contribution_service_company_cents


append_only(Settlement.__table__)
