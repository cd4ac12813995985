"""Paying an invoice online, on both backends.

The hosted invoice page ``/pay/<token>`` (signed, expiring; the invoice, its downloads, the pay
button or, without Stripe keys, the bank-transfer instructions), the Checkout Session request
as Stripe receives it (amount, currency, payment methods, both metadata, return URLs and the
``Idempotency-Key``, the same on a retry of the same attempt), and the webhook: ``localstripe``
on 127.0.0.1 drives PaymentIntents to success and to failure and sends its signed webhooks to a
live server of the app, which books exactly once, also when an event arrives twice or out of
order; a bad signature is refused with 400 and books nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa

from nvsi.audit.models import AuditEvent
from nvsi.extensions import db
from nvsi.ledger import chart
from nvsi.ledger.services import Line, balance, post
from nvsi.payments.models import StripeEvent
from nvsi.tenancy.routing import RoutingSession, TenantRef, bind_tenant
from tenants.invoicing.delivery import invoice_mail
from tenants.invoicing.models import Invoice, PaymentStatus
from tenants.payments.models import AttemptStatus, Payment, PaymentAttempt
from tenants.payments.online import pay_token
from tests import factories, support
from tests import invoice_helpers as make
from tests.factories import ALPHA
from tests.localstripe_server import (  # noqa: F401  (fixtures)
    CARD_DECLINED,
    WEBHOOK_SECRET,
    WebhookRecorder,
    event_body,
    localstripe,
    sign,
    stripe_front,
    stripe_settings,
    wait_until,
)
from tests.test_invoice_documents import assert_valid_ubl

GROSS = 56555  # 38 h × EUR 12.30 + 21% VAT


def csrf_of(html: str) -> str:
    return support.csrf_token(html)


def text(response) -> str:
    return " ".join(response.get_data(as_text=True).replace("\xa0", " ").split())


# == the page and the Checkout request, through the test client (rolled back) ==========================


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def invoice(alpha):
    """An invoice of EUR 565.55, committed so requests see it."""
    made = make.invoice(alpha, employer=factories.employer(alpha, name="Groen B.V."),
                        lines=((Decimal("38"), 1230, "Groenonderhoud - A. Jansen"),))
    alpha.commit()
    return made


@pytest.fixture
def token(app, invoice):
    with app.app_context():
        return pay_token(ALPHA, invoice.id)


@pytest.fixture
def with_stripe(app, stripe_front, monkeypatch):
    """The app's gateway on the recording front (in front of localstripe) with the test keys."""
    for key, value in stripe_settings(stripe_front).items():
        monkeypatch.setitem(app.config, key, value)
    stripe_front.failures.clear()
    stripe_front.requests.clear()
    return stripe_front


def test_without_keys_the_page_shows_the_invoice_and_bank_transfer_instructions(client, invoice, token):
    response = client.get(f"/pay/{token}")
    assert response.status_code == 200
    html = text(response)
    assert "Factuur F2026-000001" in html and "Groenonderhoud - A. Jansen" in html
    assert "Nog te betalen</dt><dd><strong id=\"outstanding\">€ 565,55" in html
    assert "Btw 21% over € 467,40" in html and "€ 98,15" in html
    assert "Betalen per bankoverschrijving" in html and "NL91 ABNA 0417 1643 00" in html
    assert invoice.payment_reference in html
    assert "Betalen met iDEAL of kaart" not in html
    assert f'href="/pay/{token}/factuur.pdf"' in html and f'href="/pay/{token}/factuur.xml"' in html
    # The link is a credential: no cache, no referrer, no search engine.
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    refused = client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf_of(response.get_data(as_text=True))})
    assert refused.status_code == 409 and "Online betalen is op dit moment niet mogelijk" in text(refused)


def test_the_downloads_go_through_the_same_link(client, invoice, token):
    pdf = client.get(f"/pay/{token}/factuur.pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"] == 'attachment; filename="factuur-F2026-000001.pdf"'
    xml = client.get(f"/pay/{token}/factuur.xml")
    assert xml.status_code == 200 and xml.headers["Content-Type"] == "application/xml"
    assert_valid_ubl(xml.data)


def test_a_bad_or_expired_link_gets_a_clear_page(app, client, alpha, invoice, token):
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (altered, "niet-een-link", token.replace(".", "", 1)):
        response = client.get(f"/pay/{bad}")
        assert response.status_code == 404 and "Deze link is ongeldig" in text(response)
        assert client.get(f"/pay/{bad}/factuur.pdf").status_code == 404
    note = make.credit_note(alpha, invoice)
    alpha.commit()
    with app.app_context():
        old = pay_token(ALPHA, invoice.id, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=61))
        of_note = pay_token(ALPHA, note.id)
        unknown = pay_token(ALPHA, 999999)
        other_tenant = pay_token(TenantRef(2, "beta", "Gemeente Beta", "t_beta"), invoice.id)
        from tenants.timesheets.services import approval_token
        other_salt = approval_token(ALPHA, invoice.id)
    expired = client.get(f"/pay/{old}")
    assert expired.status_code == 410 and "Deze link is verlopen" in text(expired)
    for refused in (of_note, unknown, other_salt):
        assert client.get(f"/pay/{refused}").status_code == 404
    # A token names its tenant: beta's link for this id finds no invoice of beta's, never alpha's.
    assert client.get(f"/pay/{other_tenant}").status_code == 404


def test_the_checkout_session_request_as_stripe_receives_it(app, client, alpha, invoice, token, with_stripe):
    page = client.get(f"/pay/{token}")
    assert "Betalen met iDEAL of kaart" in text(page)
    response = client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 303
    [request] = with_stripe.checkout_requests()
    attempt = alpha.scalars(sa.select(PaymentAttempt).where(PaymentAttempt.invoice_id == invoice.id)).one()
    alpha.refresh(attempt)
    form = request.form
    assert request.header("Idempotency-Key") == attempt.idempotency_key
    assert request.header("Authorization") == "Bearer sk_test_nvsi_localstripe"
    assert form["mode"] == "payment" and form["currency"] == "eur"
    assert (form["payment_method_types[0]"], form["payment_method_types[1]"]) == ("ideal", "card")
    assert "payment_method_types[2]" not in form
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["line_items[0][price_data][unit_amount]"] == str(GROSS) == str(attempt.amount_cents)
    assert "F2026-000001" in form["line_items[0][price_data][product_data][name]"]
    for prefix in ("metadata", "payment_intent_data[metadata]"):
        assert form[f"{prefix}[nvsi_tenant]"] == "alpha"
        assert form[f"{prefix}[nvsi_invoice_id]"] == str(invoice.id)
        assert form[f"{prefix}[nvsi_attempt_id]"] == str(attempt.id)
    assert form["success_url"] == f"http://localhost/pay/{token}/betaling/{attempt.id}"
    assert form["cancel_url"] == f"http://localhost/pay/{token}?geannuleerd=1"
    assert form["customer_email"] == invoice.buyer["email"]
    # The employer goes to the session's page; the attempt knows its session and intent.
    session = with_stripe.sessions[attempt.provider_session_id]
    assert response.headers["Location"] == session["url"]
    assert attempt.provider_payment_intent_id == session["payment_intent"]
    assert attempt.status is AttemptStatus.CREATED
    # Back on the site the page says "being processed": only a verified webhook marks it paid.
    back = client.get(f"/pay/{token}/betaling/{attempt.id}")
    assert back.status_code == 200 and "Uw betaling wordt verwerkt" in text(back)
    assert client.get(f"/pay/{token}/betaling/{attempt.id}/status").get_json() == \
        {"state": "processing", "invoice_status": "open"}
    alpha.refresh(invoice)
    assert invoice.status is PaymentStatus.OPEN and invoice.paid_cents == 0
    event = alpha.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.payment_started")).one()
    assert event.changes == {"attempt_id": attempt.id, "amount_cents": GROSS}
    assert client.get(f"/pay/{token}/betaling/{attempt.id + 1000}").status_code == 404


def test_a_retry_of_the_same_attempt_sends_the_same_idempotency_key(client, alpha, invoice, token, with_stripe):
    csrf = csrf_of(client.get(f"/pay/{token}").get_data(as_text=True))
    # Stripe fails once and asks for a retry: the SDK sends the same request with the same key.
    with_stripe.failures.append((500, True))
    assert client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf}).status_code == 303
    first, retried = with_stripe.checkout_requests()
    assert first.header("Idempotency-Key") == retried.header("Idempotency-Key")
    # Stripe fails for good: the page says so and offers the same attempt again.
    with_stripe.failures.append((500, False))
    failed = client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf})
    assert failed.status_code == 503 and "De betaalpagina kon niet worden geopend" in text(failed)
    attempt_id = int(re.search(r'name="attempt" value="(\d+)"', failed.get_data(as_text=True)).group(1))
    again = client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf, "attempt": attempt_id})
    assert again.status_code == 303
    keys = [r.header("Idempotency-Key") for r in with_stripe.checkout_requests()]
    assert keys[2] == keys[3] != keys[0]
    attempt = alpha.get(PaymentAttempt, attempt_id)
    assert attempt.idempotency_key == keys[3] and attempt.provider_session_id is not None
    # A new press is a new attempt with a new key.
    assert client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf}).status_code == 303
    assert with_stripe.checkout_requests()[-1].header("Idempotency-Key") not in keys
    assert alpha.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)
                        .where(PaymentAttempt.invoice_id == invoice.id)) == 3


def test_nothing_to_pay_on_a_paid_invoice(client, alpha, invoice, token, with_stripe):
    from tenants.payments.models import PaymentMethod
    from tenants.payments.services import apply_payment

    apply_payment(alpha, ALPHA, invoice, GROSS, method=PaymentMethod.BANK_TRANSFER, external_ref="camt:t:1",
                  received_on=dt.date(2026, 3, 20))
    alpha.commit()
    page = client.get(f"/pay/{token}")
    assert "Deze factuur is betaald" in text(page) and "Betalen met iDEAL of kaart" not in text(page)
    refused = client.post(f"/pay/{token}/betalen", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert refused.status_code == 409 and "niets meer open" in text(refused)
    assert with_stripe.checkout_requests() == []


def test_the_invoice_mail_links_to_the_pay_page(app, client, invoice, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_LINK_BASE_URL", "https://nvsi.example")
    with app.app_context():
        mail = invoice_mail(invoice, None, ALPHA)
    link = re.search(r"https://nvsi\.example(/pay/\S+)", mail.body)
    assert link, mail.body
    assert "online bekijken en direct betalen met iDEAL of kaart" in mail.body
    page = client.get(link.group(1))
    assert page.status_code == 200 and "Factuur F2026-000001" in text(page)


@pytest.mark.parametrize("signature", [None, "t=1,v1=00", "sign-with-another-secret"])
def test_a_webhook_with_a_bad_signature_is_refused(app, client, shared_session, with_stripe, signature):
    body = event_body("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent",
                                                   "metadata": {"nvsi_tenant": "alpha"}})
    headers = {"Content-Type": "application/json"}
    if signature == "sign-with-another-secret":
        headers["Stripe-Signature"] = sign(body, "whsec_not_ours")
    elif signature:
        headers["Stripe-Signature"] = signature
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_signature"
    assert shared_session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) == 0


def test_without_a_webhook_secret_every_webhook_is_refused(client):
    body = event_body("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"})
    response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 400


# == the webhook, live: localstripe sends signed events to a real server of the app ===================


@dataclass
class Live:
    """A live server of the app on its own database, with one tenant and Stripe on the front."""

    app: object
    url: str
    tenant: TenantRef
    hooks: object = None  # the recorder

    def session(self) -> RoutingSession:
        session = RoutingSession(db)
        bind_tenant(session, self.tenant.schema)
        return session

    def new_invoice(self, hours: str = "38") -> tuple[int, str]:
        """An issued invoice with its receivable booked (committed); (id, pay token)."""
        with self.app.app_context():
            session = self.session()
            try:
                made = make.invoice(session, employer=factories.employer(session),
                                    lines=((Decimal(hours), 1230, "Groenonderhoud - A. Jansen"),))
                post(session, key=f"invoice-test:{self.tenant.slug}:{made.number}", booking_date=made.issue_date,
                     tenant_id=self.tenant.id, kind="invoice", description="test",
                     lines=[Line(chart.RECEIVABLES, made.gross_cents), Line(chart.REVENUE, -made.net_cents),
                            Line(chart.VAT_PAYABLE, -made.vat_cents)])
                session.commit()
                return made.id, pay_token(self.tenant, made.id)
            finally:
                session.close()

    def read(self, work):
        """``work(session)`` on a fresh tenant session of the live app."""
        with self.app.app_context():
            session = self.session()
            try:
                return work(session)
            finally:
                session.close()

    def invoice(self, invoice_id: int) -> Invoice:
        return self.read(lambda s: _detached(s, s.get(Invoice, invoice_id)))

    def payments(self, invoice_id: int) -> list[Payment]:
        return self.read(lambda s: [_detached(s, p) for p in s.scalars(
            sa.select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id))])

    def attempt(self, attempt_id: int) -> PaymentAttempt:
        return self.read(lambda s: _detached(s, s.get(PaymentAttempt, attempt_id)))

    def events(self, object_id: str) -> list[StripeEvent]:
        return self.read(lambda s: [_detached(s, e) for e in s.scalars(
            sa.select(StripeEvent).where(StripeEvent.object_id == object_id).order_by(StripeEvent.id))])

    def balance(self, code: str, tenant: bool = False) -> int:
        return self.read(lambda s: balance(s, code, self.tenant.id if tenant else None))

    def deliver(self, body: bytes, signature: str) -> requests.Response:
        """Post a webhook to the app's real endpoint, as Stripe does."""
        return _http().post(self.url + "/webhooks/stripe", data=body, timeout=20,
                            headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature})

    def start_checkout(self, token: str) -> tuple[int, str]:
        """The employer presses "Betalen met iDEAL of kaart"; (attempt id, Checkout Session id)."""
        browser = _http()
        page = browser.get(f"{self.url}/pay/{token}", timeout=20)
        assert page.status_code == 200, page.text[:300]
        response = browser.post(f"{self.url}/pay/{token}/betalen", data={"csrf_token": csrf_of(page.text)},
                                allow_redirects=False, timeout=30)
        assert response.status_code == 303, response.text[:500]
        checkout = browser.get(response.headers["Location"], allow_redirects=False, timeout=20)  # Stripe's page
        assert checkout.status_code == 303
        attempt_id = int(re.search(r"/betaling/(\d+)$", checkout.headers["Location"]).group(1))
        return attempt_id, self.attempt(attempt_id).provider_session_id


def _detached(session, obj):
    if obj is not None:
        session.expunge(obj)
    return obj


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory, stripe_front):
    """The app with Stripe keys, on a fresh database per backend, served on a free loopback port.
    The tenant's slug differs per backend, so a late webhook of one never finds the other's."""
    from nvsi import create_app, migrate
    from nvsi.tenancy import services as tenancy
    from nvsi.tenancy.routing import current_router
    from nvsi.tenancy.services import tenant_ref
    from tests.test_browser import LiveServer

    database_url = support.create_pg_database("nvsi_stripe") if request.param == "postgresql" else ""
    slug = f"betaal_{request.param[:2]}"
    try:
        app = create_app({
            "INSTANCE_PATH": str(tmp_path_factory.mktemp(f"stripe-{request.param}")), "DATABASE_URL": database_url,
            "SECRET_KEY": "stripe-test-secret-key-not-for-production", "DATA_KEY": support.DATA_KEY,
            "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "LOG_FORMAT": "text",
            **stripe_settings(stripe_front),
        })
        with app.app_context():
            router = current_router()
            migrate.upgrade_shared(router)
            tenancy.register_tenant(db.session, slug, f"Gemeente {slug}", "GM0344")
            db.session.commit()
            tenancy.provision_tenant(db.session, router, slug)
            ref = tenant_ref(tenancy.get_tenant(db.session, slug))
            db.session.remove()
        server = LiveServer(app)
        server.start()
        try:
            yield Live(app, server.url, ref)
        finally:
            server.stop()
            with app.app_context():
                db.engine.dispose()
            app.extensions["nvsi.router"].dispose()
    finally:
        if database_url:
            support.drop_pg_database(database_url)


@pytest.fixture
def hooks(live, localstripe):
    """localstripe's webhooks: to the app's real endpoint, and to a recorder with the same secret
    (so the test holds the exact bytes and signature the app received)."""
    recorder = WebhookRecorder()
    localstripe.register_webhook("app", live.url + "/webhooks/stripe")
    localstripe.register_webhook("recorder", recorder.url + "/hook")
    live.hooks = recorder
    try:
        yield recorder
    finally:
        localstripe.register_webhook("app", live.url + "/webhooks/stripe", events=["none.at_all"])
        localstripe.register_webhook("recorder", recorder.url + "/hook", events=["none.at_all"])
        recorder.stop()


def test_a_card_payment_is_booked_once_from_the_signed_webhook(live, hooks, localstripe, stripe_front):
    invoice_id, token = live.new_invoice()
    in_transit = live.balance(chart.PAYMENTS_IN_TRANSIT)
    attempt_id, session_id = live.start_checkout(token)
    intent_id = stripe_front.sessions[session_id]["payment_intent"]

    assert localstripe.pay(intent_id)["status"] == "succeeded"
    delivered = hooks.wait_for("payment_intent.succeeded", intent_id)
    wait_until(lambda: live.invoice(invoice_id).status is PaymentStatus.PAID, what="invoice paid")

    [payment] = live.payments(invoice_id)
    assert (payment.external_ref, payment.amount_cents, payment.applied_cents) == (f"stripe:{intent_id}", GROSS, GROSS)
    assert live.balance(chart.PAYMENTS_IN_TRANSIT) - in_transit == GROSS
    assert live.invoice(invoice_id).outstanding_cents == 0
    attempt = live.attempt(attempt_id)
    assert attempt.status is AttemptStatus.SUCCEEDED and attempt.provider_payment_intent_id == intent_id
    [row] = live.events(intent_id)
    assert (row.event_id, row.event_type, row.outcome) == (delivered.event_id, "payment_intent.succeeded", "booked")
    assert row.processed_at is not None and row.tenant_id == live.tenant.id
    audit = live.read(lambda s: s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "invoice.paid_online")
                                          .where(AuditEvent.object_id == str(invoice_id))).one().changes)
    assert audit["external_ref"] == f"stripe:{intent_id}" and audit["amount_cents"] == GROSS

    # Stripe delivers the same event again (the exact bytes and signature): nothing more is booked.
    again = live.deliver(delivered.body, delivered.signature)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert len(live.payments(invoice_id)) == 1 and len(live.events(intent_id)) == 1
    assert live.balance(chart.PAYMENTS_IN_TRANSIT) - in_transit == GROSS

    back = _http().get(f"{live.url}/pay/{token}/betaling/{attempt_id}", timeout=20)
    assert "Betaald" in back.text and "Uw betaling wordt verwerkt" not in back.text


def test_a_declined_card_books_nothing(live, hooks, localstripe, stripe_front):
    invoice_id, token = live.new_invoice()
    attempt_id, session_id = live.start_checkout(token)
    intent_id = stripe_front.sessions[session_id]["payment_intent"]

    assert localstripe.pay(intent_id, CARD_DECLINED)["status"] == "requires_payment_method"
    hooks.wait_for("payment_intent.payment_failed", intent_id)
    wait_until(lambda: live.attempt(attempt_id).status is AttemptStatus.FAILED, what="attempt failed")

    assert live.attempt(attempt_id).failure_reason == "card_declined"
    assert live.payments(invoice_id) == []
    assert live.invoice(invoice_id).status is PaymentStatus.OPEN
    assert [e.outcome for e in live.events(intent_id)] == ["failed"]
    back = _http().get(f"{live.url}/pay/{token}/betaling/{attempt_id}", timeout=20)
    assert "De betaling is niet gelukt" in back.text


@pytest.mark.parametrize("first", ["checkout.session.completed", "payment_intent.succeeded"])
def test_events_out_of_order_book_once(live, hooks, localstripe, stripe_front, first):
    """Checkout's completion and the intent's success arrive in either order; a stale failure
    arrives last. The state read back decides, and the intent is booked once."""
    localstripe.register_webhook("app", live.url + "/webhooks/stripe", events=["none.at_all"])  # hold them
    invoice_id, token = live.new_invoice()
    attempt_id, session_id = live.start_checkout(token)
    intent_id = stripe_front.sessions[session_id]["payment_intent"]
    localstripe.pay(intent_id)
    held = hooks.wait_for("payment_intent.succeeded", intent_id)
    completed = event_body("checkout.session.completed", stripe_front.complete(session_id))
    deliveries = {"checkout.session.completed": (completed, sign(completed)),
                  "payment_intent.succeeded": (held.body, held.signature)}
    second = next(k for k in deliveries if k != first)

    outcomes = [live.deliver(*deliveries[name]).json()["outcome"] for name in (first, second)]
    assert outcomes == ["booked", "already_booked"]
    [payment] = live.payments(invoice_id)
    assert payment.external_ref == f"stripe:{intent_id}" and payment.amount_cents == GROSS
    assert live.attempt(attempt_id).status is AttemptStatus.SUCCEEDED

    # An old failure of the same intent, delivered last, undoes nothing: the intent has succeeded.
    stale = dict(json.loads(held.body)["data"]["object"], status="requires_payment_method")
    failed = event_body("payment_intent.payment_failed", stale)
    assert live.deliver(failed, sign(failed)).json()["outcome"] == "already_booked"
    assert live.attempt(attempt_id).status is AttemptStatus.SUCCEEDED
    assert live.invoice(invoice_id).status is PaymentStatus.PAID and len(live.payments(invoice_id)) == 1


def test_ideal_pending_is_processing_until_the_payment_succeeds(live, hooks, localstripe, stripe_front):
    invoice_id, token = live.new_invoice()
    attempt_id, session_id = live.start_checkout(token)
    intent_id = stripe_front.sessions[session_id]["payment_intent"]
    # The employer finished Checkout, but the bank has not confirmed yet (payment_status unpaid).
    completed = event_body("checkout.session.completed", stripe_front.complete(session_id))
    assert live.deliver(completed, sign(completed)).json()["outcome"] == "processing"
    assert live.attempt(attempt_id).status is AttemptStatus.PROCESSING
    assert live.payments(invoice_id) == []
    page = _http().get(f"{live.url}/pay/{token}/betaling/{attempt_id}", timeout=20)
    assert "Uw betaling wordt verwerkt" in page.text
    # The bank confirms: localstripe's signed payment_intent.succeeded books it ...
    localstripe.pay(intent_id)
    wait_until(lambda: live.invoice(invoice_id).status is PaymentStatus.PAID, what="invoice paid")
    # ... and Checkout's own "async payment succeeded" afterwards adds nothing.
    succeeded = event_body("checkout.session.async_payment_succeeded", stripe_front.complete(session_id))
    assert live.deliver(succeeded, sign(succeeded)).json()["outcome"] == "already_booked"
    assert len(live.payments(invoice_id)) == 1
    assert live.attempt(attempt_id).status is AttemptStatus.SUCCEEDED


def test_async_payment_failed_marks_the_attempt_failed(live, hooks, localstripe, stripe_front):
    localstripe.register_webhook("app", live.url + "/webhooks/stripe", events=["none.at_all"])
    invoice_id, token = live.new_invoice()
    attempt_id, session_id = live.start_checkout(token)
    intent_id = stripe_front.sessions[session_id]["payment_intent"]
    localstripe.pay(intent_id, CARD_DECLINED)
    hooks.wait_for("payment_intent.payment_failed", intent_id)
    failed = event_body("checkout.session.async_payment_failed", stripe_front.complete(session_id))
    assert live.deliver(failed, sign(failed)).json()["outcome"] == "failed"
    assert live.attempt(attempt_id).status is AttemptStatus.FAILED
    assert live.payments(invoice_id) == []


def test_partial_and_overpayments(live, hooks, localstripe):
    invoice_id, _token = live.new_invoice()
    credit = live.balance(chart.EMPLOYER_CREDIT, tenant=True)
    meta = {"nvsi_tenant": live.tenant.slug, "nvsi_invoice_id": str(invoice_id)}
    part = localstripe.payment_intent(30000, meta)
    localstripe.pay(part["id"])
    wait_until(lambda: live.invoice(invoice_id).status is PaymentStatus.PARTIALLY_PAID, what="partially paid")
    assert live.invoice(invoice_id).outstanding_cents == GROSS - 30000
    more = localstripe.payment_intent(40000, meta)
    localstripe.pay(more["id"])
    wait_until(lambda: len(live.payments(invoice_id)) == 2, what="second payment")
    first, second = live.payments(invoice_id)
    assert (first.applied_cents, first.excess_cents) == (30000, 0)
    assert (second.applied_cents, second.excess_cents) == (GROSS - 30000, 40000 - (GROSS - 30000))
    assert live.invoice(invoice_id).status is PaymentStatus.PAID
    assert live.balance(chart.EMPLOYER_CREDIT, tenant=True) - credit == -(70000 - GROSS)


def test_a_refund_is_booked_once_per_refund(live, hooks, localstripe):
    invoice_id, _token = live.new_invoice()
    meta = {"nvsi_tenant": live.tenant.slug, "nvsi_invoice_id": str(invoice_id)}
    intent = localstripe.payment_intent(GROSS, meta)
    paid = localstripe.pay(intent["id"])
    wait_until(lambda: live.invoice(invoice_id).status is PaymentStatus.PAID, what="invoice paid")
    in_transit = live.balance(chart.PAYMENTS_IN_TRANSIT)
    refund = localstripe.refund(intent["id"], 10000)
    charge_id = paid["latest_charge"]["id"] if isinstance(paid["latest_charge"], dict) else paid["latest_charge"]
    charge = localstripe.call("GET", f"/v1/charges/{charge_id}")
    body = event_body("charge.refunded", charge)
    assert live.deliver(body, sign(body)).json()["outcome"] == "refunded"
    assert live.deliver(body, sign(body)).json()["outcome"] == "duplicate"
    other = event_body("charge.refunded", charge)  # another event about the same refund
    assert live.deliver(other, sign(other)).json()["outcome"] == "already_booked"
    payments = live.payments(invoice_id)
    assert [(p.external_ref, p.amount_cents) for p in payments] == \
        [(f"stripe:{intent['id']}", GROSS), (f"stripe-refund:{refund['id']}", -10000)]
    assert live.invoice(invoice_id).status is PaymentStatus.PARTIALLY_PAID
    assert live.invoice(invoice_id).outstanding_cents == 10000
    assert live.balance(chart.PAYMENTS_IN_TRANSIT) - in_transit == -10000


def test_a_tampered_webhook_is_refused_and_books_nothing(live, hooks, localstripe):
    invoice_id, _token = live.new_invoice()
    localstripe.register_webhook("app", live.url + "/webhooks/stripe", events=["none.at_all"])
    intent = localstripe.payment_intent(GROSS, {"nvsi_tenant": live.tenant.slug, "nvsi_invoice_id": str(invoice_id)})
    localstripe.pay(intent["id"])
    held = hooks.wait_for("payment_intent.succeeded", intent["id"])
    tampered = held.body.replace(b'"amount": 56555', b'"amount": 99999')
    assert tampered != held.body
    response = live.deliver(tampered, held.signature)
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    assert live.deliver(held.body, "t=1,v1=" + "0" * 64).status_code == 400
    assert live.payments(invoice_id) == [] and live.events(intent["id"]) == []
    # The genuine delivery still books.
    assert live.deliver(held.body, held.signature).json()["outcome"] == "booked"
