"""The product catalogue (*productenboek*) and access requests (shared schema).

The NVSI offers its members instruments (Flextensie first). A member municipality asks for
access to an instrument; an NVSI administrator grants or refuses it. A municipality has at most
one open or granted request per product (partial unique index, so also under concurrent writes).
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime, utcnow
from nvsi.tenancy.models import Tenant

#: The texts of a product, each in Dutch (required) and English (optional; Dutch is shown then).
TEXT_FIELDS = ("name", "description", "target_group", "goals", "conditions", "delivery")

#: Requests that block a new one for the same product and municipality.
OPEN_OR_GRANTED = "status IN ('pending', 'granted')"


class AccessStatus(str, enum.Enum):
    """Where a request for access stands."""

    #: Waiting for a decision of the NVSI.
    PENDING = "pending"
    #: Granted: the municipality may use the instrument.
    GRANTED = "granted"
    #: Refused, with a reason; the municipality may ask again.
    REFUSED = "refused"


class Product(SharedBase):
    """An instrument in the NVSI's *productenboek* (e.g. Flextensie), described for members."""

    __tablename__ = "products"

    id: Mapped[BigIntPK]
    #: Stable short name used in links and the API, e.g. "flextensie".
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: Product name, Dutch.
    name_nl: Mapped[str] = mapped_column(sa.String(200))
    #: Product name, English.
    name_en: Mapped[str | None] = mapped_column(sa.String(200))
    #: What the instrument is (*omschrijving*), Dutch.
    description_nl: Mapped[str] = mapped_column(sa.Text)
    #: What the instrument is, English.
    description_en: Mapped[str | None] = mapped_column(sa.Text)
    #: For whom it is meant (*doelgroep*), Dutch.
    target_group_nl: Mapped[str] = mapped_column(sa.Text)
    #: For whom it is meant, English.
    target_group_en: Mapped[str | None] = mapped_column(sa.Text)
    #: Goals and expected results (*doelen/resultaat*), Dutch.
    goals_nl: Mapped[str] = mapped_column(sa.Text)
    #: Goals and expected results, English.
    goals_en: Mapped[str | None] = mapped_column(sa.Text)
    #: Conditions and costs (*voorwaarden*), Dutch.
    conditions_nl: Mapped[str] = mapped_column(sa.Text)
    #: Conditions and costs, English.
    conditions_en: Mapped[str | None] = mapped_column(sa.Text)
    #: How it is delivered and implemented (*leveringswijze/uitvoering*), Dutch; optional.
    delivery_nl: Mapped[str | None] = mapped_column(sa.Text)
    #: How it is delivered and implemented, English.
    delivery_en: Mapped[str | None] = mapped_column(sa.Text)
    #: Offered to members; a withdrawn product stays (with its requests) but cannot be requested.
    available: Mapped[bool] = mapped_column(default=True)
    #: When the product was added.
    created_at: Mapped[Created]
    #: Last change.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (sa.CheckConstraint("length(code) >= 2", name="code_length"),)

    def text(self, field: str, language: str) -> str | None:
        """The text ``field`` in ``language`` ("nl" or "en"), falling back to Dutch."""
        if language == "en":
            return getattr(self, f"{field}_en") or getattr(self, f"{field}_nl")
        return getattr(self, f"{field}_nl")


class AccessRequest(SharedBase):
    """A member municipality's request for access to a product, and the NVSI's decision."""

    __tablename__ = "product_access_requests"

    id: Mapped[BigIntPK]
    #: The product asked for.
    product_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("products.id"))
    #: The municipality that asks (one of the requesting user's tenants).
    tenant_id: Mapped[int] = mapped_column(
        BigIntType, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    #: See :class:`AccessStatus`.
    status: Mapped[AccessStatus] = mapped_column(
        sa.Enum(
            AccessStatus, name="access_status", native_enum=False, create_constraint=True, length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=AccessStatus.PENDING,
    )
    #: Why the municipality wants the instrument (optional).
    motivation: Mapped[str | None] = mapped_column(sa.Text)
    #: The municipality admin who asked.
    requested_by_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: When it was asked.
    requested_at: Mapped[Created]
    #: The NVSI administrator who decided.
    decided_by_id: Mapped[int | None] = mapped_column(
        BigIntType, sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: When it was decided; None while pending.
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The reason of a refusal (required then), or a note with a grant. Shown to the member.
    decision_note: Mapped[str | None] = mapped_column(sa.Text)

    product: Mapped[Product] = relationship()
    tenant: Mapped[Tenant] = relationship()

    __table_args__ = (
        # One open (or granted) request per product per municipality, also under concurrent writes.
        sa.Index(
            "uq_product_access_requests_one_open", "product_id", "tenant_id", unique=True,
            postgresql_where=sa.text(OPEN_OR_GRANTED), sqlite_where=sa.text(OPEN_OR_GRANTED),
        ),
        sa.CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL) OR (status <> 'pending' AND decided_at IS NOT NULL)",
            name="decided",
        ),
        sa.CheckConstraint("status <> 'refused' OR decision_note IS NOT NULL", name="refusal_reason"),
    )
