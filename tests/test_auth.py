"""Login, logout, sessions, CSRF, throttling (on Redis), cookies and redirects."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nvsi import create_app
from nvsi.auth.models import User
from nvsi.auth.services import set_password
from nvsi.tenancy.routing import ConnectionRouter
from tests import support

REDIS_URL = "redis://127.0.0.1:6379/15"


def _user(session, email) -> User:
    return session.scalar(sa.select(User).where(User.email == email))


def test_login_and_logout(client, login, shared_session):
    token = login("staff@alpha.test")
    assert client.get("/api/v1/session").get_json()["email"] == "staff@alpha.test"
    assert _user(shared_session, "staff@alpha.test").last_login_at is not None
    assert client.get("/logout").status_code == 405  # a link elsewhere cannot log you out
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/api/v1/session").get_json()["authenticated"] is False


@pytest.mark.parametrize("email, password", [
    ("staff@alpha.test", "wrong password!"),
    ("nobody@alpha.test", support.PASSWORD),
])
def test_failed_login_says_so_and_keeps_the_email(client, email, password):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "E-mailadres of wachtwoord onjuist." in html
    assert f'value="{email}"' in html


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"email": "staff@alpha.test", "password": support.PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/v1/session").get_json()["authenticated"] is False


def test_passwords_are_stored_as_argon2id(shared_session):
    assert _user(shared_session, "staff@alpha.test").password_hash.startswith("$argon2id$")


def test_deactivated_user_loses_the_session_at_once(client, login, shared_session):
    login("staff@alpha.test")
    assert client.get("/api/v1/g/alpha/employers").status_code == 200
    _user(shared_session, "staff@alpha.test").active = False
    shared_session.commit()
    assert client.get("/api/v1/g/alpha/employers").status_code == 401
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": "staff@alpha.test", "password": support.PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401


def test_a_new_password_ends_every_existing_session(client, login, shared_session):
    login("staff@alpha.test")
    user = _user(shared_session, "staff@alpha.test")
    set_password(user, "a brand new password")
    shared_session.commit()
    assert client.get("/api/v1/g/alpha/employers").status_code == 401


@pytest.mark.parametrize("target, expected", [
    ("/g/alpha/opdrachtgevers", "/g/alpha/opdrachtgevers"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
])
def test_login_follows_only_local_next_targets(client, target, expected):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=" + target,
        data={"email": "staff@alpha.test", "password": support.PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == expected


def test_a_protected_page_sends_you_to_login_and_back(client):
    response = client.get("/g/alpha/opdrachtgevers?q=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/g/alpha/opdrachtgevers?q%3Dx"


def test_session_cookie_flags(database, connection):
    """With the defaults (no test overrides) the session cookie is Secure, HttpOnly, Lax."""
    config = {k: v for k, v in database.config.items() if not k.endswith("COOKIE_SECURE")}
    app = create_app(config)
    app.extensions["nvsi.router"] = ConnectionRouter(connection, app.extensions["nvsi.router"])
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    response = client.post(
        "/login", base_url="https://localhost",
        data={"email": "staff@alpha.test", "password": support.PASSWORD, "csrf_token": support.csrf_token(page)},
    )
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def _redis_available() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError as exc:
        if support.IN_CI:
            pytest.fail(f"Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")


@pytest.fixture
def throttled_client(database, connection):
    """An app whose login throttle counts in Redis, with small limits."""
    import redis

    _redis_available()
    redis.Redis.from_url(REDIS_URL).flushdb()
    config = {
        **database.config,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "LOGIN_RATE_LIMIT": "4 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "2 per minute",
    }
    app = create_app(config)
    app.extensions["nvsi.router"] = ConnectionRouter(connection, app.extensions["nvsi.router"])
    yield app.test_client()
    redis.Redis.from_url(REDIS_URL).flushdb()


def _attempt(client, email, password, address):
    env = {"REMOTE_ADDR": address}
    token = support.csrf_token(client.get("/login", environ_base=env).get_data(as_text=True))
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, environ_base=env
    )


def test_failed_logins_lock_the_account_for_a_while(throttled_client):
    for _ in range(2):
        assert _attempt(throttled_client, "staff@alpha.test", "wrong!", "10.0.0.1").status_code == 401
    # From another address, even with the right password: the account waits.
    locked = _attempt(throttled_client, "staff@alpha.test", support.PASSWORD, "10.0.0.2")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "Te veel inlogpogingen" in locked.get_data(as_text=True)
    # Another account is not affected.
    assert _attempt(throttled_client, "staff@beta.test", support.PASSWORD, "10.0.0.2").status_code == 302


def test_one_address_cannot_try_many_accounts(throttled_client):
    statuses = [
        _attempt(throttled_client, f"user{i}@alpha.test", "wrong!", "10.0.0.9").status_code for i in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
