"""The employer's way through the hosted invoice page, in headless Chromium, on both backends.

The invoice is mailed through a real SMTP server; the pay link from that e-mail opens the
invoice (lines, amounts, downloads) without an account; "Betalen met iDEAL of kaart" goes to
Checkout (the recording front, on its own origin as Stripe's is, which sends the browser back) and
lands on "Uw betaling wordt verwerkt"; when localstripe's signed webhook has confirmed the payment, the page says
"Betaald" by itself. Every page passes axe (WCAG 2.1 A/AA); nothing leaves the machine.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from nvsi.extensions import db
from tenants.invoicing import delivery
from tenants.payments.models import PaymentAttempt
from tests import smtp
from tests.localstripe_server import localstripe, stripe_front  # noqa: F401  (fixtures)
from tests.test_browser import TIMEOUT_MS, browser, check_accessibility  # noqa: F401  (fixtures)
from tests.test_stripe_payments import hooks, live  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def new_page(browser, live, stripe_front):  # noqa: F811
    """Pages in their own browser context that may reach the live server and the Checkout front
    (Stripe's place in the tests), nothing else: any other request is aborted and fails the test."""
    contexts, outside = [], []
    allowed = (live.url + "/", stripe_front.url + "/checkout/")

    def make():
        context = browser.new_context(base_url=live.url, locale="nl-NL")
        context.set_default_timeout(TIMEOUT_MS)

        def guard(route):
            if route.request.url.startswith(allowed):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not outside, f"requests left the machine: {outside}"


@pytest.fixture
def smtp_server(monkeypatch):
    yield from smtp.running(monkeypatch)


def mail_invoice(live, smtp_server, monkeypatch) -> tuple[str, str]:
    """Issue an invoice and mail it as the invoice run does; (its number, the pay link in the mail)."""
    for key, value in {**smtp_server.settings(), "MAIL_LINK_BASE_URL": live.url}.items():
        monkeypatch.setitem(live.app.config, key, value)
    invoice_id, _token = live.new_invoice()
    with live.app.app_context():
        session = live.session()
        try:
            assert delivery.send_pending(session, live.tenant) == 1
            session.commit()
        finally:
            session.close()
            db.session.remove()
    [message] = smtp_server.messages
    link = re.search(re.escape(live.url) + r"/pay/\S+", message.text).group(0)
    return live.invoice(invoice_id).number, link


def test_the_employer_pays_from_the_link_in_the_mail(new_page, live, hooks, localstripe, stripe_front,  # noqa: F811
                                                     smtp_server, monkeypatch):
    number, link = mail_invoice(live, smtp_server, monkeypatch)
    page = new_page()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Factuur {number}")
    expect(page.get_by_role("row", name=re.compile("Groenonderhoud - A. Jansen"))).to_be_visible()
    expect(page.locator("#outstanding")).to_have_text(re.compile(r"€\s565,55"))
    expect(page.get_by_role("link", name=f"Download e-factuur (SI-UBL 2.0, XML) {number}")).to_be_visible()
    check_accessibility(page, "hosted invoice page")
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download PDF {number}").click()
    assert download.value.suggested_filename == f"factuur-{number}.pdf"

    # Checkout is on another origin (as checkout.stripe.com is): the page's Content-Security-Policy
    # must let the form's redirect go there, and Checkout sends the employer back.
    checkout_pages = []
    page.on("request", lambda request: checkout_pages.append(request.url) if "/checkout/" in request.url else None)
    page.get_by_role("button", name="Betalen met iDEAL of kaart").click()
    page.wait_for_url(re.compile(r"/pay/[^/]+/betaling/\d+$"))
    assert checkout_pages and checkout_pages[0].startswith(stripe_front.url)
    expect(page.get_by_role("status")).to_contain_text("Uw betaling wordt verwerkt")
    check_accessibility(page, "return page, payment being processed")

    attempt_id = int(page.url.rsplit("/", 1)[1])
    session_id = live.read(lambda s: s.get(PaymentAttempt, attempt_id).provider_session_id)
    localstripe.pay(stripe_front.sessions[session_id]["payment_intent"])
    # The page asks for the status by itself and shows the confirmation once the webhook booked it.
    expect(page.get_by_role("status")).to_contain_text("Betaald", timeout=20_000)
    check_accessibility(page, "return page, paid")
    page.get_by_role("link", name=f"Terug naar factuur {number}").click()
    expect(page.get_by_role("status")).to_contain_text("Deze factuur is betaald")
