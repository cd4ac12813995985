"""The tenant of a request: resolved once, from the URL, and checked against the user.

Every tenant page lives under ``/g/<tenant_slug>/…`` and every tenant API call under
``/api/v1/g/<tenant_slug>/…``. Before any statement runs, the request's session is bound to
that tenant's schema; then the user is authenticated and the tenant looked up together with the
user's membership. Missing and forbidden tenants both give the same 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, g
from flask_login import current_user

from nvsi.extensions import db, login_manager
from nvsi.tenancy.naming import InvalidSlug, schema_for_slug
from nvsi.tenancy.routing import TenantRef, bind_tenant
from nvsi.tenancy.services import accessible_tenant


def current_tenant() -> TenantRef:
    """The tenant of the current request (only inside tenant blueprints)."""
    return g.tenant


def resolve_request_tenant(slug: str) -> TenantRef:
    """Bind the request to tenant ``slug`` and check access; aborts with 401/redirect or 404."""
    try:
        schema = schema_for_slug(slug)
    except InvalidSlug:
        abort(404)
    bind_tenant(db.session(), schema)
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    tenant = accessible_tenant(db.session, current_user._get_current_object(), slug)
    if tenant is None:
        abort(404)
    return tenant


def _pull_tenant(_endpoint, values):
    g.tenant = resolve_request_tenant(values.pop("tenant_slug"))


def _push_tenant(_endpoint, values):
    if "tenant_slug" not in values and "tenant" in g:
        values["tenant_slug"] = g.tenant.slug


def make_blueprints() -> tuple[Blueprint, Blueprint]:
    """The two blueprints every tenant view registers on: pages and API."""
    # Tenant page templates live in tenants/templates.
    pages = Blueprint("tenant", "tenants", url_prefix="/g/<tenant_slug>", template_folder="templates")
    api = Blueprint("tenant_api", __name__, url_prefix="/api/v1/g/<tenant_slug>")
    for bp in (pages, api):
        bp.url_value_preprocessor(_pull_tenant)
        bp.url_defaults(_push_tenant)
    return pages, api
