"""The employer model, stored in each tenant's schema."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, Created, TenantBase, UTCDateTime, utcnow


class Employer(TenantBase):
    """An *opdrachtgever*: a client of the municipality who pays an hourly rate per worked hour.

    Never deleted (invoices and placements refer to it): archived instead.
    """

    __tablename__ = "employers"

    id: Mapped[BigIntPK]
    #: Legal name as registered with the KvK.
    name: Mapped[str] = mapped_column(sa.String(200))
    #: KvK (Chamber of Commerce) number: 8 digits, unique within the municipality.
    kvk_number: Mapped[str] = mapped_column(sa.String(8), unique=True)
    #: VAT identification number (btw-id), e.g. NL123456789B01; optional.
    vat_id: Mapped[str | None] = mapped_column(sa.String(14))
    #: Street and house number.
    street_address: Mapped[str] = mapped_column(sa.String(200))
    #: Dutch postal code, normalised to "1234 AB".
    postal_code: Mapped[str] = mapped_column(sa.String(7))
    #: Town or city.
    city: Mapped[str] = mapped_column(sa.String(100))
    #: Where invoices and timesheet approvals go.
    contact_email: Mapped[str] = mapped_column(sa.String(254))
    #: When the employer was archived; None while active.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When the record was created.
    created_at: Mapped[Created]
    #: Last change.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Optimistic lock: a stale edit is refused instead of overwriting a newer one.
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        sa.Index("ix_employers_name", "name"),
        sa.CheckConstraint("length(kvk_number) = 8", name="kvk_number_length"),
    )
    __mapper_args__ = {"version_id_col": version}

    @property
    def archived(self) -> bool:
        return self.archived_at is not None
