"""A municipality's users (pages /g/<slug>/users, API /api/v1/g/<slug>/users) and the invitation
(nvsi.auth.invitations.invite, the link /auth/invitation/<token>): invite, accept (password, then
two-factor enrolment), deactivate and reactivate, all audited and tenant-scoped. Mail goes
through a real local SMTP server (tests/smtp.py)."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.auth import invitations, tokens
from nvsi.auth.models import EndedMembership, Membership, Role, User
from nvsi.auth.services import AccountRefused
from nvsi.db import utcnow
from tests import smtp, support

NEW = {"name": "Nina Nieuw", "email": "nina@alpha.test", "role": "municipality_staff"}
NEW_PASSWORD = "mijn eigen sterke wachtwoord"


@pytest.fixture
def smtp_server(app, monkeypatch):
    for server in smtp.running(monkeypatch):
        server.use(app)
        yield server


def _user(session, email) -> User:
    session.expire_all()
    return session.scalar(sa.select(User).where(User.email == email))


def _events(session, action):
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _invitation_path(message) -> str:
    return re.search(r"http://localhost(/auth/invitation/\S+)", message.text).group(1)


def _status(client, slug, email):
    items = client.get(f"/api/v1/g/{slug}/users").get_json()["items"]
    return {u["email"]: u["status"] for u in items}.get(email)


# -- inviting ----------------------------------------------------------------------------------


def test_an_admin_invites_a_user_who_gets_a_dutch_mail_with_the_link(client, login, smtp_server, shared_session):
    token = login("admin@alpha.test")
    response = client.post("/api/v1/g/alpha/users", json=NEW, headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["mail_sent"] is True and body["existing_account"] is False
    assert body["user"]["status"] == "invited" and body["user"]["role"] == "municipality_staff"
    assert response.headers["Location"].endswith(f"/api/v1/g/alpha/users/{body['user']['id']}")
    assert "invitation" not in str(body)  # the admin never sees the link itself

    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["nina@alpha.test"]
    assert mail.subject == "Uitnodiging voor NVSI Flextensie voor Gemeente Alfa"
    assert "Beste Nina Nieuw" in mail.text and "7 dagen geldig" in mail.text and "/auth/invitation/" in mail.text

    user = _user(shared_session, "nina@alpha.test")
    assert user.role is Role.MUNICIPALITY_STAFF and not user.password_hash.startswith("$argon2")
    [event] = _events(shared_session, "user.invited")
    assert event.tenant_id == 1 and event.object_id == str(user.id) and event.changes["mail_sent"] is True
    assert event.actor_label == "admin@alpha.test"
    assert _status(client, "alpha", "nina@alpha.test") == "invited"


def test_bad_input_names_each_field(client, login):
    token = login("admin@alpha.test")
    response = client.post("/api/v1/g/alpha/users", json={"email": "geen adres", "role": "nvsi_admin", "x": 1},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"email", "name", "role", "x"}


def test_the_invite_form_keeps_what_was_typed(client, login):
    token = login("admin@alpha.test")
    response = client.post("/g/alpha/users/invite", data={
        "name": "Piet", "email": "piet@", "role": "municipality_admin", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'href="#email"' in html
    assert 'value="Piet"' in html and 'value="piet@"' in html
    assert re.search(r'value="municipality_admin"\s+checked', html)


def test_inviting_again_reuses_the_account_until_a_password_is_chosen(client, login, shared_session):
    token = login("admin@alpha.test")
    first = client.post("/api/v1/g/alpha/users", json=NEW, headers={"X-CSRFToken": token}).get_json()
    second = client.post("/api/v1/g/alpha/users", json={**NEW, "name": "Nina de Nieuw", "role": "municipality_admin"},
                         headers={"X-CSRFToken": token}).get_json()
    assert first["user"]["id"] == second["user"]["id"]
    user = _user(shared_session, "nina@alpha.test")
    assert user.name == "Nina de Nieuw" and user.role is Role.MUNICIPALITY_ADMIN
    assert len(user.memberships) == 1


def test_someone_with_an_account_elsewhere_gets_access_and_a_mail_that_says_so(client, login, smtp_server,
                                                                               shared_session):
    token = login("admin@alpha.test")
    response = client.post("/api/v1/g/alpha/users", json={"name": "B", "email": "staff@beta.test",
                                                           "role": "municipality_staff"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 201 and response.get_json()["existing_account"] is True
    [mail] = smtp_server.messages
    assert "toegang" in mail.subject and "/login" in mail.text and "/auth/invitation/" not in mail.text
    other = client.application.test_client()
    support.login(other, "staff@beta.test")
    assert other.get("/api/v1/g/alpha/employers").status_code == 200
    assert other.get("/api/v1/g/beta/employers").status_code == 200
    # With another role: refused, on the e-mail field.
    refused = client.post("/api/v1/g/alpha/users", json={"name": "B", "email": "admin@beta.test",
                                                          "role": "municipality_staff"},
                          headers={"X-CSRFToken": token})
    assert refused.status_code == 422 and "email" in refused.get_json()["errors"]


def test_invite_for_the_onboarding_makes_an_nvsi_or_municipality_account(app, shared_session):
    """The interface the approval step calls."""
    with app.test_request_context():
        url = invitations.invite(shared_session, email=" Contact@Gemeente.example ", name="Carla Contact",
                                 role=Role.MUNICIPALITY_ADMIN, tenant_id=3, invited_by=None,
                                 tenant_name="Gemeente Gamma")
        assert url.startswith("http://localhost/auth/invitation/")
        with pytest.raises(AccountRefused) as refused:
            invitations.invite(shared_session, email="x@gemeente.example", name="X",
                               role=Role.MUNICIPALITY_STAFF, tenant_id=None, invited_by=None)
        assert refused.value.violations[0].field == "tenant_id"
    user = _user(shared_session, "contact@gemeente.example")
    assert [m.tenant_id for m in user.memberships] == [3]
    [event] = _events(shared_session, "user.invited")
    assert event.tenant_id == 3 and event.actor_label == "system"


def test_links_use_the_configured_address_outside_a_request(app, shared_session, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "https://flextensie.example/")
    with app.app_context():
        url = invitations.invite(shared_session, email="job@nvsi.test", name="Job", role=Role.BACKOFFICE,
                                 tenant_id=None, invited_by=None)
    assert url.startswith("https://flextensie.example/auth/invitation/")


# -- accepting ---------------------------------------------------------------------------------


def test_a_municipality_user_accepts_sets_a_password_and_may_enrol_later(client, app, login, smtp_server,
                                                                       shared_session):
    admin = app.test_client()
    token = support.login(admin, "admin@alpha.test")
    admin.post("/api/v1/g/alpha/users", json=NEW, headers={"X-CSRFToken": token})
    path = _invitation_path(smtp_server.messages[0])

    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Welkom, Nina Nieuw" in html and "nina@alpha.test" in html
    token = support.csrf_token(html)
    short = client.post(path, data={"password": "kort", "password_confirmation": "kort", "csrf_token": token})
    assert short.status_code == 422 and 'href="#password"' in short.get_data(as_text=True)
    response = client.post(path, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD,
                                       "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/tweestapsverificatie"
    assert not client.get("/api/v1/session").get_json()["authenticated"]  # not before this step
    enrol = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
    assert "Later instellen" in enrol
    later = client.post("/auth/tweestapsverificatie/later", data={"csrf_token": token})
    assert later.status_code == 302
    assert client.get("/api/v1/session").get_json()["email"] == "nina@alpha.test"
    assert client.get("/api/v1/g/alpha/employers").status_code == 200

    assert client.get(path).status_code == 404  # used
    assert _status(admin, "alpha", "nina@alpha.test") == "active"
    assert len(_events(shared_session, "user.invitation_accepted")) == 1


def test_an_invited_nvsi_admin_must_enrol_and_ends_logged_in(client, app, shared_session):
    with app.test_request_context():
        url = invitations.invite(shared_session, email="nieuw@nvsi.test", name="Nieuwe Beheerder",
                                 role=Role.NVSI_ADMIN, tenant_id=None, invited_by=None)
    shared_session.commit()
    path = url.removeprefix("http://localhost")
    token = support.csrf_token(client.get(path).get_data(as_text=True))
    client.post(path, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD, "csrf_token": token})
    enrol = client.get("/auth/tweestapsverificatie").get_data(as_text=True)
    assert "Later instellen" not in enrol and "verplicht" in enrol
    assert client.post("/auth/tweestapsverificatie/later", data={"csrf_token": token}).headers["Location"] \
        == "/auth/tweestapsverificatie"
    assert client.get("/api/v1/contracts").status_code == 401
    secret = re.search(r'id="secret">([A-Z2-7 ]+)<', enrol).group(1).replace(" ", "")
    done = client.post("/auth/tweestapsverificatie", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.get_data(as_text=True))) == 10
    assert client.get("/api/v1/session").get_json()["email"] == "nieuw@nvsi.test"
    assert client.get("/api/v1/contracts").status_code == 200


def test_an_invitation_expires_after_seven_days(app, client, shared_session):
    with app.test_request_context():
        invitations.invite(shared_session, email="laat@alpha.test", name="Laat", role=Role.MUNICIPALITY_STAFF,
                           tenant_id=1, invited_by=None)
        user = _user(shared_session, "laat@alpha.test")
        fresh = tokens.make_token(tokens.INVITATION, user, utcnow() - dt.timedelta(days=6, hours=23))
        stale = tokens.make_token(tokens.INVITATION, user, utcnow() - dt.timedelta(days=7, minutes=1))
    shared_session.commit()
    assert client.get(f"/auth/invitation/{fresh}").status_code == 200
    response = client.get(f"/auth/invitation/{stale}")
    assert response.status_code == 410 and "verlopen" in response.get_data(as_text=True)


# -- deactivating and reactivating -------------------------------------------------------------


def test_deactivating_a_user_of_one_municipality_ends_the_account_and_its_sessions(client, app, login,
                                                                                  shared_session):
    staff = app.test_client()
    support.login(staff, "staff@alpha.test")
    assert staff.get("/api/v1/g/alpha/employers").status_code == 200
    token = login("admin@alpha.test")
    user_id = _user(shared_session, "staff@alpha.test").id

    response = client.post(f"/api/v1/g/alpha/users/{user_id}/deactivate", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["status"] == "deactivated"
    assert staff.get("/api/v1/g/alpha/employers").status_code == 401  # the session ended
    user = _user(shared_session, "staff@alpha.test")
    assert not user.active and user.memberships == []
    [event] = _events(shared_session, "user.deactivated")
    assert event.tenant_id == 1 and event.changes == {"account_deactivated": True, "other_municipalities": 0}
    assert _status(client, "alpha", "staff@alpha.test") == "deactivated"
    token_login = support.csrf_token(staff.get("/login").get_data(as_text=True))
    assert staff.post("/login", data={"email": "staff@alpha.test", "password": support.PASSWORD,
                                      "csrf_token": token_login}).status_code == 401

    response = client.post(f"/api/v1/g/alpha/users/{user_id}/reactivate", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["status"] == "active"
    assert _user(shared_session, "staff@alpha.test").active
    support.login(staff, "staff@alpha.test")
    assert staff.get("/api/v1/g/alpha/employers").status_code == 200
    assert [e.changes for e in _events(shared_session, "user.reactivated")] == [{"account_reactivated": True}]
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(EndedMembership)) == 0


def test_deactivating_a_user_of_two_municipalities_ends_only_this_membership(client, app, login, shared_session):
    both = app.test_client()
    support.login(both, "staff@alphagamma.test")
    token = login("admin@alpha.test")
    user_id = _user(shared_session, "staff@alphagamma.test").id
    assert client.post(f"/g/alpha/users/{user_id}/deactivate", data={"csrf_token": token}).status_code == 302
    assert both.get("/api/v1/g/alpha/employers").status_code == 404
    assert both.get("/api/v1/g/gamma/employers").status_code == 200  # still logged in, still in gamma
    user = _user(shared_session, "staff@alphagamma.test")
    assert user.active and [m.tenant_id for m in user.memberships] == [3]
    page = client.get("/g/alpha/users").get_data(as_text=True)
    assert "staff@alphagamma.test" in page and "Heractiveren" in page
    assert client.post(f"/g/alpha/users/{user_id}/reactivate", data={"csrf_token": token}).status_code == 302
    assert both.get("/api/v1/g/alpha/employers").status_code == 200


def test_an_admin_cannot_deactivate_themself(client, login, shared_session):
    token = login("admin@alpha.test")
    me = _user(shared_session, "admin@alpha.test").id
    response = client.post(f"/api/v1/g/alpha/users/{me}/deactivate", headers={"X-CSRFToken": token})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"user_id": ["U kunt uzelf niet deactiveren; vraag een andere beheerder."]}
    assert _user(shared_session, "admin@alpha.test").active
    page = client.get("/g/alpha/users").get_data(as_text=True)
    assert "(uzelf)" in page


def test_another_municipalitys_user_is_not_found(client, login, shared_session):
    token = login("admin@alpha.test")
    beta_user = _user(shared_session, "staff@beta.test").id
    assert client.get(f"/api/v1/g/alpha/users/{beta_user}").status_code == 404
    assert client.post(f"/api/v1/g/alpha/users/{beta_user}/deactivate",
                       headers={"X-CSRFToken": token}).status_code == 404
    assert _user(shared_session, "staff@beta.test").active
    emails = {u["email"] for u in client.get("/api/v1/g/alpha/users").get_json()["items"]}
    assert emails == {"admin@alpha.test", "staff@alpha.test", "staff@alphagamma.test"}


@pytest.mark.parametrize("email, status", [
    ("staff@alpha.test", 403), ("backoffice@nvsi.test", 403), ("admin@nvsi.test", 404), ("admin@beta.test", 404),
])
def test_only_the_municipalitys_admins_manage_its_users(client, login, email, status):
    login(email)
    assert client.get("/api/v1/g/alpha/users").status_code == status
    assert client.get("/g/alpha/users").status_code == status


def test_a_resent_invitation_goes_out_again(client, login, smtp_server, shared_session):
    token = login("admin@alpha.test")
    user_id = client.post("/api/v1/g/alpha/users", json=NEW, headers={"X-CSRFToken": token}).get_json()["user"]["id"]
    response = client.post(f"/g/alpha/users/{user_id}/invitation", data={"csrf_token": token})
    assert response.status_code == 302
    assert [m.rcpt_tos for m in smtp_server.messages] == [["nina@alpha.test"], ["nina@alpha.test"]]
    staff_id = _user(shared_session, "staff@alpha.test").id
    refused = client.post(f"/api/v1/g/alpha/users/{staff_id}/invitation", headers={"X-CSRFToken": token})
    assert refused.status_code == 422


def test_a_mail_failure_is_reported_and_the_invitation_stands(client, app, login, monkeypatch, shared_session):
    token = login("admin@alpha.test")
    for key, value in {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.free_port(),
                       "MAIL_FROM": "noreply@nvsi.test", "MAIL_USE_TLS": False}.items():
        monkeypatch.setitem(app.config, key, value)
    response = client.post("/g/alpha/users/invite", data={**NEW, "csrf_token": token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "kon niet worden verstuurd" in html and "Uitnodiging opnieuw sturen" in html
    assert _events(shared_session, "user.invited")[0].changes["mail_sent"] is False


def test_the_users_page_lists_and_invites(client, login, shared_session):
    token = login("admin@alpha.test")
    page = client.get("/g/alpha/users").get_data(as_text=True)
    assert "<h1>Gebruikers</h1>" in page and 'href="/g/alpha/users"' in page  # in the navigation
    assert "staff@alpha.test" in page and "staff@beta.test" not in page
    response = client.post("/g/alpha/users/invite", data={**NEW, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/g/alpha/users"
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(Membership)
                                 .join(User).where(User.email == "nina@alpha.test")) == 1


# -- NVSI administrators, from the member administration ---------------------------------------


def test_nvsi_admins_manage_a_members_users_from_the_member_administration(client, login, smtp_server,
                                                                          shared_session):
    token = login("admin@nvsi.test")
    items = client.get("/api/v1/members/alpha/users").get_json()["items"]
    assert {u["email"] for u in items} == {"admin@alpha.test", "staff@alpha.test", "staff@alphagamma.test"}
    response = client.post("/api/v1/members/alpha/users", json={**NEW, "role": "municipality_admin"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 201 and response.headers["Location"].endswith(
        f"/api/v1/members/alpha/users/{response.get_json()['user']['id']}")
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["nina@alpha.test"] and "Gemeente Alfa" in mail.subject
    staff = _user(shared_session, "staff@alpha.test").id
    assert client.post(f"/api/v1/members/alpha/users/{staff}/deactivate",
                       headers={"X-CSRFToken": token}).get_json()["status"] == "deactivated"
    [event] = _events(shared_session, "user.deactivated")
    assert event.actor_label == "admin@nvsi.test" and event.tenant_id == 1
    # The page, the same table; the member's pages use the member's slug.
    page = client.get("/nvsi/leden/alpha/gebruikers").get_data(as_text=True)
    assert "Gemeente Alfa" in page and f'action="/nvsi/leden/alpha/gebruikers/{staff}/heractiveren"' in page
    assert client.post(f"/nvsi/leden/alpha/gebruikers/{staff}/heractiveren",
                       data={"csrf_token": token}).headers["Location"] == "/nvsi/leden/alpha/gebruikers"
    assert _user(shared_session, "staff@alpha.test").active
    # A user of another member is not found under this one.
    beta_user = _user(shared_session, "staff@beta.test").id
    assert client.get(f"/api/v1/members/alpha/users/{beta_user}").status_code == 404
    assert client.get("/api/v1/members/nosuchmember/users").status_code == 404


@pytest.mark.parametrize("email", ["admin@alpha.test", "backoffice@nvsi.test"])
def test_only_nvsi_admins_reach_the_member_user_pages(client, login, email):
    login(email)
    assert client.get("/api/v1/members/alpha/users").status_code == 403
    assert client.get("/nvsi/leden/alpha/gebruikers").status_code == 403
