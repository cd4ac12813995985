"""Helpers shared by the test modules: test databases and logging in.

PostgreSQL: ``NVSI_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
names the server. Each pytest session creates its own databases and drops them at the end.
With ``CI=true`` an unreachable server fails the run; elsewhere the PostgreSQL tests are skipped.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "NVSI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: The personal-data key of the test apps (a fixed, valid, test-only key).
DATA_KEY = "dGVzdC1vbmx5LWRhdGEta2V5LW5vdC1mb3ItcHJvZHVjdGk="[:43] + "="
#: The password of every user the tests create.
PASSWORD = "correct horse battery staple"
#: The TOTP secret of the test users whose role requires two-factor login (admin, backoffice).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL cannot be reached."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, poolclass=sa.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect
        message = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: the PostgreSQL tests are mandatory)", pytrace=False)
        pytest.skip(message)


def create_pg_database(prefix: str = "nvsi_test") -> str:
    """Create an empty database; returns its URL."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database` (closing its connections first)."""
    name = sa.make_url(url).database
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def csrf_token(html: str) -> str:
    """The CSRF token from a page's ``<meta name="csrf-token">``."""
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def enable_two_factor(user, secret: str = TOTP_SECRET) -> None:
    """Give ``user`` a confirmed authenticator with ``secret`` (the caller commits)."""
    from nvsi.db import utcnow

    user.totp_secret, user.totp_enabled_at = secret, utcnow()


def totp_codes(secret: str = TOTP_SECRET) -> list[str]:
    """The codes the app would accept now: of the previous, current and next 30-second step.
    A code works once, so a second login within one step needs the next code."""
    import time

    import pyotp

    step = int(time.time()) // 30
    return [pyotp.TOTP(secret).generate_otp(s) for s in (step - 1, step, step + 1)]


def login(client, email: str, password: str = PASSWORD, secret: str = TOTP_SECRET):
    """Log ``client`` in through the login form, with a code from ``secret`` when the second step
    asks for one; returns the CSRF token for later requests."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    if response.headers["Location"] == "/auth/code":
        for code in totp_codes(secret):
            response = client.post("/auth/code", data={"code": code, "csrf_token": token})
            if response.status_code == 302:
                break
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    elif response.headers["Location"] == "/auth/tweestapsverificatie":
        # A role that requires two-factor login, without an authenticator yet: enrol the one the
        # page offers (its secret is on the page, for typing by hand), as a person would.
        import pyotp

        page = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
        shown = re.search(r'id="secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
        response = client.post("/auth/tweestapsverificatie",
                               data={"code": pyotp.TOTP(shown).now(), "csrf_token": token})
        assert response.status_code == 200 and "herstelcodes" in response.get_data(as_text=True)
    return token
