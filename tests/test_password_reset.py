"""Password reset by e-mail, through a real local SMTP server (tests/smtp.py): the same answer for
every address, a signed link that works once and for an hour, the usual password rules, other
sessions end, and the two-factor step stays."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.auth import tokens
from nvsi.auth.models import User
from nvsi.auth.services import verify_password
from nvsi.db import utcnow
from tests import smtp, support

NEW_PASSWORD = "een heel nieuw wachtwoord"


@pytest.fixture
def smtp_server(app, monkeypatch):
    for server in smtp.running(monkeypatch):
        server.use(app)
        yield server


def _user(session, email) -> User:
    session.expire_all()
    return session.scalar(sa.select(User).where(User.email == email))


def _ask(client, email):
    token = support.csrf_token(client.get("/auth/wachtwoord-vergeten").get_data(as_text=True))
    return client.post("/auth/wachtwoord-vergeten", data={"email": email, "csrf_token": token})


def _link(message) -> str:
    return re.search(r"http://localhost(/auth/wachtwoord/\S+)", message.text).group(1)


def test_the_answer_is_the_same_for_every_address_and_only_accounts_get_mail(client, smtp_server):
    known = _ask(client, "Staff@Alpha.test ")
    unknown = _ask(client, "nobody@alpha.test")
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1",  # noqa: E731
                                r.get_data(as_text=True)).replace(e, "EMAIL")
    assert strip(known, "Staff@Alpha.test") == strip(unknown, "nobody@alpha.test")
    assert "Als er een account is met het adres" in known.get_data(as_text=True)
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["staff@alpha.test"]
    assert mail.subject == "Nieuw wachtwoord voor NVSI Flextensie"
    assert "60 minuten geldig" in mail.text and "/auth/wachtwoord/" in mail.text
    assert support.PASSWORD not in mail.text


def test_a_bad_address_is_refused_on_its_field(client):
    response = _ask(client, "geen adres")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#email"' in html and 'value="geen adres"' in html


def test_the_link_sets_a_new_password_once_and_ends_other_sessions(client, app, smtp_server, shared_session):
    other = app.test_client()
    support.login(other, "staff@alpha.test")
    assert other.get("/api/v1/g/alpha/employers").status_code == 200

    _ask(client, "staff@alpha.test")
    link = _link(smtp_server.messages[0])
    page = client.get(link)
    assert page.status_code == 200 and "staff@alpha.test" in page.get_data(as_text=True)
    token = support.csrf_token(page.get_data(as_text=True))

    short = client.post(link, data={"password": "kort", "password_confirmation": "kort", "csrf_token": token})
    assert short.status_code == 422 and "minstens 12 tekens" in short.get_data(as_text=True)
    mismatch = client.post(link, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD + "!",
                                       "csrf_token": token})
    assert mismatch.status_code == 422
    assert 'href="#password_confirmation"' in mismatch.get_data(as_text=True)

    done = client.post(link, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD,
                                   "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    user = _user(shared_session, "staff@alpha.test")
    assert verify_password(user, NEW_PASSWORD) and not verify_password(user, support.PASSWORD)
    assert other.get("/api/v1/g/alpha/employers").status_code == 401  # the other session ended
    assert [e.action for e in shared_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.object_id == str(user.id)).order_by(AuditEvent.id))] == [
        "user.password_reset_requested", "user.password_reset"]

    again = client.get(link)
    assert again.status_code == 404 and "ongeldig of al gebruikt" in again.get_data(as_text=True)
    assert support.login(client, "staff@alpha.test", NEW_PASSWORD)


def test_the_link_expires_after_an_hour(app, client, shared_session):
    user = _user(shared_session, "staff@alpha.test")
    with app.test_request_context():
        fresh = tokens.make_token(tokens.PASSWORD_RESET, user, utcnow() - dt.timedelta(minutes=59))
        stale = tokens.make_token(tokens.PASSWORD_RESET, user, utcnow() - dt.timedelta(minutes=61))
    assert client.get(f"/auth/wachtwoord/{fresh}").status_code == 200
    response = client.get(f"/auth/wachtwoord/{stale}")
    assert response.status_code == 410 and "verlopen" in response.get_data(as_text=True)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
    lambda t: "x" + t,
    lambda t: "nonsense",
])
def test_an_altered_link_opens_nothing(app, client, shared_session, mangle):
    user = _user(shared_session, "staff@alpha.test")
    with app.test_request_context():
        token = tokens.make_token(tokens.PASSWORD_RESET, user)
        invitation = tokens.make_token(tokens.INVITATION, user)
    assert client.get(f"/auth/wachtwoord/{mangle(token)}").status_code == 404
    assert client.get(f"/auth/wachtwoord/{invitation}").status_code == 404  # another purpose's token


def test_a_reset_does_not_skip_the_code(client, smtp_server, shared_session):
    _ask(client, "admin@nvsi.test")
    link = _link(smtp_server.messages[0])
    token = support.csrf_token(client.get(link).get_data(as_text=True))
    client.post(link, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD, "csrf_token": token})
    assert not client.get("/api/v1/session").get_json()["authenticated"]
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "admin@nvsi.test", "password": NEW_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/auth/code"
    assert not client.get("/api/v1/session").get_json()["authenticated"]


def test_a_deactivated_account_gets_no_mail(client, smtp_server, shared_session):
    _user(shared_session, "staff@alpha.test").active = False
    shared_session.commit()
    assert _ask(client, "staff@alpha.test").status_code == 200
    assert smtp_server.messages == []


def test_a_failing_mail_server_changes_nothing_the_visitor_sees(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp.free_port())  # nothing listens there
    monkeypatch.setitem(app.config, "MAIL_FROM", "noreply@nvsi.test")
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    response = _ask(client, "staff@alpha.test")
    assert response.status_code == 200 and "Als er een account is" in response.get_data(as_text=True)
