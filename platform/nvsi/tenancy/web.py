"""The tenant of a request: resolved once, from the URL, and checked against the user.

Every tenant page lives under ``/g/<tenant_slug>/…`` and every tenant API call under
``/api/v1/g/<tenant_slug>/…``. Before any statement runs, the request's session is bound to
that tenant's schema; then the user is authenticated and the tenant looked up together with the
user's membership. Missing and forbidden tenants both give the same 404.

A suspended (or leaving) member's tenant is read-only: GET and HEAD work, every other method is
refused with 403 (``tenant_suspended`` / ``tenant_leaving``) before the view runs, except the few
POSTs that only read (:data:`READING_POSTS`: a BSN travels in a body, never in a URL).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, make_response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from nvsi.errors import problem
from nvsi.extensions import db, login_manager
from nvsi.tenancy.naming import InvalidSlug, schema_for_slug
from nvsi.tenancy.routing import TenantRef, bind_tenant
from nvsi.tenancy.services import tenant_access

#: Methods a read-only tenant still serves.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Endpoints that use POST only to keep a search term out of the URL: allowed when read-only.
READING_POSTS = frozenset({"tenant.find_candidate_by_bsn", "tenant_api.api_lookup_candidate"})


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
    access = tenant_access(db.session, current_user._get_current_object(), slug)
    if access is None:
        abort(404)
    if access.read_only and request.method not in SAFE_METHODS and request.endpoint not in READING_POSTS:
        abort(read_only_refusal(access.read_only))
    return access.tenant


def read_only_refusal(reason: str):
    """403 for a change in a read-only tenant: problem details for the API, a page otherwise."""
    if reason == "leaving":
        code, detail = "tenant_leaving", _("lidmaatschap wordt beëindigd: alleen lezen")
    else:
        code, detail = "tenant_suspended", _("lidmaatschap opgeschort: alleen lezen")
    if request.path.startswith("/api/"):
        return problem(403, code, detail, read_only=True)
    page = render_template("error.html", status=403, title=_("Alleen lezen"), detail=detail)
    return make_response(page, 403)


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
