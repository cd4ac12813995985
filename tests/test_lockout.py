"""Lockout after LOGIN_LOCKOUT_THRESHOLD failed attempts in a row (password or code): locked
until a moment stored in the database, audited, the same answer for unknown addresses; a
successful login resets the count."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.auth.models import User
from nvsi.db import utcnow
from tests import support

LOCKED = "Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen."


@pytest.fixture(autouse=True)
def _fresh_counters(app):
    """Failures of unknown addresses are counted in the throttle's storage, not the database."""
    storage = app.extensions["nvsi.login_throttle"].storage
    storage.reset()
    yield
    storage.reset()


def _user(session, email) -> User:
    session.expire_all()
    return session.scalar(sa.select(User).where(User.email == email))


def _attempt(client, email, password):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_the_defaults_are_ten_attempts_and_fifteen_minutes(app):
    assert app.config["LOGIN_LOCKOUT_THRESHOLD"] == 10 and app.config["LOGIN_LOCKOUT_MINUTES"] == 15


def test_ten_failures_lock_the_account_until_a_stored_moment(client, shared_session):
    for _ in range(9):
        response = _attempt(client, "staff@alpha.test", "wrong password!")
        assert response.status_code == 401 and LOCKED not in response.get_data(as_text=True)
    assert _user(shared_session, "staff@alpha.test").failed_logins == 9
    before = utcnow()
    tenth = _attempt(client, "staff@alpha.test", "wrong password!")
    assert tenth.status_code == 429 and LOCKED in tenth.get_data(as_text=True)
    user = _user(shared_session, "staff@alpha.test")
    assert before + dt.timedelta(minutes=15) <= user.locked_until <= utcnow() + dt.timedelta(minutes=15)
    assert 890 <= int(tenth.headers["Retry-After"]) <= 901
    # The page says until when (Amsterdam time).
    local = user.locked_until.astimezone(ZoneInfo("Europe/Amsterdam")).strftime("%H:%M")
    assert local in tenth.get_data(as_text=True)
    [event] = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.locked"))
    assert event.object_id == str(user.id) and event.changes["failed_attempts"] == 10
    assert event.actor_label == "system:lockout"

    # Even the right password does not open it now.
    right = _attempt(client, "staff@alpha.test", support.PASSWORD)
    assert right.status_code == 429 and LOCKED in right.get_data(as_text=True)
    assert not client.get("/api/v1/session").get_json()["authenticated"]


def test_the_lock_ends_at_its_time_and_a_login_resets_the_count(client, shared_session):
    user = _user(shared_session, "staff@alpha.test")
    user.locked_until, user.failed_logins = utcnow() - dt.timedelta(seconds=1), 4
    shared_session.commit()
    assert _attempt(client, "staff@alpha.test", support.PASSWORD).status_code == 302
    user = _user(shared_session, "staff@alpha.test")
    assert user.failed_logins == 0 and user.locked_until is None


def test_failures_must_be_in_a_row(client, shared_session):
    for _ in range(6):
        _attempt(client, "staff@alpha.test", "wrong password!")
    assert _attempt(client, "staff@alpha.test", support.PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": support.csrf_token(client.get("/auth/beveiliging").get_data(as_text=True))})
    for _ in range(6):
        assert _attempt(client, "staff@alpha.test", "wrong password!").status_code == 401
    assert _user(shared_session, "staff@alpha.test").locked_until is None


def test_wrong_codes_count_and_lock_too(client, shared_session):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    codes = set(support.totp_codes())
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in codes)
    for attempt in range(10):
        if attempt % 3 == 0:  # the password step again now and then: it does not reset the count
            assert client.post("/login", data={"email": "admin@nvsi.test", "password": support.PASSWORD,
                                               "csrf_token": token}).status_code == 302
        response = client.post("/auth/code", data={"code": wrong, "csrf_token": token})
    assert response.status_code == 429 and LOCKED in response.get_data(as_text=True)
    assert _user(shared_session, "admin@nvsi.test").locked_until is not None
    # The half login is gone, and the right code no longer helps.
    after = client.post("/auth/code", data={"code": support.totp_codes()[1], "csrf_token": token})
    assert after.status_code == 302 and after.headers["Location"] == "/login"
    assert not client.get("/api/v1/session").get_json()["authenticated"]


def _normalised(html: str, email: str) -> str:
    html = html.replace(email, "EMAIL")
    html = re.sub(r"\d{1,2} \w+ \d{4} \d{2}:\d{2}", "WHEN", html)
    return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", html)


@pytest.mark.parametrize("attempts", [1, 10, 11])
def test_an_unknown_address_gets_the_same_answers(client, attempts):
    """Whether an address has an account cannot be told from the answers: wrong, locked, still locked."""
    for _ in range(attempts):
        known = _attempt(client, "staff@alpha.test", "wrong password!")
    other = client.application.test_client()
    for _ in range(attempts):
        unknown = _attempt(other, "nobody@alpha.test", "wrong password!")
    assert known.status_code == unknown.status_code == (401 if attempts == 1 else 429)
    assert abs(int(known.headers.get("Retry-After", 0)) - int(unknown.headers.get("Retry-After", 0))) <= 2
    assert _normalised(known.get_data(as_text=True), "staff@alpha.test") == \
        _normalised(unknown.get_data(as_text=True), "nobody@alpha.test")


def test_an_operator_can_lift_a_lock(app, client, shared_session):
    user = _user(shared_session, "staff@alpha.test")
    user.locked_until = utcnow() + dt.timedelta(minutes=10)
    shared_session.commit()
    assert _attempt(client, "staff@alpha.test", support.PASSWORD).status_code == 429
    result = app.test_cli_runner().invoke(args=["users", "unlock", "staff@alpha.test"])
    assert result.exit_code == 0, result.output
    assert _attempt(client, "staff@alpha.test", support.PASSWORD).status_code == 302
    assert [e.actor_label for e in shared_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.unlocked"))] == ["system:cli"]
    assert app.test_cli_runner().invoke(args=["users", "unlock", "nobody@x.test"]).exit_code != 0


def test_a_lock_that_falls_during_the_code_step_stops_it(client, shared_session):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "admin@nvsi.test", "password": support.PASSWORD, "csrf_token": token})
    user = _user(shared_session, "admin@nvsi.test")
    user.locked_until = utcnow() + dt.timedelta(minutes=15)  # failures from elsewhere meanwhile
    shared_session.commit()
    response = client.post("/auth/code", data={"code": support.totp_codes()[1], "csrf_token": token})
    assert response.status_code == 429 and LOCKED in response.get_data(as_text=True)
    assert not client.get("/api/v1/session").get_json()["authenticated"]
