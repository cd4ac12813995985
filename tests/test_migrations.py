"""Migrations: no drift between the two streams and the models, real downgrades, conventions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from nvsi import migrate
from nvsi.db import SHARED_SCHEMA, SharedBase, TenantBase
from nvsi.tenancy.routing import enable_sqlite_transactions


def snapshot(conn: sa.Connection, schema: str | None) -> dict:
    """Tables, columns, keys, indexes and constraints of one schema, in comparable form."""
    inspector = sa.inspect(conn)
    result = {}
    for table in sorted(inspector.get_table_names(schema=schema)):
        if table == "alembic_version":
            continue
        columns = [
            (c["name"], str(c["type"]), c["nullable"], bool(c.get("identity")), c.get("default"))
            for c in inspector.get_columns(table, schema=schema)
        ]
        pk = inspector.get_pk_constraint(table, schema=schema)
        fks = sorted(
            (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
             tuple(fk["referred_columns"]), (fk.get("options") or {}).get("ondelete"))
            for fk in inspector.get_foreign_keys(table, schema=schema)
        )
        indexes = sorted(
            (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(table, schema=schema)
        )
        uniques = sorted(
            (uq["name"], tuple(uq["column_names"]))
            for uq in inspector.get_unique_constraints(table, schema=schema)
        )
        checks = sorted(
            (ck["name"], re.sub(r"\s+", " ", ck["sqltext"]).strip())
            for ck in inspector.get_check_constraints(table, schema=schema)
        )
        result[table] = {
            "columns": columns, "pk": (pk["name"], tuple(pk["constrained_columns"])),
            "fks": fks, "indexes": indexes, "uniques": uniques, "checks": checks,
        }
    if result:
        result["(triggers)"] = triggers(conn, schema)
    return result


def triggers(conn: sa.Connection, schema: str | None) -> list[tuple[str, str]]:
    """(trigger, table) pairs: the append-only guarantees are part of the schema too."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(sa.text(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON t.tgrelid = c.oid "
            "JOIN pg_namespace n ON c.relnamespace = n.oid WHERE NOT t.tgisinternal AND n.nspname = :s"
        ), {"s": schema})
    else:
        rows = conn.execute(sa.text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"))
    return sorted(tuple(r) for r in rows)


def sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.NullPool)
    enable_sqlite_transactions(engine)
    return engine


def upgrade(cfg, revision="head"):
    command.upgrade(cfg, revision)


@pytest.fixture
def pg_engine(database):
    if database.backend != "postgresql":
        return None
    return database.app.extensions["nvsi.router"].engine


def _both(database, tmp_path, stream: str, metadata: sa.MetaData, translate_from):
    """Build the stream's schema twice, by migrations and by create_all; return both snapshots.

    PostgreSQL: two schemas inside one transaction that is rolled back (DDL is transactional).
    SQLite: two scratch files.
    """
    if database.backend == "postgresql":
        engine = database.app.extensions["nvsi.router"].engine
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                target = "t_driftm" if stream == "tenant" else SHARED_SCHEMA
                if stream == "tenant":
                    migrate.run_alembic(stream, conn, target, upgrade)
                conn.exec_driver_sql('CREATE SCHEMA "t_driftc"')
                conn.execution_options(schema_translate_map={translate_from: "t_driftc"})
                metadata.create_all(conn)
                conn.execution_options(schema_translate_map=None)
                return snapshot(conn, target), snapshot(conn, "t_driftc")
            finally:
                trans.rollback()
    migrated, created = sqlite_engine(tmp_path / "m.sqlite"), sqlite_engine(tmp_path / "c.sqlite")
    with migrated.begin() as conn:
        migrate.run_alembic(stream, conn, None, upgrade)
    with created.begin() as conn:
        conn.execution_options(schema_translate_map={translate_from: None})
        metadata.create_all(conn)
    with migrated.connect() as m, created.connect() as c:
        return snapshot(m, None), snapshot(c, None)


def test_tenant_migrations_give_exactly_the_models(database, tmp_path):
    by_migrations, by_models = _both(database, tmp_path, "tenant", TenantBase.metadata, None)
    assert by_migrations == by_models
    assert set(by_models) - {"(triggers)"} == set(TenantBase.metadata.tables)


def test_shared_migrations_give_exactly_the_models(database, tmp_path):
    # PostgreSQL: the session database's nvsi schema was built by the shared migrations.
    by_migrations, by_models = _both(database, tmp_path, "shared", SharedBase.metadata, SHARED_SCHEMA)
    assert by_migrations == by_models
    assert set(by_models) - {"(triggers)"} == {t.name for t in SharedBase.metadata.tables.values()}


@pytest.mark.parametrize("stream", migrate.STREAMS)
def test_every_migration_downgrades_and_upgrades_again(database, tmp_path, stream):
    def cycle(conn, schema):
        migrate.run_alembic(stream, conn, schema, upgrade)
        full = snapshot(conn, schema)
        migrate.run_alembic(stream, conn, schema, lambda cfg: command.downgrade(cfg, "base"))
        assert snapshot(conn, schema) == {}
        migrate.run_alembic(stream, conn, schema, upgrade)
        assert snapshot(conn, schema) == full

    if database.backend == "postgresql":
        with database.app.extensions["nvsi.router"].engine.connect() as conn:
            trans = conn.begin()
            try:
                if stream == "shared":
                    conn.exec_driver_sql(f'DROP SCHEMA "{SHARED_SCHEMA}" CASCADE')  # rolled back
                cycle(conn, "t_cycle" if stream == "tenant" else SHARED_SCHEMA)
            finally:
                trans.rollback()
    else:
        with sqlite_engine(tmp_path / "cycle.sqlite").begin() as conn:
            cycle(conn, None)


@pytest.mark.parametrize("stream", migrate.STREAMS)
def test_revision_files_follow_the_conventions(stream):
    script = ScriptDirectory.from_config(migrate.alembic_config(stream))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        name = Path(revision.path).name
        assert re.match(r"^\d{4}_\d{2}_\d{2}_[0-9a-f]{12}_\w+\.py$", name), name
        source = Path(revision.path).read_text()
        assert "def downgrade" in source and "schema=" not in source, name
