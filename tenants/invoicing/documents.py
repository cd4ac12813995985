"""Reading invoices for the documents and the pages (read-only; issuing is the run's work).

The figures a document shows come from the stored invoice only: its totals, its lines and the
seller and buyer as they were on the invoice date, so a PDF or XML made today is the same as
the one made on the invoice date.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from nvsi.db import ObjectNotFound
from tenants.employers.models import Employer
from tenants.invoicing.models import DocumentType, Invoice, PaymentStatus

#: What a VAT category means on a Dutch invoice (UNCL5305 code -> text); an exempt or zero-rated
#: supply must say why no VAT is charged (art. 35a lid 1 onder i Wet OB).
VAT_CATEGORY_TEXT = {"S": "btw", "Z": "btw 0%", "E": "vrijgesteld van btw", "AE": "btw verlegd"}


#: How a payment state and a document type read on the pages (one place for every page).
STATUS_LABELS = {
    PaymentStatus.OPEN: _l("openstaand"), PaymentStatus.PARTIALLY_PAID: _l("deels betaald"),
    PaymentStatus.PAID: _l("betaald"), PaymentStatus.CREDITED: _l("gecrediteerd"),
}
TYPE_LABELS = {DocumentType.INVOICE: _l("Factuur"), DocumentType.CREDIT_NOTE: _l("Creditnota")}


class InvoiceNotFound(ObjectNotFound):
    """No such invoice or credit note in this tenant."""


@dataclass(frozen=True)
class VatSubtotal:
    """The VAT of one category and rate on a document (cents; negative on a credit note)."""

    category: str
    rate: Decimal
    taxable_cents: int
    vat_cents: int


def vat_breakdown(invoice: Invoice) -> list[VatSubtotal]:
    """The VAT per category and rate: the lines' net amounts added up, the VAT rounded half-up
    once per category. With one category its VAT is the document's stored VAT, so the parts
    always add up to the total."""
    taxable: dict[tuple[str, Decimal], int] = defaultdict(int)
    for line in invoice.lines:
        taxable[(line.vat_category, Decimal(line.vat_rate))] += line.net_cents
    if len(taxable) == 1:
        ((category, rate), cents), = taxable.items()
        return [VatSubtotal(category, rate, cents, invoice.vat_cents)]
    return [
        VatSubtotal(category, rate, cents,
                    int((Decimal(cents) * rate / 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)))
        for (category, rate), cents in sorted(taxable.items())
    ]


def cents_to_decimal(cents: int) -> Decimal:
    """Cents as euros with two places (``46740`` -> ``467.40``)."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def get_invoice(session: Session, invoice_id: int) -> Invoice:
    """The invoice or credit note ``invoice_id`` of the session's tenant, with its lines."""
    invoice = session.get(Invoice, invoice_id, options=[selectinload(Invoice.lines)])
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    return invoice


def credited_invoice(session: Session, invoice: Invoice) -> Invoice | None:
    """For a credit note: the invoice it corrects (its number and date are on the credit note)."""
    if invoice.credits_invoice_id is None:
        return None
    return session.get(Invoice, invoice.credits_invoice_id)


def credit_notes_for(session: Session, invoice: Invoice) -> list[Invoice]:
    """The credit notes that correct ``invoice``, oldest first."""
    return list(session.scalars(
        sa.select(Invoice).where(Invoice.credits_invoice_id == invoice.id).order_by(Invoice.issue_date, Invoice.id)
    ))


@dataclass
class InvoicePage:
    """One page of the invoice list, with the totals of everything the filters select."""

    items: list[Invoice]
    page: int
    per_page: int
    total: int
    net_cents: int
    vat_cents: int
    gross_cents: int
    outstanding_cents: int
    #: employer id -> name, for the rows shown.
    employer_names: dict[int, str]


def list_invoices(session: Session, *, status: PaymentStatus | None = None, employer_id: int | None = None,
                  doc_type: DocumentType | None = None, period_from: dt.date | None = None,
                  period_to: dt.date | None = None, page: int = 1, per_page: int = 50) -> InvoicePage:
    """Invoices and credit notes, newest first, filtered by payment status, employer, kind and
    period (documents whose period overlaps ``period_from``..``period_to``), with the totals of
    all documents that match (not only of the page shown)."""
    where = []
    if status is not None:
        where.append(Invoice.status == status)
    if employer_id is not None:
        where.append(Invoice.employer_id == employer_id)
    if doc_type is not None:
        where.append(Invoice.doc_type == doc_type)
    if period_from is not None:
        where.append(Invoice.period_end >= period_from)
    if period_to is not None:
        where.append(Invoice.period_start <= period_to)
    totals = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Invoice.net_cents), 0),
                  sa.func.coalesce(sa.func.sum(Invoice.vat_cents), 0),
                  sa.func.coalesce(sa.func.sum(Invoice.gross_cents), 0),
                  sa.func.coalesce(sa.func.sum(Invoice.gross_cents - Invoice.paid_cents - Invoice.credited_cents)
                                   .filter(Invoice.doc_type == DocumentType.INVOICE), 0))
        .where(*where)
    ).one()
    items = list(session.scalars(
        sa.select(Invoice).where(*where).order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ))
    ids = {i.employer_id for i in items}
    names = dict(session.execute(sa.select(Employer.id, Employer.name).where(Employer.id.in_(ids))).all()) \
        if ids else {}
    count, net, vat, gross, outstanding = totals
    return InvoicePage(items, page, per_page, int(count), int(net), int(vat), int(gross), int(outstanding), names)


def employers_invoiced(session: Session) -> list[tuple[int, str]]:
    """(id, name) of the employers that have documents, by name: the employer filter's choices."""
    return [tuple(row) for row in session.execute(
        sa.select(Employer.id, Employer.name).where(Employer.id.in_(sa.select(Invoice.employer_id)))
        .order_by(Employer.name, Employer.id)
    )]


def filename(invoice: Invoice, extension: str) -> str:
    """``factuur-F2026-000001.pdf`` / ``creditnota-C2026-000001.xml``."""
    kind = "creditnota" if invoice.doc_type is DocumentType.CREDIT_NOTE else "factuur"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in invoice.number)
    return f"{kind}-{safe}.{extension}"
