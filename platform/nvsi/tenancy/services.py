"""Operations on the tenant registry: lookup, access, provisioning."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    """Every active tenant, ordered by slug: the tenants jobs (``for_each_tenant``) visit. A
    suspended or leaving member is skipped: its tenant is read-only, and jobs write."""
    rows = session.scalars(
        sa.select(Tenant).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.slug)
    )
    return [tenant_ref(t) for t in rows]


#: Statuses whose schema users may open: a suspended member's users can still read.
REACHABLE = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)


def schema_dropped():
    """SQL condition: the tenant was offboarded as far as removing its schema (or file)."""
    from sqlalchemy.orm import aliased

    from nvsi.members.models import Offboarding

    dropped = aliased(Offboarding)
    return (sa.exists().where(dropped.tenant_id == Tenant.id, dropped.schema_dropped_at.is_not(None))
            .correlate(Tenant))


def tenants_with_schema(session: Session) -> list[Tenant]:
    """Every tenant whose schema exists and is kept at head: provisioned and not offboarded
    (``nvsi migrate``, ``/readyz``)."""
    return list(session.scalars(
        sa.select(Tenant).where(Tenant.status != TenantStatus.PROVISIONING, ~schema_dropped())
        .order_by(Tenant.slug)
    ))


@dataclass(frozen=True)
class TenantAccess:
    """A tenant a user may open, and whether only reading is allowed (and why)."""

    tenant: TenantRef
    #: None (read and write), "suspended" or "leaving" (read only).
    read_only: str | None = None


def tenant_access(session: Session, user: User, slug: str) -> TenantAccess | None:
    """The tenant ``slug`` if ``user`` may work in it, else None (missing or forbidden are the
    same answer, so ids and slugs cannot be probed).

    Municipality staff and admins reach the tenants they are members of; the backoffice reaches
    every reachable tenant, since it processes them all. NVSI administrators manage the
    association and see no municipality's personal data unless they are a member. A suspended or
    leaving member stays readable (``read_only``) until its schema is dropped.
    """
    from nvsi.members.models import Offboarding

    row = session.execute(
        sa.select(Tenant, Membership.id, Offboarding.id)
        .outerjoin(
            Membership, sa.and_(Membership.tenant_id == Tenant.id, Membership.user_id == user.id)
        )
        .outerjoin(Offboarding, Offboarding.tenant_id == Tenant.id)
        .where(Tenant.slug == slug, Tenant.status.in_(REACHABLE), ~schema_dropped())
    ).first()
    if row is None:
        return None
    tenant, membership_id, offboarding_id = row
    if membership_id is None and user.role is not Role.BACKOFFICE:
        return None
    read_only = None
    if offboarding_id is not None:
        read_only = "leaving"
    elif tenant.status is TenantStatus.SUSPENDED:
        read_only = "suspended"
    return TenantAccess(tenant_ref(tenant), read_only)


def accessible_tenant(session: Session, user: User, slug: str) -> TenantRef | None:
    """The tenant ``slug`` if ``user`` may open it (read only or not), else None; see
    :func:`tenant_access`."""
    access = tenant_access(session, user, slug)
    return None if access is None else access.tenant


def user_tenants(session: Session, user: User) -> list[TenantRef]:
    """The tenants a user can open (suspended ones too: they are readable), for navigation."""
    query = sa.select(Tenant).where(Tenant.status.in_(REACHABLE), ~schema_dropped()).order_by(Tenant.name)
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
    commits ``session``: first (whatever it holds, so no read stays open while other connections
    build the schema), and again after the activation.
    """
    tenant = get_tenant(session, slug)
    if tenant is None:
        raise TenantError(f"tenant {slug!r} is not registered")
    schema = tenant.schema
    # End this session's read before other connections do the work: on SQLite a reader that
    # stays open while another connection commits (and a third waits to ATTACH) deadlocks.
    session.commit()
    revision = migrate.tenant_revisions(router, [schema])[schema]
    if revision is None:
        migrate.create_tenant_schema(router, schema)
    elif revision != migrate.head("tenant"):
        migrate.upgrade_tenant(router, schema)
    router.forget(schema)
    _initialise(router, schema)
    tenant = get_tenant(session, slug)
    if tenant.status is TenantStatus.PROVISIONING:
        tenant.status = TenantStatus.ACTIVE
    session.commit()
    return tenant_ref(tenant)


def _initialise(router: Router, schema: str) -> None:
    """The tenant's default rows (idempotent, so a resumed provisioning gets them too)."""
    from nvsi.extensions import db
    from nvsi.tenancy.routing import RoutingSession, bind_tenant
    from tenants import initialise_tenant

    session = RoutingSession(db, router=router)
    try:
        bind_tenant(session, schema)
        initialise_tenant(session)
        session.commit()
    finally:
        session.close()
