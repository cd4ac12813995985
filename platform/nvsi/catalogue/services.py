"""Operations on the product catalogue and access requests. Plain functions on a shared-level
session; they flush, never commit (the request commits).

The municipality of a request is never taken from a raw id: views resolve a slug against the
user's own tenants (:func:`member_tenant`), and lookups of requests are scoped to the tenants a
user may see (:func:`get_request`), with the same not-found for missing and forbidden.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from nvsi.audit.services import diff, record
from nvsi.auth.models import Role, User
from nvsi.catalogue.models import AccessRequest, AccessStatus, Product
from nvsi.db import ObjectNotFound, savepoint, utcnow
from nvsi.tenancy.routing import TenantRef
from nvsi.tenancy.services import user_tenants


class NotFound(ObjectNotFound):
    """No such product or request, or not one the user may see."""


@dataclass
class CatalogueConflict(Exception):
    """The change clashes with existing data. ``code`` is stable; ``field`` names the input."""

    code: str
    field: str | None = None


# -- products ------------------------------------------------------------------------------------


def list_products(session: Session, *, include_withdrawn: bool = False) -> list[Product]:
    """The catalogue, by name; withdrawn products only when asked (NVSI administrators)."""
    query = sa.select(Product).order_by(Product.name_nl, Product.id)
    if not include_withdrawn:
        query = query.where(Product.available.is_(True))
    return list(session.scalars(query))


def get_product(session: Session, product_id: int, *, include_withdrawn: bool = False) -> Product:
    """The product ``product_id``; :class:`NotFound` if missing (or withdrawn, unless asked)."""
    product = session.get(Product, product_id)
    if product is None or not (product.available or include_withdrawn):
        raise NotFound(product_id)
    return product


def _savepoint(session: Session, code: str, field: str):
    """A savepoint (see :func:`nvsi.db.savepoint`) whose unique-key conflict is a
    :class:`CatalogueConflict` ``code`` on ``field``: a concurrent writer got there first."""
    return savepoint(session, lambda _exc: CatalogueConflict(code, field))


def create_product(session: Session, data: dict) -> Product:
    """Add a product from validated input (see ``ProductArgs``)."""
    if session.scalar(sa.select(Product.id).where(Product.code == data["code"])) is not None:
        raise CatalogueConflict("code_taken", "code")
    product = Product(**data)
    with _savepoint(session, "code_taken", "code"):
        session.add(product)
    record(session, "catalogue.product_created", object_type="product", object_id=product.id,
           changes={"code": product.code, "name_nl": product.name_nl, "available": product.available})
    return product


def update_product(session: Session, product: Product, data: dict) -> Product:
    """Change a product's texts or availability (its code never changes)."""
    before = {key: getattr(product, key) for key in data}
    for key, value in data.items():
        setattr(product, key, value)
    session.flush()
    record(session, "catalogue.product_updated", object_type="product", object_id=product.id,
           changes=diff(before, data))
    return product


# -- which municipalities a user acts for ----------------------------------------------------------


def visible_tenant_ids(session: Session, user: User) -> set[int] | None:
    """The tenants whose requests ``user`` may see: None means all (NVSI administrators);
    municipality users see their own municipalities'; anyone else none."""
    if user.role is Role.NVSI_ADMIN:
        return None
    if user.role.is_municipal:
        return {t.id for t in user_tenants(session, user)}
    return set()


def member_tenant(session: Session, user: User, slug: str | None) -> TenantRef | None:
    """The municipality ``slug`` if it is one of ``user``'s; without a slug, the user's only
    municipality. None otherwise (a slug that does not exist and one that is not the user's get
    the same answer)."""
    tenants = user_tenants(session, user) if user.role.is_municipal else []
    if slug is None:
        return tenants[0] if len(tenants) == 1 else None
    return next((t for t in tenants if t.slug == slug), None)


# -- access requests -------------------------------------------------------------------------------


def _requests():
    return sa.select(AccessRequest).options(
        joinedload(AccessRequest.product), joinedload(AccessRequest.tenant)
    )


def list_requests(
    session: Session,
    tenant_ids: Collection[int] | None,
    *,
    status: AccessStatus | None = None,
    product_id: int | None = None,
) -> list[AccessRequest]:
    """Requests of the tenants ``tenant_ids`` (None: all), newest first."""
    query = _requests().order_by(AccessRequest.requested_at.desc(), AccessRequest.id.desc())
    if tenant_ids is not None:
        query = query.where(AccessRequest.tenant_id.in_(list(tenant_ids)))
    if status is not None:
        query = query.where(AccessRequest.status == status)
    if product_id is not None:
        query = query.where(AccessRequest.product_id == product_id)
    return list(session.scalars(query))


def get_request(session: Session, request_id: int, tenant_ids: Collection[int] | None) -> AccessRequest:
    """The request ``request_id`` if it belongs to one of ``tenant_ids`` (None: any tenant);
    :class:`NotFound` for missing and forbidden alike."""
    query = _requests().where(AccessRequest.id == request_id)
    if tenant_ids is not None:
        query = query.where(AccessRequest.tenant_id.in_(list(tenant_ids)))
    found = session.scalar(query)
    if found is None:
        raise NotFound(request_id)
    return found


def request_access(
    session: Session, product: Product, tenant: TenantRef, user: User, motivation: str | None
) -> AccessRequest:
    """Ask access to ``product`` for ``tenant`` (already checked to be one of ``user``'s).

    Refused while the municipality has an open request or access already; the database
    enforces the same with a partial unique index, for two requests at the same moment.
    """
    if not product.available:
        raise CatalogueConflict("product_withdrawn")
    existing = session.scalar(
        sa.select(AccessRequest.status).where(
            AccessRequest.product_id == product.id,
            AccessRequest.tenant_id == tenant.id,
            AccessRequest.status.in_([AccessStatus.PENDING, AccessStatus.GRANTED]),
        )
    )
    if existing is not None:
        raise CatalogueConflict("already_granted" if existing is AccessStatus.GRANTED else "request_open", "tenant")
    access = AccessRequest(
        product_id=product.id, tenant_id=tenant.id, status=AccessStatus.PENDING,
        motivation=motivation, requested_by_id=user.id,
    )
    with _savepoint(session, "request_open", "tenant"):
        session.add(access)
    record(session, "catalogue.access_requested", tenant_id=tenant.id, object_type="access_request",
           object_id=access.id, changes={"product": product.code}, actor=user)
    return access


def _decide(access: AccessRequest, status: AccessStatus, user: User, note: str | None) -> None:
    if access.status is not AccessStatus.PENDING:
        raise CatalogueConflict("already_decided")
    access.status = status
    access.decided_by_id = user.id
    access.decided_at = utcnow()
    access.decision_note = note


def grant_request(session: Session, access: AccessRequest, user: User, note: str | None = None) -> AccessRequest:
    """Grant a pending request: the municipality may use the instrument."""
    _decide(access, AccessStatus.GRANTED, user, note)
    session.flush()
    record(session, "catalogue.access_granted", tenant_id=access.tenant_id, object_type="access_request",
           object_id=access.id, changes={"status": ["pending", "granted"], "note": note}, actor=user)
    return access


def refuse_request(session: Session, access: AccessRequest, user: User, reason: str) -> AccessRequest:
    """Refuse a pending request with a reason the municipality sees; it may ask again later."""
    if not reason:
        raise ValueError("a refusal needs a reason")
    _decide(access, AccessStatus.REFUSED, user, reason)
    session.flush()
    record(session, "catalogue.access_refused", tenant_id=access.tenant_id, object_type="access_request",
           object_id=access.id, changes={"status": ["pending", "refused"], "reason": reason}, actor=user)
    return access
