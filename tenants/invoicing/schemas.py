"""marshmallow schemas for invoices: the list filters (API and page) and the output.

Amounts go out as euros with two decimals in a string (``"565.55"``), like the hourly rate
elsewhere in the API; negative on a credit note.
"""

from __future__ import annotations

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, validates, validates_schema

from nvsi.schemas import Args, OptionalText, PageArgs
from tenants.invoicing.documents import cents_to_decimal
from tenants.invoicing.models import DocumentType, PaymentStatus


def _euros(cents_attribute: str):
    return fields.Function(lambda row: f"{cents_to_decimal(getattr(row, cents_attribute)):.2f}")


class OptionalInteger(fields.Integer):
    """A whole number where an empty string (an unchosen select) means "not given"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class OptionalDate(fields.Date):
    """An ISO date where an empty string means "not given"."""

    default_error_messages = {"invalid": "Not a valid date."}

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError:
            raise ValidationError(_("Geen geldige datum (verwacht: jjjj-mm-dd).")) from None


class InvoiceListArgs(PageArgs):
    """Filters of the invoice list: payment status, employer, kind, and the period of the hours
    (documents whose period overlaps ``period_from``..``period_to``)."""

    status = OptionalText(load_default=None)
    employer_id = OptionalInteger(load_default=None)
    doc_type = OptionalText(load_default=None)
    period_from = OptionalDate(load_default=None)
    period_to = OptionalDate(load_default=None)

    @validates("status")
    def _status(self, value, **kwargs):
        if value is not None and value not in {s.value for s in PaymentStatus}:
            raise ValidationError(_("Kies een status: %(choices)s.",
                                    choices=", ".join(s.value for s in PaymentStatus)))

    @validates("doc_type")
    def _doc_type(self, value, **kwargs):
        if value is not None and value not in {d.value for d in DocumentType}:
            raise ValidationError(_("Kies factuur (invoice) of creditnota (credit_note)."))

    @validates_schema
    def _period(self, data, **kwargs):
        if data.get("period_from") and data.get("period_to") and data["period_from"] > data["period_to"]:
            raise ValidationError(_("De einddatum ligt voor de begindatum."), "period_to")


class InvoiceLineSchema(Args):
    """One line: what was done, when, hours × rate = amount, and its VAT category."""

    id = fields.Integer()
    placement_id = fields.Integer(allow_none=True)
    description = fields.String()
    service_start = fields.Date()
    service_end = fields.Date()
    hours = fields.Decimal(as_string=True)
    rate = _euros("rate_cents")
    amount = _euros("net_cents")
    vat_category = fields.String()
    vat_rate = fields.Decimal(as_string=True)


class InvoiceSummarySchema(Args):
    """An invoice or credit note in a list."""

    id = fields.Integer()
    doc_type = fields.Function(lambda i: i.doc_type.value)
    number = fields.String()
    employer_id = fields.Integer()
    credits_invoice_id = fields.Integer(allow_none=True)
    period_start = fields.Date()
    period_end = fields.Date()
    issue_date = fields.Date()
    due_date = fields.Date()
    net_amount = _euros("net_cents")
    vat_amount = _euros("vat_cents")
    gross_amount = _euros("gross_cents")
    paid_amount = _euros("paid_cents")
    credited_amount = _euros("credited_cents")
    outstanding_amount = _euros("outstanding_cents")
    payment_reference = fields.String()
    status = fields.Function(lambda i: i.status.value)
    mailed_at = fields.AwareDateTime(allow_none=True)


class PartySchema(Args):
    """Seller or buyer as printed on the document (as they were on the invoice date)."""

    name = fields.String()
    street = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    kvk = fields.String(allow_none=True)
    vat_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    iban = fields.String(allow_none=True)
    bic = fields.String(allow_none=True)


class VatSubtotalSchema(Args):
    """The VAT of one category and rate."""

    category = fields.String()
    rate = fields.Decimal(as_string=True)
    taxable_amount = _euros("taxable_cents")
    vat_amount = _euros("vat_cents")


class InvoiceSchema(InvoiceSummarySchema):
    """One document in full: parties, lines, VAT per category and the credit notes on it."""

    seller = fields.Nested(PartySchema)
    buyer = fields.Nested(PartySchema)
    lines = fields.List(fields.Nested(InvoiceLineSchema))
    #: Filled in by :func:`dump_invoice` (not attributes of the row).
    vat = fields.List(fields.Nested(VatSubtotalSchema))
    credit_notes = fields.List(fields.Nested(InvoiceSummarySchema))


def dump_invoice(invoice, vat, credit_notes) -> dict:
    """``invoice`` as :class:`InvoiceSchema`, with its VAT breakdown and credit notes."""
    data = InvoiceSchema().dump(invoice)
    data["vat"] = VatSubtotalSchema(many=True).dump(vat)
    data["credit_notes"] = InvoiceSummarySchema(many=True).dump(credit_notes)
    return data


class InvoicePageSchema(Args):
    """A page of invoices with the totals of every document the filters select."""

    items = fields.List(fields.Nested(InvoiceSummarySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    net_amount = _euros("net_cents")
    vat_amount = _euros("vat_cents")
    gross_amount = _euros("gross_cents")
    outstanding_amount = _euros("outstanding_cents")
