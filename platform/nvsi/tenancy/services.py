"""Operations on the tenant registry: lookup, access, provisioning."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi import migrate
from nvsi.auth.models import Membership, Role, User
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.naming import schema_for_slug
from nvsi.tenancy.routing import Router, TenantRef

#: CBS municipality code: "GM" and four digits.
CBS_CODE_RE = re.compile(r"^GM\d{4}$")


def tenant_ref(tenant: Tenant) -> TenantRef:
    """The immutable reference to a tenant that domain code receives."""
    return TenantRef(id=tenant.id, slug=tenant.slug, name=tenant.name, schema=tenant.schema)


def get_tenant(session: Session, slug: str) -> Tenant | None:
    """The tenant with this slug, or None."""
    return session.scalar(sa.select(Tenant).where(Tenant.slug == slug))


def active_tenants(session: Session) -> list[TenantRef]:
    """Every active tenant, ordered by slug."""
    rows = session.scalars(
        sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.slug)
    )
    return [tenant_ref(t) for t in rows]


def accessible_tenant(session: Session, user: User, slug: str) -> TenantRef | None:
    """The active tenant ``slug`` if ``user`` may work in it, else None (missing or forbidden
    are the same answer, so ids and slugs cannot be probed).

    Municipality staff and admins reach the tenants they are members of; the backoffice reaches
    every active tenant, since it processes them all. NVSI administrators manage the association
    and see no municipality's personal data unless they are a member.
    """
    row = session.execute(
        sa.select(Tenant, Membership.id)
        .outerjoin(
            Membership, sa.and_(Membership.tenant_id == Tenant.id, Membership.user_id == user.id)
        )
        .where(Tenant.slug == slug, Tenant.status == TenantStatus.ACTIVE)
    ).first()
    if row is None:
        return None
    tenant, membership_id = row
    if membership_id is None and user.role is not Role.BACKOFFICE:
        return None
    return tenant_ref(tenant)


def user_tenants(session: Session, user: User) -> list[TenantRef]:
    """The active tenants a user can open, for navigation."""
    query = sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.name)
    if user.role is not Role.BACKOFFICE:
        query = query.join(Membership, Membership.tenant_id == Tenant.id).where(
            Membership.user_id == user.id
        )
    return [tenant_ref(t) for t in session.scalars(query)]


class TenantError(ValueError):
    """A tenant cannot be registered as asked; the message says why."""


def register_tenant(session: Session, slug: str, name: str, cbs_code: str) -> Tenant:
    """Add a tenant to the registry in state *provisioning* (flushes, does not commit)."""
    schema_for_slug(slug)  # validates the slug
    if not CBS_CODE_RE.fullmatch(cbs_code or ""):
        raise TenantError(f"CBS code {cbs_code!r} must be GM followed by four digits")
    if not name or not name.strip():
        raise TenantError("name is required")
    if get_tenant(session, slug) is not None:
        raise TenantError(f"tenant {slug!r} already exists")
    if session.scalar(sa.select(Tenant.id).where(Tenant.cbs_code == cbs_code)) is not None:
        raise TenantError(f"municipality {cbs_code} is already a tenant")
    tenant = Tenant(slug=slug, name=name.strip(), cbs_code=cbs_code, status=TenantStatus.PROVISIONING)
    session.add(tenant)
    session.flush()
    return tenant


def provision_tenant(session: Session, router: Router, slug: str) -> TenantRef:
    """Create the schema of a registered tenant at the tenant head and make it active.

    Resumable: the registry row was committed first (state *provisioning*); this step creates
    the schema if it is missing, migrates it if it is behind, then activates the tenant. It
    commits ``session``.
    """
    tenant = get_tenant(session, slug)
    if tenant is None:
        raise TenantError(f"tenant {slug!r} is not registered")
    revision = migrate.tenant_revisions(router, [tenant.schema])[tenant.schema]
    if revision is None:
        migrate.create_tenant_schema(router, tenant.schema)
    elif revision != migrate.head("tenant"):
        migrate.upgrade_tenant(router, tenant.schema)
    router.forget(tenant.schema)
    _initialise(router, tenant)
    if tenant.status is TenantStatus.PROVISIONING:
        tenant.status = TenantStatus.ACTIVE
    session.commit()
    return tenant_ref(tenant)


def _initialise(router: Router, tenant: Tenant) -> None:
    """The tenant's default rows (idempotent, so a resumed provisioning gets them too)."""
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession, bind_tenant
    from tenants import initialise_tenant

    session = RoutingSession(db, router=router)
    try:
        bind_tenant(session, tenant.schema)
        initialise_tenant(session)
        session.commit()
    finally:
        session.close()
