"""Commands, probes, configuration, the OpenAPI document and the demo data."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from nvsi import create_app, migrate
from nvsi.auth.models import User
from nvsi.extensions import db
from nvsi.tenancy.models import Tenant
from tests import support


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


# -- commands -----------------------------------------------------------------------------------


def test_migrate_create_and_list_tenants(fresh_app):
    result = cli(fresh_app, "migrate")
    assert result.exit_code == 0, result.output
    assert "0 migrated, 0 already at head, 0 failed" in result.output
    result = cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    assert result.exit_code == 0, result.output
    assert "ready in schema t_delft" in result.output
    listing = cli(fresh_app, "tenants", "list").output
    assert "delft" in listing and "active" in listing and "at head" in listing


@pytest.mark.parametrize("args, message", [
    (["Delft", "--name", "x", "--cbs-code", "GM0503"], "invalid tenant slug"),
    (["delft", "--name", "x", "--cbs-code", "0503"], "GM followed by four digits"),
])
def test_create_tenant_refuses_bad_input(fresh_app, args, message):
    cli(fresh_app, "migrate")
    result = cli(fresh_app, "tenants", "create", *args)
    assert result.exit_code == 1 and message in result.output


def test_create_tenant_refuses_a_duplicate(fresh_app):
    cli(fresh_app, "migrate")
    cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    again = cli(fresh_app, "tenants", "create", "delft2", "--name", "Delft", "--cbs-code", "GM0503")
    assert again.exit_code == 1 and "already a tenant" in again.output


def test_migrate_brings_tenants_to_head_and_resumes_after_a_failure(fresh_app):
    cli(fresh_app, "migrate")
    for slug, code in (("aa", "GM0001"), ("bb", "GM0002"), ("cc", "GM0003")):
        cli(fresh_app, "tenants", "create", slug, "--name", slug, "--cbs-code", code)
    router = fresh_app.extensions["nvsi.router"]
    for schema in ("t_aa", "t_bb", "t_cc"):
        migrate.downgrade_tenant(router, schema, "base")
    # Break one tenant: its employers table exists although its version says "base".
    broken = migrate.tenant_migration_engine(router, "t_bb")
    with broken.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql('CREATE TABLE "t_bb".employers (id int)')
        else:
            conn.exec_driver_sql("CREATE TABLE employers (id int)")
    result = cli(fresh_app, "migrate")
    assert result.exit_code == 1
    assert "2 migrated, 0 already at head, 1 failed" in result.output
    assert "t_bb" in result.output
    head = migrate.head("tenant")
    assert migrate.tenant_revisions(router, ["t_aa", "t_bb", "t_cc"]) == {"t_aa": head, "t_bb": None, "t_cc": head}
    # Repair and run again: only the failed tenant is left to do.
    with broken.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "t_bb".employers' if conn.dialect.name == "postgresql" else "DROP TABLE employers")
    result = cli(fresh_app, "migrate")
    assert result.exit_code == 0, result.output
    assert "1 migrated, 2 already at head, 0 failed" in result.output


def test_users_create(fresh_app):
    cli(fresh_app, "migrate")
    cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    args = ["users", "create", "a@delft.example", "--name", "A", "--role", "municipality_staff",
            "--tenant", "delft", "--password", "long enough password"]
    assert cli(fresh_app, *args).exit_code == 0
    again = cli(fresh_app, *args)
    assert again.exit_code == 1 and "already in use" in again.output
    nobody = cli(fresh_app, "users", "create", "b@x.example", "--name", "B", "--role", "municipality_staff",
                 "--password", "long enough password")
    assert nobody.exit_code == 1 and "at least one tenant" in nobody.output


def test_demo_seeds_once_and_prints_how_to_log_in(fresh_app):
    first = cli(fresh_app, "demo")
    assert first.exit_code == 0, first.output
    assert "admin@nvsi.example" in first.output and "demo-wachtwoord-2026" in first.output
    assert cli(fresh_app, "demo").exit_code == 0  # idempotent
    with fresh_app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Tenant)) == 3
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 8
    client = fresh_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    from tests.support import csrf_token

    client.post("/login", data={"email": "medewerker@zwolle.example", "password": "demo-wachtwoord-2026",
                                "csrf_token": csrf_token(page)})
    employers = client.get("/api/v1/g/zwolle/employers").get_json()
    assert employers["total"] == 2


# -- probes -------------------------------------------------------------------------------------


def test_healthz_needs_no_database(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x",
                      "SECRET_KEY": "x", "DATA_KEY": support.DATA_KEY})
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "not ready"


def test_readyz_follows_the_migration_state(fresh_app):
    client = fresh_app.test_client()
    assert client.get("/readyz").status_code == 503  # nothing migrated
    cli(fresh_app, "migrate")
    cli(fresh_app, "tenants", "create", "delft", "--name", "Gemeente Delft", "--cbs-code", "GM0503")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["tenants"] == 1
    migrate.downgrade_tenant(fresh_app.extensions["nvsi.router"], "t_delft", "base")
    behind = client.get("/readyz")
    assert behind.status_code == 503 and behind.get_json()["tenants_behind"] == ["t_delft"]
    cli(fresh_app, "migrate")
    assert client.get("/readyz").status_code == 200


# -- configuration ------------------------------------------------------------------------------


def test_defaults_then_environment_then_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("NVSI_PAGE_SIZE", "7")
    monkeypatch.setenv("NVSI_MAX_PAGE_SIZE", "50")
    app = create_app({"INSTANCE_PATH": str(tmp_path), "MAX_PAGE_SIZE": 60})
    assert app.config["PAGE_SIZE"] == 7  # environment over defaults
    assert app.config["MAX_PAGE_SIZE"] == 60  # the factory's settings over the environment
    assert app.config["SESSION_COOKIE_SECURE"] is True  # defaults file
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'nvsi.sqlite'}"


def test_embedded_default_generates_a_private_secret_once(tmp_path):
    first = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    path = tmp_path / "secret_key"
    assert first == second and len(first) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("given, missing", [
    ({"DATA_KEY": support.DATA_KEY}, "NVSI_SECRET_KEY"),
    ({"SECRET_KEY": "x"}, "NVSI_DATA_KEY"),
])
def test_postgresql_needs_its_secrets_from_the_environment(tmp_path, monkeypatch, given, missing):
    monkeypatch.delenv("NVSI_SECRET_KEY", raising=False)
    monkeypatch.delenv("NVSI_DATA_KEY", raising=False)
    with pytest.raises(RuntimeError, match=missing):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1/x", **given})


def test_instance_folder_is_never_committed():
    gitignore = Path(__file__).resolve().parents[1] / ".gitignore"
    assert "instance/" in gitignore.read_text().split()


# -- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_complete(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    spec = app.test_client().get("/api/openapi.json").get_json()
    validate(spec)
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not in the OpenAPI document"
    employer = spec["components"]["schemas"]["EmployerArgs"]
    assert set(employer["required"]) >= {"name", "kvk_number", "street_address", "postal_code", "city"}
