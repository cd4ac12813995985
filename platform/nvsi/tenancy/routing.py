"""Routing a unit of work to the shared level or to exactly one tenant schema.

How it works (see docs/architecture.md):

* PostgreSQL – one engine and one pool for everything. A tenant's work runs on
  ``engine.execution_options(schema_translate_map={None: "t_<slug>"})``: tenant tables (declared
  without a schema) are rendered as ``"t_<slug>".table``; shared tables keep their ``nvsi``
  schema. Nothing is left behind on a pooled connection (no ``SET search_path``).
* SQLite (the embedded default) – shared tables live in the main file ``nvsi.sqlite``; every
  tenant has its own file, ATTACHed as ``t_<slug>`` by an engine that serves that tenant only.
  A tenant write and a shared write (e.g. a ledger posting) share one transaction.

A :class:`RoutingSession` is bound to at most one tenant for its whole life: the binding is set
once (:func:`bind_tenant`) before the first statement and can never be switched, so the identity
map never mixes rows of two tenants with equal ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from flask_sqlalchemy.session import Session as FlaskSession

from nvsi.db import SHARED_SCHEMA, TenantBase
from nvsi.tenancy.naming import quoted_schema, slug_for_schema

#: Key in ``Session.info`` that holds the schema the session is bound to.
TENANT_KEY = "nvsi.tenant_schema"

T = TypeVar("T")


class TenantBindingError(RuntimeError):
    """A session was asked to serve a second tenant, or tenant tables without a tenant."""


@dataclass(frozen=True)
class TenantRef:
    """The tenant a request or job works for, passed explicitly to domain code."""

    id: int
    slug: str
    name: str
    schema: str


def enable_sqlite_transactions(engine: sa.Engine, attach: tuple[str, Path] | None = None) -> None:
    """Make pysqlite honour BEGIN/SAVEPOINT and enforce foreign keys; optionally ATTACH a tenant.

    The stdlib driver starts transactions lazily on its own; SQLAlchemy's documented recipe turns
    that off and emits BEGIN itself, so savepoints and rollbacks behave as on PostgreSQL.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if attach is not None:
            schema, path = attach
            cursor.execute(f"ATTACH DATABASE ? AS {quoted_schema(schema)}", (str(path),))
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN")


class Router:
    """Hands out the bind (engine) for the shared level or for one tenant schema."""

    def __init__(self, engine: sa.Engine, tenant_dir: Path | None = None):
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.tenant_dir = tenant_dir
        self._binds: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()
        # On SQLite the shared tables (schema "nvsi") live in the main file.
        self._shared = engine.execution_options(schema_translate_map=self.translate_map(None))

    # -- maps -------------------------------------------------------------------------------
    def translate_map(self, schema: str | None) -> dict[str | None, str | None]:
        """The ``schema_translate_map`` for a tenant schema (or the shared level for None).

        Every map of an engine has the same keys: SQLAlchemy caches one compiled form per
        statement and refuses a map whose keys differ from the one it was compiled with. On the
        shared level tenant tables map to no schema, where none exist: they fail loudly.
        """
        if schema is not None:
            slug_for_schema(schema)  # validates
        mapping: dict[str | None, str | None] = {None: schema}
        if self.is_sqlite:
            mapping[SHARED_SCHEMA] = None
        return mapping

    # -- binds ------------------------------------------------------------------------------
    def shared_bind(self) -> sa.Engine:
        """The bind for work on the shared level only."""
        return self._shared

    def tenant_bind(self, schema: str) -> sa.Engine:
        """The bind for work in one tenant's schema (with the shared tables reachable too)."""
        bind = self._binds.get(schema)
        if bind is not None:
            return bind
        with self._lock:
            bind = self._binds.get(schema)
            if bind is None:
                bind = self._make_tenant_bind(schema)
                if not (self.is_sqlite and not self.tenant_file(schema).exists()):
                    self._binds[schema] = bind
        return bind

    def _make_tenant_bind(self, schema: str) -> sa.Engine:
        options = {"schema_translate_map": self.translate_map(schema)}
        if not self.is_sqlite:
            return self.engine.execution_options(**options)
        path = self.tenant_file(schema)
        if not path.exists():
            # No such tenant (ATTACH would create an empty file). Serve the shared tables only:
            # the registry lookup finds no tenant, and a tenant table fails loudly. Not cached,
            # so a tenant created later gets its real bind.
            return self._shared.execution_options(**options)
        engine = sa.create_engine(
            self.engine.url,
            connect_args={"check_same_thread": False},
            pool_size=2,
            max_overflow=3,
        )
        enable_sqlite_transactions(engine, attach=(schema, path))
        return engine.execution_options(**options)

    def tenant_file(self, schema: str) -> Path:
        """SQLite only: the file that holds a tenant's tables."""
        slug_for_schema(schema)
        assert self.tenant_dir is not None
        return self.tenant_dir / f"{schema}.sqlite"

    def forget(self, schema: str) -> None:
        """Drop the cached bind of a tenant (after its schema was removed)."""
        with self._lock:
            bind = self._binds.pop(schema, None)
        if bind is not None and self.is_sqlite:
            bind.engine.dispose()

    def dispose(self) -> None:
        """Close every pooled connection of every tenant engine."""
        with self._lock:
            binds, self._binds = list(self._binds.values()), {}
        if self.is_sqlite:
            for bind in binds:
                bind.engine.dispose()


class ConnectionRouter(Router):
    """Routes every session to one given connection (tests: an outer transaction, rolled back).

    The connection's ``schema_translate_map`` is set to the tenant each session asks for, so
    tests run the very same statements as production, only inside a transaction that never
    commits. Sessions using it must run one after another, never interleaved.
    """

    def __init__(self, connection: sa.Connection, base: Router):
        self.connection = connection
        self.base = base
        self.engine = base.engine
        self.is_sqlite = base.is_sqlite
        self.tenant_dir = base.tenant_dir

    def shared_bind(self):  # type: ignore[override]
        return self.connection.execution_options(schema_translate_map=self.translate_map(None))

    def tenant_bind(self, schema):  # type: ignore[override]
        return self.connection.execution_options(schema_translate_map=self.translate_map(schema))

    def dispose(self) -> None:
        pass


def current_router() -> Router:
    """The router of the current Flask app."""
    return current_app.extensions["nvsi.router"]


class RoutingSession(FlaskSession):
    """A Flask-SQLAlchemy session that routes to the shared level or to its one tenant."""

    def __init__(self, db, router: Router | None = None, **kwargs: Any):
        # Joining an outer transaction (tests) uses a savepoint, so commit/rollback stay inside.
        kwargs.setdefault("join_transaction_mode", "create_savepoint")
        super().__init__(db, **kwargs)
        self._router = router

    @property
    def router(self) -> Router:
        return self._router if self._router is not None else current_router()

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        schema = self.info.get(TENANT_KEY)
        if schema is None:
            if mapper is not None and mapper.persist_selectable.metadata is TenantBase.metadata:
                raise TenantBindingError(
                    f"{mapper.class_.__name__} is a tenant table, but this session has no tenant"
                )
            return self.router.shared_bind()
        return self.router.tenant_bind(schema)


def bind_tenant(session, schema: str) -> None:
    """Bind ``session`` to one tenant schema, once, before it ran any statement.

    Raises :class:`TenantBindingError` if the session already serves another tenant or has
    already started work on the shared level.
    """
    slug_for_schema(schema)
    current = session.info.get(TENANT_KEY)
    if current == schema:
        return
    if current is not None:
        raise TenantBindingError(f"session serves {current}; it cannot switch to {schema}")
    if session.in_transaction():
        raise TenantBindingError("session already started work; bind the tenant first")
    session.info[TENANT_KEY] = schema


@contextmanager
def tenant_session(db, tenant: TenantRef, router: Router | None = None) -> Iterator[RoutingSession]:
    """A new session bound to one tenant; committed by the caller, always closed."""
    session = RoutingSession(db, router=router)
    bind_tenant(session, tenant.schema)
    try:
        yield session
    finally:
        session.close()


def for_each_tenant(
    db,
    work: Callable[[RoutingSession, TenantRef], T],
    tenants: list[TenantRef] | None = None,
    router: Router | None = None,
) -> dict[str, T]:
    """Run ``work(session, tenant)`` for every active tenant, one session and transaction each.

    Each tenant's work is committed on success and rolled back on error (the error propagates
    after that tenant; the tenants before it keep their committed work). Jobs that visit all
    tenants use this and nothing else, so no session ever serves two tenants.
    """
    from nvsi.tenancy.services import active_tenants

    if tenants is None:
        # A short session of its own: no connection stays checked out for the whole job.
        listing = RoutingSession(db, router=router)
        try:
            tenants = active_tenants(listing)
        finally:
            listing.close()
    results: dict[str, T] = {}
    for tenant in tenants:
        with tenant_session(db, tenant, router=router) as session:
            try:
                results[tenant.slug] = work(session, tenant)
                session.commit()
            except BaseException:
                session.rollback()
                raise
    return results
