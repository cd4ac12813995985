"""Two-factor login: the code step, enrolment (QR code, secret, confirmation), recovery codes,
the security page, the mandatory roles, and what a half-logged-in session can reach."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pyotp
import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.auth import totp
from nvsi.auth.models import RecoveryCode, Role, User
from nvsi.auth.services import create_user
from nvsi.db import utcnow
from tests import support


def _user(session, email) -> User:
    return session.scalar(sa.select(User).where(User.email == email))


def _password_step(client, email, password=support.PASSWORD):
    token = support.csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    return token, response


def _code_step(client, token, code):
    return client.post("/auth/code", data={"code": code, "csrf_token": token})


def _events(session, action, user_id=None):
    query = sa.select(AuditEvent).where(AuditEvent.action == action)
    if user_id is not None:
        query = query.where(AuditEvent.object_id == str(user_id))
    return list(session.scalars(query))


def _secret_on(page: str) -> str:
    return re.search(r'<code class="secret" id="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")


def _authenticated(client) -> bool:
    return client.get("/api/v1/session").get_json()["authenticated"]


@pytest.fixture
def new_admin(shared_session):
    """An NVSI administrator without an authenticator (as after an invitation or a new role)."""
    user = create_user(shared_session, "nieuw@nvsi.test", "Nieuwe Beheerder", support.PASSWORD, Role.NVSI_ADMIN)
    shared_session.commit()
    return user


# -- the code step -----------------------------------------------------------------------------


def test_after_the_password_an_admin_is_asked_for_a_code_and_reaches_nothing_else(client):
    token, response = _password_step(client, "admin@nvsi.test")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/code"
    page = client.get("/auth/code")
    assert page.status_code == 200 and "Code uit de app" in page.get_data(as_text=True)
    # Half logged in: pages send you to the login, the API answers 401.
    assert client.get("/nvsi/contract").status_code == 302
    assert "/login" in client.get("/nvsi/contract").headers["Location"]
    api = client.get("/api/v1/contracts")
    assert api.status_code == 401 and api.get_json()["code"] == "unauthenticated"
    assert client.get("/g/alpha/opdrachtgevers").status_code == 302  # the backoffice's tenant pages too
    assert not _authenticated(client)

    response = _code_step(client, token, support.totp_codes()[1])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _authenticated(client)
    assert client.get("/api/v1/contracts").status_code == 200


def test_the_backoffice_too_needs_a_code(client):
    _, response = _password_step(client, "backoffice@nvsi.test")
    assert response.headers["Location"] == "/auth/code"
    assert client.get("/api/v1/g/alpha/employers").status_code == 401


def test_a_wrong_code_keeps_you_out_and_counts_as_a_failure(client, shared_session):
    token, _ = _password_step(client, "admin@nvsi.test")
    response = _code_step(client, token, "000000" if "000000" not in support.totp_codes() else "111111")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "Deze code is onjuist, verlopen of al gebruikt." in html and 'aria-invalid="true"' in html
    assert not _authenticated(client)
    shared_session.expire_all()
    assert _user(shared_session, "admin@nvsi.test").failed_logins == 1
    # The right code still works, and the count starts again.
    assert _code_step(client, token, support.totp_codes()[1]).status_code == 302
    shared_session.expire_all()
    assert _user(shared_session, "admin@nvsi.test").failed_logins == 0


def test_a_code_works_only_once(client, app):
    code = support.totp_codes()[2]
    token, _ = _password_step(client, "admin@nvsi.test")
    assert _code_step(client, token, code).status_code == 302
    client.post("/logout", data={"csrf_token": token})
    token, _ = _password_step(client, "admin@nvsi.test")
    assert _code_step(client, token, code).status_code == 401  # replayed
    # An older code (before the one used) is refused too, even inside the window.
    assert _code_step(client, token, support.totp_codes()[0]).status_code == 401
    assert not _authenticated(client)


def test_codes_of_one_step_either_side_are_accepted_and_no_further(app, shared_session):
    user = _user(shared_session, "admin@nvsi.test")
    now = dt.datetime(2026, 11, 23, 12, 0, 10, tzinfo=dt.timezone.utc)
    step = totp.time_step(now)
    otp = pyotp.TOTP(support.TOTP_SECRET)
    with app.test_request_context():
        assert not totp.check_code(shared_session, user, otp.generate_otp(step - 2), now)
        assert not totp.check_code(shared_session, user, otp.generate_otp(step + 2), now)
        assert totp.check_code(shared_session, user, otp.generate_otp(step - 1), now)
        assert totp.check_code(shared_session, user, otp.generate_otp(step + 1), now)
        assert not totp.check_code(shared_session, user, otp.generate_otp(step), now)  # before the last used
    assert user.totp_last_step == step + 1
    # RFC 6238 appendix B: the SHA-1 test vector (the secret "12345678901234567890").
    rfc = pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", digits=8)
    assert rfc.at(59) == "94287082"


def test_the_code_step_expires(client):
    token, _ = _password_step(client, "admin@nvsi.test")
    with client.session_transaction() as session:
        session["nvsi.auth.pending"] = {**session["nvsi.auth.pending"], "exp": 0}
    response = _code_step(client, token, support.totp_codes()[1])
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not _authenticated(client)


def test_municipality_users_without_two_factor_log_in_with_the_password(client):
    _, response = _password_step(client, "staff@alpha.test")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _authenticated(client)


# -- enrolment ---------------------------------------------------------------------------------


def test_an_admin_without_authenticator_must_enrol_before_anything_else(client, shared_session, new_admin):
    token, response = _password_step(client, "nieuw@nvsi.test")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/tweestapsverificatie"
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.get("/api/v1/contracts").status_code == 401
    assert client.get("/auth/code").headers["Location"] == "/login"  # no code step without an authenticator

    page = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
    assert '<svg role="img" aria-label="QR-code' in page  # the QR code, inline
    assert "Later instellen" not in page  # mandatory for this role
    secret = _secret_on(page)
    assert _secret_on(client.get("/auth/tweestapsverificatie").get_data(as_text=True)) == secret  # a reload: the same
    assert client.post("/auth/tweestapsverificatie/later", data={"csrf_token": token}).headers["Location"] \
        == "/auth/tweestapsverificatie"

    wrong = client.post("/auth/tweestapsverificatie", data={"code": "12345", "csrf_token": token})
    assert wrong.status_code == 422 and "Deze code klopt niet" in wrong.get_data(as_text=True)
    assert not _authenticated(client)

    done = client.post("/auth/tweestapsverificatie",
                       data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "Uw herstelcodes" in html
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", html)
    assert len(set(codes)) == 10
    assert _authenticated(client)  # enrolled: logged in

    shared_session.expire_all()
    user = _user(shared_session, "nieuw@nvsi.test")
    assert user.two_factor_enabled and user.totp_secret == secret and user.totp_pending_secret is None
    assert len(_events(shared_session, "user.two_factor_enabled", user.id)) == 1


def test_the_secret_is_encrypted_at_rest_and_never_logged_or_audited(client, shared_session, new_admin, caplog):
    caplog.set_level(logging.DEBUG)
    token, _ = _password_step(client, "nieuw@nvsi.test")
    secret = _secret_on(client.get("/auth/tweestapsverificatie").get_data(as_text=True))
    client.post("/auth/tweestapsverificatie", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    stored = shared_session.execute(sa.text("SELECT totp_secret FROM nvsi.users WHERE email = 'nieuw@nvsi.test'")
                                    if shared_session.get_bind().dialect.name == "postgresql" else
                                    sa.text("SELECT totp_secret FROM users WHERE email = 'nieuw@nvsi.test'")).scalar_one()
    assert stored and secret not in stored and secret.lower() not in stored.lower()
    assert secret not in caplog.text
    for event in shared_session.scalars(sa.select(AuditEvent)):
        assert secret not in str(event.changes)


def test_recovery_codes_are_stored_as_hashes_work_once_and_are_audited(client, shared_session, new_admin):
    token, _ = _password_step(client, "nieuw@nvsi.test")
    secret = _secret_on(client.get("/auth/tweestapsverificatie").get_data(as_text=True))
    html = client.post("/auth/tweestapsverificatie",
                       data={"code": pyotp.TOTP(secret).now(), "csrf_token": token}).get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", html)
    hashes = list(shared_session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == new_admin.id)))
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    client.post("/logout", data={"csrf_token": token})

    token, _ = _password_step(client, "nieuw@nvsi.test")
    response = _code_step(client, token, codes[3].upper().replace("-", " "))  # typed loosely
    assert response.status_code == 302 and _authenticated(client)
    [event] = _events(shared_session, "user.recovery_code_used", new_admin.id)
    assert event.changes == {"remaining": 9} and event.actor_user_id == new_admin.id
    client.post("/logout", data={"csrf_token": token})

    token, _ = _password_step(client, "nieuw@nvsi.test")
    assert _code_step(client, token, codes[3]).status_code == 401  # used
    assert _code_step(client, token, "abcde-fghjk").status_code == 401  # never issued
    assert not _authenticated(client)


def test_a_session_of_an_admin_without_authenticator_is_sent_back_to_enrolment(client, login, shared_session):
    """A session from before the requirement (or a role just changed) reaches nothing either."""
    login("staff@alpha.test")
    user = _user(shared_session, "staff@alpha.test")
    user.role = Role.BACKOFFICE
    shared_session.commit()
    api = client.get("/api/v1/g/alpha/employers")
    assert api.status_code == 401 and api.get_json()["code"] == "two_factor_required"
    assert not _authenticated(client)
    page = client.get("/auth/tweestapsverificatie")
    assert page.status_code == 200 and "verplicht" in page.get_data(as_text=True)


# -- the security page -------------------------------------------------------------------------


def test_a_municipality_user_turns_two_factor_on_and_off(client, login, shared_session):
    token = login("staff@alpha.test")
    page = client.get("/auth/beveiliging").get_data(as_text=True)
    assert "Tweestapsverificatie staat uit" in page
    secret = _secret_on(client.get("/auth/tweestapsverificatie").get_data(as_text=True))
    response = client.post("/auth/tweestapsverificatie", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert response.status_code == 200 and "Uw herstelcodes" in response.get_data(as_text=True)
    assert "staat aan sinds" in client.get("/auth/beveiliging").get_data(as_text=True)

    # From now on the login asks for a code.
    client.post("/logout", data={"csrf_token": token})
    token, response = _password_step(client, "staff@alpha.test")
    assert response.headers["Location"] == "/auth/code"
    assert _code_step(client, token, support.totp_codes(secret)[2]).status_code == 302

    # Switching off needs the password and a code.
    wrong = client.post("/auth/tweestapsverificatie/uitzetten",
                        data={"password": "not my password", "code": "123456", "csrf_token": token})
    assert wrong.status_code == 422 and "Het wachtwoord is onjuist." in wrong.get_data(as_text=True)
    no_code = client.post("/auth/tweestapsverificatie/uitzetten",
                          data={"password": support.PASSWORD, "code": "", "csrf_token": token})
    assert no_code.status_code == 422
    shared_session.expire_all()
    user = _user(shared_session, "staff@alpha.test")
    assert user.two_factor_enabled
    step = int(utcnow().timestamp()) // 30
    user.totp_last_step = step - 2  # a minute later: the login's code is history, a new one shows
    shared_session.commit()
    response = client.post("/auth/tweestapsverificatie/uitzetten", data={
        "password": support.PASSWORD, "code": pyotp.TOTP(secret).generate_otp(step), "csrf_token": token})
    assert response.status_code == 302
    shared_session.expire_all()
    user = _user(shared_session, "staff@alpha.test")
    assert not user.two_factor_enabled and user.totp_secret is None
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)
                                 .where(RecoveryCode.user_id == user.id)) == 0
    assert len(_events(shared_session, "user.two_factor_disabled", user.id)) == 1


def test_roles_that_require_two_factor_cannot_switch_it_off(client, login, shared_session):
    token = login("admin@nvsi.test")
    assert "uitzetten kan niet" in client.get("/auth/beveiliging").get_data(as_text=True)
    response = client.post("/auth/tweestapsverificatie/uitzetten", data={
        "password": support.PASSWORD, "code": support.totp_codes()[2], "csrf_token": token})
    assert response.status_code == 403
    shared_session.expire_all()
    assert _user(shared_session, "admin@nvsi.test").two_factor_enabled


def test_new_recovery_codes_replace_the_old_ones(client, login, shared_session):
    token = login("admin@nvsi.test")
    user = _user(shared_session, "admin@nvsi.test")
    with client.application.test_request_context():
        old = totp.new_recovery_codes(shared_session, user)
    shared_session.commit()
    refused = client.post("/auth/herstelcodes", data={"code": "", "csrf_token": token})
    assert refused.status_code == 422
    response = client.post("/auth/herstelcodes", data={"code": support.totp_codes()[2], "csrf_token": token})
    new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert len(_events(shared_session, "user.recovery_codes_generated", user.id)) == 2
    client.post("/logout", data={"csrf_token": token})
    token, _ = _password_step(client, "admin@nvsi.test")
    assert _code_step(client, token, old[0]).status_code == 401
    assert _code_step(client, token, new[0]).status_code == 302


def test_linking_a_new_phone_needs_the_password(client, login, shared_session):
    token = login("admin@nvsi.test")
    page = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
    assert 'name="password"' in page
    secret = _secret_on(page)
    assert secret != support.TOTP_SECRET
    refused = client.post("/auth/tweestapsverificatie", data={
        "password": "wrong password!", "code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert refused.status_code == 422
    shared_session.expire_all()
    assert _user(shared_session, "admin@nvsi.test").totp_secret == support.TOTP_SECRET  # the old one still works
    done = client.post("/auth/tweestapsverificatie", data={
        "password": support.PASSWORD, "code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200
    shared_session.expire_all()
    user = _user(shared_session, "admin@nvsi.test")
    assert user.totp_secret == secret
    assert len(_events(shared_session, "user.two_factor_replaced", user.id)) == 1


def test_the_pages_are_dutch_and_labelled(client, login):
    login("staff@alpha.test")
    page = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
    assert '<html lang="nl">' in page and '<label for="code">' in page
    assert "Later instellen" not in page  # only offered on the way in (invitation)


def test_an_operator_resets_two_factor_for_someone_who_lost_phone_and_codes(app, client, shared_session):
    result = app.test_cli_runner().invoke(args=["users", "reset-two-factor", "admin@nvsi.test"])
    assert result.exit_code == 0, result.output
    assert not _user(shared_session, "admin@nvsi.test").two_factor_enabled
    assert len(_events(shared_session, "user.two_factor_reset")) == 1
    _, response = _password_step(client, "admin@nvsi.test")
    assert response.headers["Location"] == "/auth/tweestapsverificatie"  # mandatory: a new one now
