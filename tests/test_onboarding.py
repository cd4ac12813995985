"""Self-onboarding (issue 7, items 1 and 2): the municipality list, sign-up with its refusals,
e-mail verification through a real SMTP server, the NVSI's decision, and the provisioning in the
background: committed before it starts, resumed by the command, never done twice.

Tests on ``app`` run in the rolled-back test transaction on both backends; the provisioning tests
need real commits, schemas and threads and run on a fresh database (``fresh_app``) per backend.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from nvsi import migrate
from nvsi.audit.models import AuditEvent
from nvsi.auth.models import Membership, Role, User
from nvsi.auth.services import create_user
from nvsi.db import utcnow
from nvsi.extensions import db
from nvsi.onboarding import provisioning, services
from nvsi.onboarding.models import (
    AgreementAcceptance,
    AgreementText,
    ApplicationStatus,
    JobStatus,
    MembershipApplication,
    ProvisioningJob,
    StepState,
)
from nvsi.onboarding.municipalities import municipalities, municipality, slug_from_name
from nvsi.onboarding.schemas import check_oin
from nvsi.tenancy import services as tenancy
from nvsi.tenancy.models import Tenant, TenantStatus
from nvsi.tenancy.routing import RoutingSession
from tests import smtp, support

#: A government OIN: 00000001, an RSIN that passes the 11-test, 000.
OIN = "00000001002220647000"
SIGNUP = {
    "cbs_code": "GM0503", "oin": OIN, "contact_name": "Fatima el Idrissi",
    "contact_email": "F.elIdrissi@Delft.example", "contact_phone": "015 260 2222",
    "billing_email": "facturen@delft.example", "invoice_address": "Markt 87", "postal_code": "2611gw",
    "city": "Delft", "billing_reference": "PO-2026-17", "user_agreement_version": 1, "membership_terms_version": 1,
}


@pytest.fixture(autouse=True)
def onboarding_settings(request, monkeypatch):
    """Generous throttles (the memory storage lives as long as the test app) and no background
    thread on the test transaction's single connection; tests that need them set their own."""
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        monkeypatch.setitem(app.config, "ONBOARDING_SIGNUP_RATE_LIMIT", "10000 per minute")
        monkeypatch.setitem(app.config, "ONBOARDING_MAIL_RATE_LIMIT", "10000 per minute")
        monkeypatch.setitem(app.config, "ONBOARDING_PROVISION_IN_BACKGROUND", False)


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in this process)."""
    yield from smtp.running(monkeypatch)


def csrf(client) -> str:
    return client.get("/api/v1/session").get_json()["csrf_token"]


def sign_up(client, token=None, **overrides):
    body = {**SIGNUP, **overrides}
    body = {k: v for k, v in body.items() if v is not ...}
    return client.post("/api/v1/applications", json=body, headers={"X-CSRFToken": token or csrf(client)})


def link_in(message) -> str:
    return re.search(r"http://localhost(/aanmelden/bevestigen/\S+)", message.text).group(1)


def application_for(session, cbs_code="GM0503") -> MembershipApplication:
    session.expire_all()
    return session.scalars(sa.select(MembershipApplication).where(MembershipApplication.cbs_code == cbs_code)
                           .order_by(MembershipApplication.id.desc())).first()


def audit_actions(session) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def verified_application(client, shared_session, **overrides) -> MembershipApplication:
    assert sign_up(client, **overrides).status_code == 201
    application = application_for(shared_session, overrides.get("cbs_code", "GM0503"))
    with client.application.test_request_context():
        services.verify_email(shared_session, services.verification_token(application))
    shared_session.commit()
    return application


def services_token(app, application) -> str:
    with app.test_request_context():
        return services.verification_token(application)


# -- the municipality list -------------------------------------------------------------------------------


def test_municipality_list():
    found = municipalities()
    assert len(found) == 342  # CBS, gemeentelijke indeling 1 januari 2025
    assert municipality("GM0344").name == "Utrecht"
    assert municipality("GM0363").name == "Amsterdam"
    assert municipality("GM0503").name == "Delft"
    assert municipality("GM0014").name == "Groningen"
    assert municipality("GM0518").name == "'s-Gravenhage"
    assert municipality("GM1992").name == "Voorne aan Zee"  # formed 1 January 2023
    for gone in ("GM0457", "GM0501", "GM0530", "GM0614"):  # Weesp, Brielle, Hellevoetsluis, Westvoorne
        assert municipality(gone) is None
    assert len({m.name for m in found.values()}) == 342
    assert municipality(" gm0503 ").name == "Delft"


@pytest.mark.parametrize("name, slug", [
    ("Delft", "delft"), ("'s-Hertogenbosch", "s_hertogenbosch"), ("Súdwest-Fryslân", "sudwest_fryslan"),
    ("Nuenen, Gerwen en Nederwetten", "nuenen_gerwen_en_nederwetten"), ("Bergen (NH.)", "bergen_nh"),
])
def test_slug_from_the_municipality_name(name, slug):
    assert slug_from_name(name) == slug


def test_every_municipality_gives_a_valid_slug():
    from nvsi.tenancy.naming import validate_slug

    for m in municipalities().values():
        validate_slug(slug_from_name(m.name))


@pytest.mark.parametrize("oin, problem", [
    (OIN, None),
    ("0000000100222064700", "20 cijfers"),
    ("00000003123456780000", "00000001, dan het RSIN"),
    ("00000001002220647001", "00000001, dan het RSIN"),
    ("00000001002220648000", "elfproef"),
])
def test_oin_of_a_government_body(app, oin, problem):
    with app.test_request_context():
        found = check_oin(oin)
    assert (found is None) if problem is None else problem in found


# -- sign-up ------------------------------------------------------------------------------------------------


def test_sign_up_through_the_api_records_the_acceptances_and_mails_a_link(app, client, shared_session, smtp_server):
    smtp_server.use(app)
    response = sign_up(client)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"status": "unverified", "cbs_code": "GM0503", "municipality_name": "Delft",
                                   "verification_mail_sent": True}
    application = application_for(shared_session)
    assert application.status is ApplicationStatus.UNVERIFIED
    assert application.municipality_name == "Delft"  # from the list, never typed
    assert application.contact_email == "f.elidrissi@delft.example"
    assert application.postal_code == "2611 GW"
    acceptances = {(a.text.kind.value, a.text.version): a for a in application.acceptances}
    assert set(acceptances) == {("user_agreement", 1), ("membership_terms", 1)}
    for acceptance in acceptances.values():
        assert acceptance.accepted_by_name == "Fatima el Idrissi"
        assert acceptance.accepted_by_email == "f.elidrissi@delft.example"
        assert acceptance.accepted_at is not None and acceptance.tenant_id is None
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["f.elidrissi@delft.example"]
    assert "Delft" in mail.subject
    assert "Fatima el Idrissi" in mail.text and "72 uur" in mail.text
    event = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "application.submitted")).one()
    assert event.actor_label == services.APPLICANT
    assert event.changes["cbs_code"] == "GM0503"
    assert event.changes["accepted"] == {"user_agreement": 1, "membership_terms": 1}
    assert "015" not in str(event.changes)  # no phone number in the audit log


def test_the_membership_terms_state_the_contribution(client):
    items = {t["kind"]: t for t in client.get("/api/v1/agreements").get_json()["items"]}
    assert set(items) == {"user_agreement", "membership_terms"}
    terms = items["membership_terms"]["body_nl"]
    assert "2% van de bruto-omzet" in terms and "1% en de gemeente 1%" in terms and "halfjaarlijks" in terms
    assert "gebruikersovereenkomst" in items["user_agreement"]["title_nl"].lower()


def test_agreement_texts_cannot_be_changed(shared_session):
    with pytest.raises(sa.exc.DatabaseError):
        with shared_session.begin_nested():
            shared_session.execute(sa.update(AgreementText).values(body_nl="anders"))


@pytest.mark.parametrize("overrides, field, message", [
    ({"cbs_code": "GM9999"}, "cbs_code", "Onbekende gemeentecode GM9999"),
    ({"cbs_code": "Delft"}, "cbs_code", "Kies een gemeente uit de lijst"),
    ({"user_agreement_version": ...}, "user_agreement_version", "accepteer de gebruikersovereenkomst (versie 1)"),
    ({"membership_terms_version": None}, "membership_terms_version", "lidmaatschapsvoorwaarden met de contributie"),
    ({"user_agreement_version": 7}, "user_agreement_version", "U accepteerde versie 7, maar de geldende versie is 1"),
    ({"oin": "12345"}, "oin", "precies 20 cijfers"),
    ({"oin": "00000001002220648000"}, "oin", "elfproef"),
    ({"contact_email": "geen-adres"}, "contact_email", "Geen geldig e-mailadres"),
    ({"billing_email": "a@b"}, "billing_email", "Geen geldig e-mailadres"),
    ({"postal_code": "12345"}, "postal_code", "Nederlandse postcode"),
    ({"contact_phone": "bel me"}, "contact_phone", "telefoonnummer"),
    ({"contact_name": ""}, "contact_name", "naam van de contactpersoon"),
    ({"city": ...}, "city", "verplicht"),
])
def test_refused_sign_ups_name_the_field_and_say_why(client, shared_session, overrides, field, message):
    response = sign_up(client, **overrides)
    body = response.get_json()
    assert response.status_code == 422, body
    assert field in body["errors"], body
    assert any(message in m for m in body["errors"][field]), body["errors"][field]
    assert application_for(shared_session) is None


def test_a_missing_acceptance_is_named_together_with_other_errors(client):
    body = sign_up(client, oin="1", user_agreement_version=..., membership_terms_version=...).get_json()
    assert {"oin", "user_agreement_version", "membership_terms_version"} <= set(body["errors"])


def test_an_existing_member_cannot_sign_up_again(client, shared_session):
    tenancy.register_tenant(shared_session, "delft", "Gemeente Delft", "GM0503")
    shared_session.commit()
    body = sign_up(client).get_json()
    assert body["errors"]["cbs_code"] == ["Gemeente Delft is al lid van de NVSI."]
    assert body["violations"][0]["code"] == "already_member"


def test_one_open_application_per_municipality(app, client, shared_session):
    assert sign_up(client).status_code == 201
    again = sign_up(client, contact_email="iemand@anders.example")
    assert again.status_code == 422
    assert again.get_json()["violations"][0]["code"] == "application_pending"
    assert "loopt al een aanmelding" in again.get_json()["errors"]["cbs_code"][0]
    # The database holds the line too (a concurrent sign-up passes the check above).
    first = application_for(shared_session)
    copy = MembershipApplication(**{c: getattr(first, c) for c in (
        "cbs_code", "municipality_name", "oin", "contact_name", "contact_email", "billing_email", "invoice_address",
        "postal_code", "city")}, status=ApplicationStatus.VERIFIED)
    with pytest.raises(sa.exc.IntegrityError):
        with shared_session.begin_nested():
            shared_session.add(copy)
            shared_session.flush()


def test_an_unverified_application_whose_link_expired_no_longer_blocks(app, client, shared_session):
    assert sign_up(client).status_code == 201
    old = application_for(shared_session)
    old.verification_sent_at = utcnow() - dt.timedelta(hours=73)
    shared_session.commit()
    assert sign_up(client, contact_name="Tweede Poging").status_code == 201
    shared_session.expire_all()
    assert old.status is ApplicationStatus.EXPIRED
    assert application_for(shared_session).contact_name == "Tweede Poging"


def test_the_sign_up_page_keeps_what_was_typed_and_links_each_error(client, shared_session):
    page = client.get("/aanmelden")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<option value="GM0503">Delft (GM0503)</option>' in html
    assert html.count("<option value=\"GM") == 342
    form = {**{k: str(v) for k, v in SIGNUP.items()}, "contact_email": "niet-goed", "csrf_token":
            support.csrf_token(html)}
    del form["membership_terms_version"]
    response = client.post("/aanmelden", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="Fatima el Idrissi"' in html and 'value="niet-goed"' in html and 'value="PO-2026-17"' in html
    assert '<option value="GM0503" selected>' in html
    assert re.search(r'id="user_agreement_version"[^>]*checked', html)
    assert not re.search(r'id="membership_terms_version"[^>]*checked', html)
    assert '<a href="#contact_email">' in html and '<a href="#membership_terms_version">' in html
    assert re.search(r'id="contact_email"[^>]*aria-invalid="true"', html, re.S)
    assert application_for(shared_session) is None


def test_the_sign_up_page_redirects_after_success(client, shared_session):
    html = client.get("/aanmelden").get_data(as_text=True)
    form = {**{k: str(v) for k, v in SIGNUP.items()}, "csrf_token": support.csrf_token(html)}
    response = client.post("/aanmelden", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/aanmelden/ontvangen"
    page = client.get("/aanmelden/ontvangen").get_data(as_text=True)
    assert "De aanmelding van gemeente Delft is ontvangen" in page
    assert application_for(shared_session).status is ApplicationStatus.UNVERIFIED


def test_sign_ups_are_throttled_per_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "ONBOARDING_SIGNUP_RATE_LIMIT", "2 per hour")
    client.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    token = csrf(client)
    assert sign_up(client, token, cbs_code="GM9999").status_code == 422  # refused attempts count too
    assert sign_up(client, token).status_code == 201
    third = sign_up(client, token, cbs_code="GM0344")
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) > 0
    assert third.get_json()["code"] == "too_many_requests"
    page = client.post("/aanmelden", data={"csrf_token": token})
    assert page.status_code == 429 and "Te veel aanmeldingen" in page.get_data(as_text=True)
    client.environ_base["REMOTE_ADDR"] = "192.0.2.78"  # another address is not affected
    assert sign_up(client, token, cbs_code="GM0344").status_code == 201


def test_verification_mails_are_throttled_per_recipient(app, client, shared_session, smtp_server, monkeypatch):
    smtp_server.use(app)
    monkeypatch.setitem(app.config, "ONBOARDING_MAIL_RATE_LIMIT", "2 per day")
    recipient = "throttle@delft.example"
    assert sign_up(client, contact_email=recipient).get_json()["verification_mail_sent"] is True
    support.login(client, "admin@nvsi.test")
    token = csrf(client)
    application = application_for(shared_session)
    url = f"/nvsi/aanmeldingen/{application.id}/bevestigingsmail"
    client.post(url, data={"csrf_token": token})
    refused = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "kon niet worden verstuurd" in refused.get_data(as_text=True)
    assert len(smtp_server.messages) == 2


# -- verification ----------------------------------------------------------------------------------------------


def test_verification_through_the_mailed_link(app, client, shared_session, smtp_server):
    smtp_server.use(app)
    sign_up(client)
    path = link_in(smtp_server.messages[0])
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert "E-mailadres bevestigen" in page.get_data(as_text=True)
    assert application_for(shared_session).status is ApplicationStatus.UNVERIFIED  # a GET confirms nothing
    done = client.post(path, data={"csrf_token": support.csrf_token(page.get_data(as_text=True))})
    assert done.status_code == 200 and "Het e-mailadres is bevestigd" in done.get_data(as_text=True)
    application = application_for(shared_session)
    assert application.status is ApplicationStatus.VERIFIED
    assert application.verified_by == "link" and application.email_verified_at is not None
    assert "application.verified" in audit_actions(shared_session)
    again = client.post(path, data={"csrf_token": support.csrf_token(page.get_data(as_text=True))})
    assert again.status_code == 200  # a second click changes nothing


def test_verification_through_the_api(app, client, shared_session):
    sign_up(client)
    token = services_token(app, application_for(shared_session))
    response = client.post("/api/v1/applications/verify", json={"token": token}, headers={"X-CSRFToken": csrf(client)})
    assert response.status_code == 200 and response.get_json()["status"] == "verified"
    forged = client.post("/api/v1/applications/verify", json={"token": token[:-2] + "xx"},
                         headers={"X-CSRFToken": csrf(client)})
    assert forged.status_code == 404


def test_an_expired_link_offers_a_new_one(app, client, shared_session, smtp_server, monkeypatch):
    smtp_server.use(app)
    sign_up(client)
    path = link_in(smtp_server.messages[0])
    later = int(utcnow().timestamp()) + 73 * 3600
    original = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)  # 73 hours on
    page = client.get(path)
    assert page.status_code == 410 and "Deze bevestigingslink is verlopen" in page.get_data(as_text=True)
    token = support.csrf_token(page.get_data(as_text=True))
    refused = client.post(path, data={"csrf_token": token})
    assert refused.status_code == 410
    assert application_for(shared_session).status is ApplicationStatus.UNVERIFIED
    monkeypatch.setattr(TimestampSigner, "get_timestamp", original)  # back to now
    token = csrf(client)
    resent = client.post(path + "/opnieuw", data={"csrf_token": token})
    assert resent.status_code == 200 and "nieuwe bevestigingslink" in resent.get_data(as_text=True)
    assert len(smtp_server.messages) == 2
    new_path = link_in(smtp_server.messages[1])
    client.post(new_path, data={"csrf_token": token})
    assert application_for(shared_session).status is ApplicationStatus.VERIFIED


@pytest.mark.parametrize("token", ["nonsense", "eyJhIjoxfQ.abc.def"])
def test_a_forged_link_opens_nothing(client, token):
    page = client.get(f"/aanmelden/bevestigen/{token}")
    assert page.status_code == 404 and "ongeldig" in page.get_data(as_text=True)


# -- the NVSI's decision ------------------------------------------------------------------------------------


@pytest.mark.parametrize("email, status", [
    ("staff@alpha.test", 403), ("admin@alpha.test", 403), ("backoffice@nvsi.test", 403), ("admin@nvsi.test", 200),
])
def test_only_nvsi_admins_see_applications(client, login, email, status):
    login(email)
    assert client.get("/nvsi/aanmeldingen").status_code == status
    assert client.get("/api/v1/applications").status_code == status


def test_anonymous_visitors_see_no_applications(client):
    assert client.get("/api/v1/applications").status_code == 401
    assert client.get("/nvsi/aanmeldingen").status_code == 302


def test_an_unverified_application_cannot_be_approved(client, login, shared_session):
    sign_up(client)
    token = login("admin@nvsi.test")
    application = application_for(shared_session)
    response = client.post(f"/api/v1/applications/{application.id}/approve", json={}, headers={"X-CSRFToken": token})
    assert response.status_code == 422
    assert response.get_json()["violations"][0]["code"] == "not_verified"
    assert shared_session.scalar(sa.select(Tenant).where(Tenant.cbs_code == "GM0503")) is None


def test_approval_registers_the_tenant_and_commits_the_job_before_any_work(client, login, shared_session):
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    listing = client.get("/api/v1/applications?status=verified").get_json()["items"]
    assert [a["municipality_name"] for a in listing] == ["Delft"]
    response = client.post(f"/api/v1/applications/{application.id}/approve", json={},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 202, response.get_json()
    assert response.headers["Location"] == f"/api/v1/applications/{application.id}/provisioning"
    body = response.get_json()
    assert body["status"] == "pending" and body["slug"] == "delft" and body["finished"] is False
    assert [(s["key"], s["state"]) for s in body["steps"]] == [
        ("registered", "done"), ("schema", "pending"), ("check", "pending"), ("invite", "pending")]
    tenant = shared_session.scalar(sa.select(Tenant).where(Tenant.cbs_code == "GM0503"))
    assert tenant.status is TenantStatus.PROVISIONING and tenant.name == "Gemeente Delft"
    shared_session.expire_all()
    assert application.status is ApplicationStatus.APPROVED and application.tenant_id == tenant.id
    assert {a.tenant_id for a in application.acceptances} == {tenant.id}
    assert {"application.approved", "tenant.registered"} <= set(audit_actions(shared_session))
    registered = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "tenant.registered")).one()
    assert registered.actor_label == "admin@nvsi.test" and registered.tenant_id == tenant.id
    assert registered.changes["accepted"] == {"user_agreement": 1, "membership_terms": 1}
    status = client.get(response.headers["Location"])
    assert status.status_code == 200 and status.get_json()["status"] == "pending"
    # Decided once: a second approval or a rejection is refused.
    again = client.post(f"/api/v1/applications/{application.id}/approve", json={}, headers={"X-CSRFToken": token})
    assert again.status_code == 422 and again.get_json()["violations"][0]["code"] == "already_decided"


def test_the_approval_page_shows_the_progress(client, login, shared_session):
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    page = client.get(f"/nvsi/aanmeldingen/{application.id}").get_data(as_text=True)
    assert 'value="delft"' in page and "Aanmelding goedkeuren" in page
    assert "Gebruikersovereenkomst Flextensie" in page and "Fatima el Idrissi (f.elidrissi@delft.example)" in page
    response = client.post(f"/nvsi/aanmeldingen/{application.id}/goedkeuren", data={"csrf_token": token,
                                                                                   "slug": "delft_stad"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#inrichting")
    page = client.get(f"/nvsi/aanmeldingen/{application.id}").get_data(as_text=True)
    assert "Inrichting van de omgeving" in page and "1 van 4 stappen klaar" in page
    assert f'data-progress-url="/api/v1/applications/{application.id}/provisioning"' in page
    assert 'src="/static/onboarding/progress.js"' in page
    assert "Gemeente geregistreerd: <span class=\"status step-state\">klaar</span>" in page
    assert shared_session.scalar(sa.select(Tenant.slug).where(Tenant.cbs_code == "GM0503")) == "delft_stad"


@pytest.mark.parametrize("slug, message", [("Delft!", "Een korte naam begint"), ("alpha", "al in gebruik")])
def test_a_bad_or_taken_slug_is_refused_on_the_page(client, login, shared_session, slug, message):
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    response = client.post(f"/nvsi/aanmeldingen/{application.id}/goedkeuren", data={"csrf_token": token,
                                                                                   "slug": slug})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html and f'value="{slug}"' in html
    assert application_for(shared_session).status is ApplicationStatus.VERIFIED


def test_rejection_needs_a_reason_and_mails_it(app, client, login, shared_session, smtp_server):
    smtp_server.use(app)
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    url = f"/api/v1/applications/{application.id}/reject"
    short = client.post(url, json={"reason": "nee"}, headers={"X-CSRFToken": token})
    assert short.status_code == 422 and "reason" in short.get_json()["errors"]
    reason = "De gemeente heeft het instrument nog niet in een verordening vastgelegd."
    response = client.post(url, json={"reason": reason}, headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["status"] == "rejected"
    mail = smtp_server.messages[-1]
    assert mail.rcpt_tos == ["f.elidrissi@delft.example"] and reason in mail.text
    event = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "application.rejected")).one()
    assert event.changes["reason"] == reason and event.actor_label == "admin@nvsi.test"
    # Closed: a new sign-up of the same municipality is possible again.
    assert sign_up(client, token).status_code == 201


def test_the_rejection_page_keeps_the_reason_typed(client, login, shared_session):
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    response = client.post(f"/nvsi/aanmeldingen/{application.id}/afwijzen", data={"csrf_token": token,
                                                                                 "reason": "te kort"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and ">te kort</textarea>" in html and '<a href="#reason">' in html


def test_an_admin_can_confirm_the_address_another_way(client, login, shared_session):
    sign_up(client)
    token = login("admin@nvsi.test")
    application = application_for(shared_session)
    client.post(f"/nvsi/aanmeldingen/{application.id}/adres-bevestigen", data={"csrf_token": token})
    application = application_for(shared_session)
    assert application.status is ApplicationStatus.VERIFIED and application.verified_by == "admin"
    event = shared_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "application.verified")).one()
    assert event.actor_label == "admin@nvsi.test" and event.changes == {"verified_by": "admin"}


def test_a_failed_provisioning_can_be_started_again(client, login, shared_session):
    application = verified_application(client, shared_session)
    token = login("admin@nvsi.test")
    base = f"/api/v1/applications/{application.id}/provisioning"
    assert client.get(base).status_code == 404  # not approved yet: nothing to follow
    client.post(f"/api/v1/applications/{application.id}/approve", json={}, headers={"X-CSRFToken": token})
    refused = client.post(base + "/retry", headers={"X-CSRFToken": token})
    assert refused.status_code == 422 and refused.get_json()["violations"][0]["code"] == "not_failed"
    shared_session.execute(sa.update(ProvisioningJob).values(status=JobStatus.FAILED, attempts=5,
                                                            last_error="StepFailed: schema not at head"))
    shared_session.commit()
    page = client.get(f"/nvsi/aanmeldingen/{application.id}").get_data(as_text=True)
    assert "De inrichting is mislukt (poging 5): StepFailed: schema not at head." in page
    response = client.post(f"/nvsi/aanmeldingen/{application.id}/inrichting/opnieuw", data={"csrf_token": token})
    assert response.status_code == 302
    status = client.get(base).get_json()
    assert status["status"] == "pending" and status["attempts"] == 0
    assert "tenant.provisioning_retried" in audit_actions(shared_session)


# -- provisioning (real commits, schemas and threads: a fresh database per backend) ----------------------


@pytest.fixture
def live(fresh_app, monkeypatch):
    """A migrated fresh database with an NVSI administrator and a real SMTP server."""
    app = fresh_app
    result = app.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    server = smtp.LocalSMTP()
    server.controller.start()
    for key, value in server.settings().items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "")
    with app.app_context():
        admin = create_user(db.session, "beheer@nvsi.test", "NVSI Beheer", support.PASSWORD, Role.NVSI_ADMIN)
        db.session.commit()
        app.config["TEST_ADMIN_ID"] = admin.id
        db.session.remove()
    app.smtp = server
    try:
        yield app
    finally:
        server.controller.stop()


def approve(app, cbs_code="GM0503", email="contact@delft.example") -> int:
    """Sign up, verify and approve (committed), without starting any worker; the job's id."""
    with app.test_request_context(base_url="http://nvsi.test"):
        data = {**SIGNUP, "cbs_code": cbs_code, "contact_email": email, "postal_code": "2611 GW"}
        application = services.submit_application(db.session, data)
        db.session.commit()
        services.verify_email(db.session, services.verification_token(application))
        admin = db.session.get(User, app.config["TEST_ADMIN_ID"])
        job = services.approve_application(db.session, application, admin, link_base_url="http://nvsi.test")
        db.session.commit()
        job_id = job.id
        db.session.remove()
    return job_id


def job_state(app, job_id: int) -> tuple[JobStatus, dict[str, StepState], ProvisioningJob]:
    with app.app_context():
        session = RoutingSession(db)
        try:
            job = session.get(ProvisioningJob, job_id)
            return job.status, {s.key: s.state for s in job.steps}, job
        finally:
            session.close()


def assert_provisioned(app, slug: str, email: str) -> None:
    with app.app_context():
        router = app.extensions["nvsi.router"]
        session = RoutingSession(db)
        try:
            tenant = tenancy.get_tenant(session, slug)
            assert tenant.status is TenantStatus.ACTIVE
            assert migrate.tenant_revisions(router, [tenant.schema])[tenant.schema] == migrate.head("tenant")
            user = session.scalar(sa.select(User).where(User.email == email))
            assert user.role is Role.MUNICIPALITY_ADMIN and user.active
            assert session.scalar(sa.select(Membership.id).where(Membership.user_id == user.id,
                                                                 Membership.tenant_id == tenant.id))
            actions = list(session.scalars(sa.select(AuditEvent.action).where(AuditEvent.tenant_id == tenant.id)))
            assert actions.count("tenant.provisioned") == 1 and "user.invited" in actions
            acceptances = session.scalars(sa.select(AgreementAcceptance).where(
                AgreementAcceptance.tenant_id == tenant.id)).all()
            assert sorted(a.text.kind.value for a in acceptances) == ["membership_terms", "user_agreement"]
        finally:
            session.close()


def test_approval_provisions_in_the_background_with_visible_progress(live):
    job_id = approve(live)
    assert job_state(live, job_id)[0] is JobStatus.PENDING  # committed before any work
    thread = provisioning.start_in_background(live, job_id)
    thread.join(timeout=120)
    status, steps, job = job_state(live, job_id)
    assert status is JobStatus.DONE, job.last_error
    assert set(steps.values()) == {StepState.DONE}
    assert job.attempts == 1 and job.claimed_by is None and job.finished_at is not None
    assert_provisioned(live, "delft", "contact@delft.example")
    [invitation] = [m for m in live.smtp.messages if "Uitnodiging" in m.subject]
    assert invitation.rcpt_tos == ["contact@delft.example"]
    assert "http://nvsi.test/auth/invitation/" in invitation.text and "Gemeente Delft" in invitation.text


def test_a_job_committed_but_never_started_is_resumed_by_the_command(live):
    job_id = approve(live)  # the process "died" after the commit: no worker ever started
    result = live.test_cli_runner().invoke(args=["onboarding", "provision-pending"])
    assert result.exit_code == 0, result.output
    assert f"job {job_id}: done" in result.output
    assert_provisioned(live, "delft", "contact@delft.example")
    again = live.test_cli_runner().invoke(args=["onboarding", "provision-pending"])
    assert "0 job(s) taken" in again.output


def test_a_worker_that_died_is_taken_over_once_its_lease_ran_out(live):
    job_id = approve(live)
    with live.app_context():
        session = RoutingSession(db)
        assert provisioning.claim(session, job_id, "dead-worker", lease=dt.timedelta(minutes=10), max_attempts=5)
        session.close()
    assert provisioning.run_job(live, job_id, "second-worker", include_failed=True) == "skipped"
    assert job_state(live, job_id)[2].claimed_by == "dead-worker"
    with live.app_context():
        session = RoutingSession(db)
        session.execute(sa.update(ProvisioningJob).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        session.commit()
        session.close()
    assert provisioning.provision_pending(live, "second-worker") == {job_id: "done"}
    status, _steps, job = job_state(live, job_id)
    assert status is JobStatus.DONE and job.attempts == 2
    assert_provisioned(live, "delft", "contact@delft.example")


def test_two_workers_never_provision_the_same_tenant_twice(live):
    job_id = approve(live)
    start, outcomes = threading.Barrier(2), {}

    def work(name):
        start.wait()
        outcomes[name] = provisioning.run_job(live, job_id, name)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes.values()) == ["done", "skipped"], outcomes
    assert len([m for m in live.smtp.messages if "Uitnodiging" in m.subject]) == 1
    assert_provisioned(live, "delft", "contact@delft.example")


def test_a_failing_step_is_recorded_and_retried(live):
    with live.app_context():  # the contact's address already belongs to an account with another role
        create_user(db.session, "contact@delft.example", "Iemand Anders", support.PASSWORD, Role.BACKOFFICE)
        db.session.commit()
        db.session.remove()
    job_id = approve(live)
    assert provisioning.run_job(live, job_id, "w1") == "failed"
    status, steps, job = job_state(live, job_id)
    assert status is JobStatus.FAILED and steps["invite"] is StepState.FAILED
    assert steps["schema"] is StepState.DONE and steps["check"] is StepState.DONE
    assert "andere rol" in job.last_error and "contact@delft.example" not in job.last_error
    with live.app_context():
        session = RoutingSession(db)
        session.execute(sa.update(User).where(User.email == "contact@delft.example")
                        .values(email="iemand.anders@nvsi.test"))
        session.commit()
        session.close()
    assert provisioning.provision_pending(live, "w2") == {job_id: "done"}
    status, steps, job = job_state(live, job_id)
    assert status is JobStatus.DONE and job.attempts == 2
    assert_provisioned(live, "delft", "contact@delft.example")
