"""Backups of one tenant, or of the shared level, and the restore of one tenant.

    nvsi backup tenant SLUG --out FILE       PostgreSQL: pg_dump -Fc -n t_<slug>; SQLite: the tenant file
    nvsi backup shared --out FILE            PostgreSQL: pg_dump -Fc -n nvsi;     SQLite: the main file
    nvsi restore tenant SLUG FILE [--replace]

Schema names are always built from a validated slug (:func:`nvsi.tenancy.naming.schema_for_slug`),
never taken from input; pg_dump and pg_restore run without a shell and get the password through
``PGPASSWORD``, never on their command line. Backup files hold personal data: they are created
readable by their owner only (0600).

A restore puts a tenant's schema back exactly as it was dumped, into the same schema (the dump
must hold that schema and no other). An existing schema is refused unless ``--replace``; then it is
renamed aside, the dump restored in one transaction, and the old schema dropped only after the
restore succeeded (on failure it is renamed back). A dump older than the code is brought up to
date by ``nvsi migrate`` afterwards (the command says so).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from nvsi import migrate
from nvsi.db import SHARED_SCHEMA
from nvsi.observability import track_job
from nvsi.tenancy.naming import InvalidSlug, quoted_schema, schema_for_slug
from nvsi.tenancy.routing import Router, current_router

#: A schema renamed aside during ``restore --replace``: the tenant schema plus a random suffix.
_ASIDE_RE = re.compile(r"^t_[a-z0-9_]{1,60}$")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


# -- helpers ------------------------------------------------------------------------------------


def _private_file(path: Path) -> None:
    """Create (or truncate) ``path`` readable and writable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client (Debian: apt-get install "
                          "postgresql-client), of the server's major version or newer")
    return found


def _pg_connection(router: Router) -> tuple[str, dict]:
    """A libpq URI without the password, and an environment that holds the password."""
    url = router.engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(cmd: list[str], env: dict) -> str:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def _schema_exists(router: Router, schema: str) -> bool:
    with router.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}) is not None


def _quote_aside(name: str) -> str:
    if not _ASIDE_RE.fullmatch(name):
        raise ValueError(f"not a schema name made by restore: {name!r}")
    return f'"{name}"'


def _pg_dump(router: Router, schema: str, out: Path) -> None:
    uri, env = _pg_connection(router)
    _private_file(out)
    _run([_pg_tool("pg_dump"), "--format=custom", f"--schema={schema}", "--strict-names",
          "--no-owner", "--no-privileges", f"--file={out}", f"--dbname={uri}"], env)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (the online backup API, safe while the app writes)."""
    _private_file(target)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_main_file(router: Router) -> Path:
    return Path(router.engine.url.database)


# -- the operations -----------------------------------------------------------------------------


def backup_tenant(router: Router, slug: str, out: Path) -> str:
    """Write a backup of one tenant's schema (or file) to ``out``; returns the schema name."""
    schema = schema_for_slug(slug)
    if router.is_sqlite:
        source = router.tenant_file(schema)
        if not source.exists():
            raise BackupError(f"tenant {slug!r} has no database file ({source})")
        _sqlite_copy(source, out)
    else:
        if not _schema_exists(router, schema):
            raise BackupError(f"tenant {slug!r} has no schema {schema}")
        _pg_dump(router, schema, out)
    return schema


def backup_shared(router: Router, out: Path) -> None:
    """Write a backup of the shared level (schema ``nvsi``, or the main SQLite file) to ``out``."""
    if router.is_sqlite:
        _sqlite_copy(_sqlite_main_file(router), out)
    else:
        _pg_dump(router, SHARED_SCHEMA, out)


def dump_schemas(path: Path) -> set[str]:
    """The schemas a pg_dump archive (custom format) creates."""
    listing = _run([_pg_tool("pg_restore"), "--list", str(path)], dict(os.environ))
    return set(re.findall(r"\bSCHEMA - (\S+)", listing))


def restore_tenant(router: Router, slug: str, path: Path, replace: bool = False) -> str:
    """Restore one tenant from a backup made by :func:`backup_tenant`; returns the schema name."""
    schema = schema_for_slug(slug)
    if not path.is_file():
        raise BackupError(f"no backup file {path}")
    if router.is_sqlite:
        _restore_sqlite(router, schema, path, replace)
    else:
        _restore_postgresql(router, schema, path, replace)
    router.forget(schema)
    return schema


def _restore_sqlite(router: Router, schema: str, path: Path, replace: bool) -> None:
    target = router.tenant_file(schema)
    if target.exists() and not replace:
        raise BackupError(f"{schema} exists; use --replace to overwrite it with the backup")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a tenant backup: {exc}") from exc
    finally:
        conn.close()
    router.forget(schema)
    partial = target.with_name(f".{target.name}.restore-{uuid.uuid4().hex[:8]}")
    try:
        _sqlite_copy(path, partial)
        os.replace(partial, target)  # atomic: readers see the old file or the restored one
    finally:
        partial.unlink(missing_ok=True)


def _restore_postgresql(router: Router, schema: str, path: Path, replace: bool) -> None:
    found = dump_schemas(path)
    if found != {schema}:
        raise BackupError(f"{path} holds {', '.join(sorted(found)) or 'no schema'}, not {schema}")
    aside = None
    if _schema_exists(router, schema):
        if not replace:
            raise BackupError(f"schema {schema} exists; use --replace to replace it with the backup")
        aside = f"{schema}_r{uuid.uuid4().hex[:8]}"
        with router.engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER SCHEMA {quoted_schema(schema)} RENAME TO {_quote_aside(aside)}")
    uri, env = _pg_connection(router)
    try:
        _run([_pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
              "--no-privileges", f"--dbname={uri}", str(path)], env)
    except BackupError:
        if aside is not None:  # put the old schema back; the single transaction left nothing behind
            with router.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted_schema(schema)} CASCADE")
                conn.exec_driver_sql(f"ALTER SCHEMA {_quote_aside(aside)} RENAME TO {quoted_schema(schema)}")
        raise
    if aside is not None:
        with router.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {_quote_aside(aside)} CASCADE")


# -- commands -----------------------------------------------------------------------------------

_out_option = click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (created with mode 0600).",
)


@click.group("backup")
def backup_group() -> None:
    """Back up one tenant, or the shared level."""


@backup_group.command("tenant")
@click.argument("slug")
@_out_option
@with_appcontext
@track_job("backup_tenant")
def backup_tenant_command(slug: str, out: Path) -> None:
    """Back up one tenant's schema (PostgreSQL: pg_dump -Fc -n t_<slug>)."""
    try:
        schema = backup_tenant(current_router(), slug, out)
    except (BackupError, InvalidSlug) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{schema} -> {out}")


@backup_group.command("shared")
@_out_option
@with_appcontext
@track_job("backup_shared")
def backup_shared_command(out: Path) -> None:
    """Back up the shared level (PostgreSQL: pg_dump -Fc -n nvsi)."""
    try:
        backup_shared(current_router(), out)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{SHARED_SCHEMA} -> {out}")


@click.group("restore")
def restore_group() -> None:
    """Restore one tenant from a backup."""


@restore_group.command("tenant")
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the tenant's existing schema (or file).")
@with_appcontext
@track_job("restore_tenant")
def restore_tenant_command(slug: str, file: Path, replace: bool) -> None:
    """Restore one tenant's schema from FILE, into the same schema."""
    router = current_router()
    try:
        schema = restore_tenant(router, slug, file, replace=replace)
    except (BackupError, InvalidSlug) as exc:
        raise click.ClickException(str(exc)) from exc
    revision = migrate.tenant_revisions(router, [schema])[schema]
    state = "at head" if revision == migrate.head("tenant") else "behind: run `nvsi migrate`"
    click.echo(f"{file} -> {schema} (revision {revision or '-'}, {state})")
