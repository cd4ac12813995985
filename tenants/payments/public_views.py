"""The employer's hosted invoice page ``/pay/<token>`` and the Stripe webhook ``/webhooks/stripe``.

Both live outside the tenant blueprints and need no login. The pay page finds its tenant in
the signed token: the request's session is bound to that tenant (``url_value_preprocessor``,
before anything can query) from the token alone, as on the approval page for hours. The
webhook finds its tenant in the metadata of the object it reads back from Stripe and opens a
session of its own for that tenant (:mod:`tenants.payments.webhooks`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import format_currency
from flask_babel import gettext as _

from nvsi.errors import problem
from nvsi.extensions import csrf, db
from nvsi.tenancy.routing import bind_tenant
from tenants.invoicing import documents
from tenants.invoicing.documents import STATUS_LABELS
from tenants.invoicing.pdf import format_iban, render_invoice_pdf
from tenants.invoicing.ubl import render_invoice_ubl
from tenants.payments import online, webhooks
from tenants.payments.models import AttemptStatus
from tenants.payments.stripe_gateway import GatewayError, InvalidWebhook, gateway

log = logging.getLogger(__name__)


pay = Blueprint("pay", __name__)
stripe_webhook = Blueprint("stripe_webhook", __name__)


def euros(cents: int) -> str:
    """``€ 565,55`` (from cents, never through a float)."""
    return format_currency(documents.cents_to_decimal(cents), "EUR")


@pay.url_value_preprocessor
def _bind_token_tenant(_endpoint, values):
    """Check the token's signature (no database needed) and bind the request's session to the
    tenant it names, before anything else can query."""
    g.pay_claims = None
    try:
        claims = online.read_token(values["token"])
    except online.InvalidPayLink:
        return
    bind_tenant(db.session(), claims.schema)
    g.pay_claims = claims


@pay.after_request
def _private(response):
    # The link is a credential: keep it out of caches, search engines and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    # The pay button's form is answered with a redirect to Stripe Checkout: browsers check that
    # redirect against the page's "form-action", so Checkout's origin is allowed there (only here).
    checkout = (current_app.config.get("STRIPE_CHECKOUT_ORIGIN") or "").strip()
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        f"form-action 'self'{' ' + checkout if checkout else ''}"
    )
    return response


def _page(template: str, status: int, **context):
    return make_response(render_template(template, **context), status)


def _open(token: str):
    """(tenant, invoice), or the page that says the link is invalid (404) or expired (410)."""
    claims = g.pay_claims
    try:
        if claims is None:
            raise online.InvalidPayLink(token)
        return online.open_link(db.session, token, claims)
    except online.InvalidPayLink:
        abort(_page("payments/pay_link_invalid.html", 404))
    except online.PayLinkExpired as exc:
        abort(_page("payments/pay_link_expired.html", 410, tenant=exc.tenant, expired_on=exc.expired_on))


def _render(token, tenant, invoice, *, status: int = 200, error: str | None = None, retry_of: int | None = None):
    provider = gateway()
    latest = online.latest_attempt(db.session, invoice)
    return render_template(
        "payments/pay.html", token=token, tenant=tenant, invoice=invoice, vat=documents.vat_breakdown(invoice),
        euros=euros, format_iban=format_iban, status_labels=STATUS_LABELS, online_enabled=provider.enabled,
        payable=online.payable(invoice), error=error, retry_of=retry_of,
        cancelled=request.args.get("geannuleerd") == "1",
        in_progress=latest is not None and latest.status is AttemptStatus.PROCESSING,
    ), status


@pay.get("/pay/<token>")
def show(token: str):
    """The invoice as the employer sees it: lines, VAT, what is still open, the downloads, and
    the button to pay online (or the bank-transfer instructions)."""
    tenant, invoice = _open(token)
    return _render(token, tenant, invoice)


@pay.get("/pay/<token>/factuur.pdf")
def pdf(token: str):
    """The invoice as PDF, through the same link."""
    tenant, invoice = _open(token)
    content = render_invoice_pdf(invoice, None, tenant.name)
    return _download(content, "application/pdf", documents.filename(invoice, "pdf"))


@pay.get("/pay/<token>/factuur.xml")
def ubl(token: str):
    """The e-invoice (SI-UBL 2.0 XML), through the same link."""
    _tenant, invoice = _open(token)
    return _download(render_invoice_ubl(invoice, None), "application/xml", documents.filename(invoice, "xml"))


def _download(content: bytes, content_type: str, name: str):
    response = make_response(content)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@pay.post("/pay/<token>/betalen")
def start(token: str):
    """"Betalen met iDEAL of kaart": record the attempt (committed first, with its idempotency
    key), ask the provider for a Checkout Session with that key, and send the employer there."""
    tenant, invoice = _open(token)
    provider = gateway()
    if not provider.enabled:
        return _render(token, tenant, invoice, status=409,
                       error=_("Online betalen is op dit moment niet mogelijk. Maak het bedrag over met de "
                               "gegevens hieronder."))
    retry_of = request.form.get("attempt", type=int)
    try:
        attempt = online.begin_attempt(db.session, tenant, invoice, retry_of=retry_of)
    except online.NothingToPay:
        db.session.rollback()
        return _render(token, tenant, invoice, status=409,
                       error=_("Er staat op deze factuur niets meer open om te betalen."))
    db.session.commit()
    attempt_id = attempt.id
    success_url = url_for("pay.returned", token=token, attempt_id=attempt_id, _external=True)
    cancel_url = url_for("pay.show", token=token, geannuleerd=1, _external=True)
    try:
        checkout = online.create_checkout(provider, tenant, invoice, attempt, success_url=success_url,
                                          cancel_url=cancel_url)
    except GatewayError as exc:
        db.session.rollback()
        log.warning("checkout session not created", extra={"fields": {
            "tenant": tenant.slug, "invoice_id": invoice.id, "attempt_id": attempt_id, "error": str(exc)}})
        return _render(token, tenant, invoice, status=503, retry_of=attempt_id,
                       error=_("De betaalpagina kon niet worden geopend. Probeer het over een paar minuten opnieuw, "
                               "of maak het bedrag over met de gegevens hieronder."))
    online.store_session(attempt, checkout)
    db.session.commit()
    if not checkout.url:
        abort(502)
    return redirect(checkout.url, code=303)


@pay.get("/pay/<token>/betaling/<int:attempt_id>")
def returned(token: str, attempt_id: int):
    """Where the provider sends the employer back: "being processed" until a verified webhook
    has confirmed the payment, then "paid" (the page asks for the status by itself)."""
    tenant, invoice = _open(token)
    attempt = online.get_attempt(db.session, invoice, attempt_id)
    return render_template("payments/pay_return.html", token=token, tenant=tenant, invoice=invoice,
                           attempt=attempt, state=_state(attempt), euros=euros)


@pay.get("/pay/<token>/betaling/<int:attempt_id>/status")
def attempt_status(token: str, attempt_id: int):
    """The attempt's state as JSON, for the return page's poll."""
    _tenant, invoice = _open(token)
    attempt = online.get_attempt(db.session, invoice, attempt_id)
    return jsonify({"state": _state(attempt), "invoice_status": invoice.status.value})


def _state(attempt) -> str:
    """``paid``, ``failed``, ``expired`` or ``processing`` (created or pending at the provider)."""
    return {AttemptStatus.SUCCEEDED: "paid", AttemptStatus.FAILED: "failed",
            AttemptStatus.EXPIRED: "expired"}.get(attempt.status, "processing")


# -- the webhook -------------------------------------------------------------------------------------


@stripe_webhook.post("/webhooks/stripe")
@csrf.exempt
def receive():
    """A Stripe event: its signature checked on the raw body (400 when wrong), then processed
    once (see :mod:`tenants.payments.webhooks`). 200 also for an event delivered again or one
    the platform does not act on; 5xx makes Stripe deliver it again later."""
    payload = request.get_data(cache=False)
    try:
        event = gateway().construct_event(payload, request.headers.get("Stripe-Signature"))
    except InvalidWebhook as exc:
        log.warning("stripe webhook refused", extra={"fields": {"reason": str(exc)[:120]}})
        return problem(400, "invalid_signature", _("De handtekening of de inhoud van dit bericht klopt niet."))
    db.session.remove()  # the request's own session is not used: each event gets a tenant session
    try:
        outcome = webhooks.process(db, gateway(), event)
    except GatewayError as exc:
        log.warning("stripe webhook: object not read back; Stripe delivers it again",
                    extra={"fields": {"event_id": event.id, "type": event.type, "error": str(exc)}})
        return problem(503, "provider_unavailable", _("Stripe kon niet worden bereikt; probeer het later opnieuw."))
    return jsonify({"received": True, "event": event.id, "outcome": outcome})
