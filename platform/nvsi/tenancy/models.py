"""The tenant registry, in the shared schema."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, Created, SharedBase
from nvsi.tenancy.naming import schema_for_slug


class TenantStatus(str, enum.Enum):
    """Life cycle of a member's tenant."""

    #: Registered; its schema is being created or migrated. Not reachable yet.
    PROVISIONING = "provisioning"
    #: A working member.
    ACTIVE = "active"
    #: Membership suspended (also while the member is leaving, see nvsi.members): its users can
    #: read but not change anything; jobs skip it.
    SUSPENDED = "suspended"


class Tenant(SharedBase):
    """A member municipality (or labour-market region) with its own database schema."""

    __tablename__ = "tenants"

    id: Mapped[BigIntPK]
    #: URL name and source of the schema name ``t_<slug>``; validated, never changed.
    slug: Mapped[str] = mapped_column(sa.String(41), unique=True)
    #: Display name, e.g. "Gemeente Utrecht".
    name: Mapped[str] = mapped_column(sa.String(200))
    #: CBS municipality code, e.g. GM0344.
    cbs_code: Mapped[str] = mapped_column(sa.String(6), unique=True)
    #: See :class:`TenantStatus`.
    status: Mapped[TenantStatus] = mapped_column(
        sa.Enum(
            TenantStatus,
            name="tenant_status",
            native_enum=False,
            create_constraint=True,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=TenantStatus.PROVISIONING,
    )
    #: When the tenant was registered.
    created_at: Mapped[Created]

    __table_args__ = (
        sa.CheckConstraint("cbs_code LIKE 'GM____'", name="cbs_code_format"),
    )

    @property
    def schema(self) -> str:
        """Name of the tenant's schema (PostgreSQL) or attached database (SQLite)."""
        return schema_for_slug(self.slug)
