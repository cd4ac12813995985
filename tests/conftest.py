"""Test harness: every test that takes ``app`` runs on both backends.

Per backend, one database per test session, built by running the migrations (shared stream,
then the tenant stream for each test tenant), with committed fixture data: tenants ``alpha``,
``beta`` (each with an employer of id 1: overlapping ids) and ``gamma``; users of each role.

Per test, everything runs inside one outer transaction on one connection that is rolled back
at the end; the app's sessions join it with a SAVEPOINT, so views commit as in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from nvsi import create_app, migrate
from nvsi.auth.models import Role
from nvsi.auth.services import create_user
from nvsi.extensions import db
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.naming import quoted_schema
from nvsi.tenancy.routing import ConnectionRouter, RoutingSession, bind_tenant
from tenants.employers.services import create_employer
from tests import support

BACKENDS = ["sqlite", "postgresql"]
TEST_TENANTS = [
    ("alpha", "Gemeente Alfa", "GM9001"),
    ("beta", "Gemeente Beta", "GM9002"),
    ("gamma", "Gemeente Gamma", "GM9003"),
]
#: email -> (role, tenant slugs)
TEST_USERS = {
    "admin@nvsi.test": (Role.NVSI_ADMIN, []),
    "backoffice@nvsi.test": (Role.BACKOFFICE, []),
    "admin@alpha.test": (Role.MUNICIPALITY_ADMIN, ["alpha"]),
    "staff@alpha.test": (Role.MUNICIPALITY_STAFF, ["alpha"]),
    "staff@beta.test": (Role.MUNICIPALITY_STAFF, ["beta"]),
    "admin@beta.test": (Role.MUNICIPALITY_ADMIN, ["beta"]),
    "staff@alphagamma.test": (Role.MUNICIPALITY_STAFF, ["alpha", "gamma"]),
}


def employer_data(**overrides) -> dict:
    """Valid input for an employer."""
    data = dict(
        name="Groen B.V.", kvk_number="12345678", vat_id="NL012345672B01",
        street_address="Lindelaan 1", postal_code="3511 AB", city="Utrecht",
        contact_email="facturen@groen.example",
    )
    data.update(overrides)
    return data


@dataclass
class Database:
    """A test database of one backend, built once per session."""

    backend: str
    config: dict
    app: object  # the Flask app serving it


def _build(backend: str, instance: Path) -> Database:
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret", "DATA_KEY": support.DATA_KEY,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        # Cheap Argon2id: the suite logs in hundreds of times (the production cost is the default).
        "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024, "PASSWORD_HASH_PARALLELISM": 1,
        # Tests log in many times a minute; the throttle has its own test.
        "LOGIN_RATE_LIMIT": "10000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute",
    }
    if backend == "postgresql":
        config["DATABASE_URL"] = support.create_pg_database()
    app = create_app(config)
    with app.app_context():
        router = app.extensions["nvsi.router"]
        migrate.upgrade_shared(router)  # the migrations build the database
        tenants = {}
        for slug, name, cbs in TEST_TENANTS:
            tenant = tenancy.register_tenant(db.session, slug, name, cbs)
            db.session.commit()
            if router.is_sqlite:
                router.tenant_file(tenant.schema).touch()
            migrate.upgrade_tenant(router, tenant.schema)
            tenancy.provision_tenant(db.session, router, slug)
            tenants[slug] = tenancy.get_tenant(db.session, slug)
        for email, (role, slugs) in TEST_USERS.items():
            user = create_user(db.session, email, email.split("@")[0], support.PASSWORD, role,
                               [tenants[s] for s in slugs])
            if role.requires_two_factor:  # mandatory for them: a known secret, login() types the code
                support.enable_two_factor(user)
        db.session.commit()
        for slug, name in (("alpha", "Alfa Bouw B.V."), ("beta", "Beta Zorg B.V.")):
            session = RoutingSession(db)
            bind_tenant(session, tenants[slug].schema)
            employer = create_employer(session, employer_data(name=name, kvk_number="10000001"))
            assert employer.id == 1  # the same id in both tenants, on purpose
            session.commit()
            session.close()
        db.session.remove()
    return Database(backend, config, app)


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory):
    """The session's database for one backend (PostgreSQL: mandatory in CI)."""
    if request.param == "postgresql":
        support.require_postgres()
    built = _build(request.param, tmp_path_factory.mktemp(f"instance-{request.param}"))
    yield built
    built.app.extensions["nvsi.router"].dispose()
    with built.app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        support.drop_pg_database(built.config["DATABASE_URL"])


@pytest.fixture
def backend(database) -> str:
    return database.backend


@pytest.fixture
def connection(database):
    """One connection in an outer transaction that every session of the test joins."""
    app = database.app
    base = app.extensions["nvsi.router"]
    with app.app_context():
        engine = db.engine
    conn = engine.connect()
    if base.is_sqlite:
        # The test connection sees every test tenant, as attached databases.
        # (On the raw DBAPI connection: ATTACH is not allowed inside a transaction.)
        raw = conn.connection.dbapi_connection
        for slug, _, _ in TEST_TENANTS:
            schema = "t_" + slug
            raw.execute(f"ATTACH DATABASE ? AS {quoted_schema(schema)}", (str(base.tenant_file(schema)),))
    trans = conn.begin()
    app.extensions["nvsi.router"] = ConnectionRouter(conn, base)
    try:
        yield conn
    finally:
        app.extensions["nvsi.router"] = base
        trans.rollback()
        if base.is_sqlite:  # the pooled connection goes back as it came: nothing attached
            for slug, _, _ in TEST_TENANTS:
                conn.connection.dbapi_connection.execute(f"DETACH DATABASE {quoted_schema('t_' + slug)}")
        conn.close()


@pytest.fixture
def app(database, connection):
    """The app, with every unit of work inside the test's rolled-back transaction."""
    return database.app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tenant_session(app):
    """``tenant_session("alpha")``: a session bound to a test tenant, for arranging data."""
    sessions = []

    def make(slug: str) -> RoutingSession:
        session = RoutingSession(db, router=app.extensions["nvsi.router"])
        bind_tenant(session, "t_" + slug)
        sessions.append(session)
        return session

    yield make
    # Sessions on the shared test connection nest their savepoints: close the newest first.
    for session in reversed(sessions):
        session.close()


@pytest.fixture
def shared_session(app):
    """A session on the shared level, for arranging and checking data."""
    session = RoutingSession(db, router=app.extensions["nvsi.router"])
    yield session
    session.close()


@pytest.fixture
def login(client):
    """``login(email)`` logs the test client in; returns the CSRF token."""

    def do(email: str) -> str:
        return support.login(client, email)

    return do


def pytest_collection_modifyitems(items):
    # The database build is the slow part: keep the tests of one backend together.
    items.sort(key=lambda item: "postgresql" in item.nodeid)




@pytest.fixture(params=BACKENDS)
def fresh_app(request, tmp_path):
    """An app on a new, empty database (nothing migrated), for commands that build one."""
    config = {
        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "test-secret", "DATA_KEY": support.DATA_KEY,
        "SESSION_COOKIE_SECURE": False,
    }
    if request.param == "postgresql":
        config["DATABASE_URL"] = support.create_pg_database()
    app = create_app(config)
    app.config["BACKEND"] = request.param
    yield app
    app.extensions["nvsi.router"].dispose()
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        support.drop_pg_database(config["DATABASE_URL"])
