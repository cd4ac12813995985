"""Rolling upgrades: the old pods stay ready after the new release's migration hook has run."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from nvsi import migrate

NEWER = "f00dfeedf00d"  # a revision only a newer release knows


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def set_revision(app, stream: str, schema: str | None, revision: str) -> None:
    router = app.extensions["nvsi.router"]
    if stream == "shared":
        engine, table = migrate.shared_migration_engine(router), '"nvsi".alembic_version'
    else:
        engine, table = migrate.tenant_migration_engine(router, schema), f'"{schema}".alembic_version'
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            table = "alembic_version"
        conn.exec_driver_sql(f"UPDATE {table} SET version_num = '{revision}'")


def test_old_code_stays_ready_when_a_newer_release_migrated(fresh_app):
    cli(fresh_app, "migrate")
    cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    client = fresh_app.test_client()
    set_revision(fresh_app, "shared", None, NEWER)
    set_revision(fresh_app, "tenant", "t_delft", NEWER)
    assert client.get("/readyz").status_code == 200
    # A revision this code knows but has not reached is still "behind".
    set_revision(fresh_app, "shared", None, migrate.head("shared"))
    script = ScriptDirectory.from_config(migrate.alembic_config("tenant"))
    older = [rev.revision for rev in script.walk_revisions() if rev.revision != migrate.head("tenant")]
    if not older:
        pytest.skip("the tenant stream has a single revision: nothing to be behind")
    set_revision(fresh_app, "tenant", "t_delft", older[0])
    assert client.get("/readyz").get_json()["tenants_behind"] == ["t_delft"]
