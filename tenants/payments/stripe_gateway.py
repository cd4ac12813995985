"""The payment provider behind a small interface: Stripe, or none.

The platform needs four things from a provider: make a Checkout Session, read a Checkout Session
and a PaymentIntent back (a webhook is only a hint; the booking follows the object's current
state), list a payment's refunds, and verify a webhook's signature. :class:`PaymentGateway`
names them; :class:`StripeGateway` does them with the official ``stripe`` SDK (its API address
is a setting, so the tests point it at a local fake), and :class:`NoGateway` stands in when no
keys are configured (the embedded default): the pay page then shows bank-transfer instructions.

The gateway returns small frozen records of the fields the platform reads, never SDK objects,
so the rest of the code does not depend on the SDK's types. Nothing personal is logged: ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import stripe
from flask import current_app

log = logging.getLogger(__name__)

#: The metadata keys the platform puts on a Checkout Session and its PaymentIntent.
META_TENANT, META_INVOICE, META_ATTEMPT = "nvsi_tenant", "nvsi_invoice_id", "nvsi_attempt_id"


class GatewayError(RuntimeError):
    """The provider could not be reached or refused the request (the employer may try again)."""


class GatewayUnavailable(GatewayError):
    """No provider is configured: online payment is not offered."""


class InvalidWebhook(ValueError):
    """A webhook whose signature or payload does not check out (answered with 400)."""


@dataclass(frozen=True)
class CheckoutSession:
    """A Checkout Session as the platform reads it."""

    id: str
    #: Where the employer pays (Stripe's hosted page).
    url: str | None
    #: ``open``, ``complete`` or ``expired``.
    status: str | None
    #: ``paid``, ``unpaid`` (e.g. iDEAL still pending) or ``no_payment_required``.
    payment_status: str | None
    payment_intent_id: str | None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentIntentState:
    """A PaymentIntent's current state."""

    id: str
    #: ``succeeded``, ``processing``, ``requires_payment_method`` (failed, may be retried),
    #: ``canceled``, …
    status: str
    #: What was received, in cents (0 until it succeeded).
    amount_received: int
    currency: str
    metadata: dict = field(default_factory=dict)
    #: The provider's code for the last failure (e.g. ``card_declined``), no personal data.
    failure_code: str | None = None


@dataclass(frozen=True)
class RefundState:
    """One refund of a payment."""

    id: str
    amount: int
    status: str
    currency: str


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event: its id, type and the id of the object it is about."""

    id: str
    type: str
    object_id: str | None
    #: The object as the event carried it (read for ids only; the state is read back).
    data: dict = field(default_factory=dict)


class PaymentGateway(Protocol):
    """What the platform asks of a payment provider."""

    #: False: no provider configured; the pay page offers bank transfer only.
    enabled: bool

    def create_checkout_session(self, *, amount_cents: int, description: str, metadata: dict[str, str],
                                success_url: str, cancel_url: str, idempotency_key: str,
                                customer_email: str | None = None) -> CheckoutSession:
        """Create a Checkout Session (EUR, iDEAL and card) for one amount; the same
        ``idempotency_key`` again returns the same session."""

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        """The Checkout Session's current state."""

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        """The PaymentIntent's current state."""

    def list_refunds(self, payment_intent_id: str) -> list[RefundState]:
        """The refunds of a PaymentIntent."""

    def construct_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The event of a webhook whose signature on the raw ``payload`` is valid;
        :class:`InvalidWebhook` otherwise."""


def _get(obj, key: str, default=None):
    """A field of an SDK object or a plain dict."""
    try:
        value = obj[key]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


def _id(value) -> str | None:
    """An id, whether the field holds the id or an expanded object."""
    if value is None or isinstance(value, str):
        return value
    return _get(value, "id")


def _metadata(obj) -> dict:
    meta = _get(obj, "metadata", {}) or {}
    return {str(k): str(v) for k, v in (meta.to_dict() if hasattr(meta, "to_dict") else dict(meta)).items()}


class StripeGateway:
    """Stripe through its official SDK, on ``api_base`` (Stripe itself, or a local fake in tests)."""

    enabled = True

    def __init__(self, api_key: str, webhook_secret: str, *, api_base: str = "", timeout: float = 20,
                 max_network_retries: int = 2):
        base = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses=base, max_network_retries=max_network_retries,
            http_client=stripe.new_default_http_client(timeout=timeout),
        )
        self._webhook_secret = webhook_secret

    def create_checkout_session(self, *, amount_cents, description, metadata, success_url, cancel_url,
                                idempotency_key, customer_email=None) -> CheckoutSession:
        params = {
            "mode": "payment",
            "currency": "eur",
            "payment_method_types": ["ideal", "card"],
            "line_items": [{
                "quantity": 1,
                "price_data": {"currency": "eur", "unit_amount": amount_cents,
                               "product_data": {"name": description}},
            }],
            "metadata": dict(metadata),
            "payment_intent_data": {"metadata": dict(metadata), "description": description},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "locale": "nl",
        }
        if customer_email:
            params["customer_email"] = customer_email
        try:
            made = self._client.v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise GatewayError(_error_text(exc)) from exc
        return _session(made)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        try:
            return _session(self._client.v1.checkout.sessions.retrieve(session_id))
        except stripe.StripeError as exc:
            raise GatewayError(_error_text(exc)) from exc

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        try:
            intent = self._client.v1.payment_intents.retrieve(payment_intent_id)
        except stripe.StripeError as exc:
            raise GatewayError(_error_text(exc)) from exc
        status = _get(intent, "status", "")
        received = _get(intent, "amount_received")
        if received is None:  # older API shapes: the whole amount once it succeeded
            received = _get(intent, "amount", 0) if status == "succeeded" else 0
        error = _get(intent, "last_payment_error") or {}
        return PaymentIntentState(id=_get(intent, "id"), status=status, amount_received=int(received),
                                  currency=str(_get(intent, "currency", "")).lower(), metadata=_metadata(intent),
                                  failure_code=_get(error, "code"))

    def list_refunds(self, payment_intent_id: str) -> list[RefundState]:
        try:
            page = self._client.v1.refunds.list({"payment_intent": payment_intent_id, "limit": 100})
            refunds = list(page.auto_paging_iter())
        except stripe.StripeError as exc:
            raise GatewayError(_error_text(exc)) from exc
        return [RefundState(id=_get(r, "id"), amount=int(_get(r, "amount", 0)), status=_get(r, "status", ""),
                            currency=str(_get(r, "currency", "")).lower()) for r in refunds]

    def construct_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        if not self._webhook_secret:
            raise InvalidWebhook("no webhook signing secret configured")
        try:
            event = stripe.Webhook.construct_event(payload, signature or "", self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidWebhook(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
        data = _get(_get(event, "data", {}), "object", {}) or {}
        plain = data.to_dict() if hasattr(data, "to_dict") else dict(data)
        return WebhookEvent(id=_get(event, "id"), type=_get(event, "type", ""), object_id=_get(data, "id"),
                            data=plain)


def _session(made) -> CheckoutSession:
    return CheckoutSession(id=_get(made, "id"), url=_get(made, "url"), status=_get(made, "status"),
                           payment_status=_get(made, "payment_status"),
                           payment_intent_id=_id(_get(made, "payment_intent")), metadata=_metadata(made))


def _error_text(exc: stripe.StripeError) -> str:
    """The provider's error, without anything the request carried (its code and type only)."""
    return f"{type(exc).__name__}: {exc.code or exc.http_status or 'no answer'}"


class NoGateway:
    """No provider configured (the embedded default): online payment is not offered and every
    webhook is refused."""

    enabled = False

    def create_checkout_session(self, **_kwargs) -> CheckoutSession:
        raise GatewayUnavailable("no payment provider configured")

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        raise GatewayUnavailable("no payment provider configured")

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        raise GatewayUnavailable("no payment provider configured")

    def list_refunds(self, payment_intent_id: str) -> list[RefundState]:
        raise GatewayUnavailable("no payment provider configured")

    def construct_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        raise InvalidWebhook("no payment provider configured")


def gateway() -> PaymentGateway:
    """The app's gateway, from the settings: Stripe when ``STRIPE_SECRET_KEY`` is set (from the
    environment), else :class:`NoGateway`. Made once per app and settings."""
    config = current_app.config
    key = (config.get("STRIPE_SECRET_KEY") or "", config.get("STRIPE_WEBHOOK_SECRET") or "",
           config.get("STRIPE_API_BASE") or "", config.get("STRIPE_TIMEOUT") or 20)
    cached = current_app.extensions.get("nvsi.payment_gateway")
    if cached is not None and cached[0] == key:
        return cached[1]
    made: PaymentGateway = StripeGateway(key[0], key[1], api_base=key[2], timeout=float(key[3])) if key[0] \
        else NoGateway()
    current_app.extensions["nvsi.payment_gateway"] = (key, made)
    return made
