"""A municipality's payments and dunning, for its staff and the backoffice: the page
``/g/<slug>/betalingen`` (payments received; overdue invoices with their dunning level) and the
API ``/api/v1/g/<slug>/payments`` and ``/api/v1/g/<slug>/dunning``. The invoice page shows the
dunning of that invoice (``payments/status_invoice.html``, through :func:`invoice_dunning`).
Read-only: payments are booked by the webhook and the bank import, notices by the daily job.
"""

from __future__ import annotations

import datetime as dt

from flask import render_template, request
from flask_babel import format_currency
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields

from nvsi.api import page_size
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.schemas import PageArgs
from tenants.invoicing.documents import STATUS_LABELS, cents_to_decimal
from tenants.payments import dunning

#: Who sees a municipality's payments (as its invoices).
READERS = (Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF, Role.BACKOFFICE)

METHOD_LABELS = {"stripe": _l("iDEAL of kaart (Stripe)"), "bank_transfer": _l("bankoverschrijving"),
                 "manual": _l("handmatig")}


def euros(cents: int) -> str:
    """``€ 565,55`` in the user's language (from cents, never through a float)."""
    return format_currency(cents_to_decimal(cents), "EUR")


def _today() -> dt.date:
    return dt.date.today()


class DunningNoticeSchema(Schema):
    """A notice: its level, the day it became due, the amount outstanding, when it was mailed."""

    level = fields.Function(lambda n: n.level.value)
    due_on = fields.Date()
    outstanding_cents = fields.Integer()
    sent_at = fields.DateTime(allow_none=True)


class OverdueInvoiceSchema(Schema):
    """An unpaid invoice past its due date with its dunning."""

    invoice_id = fields.Function(lambda r: r.invoice.id)
    number = fields.Function(lambda r: r.invoice.number)
    employer = fields.Function(lambda r: (r.invoice.buyer or {}).get("name"))
    due_date = fields.Function(lambda r: r.invoice.due_date.isoformat())
    days_overdue = fields.Integer()
    outstanding_cents = fields.Function(lambda r: r.invoice.outstanding_cents)
    status = fields.Function(lambda r: r.invoice.status.value)
    level = fields.Function(lambda r: r.level.value if r.level else None,
                            metadata={"description": "The highest level mailed (null: none yet)"})
    notices = fields.List(fields.Nested(DunningNoticeSchema))


class DunningListSchema(Schema):
    """The overdue invoices of a municipality."""

    date = fields.Date()
    items = fields.List(fields.Nested(OverdueInvoiceSchema))


class ReceivedPaymentSchema(Schema):
    """A payment (negative: a refund) of an invoice."""

    id = fields.Function(lambda r: r.payment.id)
    invoice_id = fields.Function(lambda r: r.payment.invoice_id)
    invoice_number = fields.String()
    method = fields.Function(lambda r: r.payment.method.value)
    amount_cents = fields.Function(lambda r: r.payment.amount_cents)
    applied_cents = fields.Function(lambda r: r.payment.applied_cents)
    excess_cents = fields.Function(lambda r: r.payment.excess_cents)
    received_on = fields.Function(lambda r: r.payment.received_on.isoformat())
    external_ref = fields.Function(lambda r: r.payment.external_ref)


class PaymentPageSchema(Schema):
    """A page of payments received."""

    items = fields.List(fields.Nested(ReceivedPaymentSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


def register_api(bp):
    @bp.get("/payments")
    @roles_required(*READERS)
    def api_payments():
        """Payments received for the municipality's invoices (and refunds), the latest first.
        ---
        get:
          tags: [payments]
          summary: List payments received
          parameters:
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: PaymentPageSchema}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = PageArgs().load(request.args.to_dict())
        per_page = page_size(args["per_page"])
        items, total = dunning.payments_received(db.session, page=args["page"], per_page=per_page)
        return PaymentPageSchema().dump({"items": items, "page": args["page"], "per_page": per_page, "total": total})

    @bp.get("/dunning")
    @roles_required(*READERS)
    def api_dunning():
        """Unpaid invoices past their due date, with the reminders sent (dunning level).
        ---
        get:
          tags: [payments]
          summary: Overdue invoices and their dunning
          responses:
            200:
              description: OK
              content: {application/json: {schema: DunningListSchema}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
        """
        today = _today()
        return DunningListSchema().dump({"date": today, "items": dunning.overdue(db.session, today)})


def register_pages(bp):
    @bp.app_template_global()
    def invoice_dunning(invoice) -> list:
        """The dunning notices of ``invoice`` (for the invoice page; the request's tenant)."""
        return dunning.notices_for(db.session, [invoice.id])[invoice.id]

    @bp.get("/betalingen")
    @roles_required(*READERS)
    def payments():
        """Payments received and overdue invoices with their dunning level."""
        today = _today()
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        received, total = dunning.payments_received(db.session, page=page, per_page=50)
        return render_template("payments/status.html", overdue=dunning.overdue(db.session, today), received=received,
                               total=total, page=page, today=today, euros=euros, status_labels=STATUS_LABELS,
                               level_labels=dunning.LEVEL_LABELS, method_labels=METHOD_LABELS)
