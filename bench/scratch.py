"""The benchmarks' throwaway PostgreSQL databases (shared by every script in bench/)."""

from __future__ import annotations

import sys
import uuid
from contextlib import contextmanager


def pg_reachable(admin_url: str) -> str | None:
    """None when PostgreSQL answers, else the reason."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(admin_url, poolclass=sa.NullPool, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


def create_database(admin_url: str) -> str:
    """A new, empty database with a random name; returns its URL."""
    import sqlalchemy as sa

    name = f"nvsi_bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (its connections are closed first)."""
    import sqlalchemy as sa

    name = sa.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def pg_database(admin_url: str):
    """A scratch database for the ``with`` block, dropped on the way out."""
    url = create_database(admin_url)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
        print(f"  . dropped the scratch database {url.rsplit('/', 1)[-1]}", file=sys.stderr, flush=True)
