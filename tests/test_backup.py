"""Backups of one tenant and of the shared level; a tenant round-trips through dump and restore."""

from __future__ import annotations

import stat
import zlib

import pytest
import sqlalchemy as sa

import nvsi.models  # noqa: F401  (every tenant table, for the row comparison)
from nvsi import migrate
from nvsi.db import TenantBase
from nvsi.extensions import db
from nvsi.observability import JOBS
from nvsi.tenancy.routing import RoutingSession, bind_tenant
from tenants.employers.services import create_employer
from tests.conftest import employer_data


def cli(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


def tenant_rows(app, schema: str) -> dict[str, list[tuple]]:
    """Every row of every tenant table, in primary-key order."""
    with app.app_context():
        session = RoutingSession(db)
        bind_tenant(session, schema)
        try:
            return {
                table.name: [tuple(row) for row in session.execute(
                    sa.select(table).order_by(*table.primary_key.columns)
                )]
                for table in TenantBase.metadata.sorted_tables
            }
        finally:
            session.close()


def add_employers(app, schema: str, *names: str) -> None:
    with app.app_context():
        session = RoutingSession(db)
        bind_tenant(session, schema)
        for i, name in enumerate(names):
            create_employer(session, employer_data(name=name, kvk_number=f"{20000000 + zlib.crc32(name.encode()) % 10**7:08d}",
                                                   contact_email=f"x{i}@example.org"))
        session.commit()
        session.close()


@pytest.fixture
def delft(fresh_app):
    jobs_before = JOBS.labels("migrate", "success")._value.get()
    assert cli(fresh_app, "migrate").exit_code == 0
    assert JOBS.labels("migrate", "success")._value.get() == jobs_before + 1  # track_job on migrate
    result = cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    assert result.exit_code == 0, result.output
    add_employers(fresh_app, "t_delft", "Delftse Bouw B.V.", "Porceleyne Fles N.V.", "Hof van Delft")
    return fresh_app


def test_tenant_round_trips_through_backup_and_restore(delft, tmp_path):
    app, out = delft, tmp_path / "delft.dump"
    before = tenant_rows(app, "t_delft")
    assert len(before["employers"]) == 3

    result = cli(app, "backup", "tenant", "delft", "--out", out)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # backups hold personal data

    migrate.drop_tenant_schema(app.extensions["nvsi.router"], "t_delft")
    result = cli(app, "restore", "tenant", "delft", out)
    assert result.exit_code == 0, result.output
    assert "at head" in result.output
    assert tenant_rows(app, "t_delft") == before
    assert app.test_client().get("/readyz").status_code == 200


def test_restore_refuses_an_existing_tenant_unless_replace(delft, tmp_path):
    app, out = delft, tmp_path / "delft.dump"
    assert cli(app, "backup", "tenant", "delft", "--out", out).exit_code == 0
    before = tenant_rows(app, "t_delft")
    add_employers(app, "t_delft", "Later toegevoegd B.V.")

    refused = cli(app, "restore", "tenant", "delft", out)
    assert refused.exit_code == 1 and "--replace" in refused.output
    assert len(tenant_rows(app, "t_delft")["employers"]) == 4  # untouched

    replaced = cli(app, "restore", "tenant", "delft", out, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert tenant_rows(app, "t_delft") == before
    if app.config["BACKEND"] == "postgresql":  # the old schema renamed aside is gone
        with app.app_context(), db.engine.connect() as conn:
            schemas = conn.scalars(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't_delft%'")).all()
        assert schemas == ["t_delft"]


def test_restore_only_into_the_schema_that_was_dumped(delft, tmp_path):
    app, out = delft, tmp_path / "delft.dump"
    assert cli(app, "backup", "tenant", "delft", "--out", out).exit_code == 0
    if app.config["BACKEND"] == "postgresql":
        other = cli(app, "restore", "tenant", "leiden", out)
        assert other.exit_code == 1 and "holds t_delft, not t_leiden" in other.output
    bad = cli(app, "restore", "tenant", "Delft; DROP SCHEMA nvsi", out)
    assert bad.exit_code == 1 and "invalid tenant slug" in bad.output
    missing = cli(app, "backup", "tenant", "nobody", "--out", tmp_path / "x.dump")
    assert missing.exit_code == 1 and "t_nobody" in missing.output


def test_backup_shared_level(delft, tmp_path):
    out = tmp_path / "shared.dump"
    result = cli(delft, "backup", "shared", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
    if delft.config["BACKEND"] == "postgresql":
        from nvsi.backup import dump_schemas

        assert dump_schemas(out) == {"nvsi"}
