"""Processing verified Stripe webhooks: book what the provider has confirmed, exactly once.

An event is only a hint that something changed. The handler reads the object back from the
provider (the Checkout Session, its PaymentIntent, the intent's refunds) and books from that
current state, never from the order in which events arrive: a ``payment_intent.succeeded``
after the ``checkout.session.completed`` of the same intent books nothing new, because the
payment's external reference is the intent (``stripe:<pi id>``, unique), and a late
``payment_intent.payment_failed`` never undoes a payment that succeeded.

Per event, in one transaction of the tenant's session: the event row (its id unique, in the
shared schema) and the ledger posting (Dr PAYMENTS_IN_TRANSIT / Cr RECEIVABLES through
:func:`~tenants.payments.services.apply_payment`; partial and overpayments follow from it). A
second delivery of the same event finds its id taken and books nothing. The provider is read
before the transaction opens, so no row is locked while the network is waited for.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.db import savepoint, utcnow
from nvsi.ledger import chart
from nvsi.payments.models import StripeEvent
from nvsi.tenancy.naming import InvalidSlug, schema_for_slug
from nvsi.tenancy.routing import RoutingSession, bind_tenant
from nvsi.tenancy.services import get_tenant, tenant_ref
from tenants.invoicing.models import DocumentType, Invoice
from tenants.payments.models import AttemptStatus, PaymentAttempt, PaymentMethod
from tenants.payments.services import apply_payment, payment_by_ref, refund_payment
from tenants.payments.stripe_gateway import (
    META_ATTEMPT,
    META_INVOICE,
    META_TENANT,
    CheckoutSession,
    PaymentGateway,
    PaymentIntentState,
    RefundState,
    WebhookEvent,
)

log = logging.getLogger(__name__)

CHECKOUT_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
})
INTENT_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed",
                           "payment_intent.processing", "payment_intent.canceled"})
REFUND_EVENTS = frozenset({"charge.refunded", "charge.refund.updated", "refund.created", "refund.updated"})
#: The event types the webhook acts on; any other verified event is acknowledged and ignored.
HANDLED = CHECKOUT_EVENTS | INTENT_EVENTS | REFUND_EVENTS
#: How often a transaction that lost a race (a concurrent event about the same payment) is redone.
ATTEMPTS = 3
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass
class ProviderState:
    """What the provider says now about the payment an event concerns."""

    metadata: dict
    checkout: CheckoutSession | None = None
    intent: PaymentIntentState | None = None
    refunds: list[RefundState] = field(default_factory=list)


def payment_ref(intent_id: str) -> str:
    """The external reference of an online payment: one per PaymentIntent."""
    return f"stripe:{intent_id}"


def refund_ref(refund_id: str) -> str:
    """The external reference of a refund: one per Stripe refund."""
    return f"stripe-refund:{refund_id}"


def read_state(gateway: PaymentGateway, event: WebhookEvent) -> ProviderState | None:
    """Read the event's object back from the provider. None: not a payment of this platform
    (no tenant in its metadata)."""
    checkout = intent = None
    intent_id = None
    if event.type in CHECKOUT_EVENTS:
        checkout = gateway.retrieve_checkout_session(event.object_id)
        intent_id = checkout.payment_intent_id
    elif event.type in INTENT_EVENTS:
        intent_id = event.object_id
    else:  # a charge or a refund: its PaymentIntent is named on the object
        intent_id = event.data.get("payment_intent")
        if isinstance(intent_id, dict):
            intent_id = intent_id.get("id")
    if intent_id:
        intent = gateway.retrieve_payment_intent(intent_id)
    metadata = (checkout.metadata if checkout is not None and checkout.metadata else None) \
        or (intent.metadata if intent is not None else {})
    if not metadata.get(META_TENANT):
        return None
    refunds = gateway.list_refunds(intent.id) if intent is not None and intent.status == "succeeded" else []
    return ProviderState(metadata=metadata, checkout=checkout, intent=intent, refunds=refunds)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def process(db, gateway: PaymentGateway, event: WebhookEvent) -> str:
    """Process one verified event; returns what happened (``ignored``, ``duplicate``, ``booked``,
    ``already_booked``, ``processing``, ``failed``, ``expired``, ``refunded``, ``nothing``,
    ``unknown_invoice``).
    Raises on a provider or database failure, so the provider delivers the event again."""
    if event.type not in HANDLED:
        log.info("stripe event ignored", extra={"fields": {"event_id": event.id, "type": event.type}})
        return "ignored"
    state = read_state(gateway, event)
    if state is None:
        log.info("stripe event not for this platform",
                 extra={"fields": {"event_id": event.id, "type": event.type}})
        return "ignored"
    slug = state.metadata[META_TENANT]
    try:
        schema = schema_for_slug(slug)
    except InvalidSlug:
        return "ignored"
    for attempt in range(ATTEMPTS):
        session = RoutingSession(db)
        try:
            bind_tenant(session, schema)
            outcome = _process_in(session, event, state)
            session.commit()
            return outcome
        except (sa.exc.IntegrityError, sa.orm.exc.StaleDataError, sa.exc.OperationalError):
            # A concurrent event about the same payment won the race: do it again (it then
            # finds that payment), or let the provider deliver it later.
            session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
        finally:
            session.close()
    raise AssertionError("unreachable")


def _process_in(session: Session, event: WebhookEvent, state: ProviderState) -> str:
    tenant = get_tenant(session, state.metadata[META_TENANT])
    if tenant is None:
        return "ignored"
    ref = tenant_ref(tenant)
    invoice_id = _int(state.metadata.get(META_INVOICE))
    row = StripeEvent(event_id=event.id, event_type=event.type, object_id=event.object_id, tenant_id=ref.id,
                      invoice_id=invoice_id, outcome="nothing", received_at=utcnow())
    try:
        with savepoint(session):
            session.add(row)
    except sa.exc.IntegrityError:
        log.info("stripe event delivered again: nothing booked", extra={"fields": {"event_id": event.id}})
        session.rollback()
        return "duplicate"
    invoice = session.scalars(sa.select(Invoice).where(Invoice.id == invoice_id).with_for_update()).first() \
        if invoice_id is not None else None
    if invoice is None or invoice.doc_type is not DocumentType.INVOICE:
        row.outcome, row.processed_at = "unknown_invoice", utcnow()
        log.warning("stripe event names no invoice of the tenant",
                    extra={"fields": {"event_id": event.id, "tenant": ref.slug}})
        return "unknown_invoice"
    attempt_id = _int(state.metadata.get(META_ATTEMPT))
    attempt = session.get(PaymentAttempt, attempt_id) if attempt_id is not None else None
    if attempt is not None and attempt.invoice_id != invoice.id:
        attempt = None
    outcome = _apply_state(session, ref, invoice, attempt, event, state)
    row.outcome, row.processed_at = outcome, utcnow()
    session.flush()
    log.info("stripe event processed", extra={"fields": {
        "event_id": event.id, "type": event.type, "tenant": ref.slug, "invoice_id": invoice.id, "outcome": outcome}})
    return outcome


def _apply_state(session: Session, tenant, invoice: Invoice, attempt: PaymentAttempt | None,
                 event: WebhookEvent, state: ProviderState) -> str:
    """Bring the books and the attempt in line with the provider's current state."""
    intent, checkout = state.intent, state.checkout
    today = dt.datetime.now(AMSTERDAM).date()
    if attempt is not None:
        if checkout is not None and attempt.provider_session_id is None:
            attempt.provider_session_id = checkout.id
        if intent is not None and attempt.provider_payment_intent_id is None:
            attempt.provider_payment_intent_id = intent.id
    outcome = "nothing"
    if intent is not None and intent.status == "succeeded" and intent.amount_received > 0:
        if intent.currency != "eur":
            log.error("stripe payment not in euros: not booked",
                      extra={"fields": {"event_id": event.id, "payment_intent": intent.id}})
            return "nothing"
        reference = payment_ref(intent.id)
        if payment_by_ref(session, reference) is None:
            payment = apply_payment(session, tenant, invoice, intent.amount_received, method=PaymentMethod.STRIPE,
                                    external_ref=reference, received_on=today, clearing=chart.PAYMENTS_IN_TRANSIT)
            record(session, "invoice.paid_online", tenant_id=tenant.id, object_type="invoice", object_id=invoice.id,
                   changes={"payment_id": payment.id, "amount_cents": payment.amount_cents,
                            "applied_cents": payment.applied_cents, "excess_cents": payment.excess_cents,
                            "external_ref": reference, "event_id": event.id},
                   actor_label="system:stripe-webhook")
            outcome = "booked"
        else:
            outcome = "already_booked"
        if attempt is not None:
            attempt.status, attempt.failure_reason = AttemptStatus.SUCCEEDED, None
        for refund in state.refunds:
            if refund.status != "succeeded" or refund.amount <= 0 or refund.currency != "eur":
                continue
            reference = refund_ref(refund.id)
            if payment_by_ref(session, reference) is not None:
                continue
            booked = refund_payment(session, tenant, invoice, refund.amount, method=PaymentMethod.STRIPE,
                                    external_ref=reference, refunded_on=today, clearing=chart.PAYMENTS_IN_TRANSIT)
            record(session, "invoice.refunded_online", tenant_id=tenant.id, object_type="invoice",
                   object_id=invoice.id, changes={"payment_id": booked.id, "amount_cents": booked.amount_cents,
                                                  "external_ref": reference, "event_id": event.id},
                   actor_label="system:stripe-webhook")
            outcome = "refunded"
        return outcome
    if attempt is None or attempt.status is AttemptStatus.SUCCEEDED:
        return outcome
    if (intent is not None and intent.status == "processing") or \
            (checkout is not None and checkout.status == "complete" and checkout.payment_status == "unpaid"
             and event.type != "checkout.session.async_payment_failed"):
        attempt.status = AttemptStatus.PROCESSING
        return "processing"
    if event.type in ("checkout.session.async_payment_failed", "payment_intent.payment_failed",
                      "payment_intent.canceled") and (intent is None or intent.status != "succeeded"):
        attempt.status = AttemptStatus.FAILED
        attempt.failure_reason = (intent.failure_code if intent is not None else None) or event.type
        return "failed"
    if event.type == "checkout.session.expired" or (checkout is not None and checkout.status == "expired"):
        attempt.status = AttemptStatus.EXPIRED
        return "expired"
    return outcome
