"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (database reachable, the shared
schema and every tenant schema at the head revision of this code, or past it)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Blueprint, jsonify

from nvsi import migrate
from nvsi.extensions import csrf, db
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.naming import schema_for_slug
from nvsi.tenancy.routing import current_router
from nvsi.tenancy.services import schema_dropped

bp = Blueprint("health", __name__)
csrf.exempt(bp)


def _current(stream: str, revision: str | None) -> bool:
    """At this code's head, or ahead of it: a newer release has migrated during a rolling update.

    Migrations are backward compatible (expand, then contract a release later), so the old pods
    keep serving while the new ones start; only a revision this code knows and has not reached
    means the database is behind.
    """
    if revision == migrate.head(stream):
        return True
    if revision is None:
        return False
    try:
        ScriptDirectory.from_config(migrate.alembic_config(stream)).get_revision(revision)
    except CommandError:
        return True  # unknown here: written by a newer release
    return False


@bp.get("/healthz")
def healthz():
    """Liveness: no database access, so a slow database does not get pods killed."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 only when the database answers and every schema is at head."""
    router = current_router()
    try:
        shared = migrate.shared_revision(router)
        shared_head = migrate.head("shared")
        if not _current("shared", shared):
            return jsonify(status="not ready", shared=shared, shared_head=shared_head), 503
        with router.shared_bind().connect() as conn:
            schemas = [
                schema_for_slug(slug)
                for slug in conn.execute(
                    # An offboarded member's schema was dropped on purpose: not "behind".
                    sa.select(Tenant.slug).where(Tenant.status != TenantStatus.PROVISIONING, ~schema_dropped())
                ).scalars()
            ]
        tenant_head = migrate.head("tenant")
        behind = sorted(
            schema
            for schema, revision in migrate.tenant_revisions(router, schemas).items()
            if not _current("tenant", revision)
        )
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="not ready", error=type(exc).__name__), 503
    if behind:
        return jsonify(status="not ready", tenants_behind=behind), 503
    return jsonify(status="ok", tenants=len(schemas), shared=shared, tenant=tenant_head)
