"""Alembic with two streams: ``shared`` (schema ``nvsi``, run once) and ``tenant`` (per tenant).

Migration scripts never name a schema. Where they run is decided here:

* PostgreSQL – the migration's own transaction runs ``SET LOCAL search_path`` to the target
  schema (``nvsi`` or ``t_<slug>``), and the version table lives in that same schema. ``SET
  LOCAL`` ends with the transaction, so nothing leaks into the pool. (Request routing never uses
  search_path; this is Alembic's documented recipe for schema-per-tenant DDL.)
* SQLite – the shared stream runs on the main file, a tenant stream on that tenant's own file.

Each tenant migrates in its own transaction (PostgreSQL DDL is transactional), so a crash leaves
every tenant either fully at the old or fully at the new revision, and a re-run resumes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from nvsi.db import SHARED_SCHEMA, SharedBase, TenantBase
from nvsi.tenancy.naming import quoted_schema
from nvsi.tenancy.routing import Router, enable_sqlite_transactions

#: The folder that holds the two Alembic streams.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
STREAMS = ("shared", "tenant")


def alembic_config(stream: str) -> Config:
    """An Alembic config for one stream (no alembic.ini needed)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown migration stream {stream!r}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / stream))
    cfg.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"
    )
    cfg.attributes["stream"] = stream
    return cfg


@functools.cache
def head(stream: str) -> str:
    """The head revision of a stream (read once per process: scripts do not change at run time)."""
    heads = ScriptDirectory.from_config(alembic_config(stream)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"stream {stream} must have exactly one head, has {heads}")
    return heads[0]


def run_alembic(stream: str, connection: sa.Connection, schema: str | None, action: Callable) -> None:
    """Run an Alembic command on ``connection`` for the shared level or one tenant schema."""
    cfg = alembic_config(stream)
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table_schema"] = None
    if connection.dialect.name == "postgresql":
        target = SHARED_SCHEMA if stream == "shared" else schema
        quoted = f'"{SHARED_SCHEMA}"' if stream == "shared" else quoted_schema(target)
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        connection.exec_driver_sql(f"SET LOCAL search_path TO {quoted}")
        cfg.attributes["version_table_schema"] = target
    action(cfg)


# -- engines used only for migrations ---------------------------------------------------------


def tenant_migration_engine(router: Router, schema: str) -> sa.Engine:
    """An engine whose main database is the tenant's: the tenant file on SQLite."""
    if not router.is_sqlite:
        return router.engine
    engine = sa.create_engine(f"sqlite:///{router.tenant_file(schema)}", poolclass=sa.NullPool)
    enable_sqlite_transactions(engine)
    return engine


def shared_migration_engine(router: Router) -> sa.Engine:
    if not router.is_sqlite:
        return router.engine
    engine = sa.create_engine(router.engine.url, poolclass=sa.NullPool)
    enable_sqlite_transactions(engine)
    return engine


# -- the operations -----------------------------------------------------------------------------


def upgrade_shared(router: Router, revision: str = "head") -> None:
    """Bring the shared schema to ``revision``."""
    engine = shared_migration_engine(router)
    with engine.begin() as conn:
        run_alembic("shared", conn, None, lambda cfg: command.upgrade(cfg, revision))


def upgrade_tenant(router: Router, schema: str, revision: str = "head") -> None:
    """Bring one tenant schema to ``revision``, in one transaction."""
    engine = tenant_migration_engine(router, schema)
    with engine.begin() as conn:
        run_alembic("tenant", conn, schema, lambda cfg: command.upgrade(cfg, revision))


def downgrade_tenant(router: Router, schema: str, revision: str) -> None:
    """Take one tenant schema back to ``revision``."""
    engine = tenant_migration_engine(router, schema)
    with engine.begin() as conn:
        run_alembic("tenant", conn, schema, lambda cfg: command.downgrade(cfg, revision))


def create_tenant_schema(router: Router, schema: str) -> None:
    """Create a tenant's schema from the models and stamp it at the tenant head.

    Faster than replaying every migration; the drift test proves both give the same schema.
    """
    if router.is_sqlite:
        router.tenant_file(schema).parent.mkdir(parents=True, exist_ok=True)
    engine = tenant_migration_engine(router, schema)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted_schema(schema)}")
            conn = conn.execution_options(schema_translate_map={None: schema})
        TenantBase.metadata.create_all(conn)
        run_alembic("tenant", conn, schema, lambda cfg: command.stamp(cfg, "head"))


def drop_tenant_schema(router: Router, schema: str) -> None:
    """Remove a tenant's schema (or file) and everything in it. Irreversible."""
    router.forget(schema)
    if router.is_sqlite:
        router.tenant_file(schema).unlink(missing_ok=True)
        return
    with router.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted_schema(schema)} CASCADE")


def create_shared_schema(router: Router) -> None:
    """Create the shared schema from the models and stamp it (tests and a first install)."""
    engine = shared_migration_engine(router)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{SHARED_SCHEMA}"')
        else:
            conn = conn.execution_options(schema_translate_map={SHARED_SCHEMA: None})
        SharedBase.metadata.create_all(conn)
        run_alembic("shared", conn, None, lambda cfg: command.stamp(cfg, "head"))


# -- state ----------------------------------------------------------------------------------------


def shared_revision(router: Router) -> str | None:
    """The revision the shared schema is at (None: not migrated)."""
    engine = shared_migration_engine(router)
    with engine.connect() as conn:
        opts = {}
        if conn.dialect.name == "postgresql":
            opts["version_table_schema"] = SHARED_SCHEMA
        return MigrationContext.configure(conn, opts=opts).get_current_revision()


def tenant_revisions(router: Router, schemas: list[str]) -> dict[str, str | None]:
    """The revision of every given tenant schema (None: missing or not migrated).

    On PostgreSQL one statement reads every version table, so /readyz stays cheap with hundreds
    of tenants.
    """
    result: dict[str, str | None] = dict.fromkeys(schemas)
    if not schemas:
        return result
    if router.is_sqlite:
        for schema in schemas:
            if not router.tenant_file(schema).exists():
                continue
            engine = tenant_migration_engine(router, schema)
            with engine.connect() as conn:
                result[schema] = MigrationContext.configure(conn).get_current_revision()
        return result
    with router.engine.connect() as conn:
        present = set(
            conn.execute(
                sa.text(
                    "SELECT table_schema FROM information_schema.tables "
                    "WHERE table_name = 'alembic_version' AND table_schema = ANY(:schemas)"
                ),
                {"schemas": schemas},
            ).scalars()
        )
        selects = [
            f"SELECT '{s}' AS schema, version_num FROM {quoted_schema(s)}.alembic_version"
            for s in schemas
            if s in present
        ]
        if selects:
            for schema, version in conn.exec_driver_sql(" UNION ALL ".join(selects)):
                result[schema] = version
    return result


@dataclass
class TenantMigrationOutcome:
    schema: str
    before: str | None
    error: str | None = None


def _upgrade_in_worker(url: str, tenant_dir: str | None, schema: str) -> str | None:
    """Worker process: upgrade one tenant with an engine of its own; returns an error or None."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        upgrade_tenant(Router(engine, Path(tenant_dir) if tenant_dir else None), schema)
    except Exception as exc:  # reported to the parent, which goes on with the next tenant
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def upgrade_tenants(
    router: Router,
    schemas: list[str],
    jobs: int = 1,
    progress: Callable[[TenantMigrationOutcome], None] | None = None,
) -> list[TenantMigrationOutcome]:
    """Upgrade every tenant that is not at head; failures are collected, not fatal.

    Resumable: tenants already at head are skipped, so re-running after a crash or a failure
    continues where the last run stopped. Parallel runs use worker *processes*: Alembic's
    ``op`` and ``context`` are process-wide, so two migrations cannot share a process.
    """
    target = head("tenant")
    before = tenant_revisions(router, schemas)
    todo = [s for s in schemas if before[s] != target]
    outcomes: list[TenantMigrationOutcome] = []

    def record(outcome: TenantMigrationOutcome) -> None:
        outcomes.append(outcome)
        if progress:
            progress(outcome)

    if router.is_sqlite or jobs <= 1 or len(todo) <= 1:
        for schema in todo:
            outcome = TenantMigrationOutcome(schema, before[schema])
            try:
                upgrade_tenant(router, schema)
            except Exception as exc:  # reported, and the run goes on with the next tenant
                outcome.error = f"{type(exc).__name__}: {exc}"
            record(outcome)
        return outcomes

    url = router.engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_upgrade_in_worker, url, None, s): s for s in todo}
        for future in as_completed(futures):
            schema = futures[future]
            record(TenantMigrationOutcome(schema, before[schema], future.result()))
    return outcomes
