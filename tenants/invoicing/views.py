"""Invoices and credit notes through the JSON API and the Dutch pages: the list (filters and
totals), one document with its lines, payment state and credit notes, and the PDF and SI-UBL
XML downloads. Read-only: documents are issued by the invoice run and never edited.

Who may look: the municipality's admins and staff and the backoffice (the tenant resolution
already keeps everyone else out; NVSI admins see the money through the ledger instead).
"""

from __future__ import annotations

from flask import g, make_response, render_template, request
from flask_babel import format_currency
from marshmallow import ValidationError

from nvsi.api import page_size
from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.schemas import ordered_errors
from tenants.invoicing import documents
from tenants.invoicing.documents import STATUS_LABELS, TYPE_LABELS
from tenants.invoicing.models import DocumentType, PaymentStatus
from tenants.invoicing.pdf import format_iban, render_invoice_pdf
from tenants.invoicing.schemas import InvoiceListArgs, InvoicePageSchema, dump_invoice
from tenants.invoicing.ubl import render_invoice_ubl

#: Who sees a municipality's invoices.
READERS = (Role.MUNICIPALITY_ADMIN, Role.MUNICIPALITY_STAFF, Role.BACKOFFICE)



def euros(cents: int) -> str:
    """``€ 565,55`` in the user's language (from cents, never through a float)."""
    return format_currency(documents.cents_to_decimal(cents), "EUR")


def _list(args: dict) -> documents.InvoicePage:
    return documents.list_invoices(
        db.session, status=PaymentStatus(args["status"]) if args["status"] else None,
        employer_id=args["employer_id"], doc_type=DocumentType(args["doc_type"]) if args["doc_type"] else None,
        period_from=args["period_from"], period_to=args["period_to"], page=args["page"],
        per_page=page_size(args["per_page"]),
    )


def _download(content: bytes, content_type: str, name: str):
    """A document as an attachment; it names candidates, so no cache keeps it."""
    response = make_response(content)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store, max-age=0"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _pdf(invoice_id: int):
    invoice = documents.get_invoice(db.session, invoice_id)
    content = render_invoice_pdf(invoice, documents.credited_invoice(db.session, invoice), g.tenant.name)
    return _download(content, "application/pdf", documents.filename(invoice, "pdf"))


def _ubl(invoice_id: int):
    invoice = documents.get_invoice(db.session, invoice_id)
    content = render_invoice_ubl(invoice, documents.credited_invoice(db.session, invoice))
    return _download(content, "application/xml", documents.filename(invoice, "xml"))


def register_api(bp):
    @bp.get("/invoices")
    @roles_required(*READERS)
    def api_list_invoices():
        """Invoices and credit notes of the municipality, newest first, with the totals of every
        document the filters select.
        ---
        get:
          tags: [invoices]
          summary: List invoices and credit notes
          parameters:
          - {in: query, name: status, schema: {type: string, enum: [open, partially_paid, paid, credited]}}
          - {in: query, name: employer_id, schema: {type: integer}}
          - {in: query, name: doc_type, schema: {type: string, enum: [invoice, credit_note]}}
          - {in: query, name: period_from, schema: {type: string, format: date},
             description: 'Documents whose period ends on or after this day'}
          - {in: query, name: period_to, schema: {type: string, format: date},
             description: 'Documents whose period starts on or before this day'}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: per_page, schema: {type: integer, minimum: 1}}
          responses:
            200:
              description: OK
              content: {application/json: {schema: InvoicePageSchema}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = InvoiceListArgs().load(request.args.to_dict())
        return InvoicePageSchema().dump(_list(args))

    @bp.get("/invoices/<int:invoice_id>")
    @roles_required(*READERS)
    def api_get_invoice(invoice_id: int):
        """One invoice or credit note: parties, lines, VAT per category, payment state and the
        credit notes that correct it.
        ---
        get:
          tags: [invoices]
          summary: Get an invoice or credit note
          responses:
            200:
              description: OK
              content: {application/json: {schema: InvoiceSchema}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
        """
        invoice = documents.get_invoice(db.session, invoice_id)
        return dump_invoice(invoice, documents.vat_breakdown(invoice), documents.credit_notes_for(db.session, invoice))

    @bp.get("/invoices/<int:invoice_id>/pdf")
    @roles_required(*READERS)
    def api_invoice_pdf(invoice_id: int):
        """The document as PDF (as an attachment, never cached).
        ---
        get:
          tags: [invoices]
          summary: Download the PDF of an invoice or credit note
          responses:
            200:
              description: The PDF
              content: {application/pdf: {schema: {type: string, format: binary}}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return _pdf(invoice_id)

    @bp.get("/invoices/<int:invoice_id>/ubl")
    @roles_required(*READERS)
    def api_invoice_ubl(invoice_id: int):
        """The document as e-invoice: SI-UBL 2.0 (NLCIUS, UBL 2.1 Invoice or CreditNote).
        ---
        get:
          tags: [invoices]
          summary: Download the SI-UBL 2.0 XML of an invoice or credit note
          responses:
            200:
              description: The XML
              content: {application/xml: {schema: {type: string, format: binary}}}
            403: {description: Not a municipality or backoffice role}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return _ubl(invoice_id)


def register_pages(bp):
    @bp.get("/facturen")
    @roles_required(*READERS)
    def invoices():
        """The list of invoices and credit notes, with filters and totals. Invalid filters come
        back with what was typed and a message per field."""
        form = {k: v for k, v in request.args.to_dict().items() if k != "page" or v}
        errors = {}
        try:
            args = InvoiceListArgs().load(form)
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, InvoiceListArgs())
            args = InvoiceListArgs().load({})
        result = _list(args) if not errors else None
        return render_template(
            "invoicing/list.html", result=result, args=args, form=form, errors=errors, euros=euros,
            status_labels=STATUS_LABELS, type_labels=TYPE_LABELS,
            status_options=[(s.value, label) for s, label in STATUS_LABELS.items()],
            type_options=[(t.value, label) for t, label in TYPE_LABELS.items()],
            employers=documents.employers_invoiced(db.session),
        ), 422 if errors else 200

    @bp.get("/facturen/<int:invoice_id>")
    @roles_required(*READERS)
    def invoice(invoice_id: int):
        """One invoice or credit note: what it says, how it stands, and its downloads."""
        invoice = documents.get_invoice(db.session, invoice_id)
        return render_template(
            "invoicing/detail.html", invoice=invoice, vat=documents.vat_breakdown(invoice),
            credit_notes=documents.credit_notes_for(db.session, invoice),
            credited=documents.credited_invoice(db.session, invoice), euros=euros, format_iban=format_iban,
            status_labels=STATUS_LABELS, type_labels=TYPE_LABELS,
        )

    @bp.get("/facturen/<int:invoice_id>/pdf")
    @roles_required(*READERS)
    def invoice_pdf(invoice_id: int):
        """Download the PDF."""
        return _pdf(invoice_id)

    @bp.get("/facturen/<int:invoice_id>/xml")
    @roles_required(*READERS)
    def invoice_ubl(invoice_id: int):
        """Download the e-invoice (SI-UBL 2.0 XML)."""
        return _ubl(invoice_id)
