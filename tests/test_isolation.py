"""Tenant isolation at the data layer: routing, sessions, pools, savepoints."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nvsi.extensions import db
from nvsi.tenancy.routing import (
    Router,
    RoutingSession,
    TenantBindingError,
    TenantRef,
    bind_tenant,
    for_each_tenant,
    tenant_session,
)
from tenants.employers.models import Employer
from tenants.employers.services import create_employer
from tests.conftest import employer_data


def test_overlapping_ids_stay_apart(tenant_session):
    alpha, beta = tenant_session("alpha"), tenant_session("beta")
    assert alpha.get(Employer, 1).name == "Alfa Bouw B.V."
    assert beta.get(Employer, 1).name == "Beta Zorg B.V."
    assert alpha.scalars(sa.select(Employer.name)).all() == ["Alfa Bouw B.V."]
    assert beta.scalars(sa.select(Employer.name)).all() == ["Beta Zorg B.V."]


def test_a_session_never_switches_tenant(app, tenant_session):
    session = tenant_session("alpha")
    session.get(Employer, 1)
    with pytest.raises(TenantBindingError):
        bind_tenant(session, "t_beta")


def test_a_session_that_started_on_the_shared_level_cannot_take_a_tenant(app, shared_session):
    shared_session.execute(sa.text("SELECT 1"))
    with pytest.raises(TenantBindingError):
        bind_tenant(shared_session, "t_alpha")


def test_tenant_tables_without_a_tenant_are_refused(shared_session):
    with pytest.raises(TenantBindingError):
        shared_session.get(Employer, 1)


def test_an_escaped_raw_query_fails_loudly(database):
    """Production routing: tenant tables are on no default search path, so a statement that
    escaped the routing cannot read any tenant; it fails."""
    base: Router = database.app.extensions["nvsi.router"]
    with base.shared_bind().connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT count(*) FROM employers"))


def test_savepoint_rollback_keeps_the_rest(tenant_session):
    session = tenant_session("alpha")
    kept = create_employer(session, employer_data(name="Blijft", kvk_number="11111111"))
    savepoint = session.begin_nested()
    session.add(Employer(**employer_data(name="Weg", kvk_number="22222222")))
    session.flush()
    savepoint.rollback()
    names = session.scalars(sa.select(Employer.name).order_by(Employer.id)).all()
    assert names == ["Alfa Bouw B.V.", "Blijft"]
    assert session.get(Employer, kept.id).name == "Blijft"


def test_commit_then_refresh_reads_the_same_tenant(tenant_session):
    session = tenant_session("beta")
    employer = create_employer(session, employer_data(name="Nieuw in Beta", kvk_number="33333333"))
    session.commit()  # expires every attribute: the next read goes back to the database
    assert employer.name == "Nieuw in Beta"
    session.refresh(employer)
    assert employer.city == "Utrecht"
    assert tenant_session("alpha").get(Employer, employer.id) is None


def test_production_routing_keeps_tenants_apart_on_pooled_connections(database):
    """Production routing, no test connection.

    PostgreSQL: with a pool of exactly one connection, tenant A's, then B's, then A's work use
    that same connection, and each sees only its own rows: nothing of one tenant's routing is
    left on the connection. SQLite: a tenant's engine has only that tenant attached.
    """
    app = database.app
    base: Router = app.extensions["nvsi.router"]
    if base.is_sqlite:
        router = Router(base.engine, base.tenant_dir)
        with router.tenant_bind("t_alpha").connect() as conn:
            attached = {row[1] for row in conn.exec_driver_sql("PRAGMA database_list")}
            assert attached == {"main", "t_alpha"}
            assert conn.execute(sa.select(Employer.name)).scalars().all() == ["Alfa Bouw B.V."]
            with pytest.raises(sa.exc.OperationalError):
                conn.exec_driver_sql("SELECT * FROM t_beta.employers")
        router.dispose()
        return
    engine = sa.create_engine(base.engine.url, pool_size=1, max_overflow=0)
    router = Router(engine)
    seen = []
    with app.app_context():
        for slug in ("alpha", "beta", "alpha"):
            ref = TenantRef(id=0, slug=slug, name=slug, schema="t_" + slug)
            with tenant_session(db, ref, router=router) as session:
                names = session.scalars(sa.select(Employer.name)).all()
                dbapi_conn = session.connection().connection.dbapi_connection
                seen.append((names, id(dbapi_conn)))
    engine.dispose()
    assert [names for names, _ in seen] == [["Alfa Bouw B.V."], ["Beta Zorg B.V."], ["Alfa Bouw B.V."]]
    assert len({conn_id for _, conn_id in seen}) == 1, "expected one pooled connection for all"


def test_for_each_tenant_uses_one_session_per_tenant(app):
    seen = {}

    def work(session: RoutingSession, tenant: TenantRef):
        seen[tenant.slug] = id(session)
        return session.scalars(sa.select(Employer.name).order_by(Employer.id)).all()

    with app.app_context():
        result = for_each_tenant(db, work)
    assert result == {"alpha": ["Alfa Bouw B.V."], "beta": ["Beta Zorg B.V."], "gamma": []}
    assert len(set(seen.values())) == 3


def test_for_each_tenant_rolls_back_the_failing_tenant_only(app, tenant_session):
    def work(session, tenant):
        create_employer(session, employer_data(name=f"Job {tenant.slug}", kvk_number="44444444"))
        if tenant.slug == "beta":
            raise RuntimeError("boom")

    with app.app_context(), pytest.raises(RuntimeError):
        for_each_tenant(db, work)
    alpha_names = tenant_session("alpha").scalars(sa.select(Employer.name)).all()
    beta_names = tenant_session("beta").scalars(sa.select(Employer.name)).all()
    assert "Job alpha" in alpha_names
    assert "Job beta" not in beta_names
