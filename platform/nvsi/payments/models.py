"""Stripe webhook events received (shared schema): one row per event id, ever.

The row is inserted in the same transaction as the ledger posting the event causes, and its
event id is unique: a second delivery of the same event finds the key taken and books nothing.
Only ids are stored (the event's type, its object's id, the tenant), never the payload: the
object is always read back from Stripe, and nothing personal stays here.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, UTCDateTime


class StripeEvent(SharedBase):
    """A verified Stripe event the webhook has processed (see :mod:`tenants.payments.webhooks`)."""

    __tablename__ = "stripe_events"

    id: Mapped[BigIntPK]
    #: Stripe's event id (``evt_…``): unique, so an event is processed once however often it arrives.
    event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    #: The event type, e.g. ``checkout.session.completed``.
    event_type: Mapped[str] = mapped_column(sa.String(100), index=True)
    #: The id of the object the event is about (``cs_…``, ``pi_…``, ``ch_…``).
    object_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: The municipality whose invoice it concerns (no foreign key: kept when a member leaves).
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, index=True)
    #: The invoice it concerns, in that tenant's schema.
    invoice_id: Mapped[int | None] = mapped_column(BigIntType)
    #: What processing did: ``booked``, ``processing``, ``failed``, ``refunded``, ``nothing``.
    outcome: Mapped[str] = mapped_column(sa.String(40))
    #: When the event arrived here, and when its processing was committed (the same transaction).
    received_at: Mapped[Created]
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
