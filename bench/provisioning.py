"""Time to provision one tenant, and to migrate N (350) tenant schemas by one new revision, on
a throwaway database; per tenant (min/median/p95/max) and in total, against a baseline measured
in the same run.

    .venv/bin/python bench/provisioning.py                       # SQLite, then PostgreSQL if reachable
    .venv/bin/python bench/provisioning.py --backend postgresql --tenants 350 --jobs 2

For each backend: a fresh instance in a temp folder (SQLite) or a scratch database
``nvsi_bench_<hex>`` (PostgreSQL); the shared schema migrated; then

1. **provisioning**: N tenants registered and provisioned one after another exactly as
   ``nvsi tenants create`` does it (``nvsi.tenancy.services.provision_tenant``: schema created from
   the models and stamped at the tenant head, default rows, status active), each timed;
2. **baseline**: the same change as the new revision (``ALTER TABLE employers ADD COLUMN
   bench_note VARCHAR(40)`` plus the version stamp), as plain SQL, one transaction per schema,
   with as many threads as ``--jobs``; then reverted (not timed);
3. **migration**: a temporary copy of ``migrations/`` with one extra tenant revision (the same
   column, through ``op.add_column``), run by ``nvsi.migrate.upgrade_tenants`` with ``--jobs``
   worker processes (PostgreSQL; SQLite migrates one tenant at a time), each tenant timed inside
   its worker; every schema is checked to be at the new head afterwards.

Everything is removed afterwards (also on Ctrl-C). See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform as pyplatform  # the stdlib module (platform/ is a source root, not a package)
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

from scratch import pg_database, pg_reachable  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: The throwaway revision's id, and the column it adds.
REVISION, COLUMN = "bench0000001", "bench_note"
#: Environment variables that carry the temporary script folder and the timings file to the
#: worker processes (they start with "spawn" and import this file as ``__mp_main__``).
ENV_DIR, ENV_TIMINGS = "NVSI_BENCH_MIGRATIONS_DIR", "NVSI_BENCH_TIMINGS"

REVISION_FILE = '''"""bench: a throwaway column, added by bench/provisioning.py in a temporary copy of migrations/.

Revision ID: {revision}
Revises: {down}
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("employers", sa.Column("{column}", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("employers", "{column}")
'''


def install_hooks() -> None:
    """In this process (and in every migration worker, which imports this file): use the
    temporary script folder, and time each tenant's upgrade into the timings file."""
    folder = os.environ.get(ENV_DIR)
    if not folder:
        return
    from nvsi import migrate

    migrate.MIGRATIONS_DIR = Path(folder)
    migrate.head.cache_clear()
    timings = os.environ.get(ENV_TIMINGS)
    if timings and not getattr(migrate.upgrade_tenant, "bench_timed", False):
        original = migrate.upgrade_tenant

        def timed(router, schema, revision="head"):
            started = time.perf_counter()
            original(router, schema, revision)
            line = f"{schema} {time.perf_counter() - started:.6f}\n"
            with open(timings, "a") as fh:  # one short append per tenant: lines never interleave
                fh.write(line)

        timed.bench_timed = True
        migrate.upgrade_tenant = timed


install_hooks()  # a spawned worker runs this on import


# -- figures ----------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def describe(values: list[float]) -> str:
    """min / median / p95 / max in milliseconds."""
    return (f"min {min(values) * 1000:7.1f}  median {statistics.median(values) * 1000:7.1f}  "
            f"p95 {percentile(values, 95) * 1000:7.1f}  max {max(values) * 1000:7.1f} ms")


def log(message: str) -> None:
    print(f"  . {message}", file=sys.stderr, flush=True)


# -- the throwaway database -------------------------------------------------------------------------





def make_app(instance: Path, db_url: str | None):
    from nvsi import create_app

    config = {"INSTANCE_PATH": str(instance), "SECRET_KEY": secrets.token_urlsafe(32),
              "DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(), "LOG_LEVEL": "WARNING",
              "METRICS_ENABLED": False}
    if db_url:
        config["DATABASE_URL"] = db_url
    return create_app(config)


# -- the three phases -------------------------------------------------------------------------------


def provision(app, count: int) -> tuple[list[str], list[float], float]:
    """Register and provision ``count`` tenants one after another; their schemas and seconds."""
    from nvsi.extensions import db
    from nvsi.tenancy import services as tenancy

    router = app.extensions["nvsi.router"]
    schemas, seconds = [], []
    started = time.perf_counter()
    with app.app_context():
        for n in range(count):
            slug = f"bench{n:04d}"
            t0 = time.perf_counter()
            tenancy.register_tenant(db.session, slug, f"Gemeente Bench {n}", f"GM{n:04d}")
            db.session.commit()
            ref = tenancy.provision_tenant(db.session, router, slug)
            seconds.append(time.perf_counter() - t0)
            schemas.append(ref.schema)
            router.forget(ref.schema)  # SQLite: no engine (and open file) per tenant left behind
            db.session.remove()
            if (n + 1) % 50 == 0:
                log(f"provisioned {n + 1}/{count}")
    return schemas, seconds, time.perf_counter() - started


def _plain_sql(router, schema: str, statements: list[str]) -> float:
    """Run ``statements`` in one transaction in one tenant's schema (or file); seconds taken."""
    import sqlite3

    from nvsi.tenancy.naming import quoted_schema

    started = time.perf_counter()
    if router.is_sqlite:
        conn = sqlite3.connect(router.tenant_file(schema), isolation_level=None)
        try:
            conn.execute("BEGIN")
            for statement in statements:
                conn.execute(statement.format(schema=""))
            conn.execute("COMMIT")
        finally:
            conn.close()
    else:
        with router.engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement.format(schema=quoted_schema(schema) + "."))
    return time.perf_counter() - started


def baseline(app, schemas: list[str], head: str, jobs: int) -> tuple[list[float], float]:
    """The same change as plain SQL per schema (timed), then reverted (not timed)."""
    router = app.extensions["nvsi.router"]
    forward = [f"ALTER TABLE {{schema}}employers ADD COLUMN {COLUMN} VARCHAR(40)",
               f"UPDATE {{schema}}alembic_version SET version_num = '{REVISION}'"]
    back = [f"ALTER TABLE {{schema}}employers DROP COLUMN {COLUMN}",
            f"UPDATE {{schema}}alembic_version SET version_num = '{head}'"]
    threads = 1 if router.is_sqlite else jobs
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        seconds = list(pool.map(lambda s: _plain_sql(router, s, forward), schemas))
    wall = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda s: _plain_sql(router, s, back), schemas))
    return seconds, wall


def migrate_all(app, schemas: list[str], jobs: int, scratch: Path) -> tuple[list[float], float, str]:
    """Add the throwaway revision to a copy of migrations/ and upgrade every tenant with
    nvsi.migrate's (parallel) upgrade; per-tenant seconds, wall seconds, the new head."""
    from nvsi import migrate

    old_head = migrate.head("tenant")
    original_dir, original_upgrade = migrate.MIGRATIONS_DIR, migrate.upgrade_tenant
    copy = scratch / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tenant" / "versions" / f"2026_11_23_{REVISION}_bench_column.py").write_text(
        REVISION_FILE.format(revision=REVISION, down=old_head, column=COLUMN))
    timings = scratch / "timings.txt"
    os.environ[ENV_DIR], os.environ[ENV_TIMINGS] = str(copy), str(timings)
    try:
        install_hooks()
        new_head = migrate.head("tenant")
        assert new_head == REVISION, new_head
        router = app.extensions["nvsi.router"]
        failures = []
        started = time.perf_counter()
        outcomes = migrate.upgrade_tenants(router, schemas, jobs=jobs,
                                           progress=lambda o: o.error and failures.append(o))
        wall = time.perf_counter() - started
        if failures or len(outcomes) != len(schemas):
            raise RuntimeError(f"{len(failures)} tenants failed, e.g. {failures[:1]}")
        behind = [s for s, r in migrate.tenant_revisions(router, schemas).items() if r != REVISION]
        if behind:
            raise RuntimeError(f"{len(behind)} schemas not at the new head, e.g. {behind[:3]}")
        per_tenant = [float(line.split()[1]) for line in timings.read_text().splitlines()]
        if len(per_tenant) != len(schemas):
            raise RuntimeError(f"{len(per_tenant)} timings for {len(schemas)} tenants")
        return per_tenant, wall, new_head
    finally:
        os.environ.pop(ENV_DIR, None)
        os.environ.pop(ENV_TIMINGS, None)
        migrate.MIGRATIONS_DIR, migrate.upgrade_tenant = original_dir, original_upgrade
        migrate.head.cache_clear()


def bench_backend(backend: str, args) -> None:
    from nvsi import migrate

    with tempfile.TemporaryDirectory(prefix=f"nvsi-bench-prov-{backend}-") as tmp, \
            (pg_database(args.pg_admin_url) if backend == "postgresql" else nullcontext()) as db_url:
        scratch = Path(tmp)
        app = make_app(scratch / "instance", db_url)
        router = app.extensions["nvsi.router"]
        try:
            migrate.upgrade_shared(router)
            version = _server_version(router)
            log(f"{backend}: provisioning {args.tenants} tenants")
            schemas, provisioned, provision_wall = provision(app, args.tenants)
            head = migrate.head("tenant")
            log(f"{backend}: baseline (plain SQL) on {len(schemas)} schemas")
            plain, plain_wall = baseline(app, schemas, head, args.jobs)
            jobs = 1 if router.is_sqlite else args.jobs
            log(f"{backend}: nvsi.migrate.upgrade_tenants on {len(schemas)} schemas, {jobs} job(s)")
            migrated, migrate_wall, _new = migrate_all(app, schemas, args.jobs, scratch)
        finally:
            router.dispose()
            with app.app_context():
                from nvsi.extensions import db

                db.engine.dispose()
    n = len(schemas)
    print(f"\n{backend} ({version})")
    print("  provision one tenant (schema created and at head, default rows, active)")
    print(f"    the first:                 {provisioned[0] * 1000:7.1f} ms")
    print(f"    each of {n}: {describe(provisioned)}; total {provision_wall:7.2f} s")
    tenth = max(1, n // 10)
    print(f"    median of the first {tenth}: {statistics.median(provisioned[:tenth]) * 1000:7.1f} ms, "
          f"of the last {tenth}: {statistics.median(provisioned[-tenth:]) * 1000:7.1f} ms")
    print(f"  migrate {n} tenant schemas by one revision (ADD COLUMN employers.{COLUMN})")
    print(f"    nvsi.migrate, {jobs} job(s):  {describe(migrated)}; wall {migrate_wall:7.2f} s")
    threads = 1 if backend == "sqlite" else args.jobs
    print(f"    baseline, plain SQL, {threads} thread(s): {describe(plain)}; wall {plain_wall:7.2f} s")
    print(f"    ratio nvsi.migrate / baseline: wall {migrate_wall / plain_wall:5.1f}x, "
          f"median per tenant {statistics.median(migrated) / statistics.median(plain):5.1f}x")


def _server_version(router) -> str:
    if router.is_sqlite:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with router.engine.connect() as conn:
        return "PostgreSQL " + conn.exec_driver_sql("SHOW server_version").scalar()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default=None,
                        help="default: both when PostgreSQL is reachable, else sqlite")
    parser.add_argument("--tenants", type=int, default=350, help="tenant schemas to provision and migrate")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="parallel tenant migrations (PostgreSQL; SQLite migrates one at a time)")
    parser.add_argument("--pg-admin-url", default=os.environ.get("NVSI_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL),
                        help="PostgreSQL server (a scratch database is created and dropped); env NVSI_BENCH_PG_URL")
    args = parser.parse_args(argv)
    if args.tenants < 1 or args.jobs < 1:
        parser.error("--tenants and --jobs must be at least 1")
    if args.backend in (None, "both", "postgresql"):
        reason = pg_reachable(args.pg_admin_url)
        if reason and args.backend is not None:
            parser.error(f"PostgreSQL unreachable at {args.pg_admin_url}: {reason}")
        if reason:
            log(f"PostgreSQL unreachable ({reason}): sqlite only")
    else:
        reason = None
    backends = {"sqlite": ["sqlite"], "postgresql": ["postgresql"]}.get(
        args.backend, ["sqlite"] + ([] if reason else ["postgresql"]))
    print(f"nvsi bench: provision {args.tenants} tenants, then migrate them by one revision; "
          f"{args.jobs} job(s); {os.cpu_count()} CPUs, Python {pyplatform.python_version()}", flush=True)
    for backend in backends:
        bench_backend(backend, args)
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds the with-blocks: everything is cleaned up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted (scratch data removed)", file=sys.stderr)
        sys.exit(130)
