"""Paying an invoice online: the signed pay link and the Checkout Session behind the button.

The invoice e-mail carries a link ``/pay/<token>``: the token is signed with the app's secret
key (itsdangerous), names the tenant and the invoice, and expires after ``PAY_LINK_DAYS``. It
opens the hosted invoice page without an account. "Betalen met iDEAL of kaart" makes a
:class:`~tenants.payments.models.PaymentAttempt` (a fresh idempotency key, committed first) and
then a Checkout Session with that key, so a retry of the same attempt never makes a second
session. The invoice is marked paid only by a verified webhook (:mod:`tenants.payments.webhooks`),
never by the employer's return to the site. Services flush; the views commit.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from nvsi.audit.services import record
from nvsi.db import ObjectNotFound
from nvsi.links import mail_link, signed_serializer
from nvsi.tenancy.models import TenantStatus
from nvsi.tenancy.naming import InvalidSlug, schema_for_slug
from nvsi.tenancy.routing import TENANT_KEY, TenantRef
from nvsi.tenancy.services import get_tenant, tenant_ref
from tenants.invoicing.documents import get_invoice
from tenants.invoicing.models import DocumentType, Invoice
from tenants.payments.models import AttemptStatus, PaymentAttempt
from tenants.payments.stripe_gateway import (
    META_ATTEMPT,
    META_INVOICE,
    META_TENANT,
    CheckoutSession,
    PaymentGateway,
)

#: Salt of the pay links: a token signed for anything else (an approval link) never opens one.
LINK_SALT = "nvsi.payments.pay-link"


class InvalidPayLink(LookupError):
    """Not one of our pay links (altered, another salt), or its tenant or invoice is gone."""


class PayLinkExpired(Exception):
    """A genuine pay link older than ``PAY_LINK_DAYS``."""

    def __init__(self, tenant: TenantRef, expired_on: dt.date):
        super().__init__(expired_on.isoformat())
        self.tenant = tenant
        self.expired_on = expired_on


class NothingToPay(ValueError):
    """The invoice is paid, credited, or a credit note: there is no amount to pay online."""


class AttemptNotFound(ObjectNotFound):
    """No payment attempt with that id for this invoice."""


# -- the pay link ----------------------------------------------------------------------------------


def _serializer(now: dt.datetime | None = None) -> URLSafeTimedSerializer:
    return signed_serializer(LINK_SALT, now)


def pay_token(tenant: TenantRef, invoice_id: int, now: dt.datetime | None = None) -> str:
    """A signed token naming the tenant and the invoice, issued ``now`` (default: now)."""
    return _serializer(now).dumps({"t": tenant.slug, "i": invoice_id})


def pay_link(tenant: TenantRef, invoice: Invoice, now: dt.datetime | None = None) -> str:
    """The absolute pay link of ``invoice``: on ``MAIL_LINK_BASE_URL`` when set (the invoice run
    mails from a job), else on the host of the current request."""
    return mail_link("pay.show", token=pay_token(tenant, invoice.id, now))


@dataclass(frozen=True)
class PayClaims:
    """What a genuine pay token says (its signature checked, its age not yet)."""

    slug: str
    schema: str
    invoice_id: int
    issued_at: dt.datetime


def read_token(token: str) -> PayClaims:
    """The claims of a token whose signature is ours; :class:`InvalidPayLink` otherwise. Needs
    no database, so the caller can bind its session to the tenant before any query."""
    try:
        serializer = _serializer()
        payload, issued_at = serializer.loads(token, return_timestamp=True)
        # Only the canonical form of the signature is accepted: no altered token opens anything.
        value, _sep, signature = token.encode().rpartition(b".")
        if not hmac.compare_digest(serializer.make_signer(LINK_SALT).get_signature(value), signature):
            raise InvalidPayLink(token)
        slug, invoice_id = payload["t"], payload["i"]
        if not isinstance(invoice_id, int) or isinstance(invoice_id, bool):
            raise InvalidPayLink(token)
        return PayClaims(slug, schema_for_slug(slug), invoice_id, issued_at)
    except (BadSignature, InvalidSlug, KeyError, TypeError, UnicodeError) as exc:
        raise InvalidPayLink(token) from exc


def open_link(session: Session, token: str, claims: PayClaims,
              now: dt.datetime | None = None) -> tuple[TenantRef, Invoice]:
    """The tenant and invoice a pay link opens; ``session`` must be bound to the token's tenant.
    :class:`InvalidPayLink` for an unknown or inactive tenant or a missing invoice or credit note;
    :class:`PayLinkExpired` after ``PAY_LINK_DAYS``."""
    if session.info.get(TENANT_KEY) != claims.schema:
        raise RuntimeError("bind the session to the token's tenant before opening the link")
    tenant = get_tenant(session, claims.slug)
    if tenant is None or tenant.status is not TenantStatus.ACTIVE:
        raise InvalidPayLink(token)
    ref = tenant_ref(tenant)
    days = int(current_app.config["PAY_LINK_DAYS"])
    try:
        _serializer(now).loads(token, max_age=days * 86400)
    except SignatureExpired as exc:
        raise PayLinkExpired(ref, (claims.issued_at + dt.timedelta(days=days)).date()) from exc
    except BadSignature as exc:
        raise InvalidPayLink(token) from exc
    try:
        invoice = get_invoice(session, claims.invoice_id)
    except ObjectNotFound as exc:
        raise InvalidPayLink(token) from exc
    if invoice.doc_type is not DocumentType.INVOICE:
        raise InvalidPayLink(token)
    return ref, invoice


# -- attempts ----------------------------------------------------------------------------------------


def payable(invoice: Invoice) -> bool:
    """Whether there is an amount to pay online."""
    return invoice.doc_type is DocumentType.INVOICE and invoice.outstanding_cents > 0


def get_attempt(session: Session, invoice: Invoice, attempt_id: int) -> PaymentAttempt:
    """The attempt ``attempt_id`` of ``invoice``; :class:`AttemptNotFound` otherwise."""
    attempt = session.get(PaymentAttempt, attempt_id)
    if attempt is None or attempt.invoice_id != invoice.id:
        raise AttemptNotFound(attempt_id)
    return attempt


def latest_attempt(session: Session, invoice: Invoice) -> PaymentAttempt | None:
    """The newest attempt of ``invoice``, if any."""
    return session.scalars(sa.select(PaymentAttempt).where(PaymentAttempt.invoice_id == invoice.id)
                           .order_by(PaymentAttempt.id.desc()).limit(1)).first()


def begin_attempt(session: Session, tenant: TenantRef, invoice: Invoice,
                  retry_of: int | None = None) -> PaymentAttempt:
    """The attempt to send to the provider: the unfinished attempt ``retry_of`` again (the
    same idempotency key, so a request that reached the provider before failing returns the
    same session), or a new one with a fresh key for the outstanding amount. Flushes; the
    caller commits *before* calling the provider, so the key is never lost."""
    if not payable(invoice):
        raise NothingToPay(invoice.id)
    if retry_of is not None:
        try:
            earlier = get_attempt(session, invoice, retry_of)
        except AttemptNotFound:
            earlier = None
        if earlier is not None and earlier.status is AttemptStatus.CREATED \
                and earlier.amount_cents == invoice.outstanding_cents:
            return earlier
    attempt = PaymentAttempt(invoice_id=invoice.id, idempotency_key=f"nvsi-pay-{uuid.uuid4()}",
                             amount_cents=invoice.outstanding_cents, status=AttemptStatus.CREATED)
    session.add(attempt)
    session.flush()
    record(session, "invoice.payment_started", tenant_id=tenant.id, object_type="invoice", object_id=invoice.id,
           changes={"attempt_id": attempt.id, "amount_cents": attempt.amount_cents},
           actor_label="employer:pay-link")
    return attempt


def checkout_metadata(tenant: TenantRef, invoice: Invoice, attempt: PaymentAttempt) -> dict[str, str]:
    """What the provider carries back in its webhooks: ids only, nothing personal."""
    return {META_TENANT: tenant.slug, META_INVOICE: str(invoice.id), META_ATTEMPT: str(attempt.id)}


def create_checkout(gateway: PaymentGateway, tenant: TenantRef, invoice: Invoice, attempt: PaymentAttempt, *,
                    success_url: str, cancel_url: str) -> CheckoutSession:
    """Ask the provider for a Checkout Session for ``attempt`` (no database work: call it with
    the attempt committed and no transaction open). Raises the gateway's errors."""
    description = f"Factuur {invoice.number} ({tenant.name})"
    return gateway.create_checkout_session(
        amount_cents=attempt.amount_cents, description=description,
        metadata=checkout_metadata(tenant, invoice, attempt), success_url=success_url, cancel_url=cancel_url,
        idempotency_key=attempt.idempotency_key, customer_email=(invoice.buyer or {}).get("email") or None,
    )


def store_session(attempt: PaymentAttempt, checkout: CheckoutSession) -> None:
    """Remember the provider's session (and intent, once known) on the attempt."""
    attempt.provider_session_id = checkout.id
    if checkout.payment_intent_id:
        attempt.provider_payment_intent_id = checkout.payment_intent_id
