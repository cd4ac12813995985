"""Invoices and credit notes for tests, made directly with the models (as the invoice run would
issue them): a number from the series, lines of hours × rate, VAT per category rounded once per
document, the seller and buyer snapshots. Each helper flushes; the test's transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from tenants.invoicing.models import DocumentType, Invoice, InvoiceLine, InvoiceSeries
from tests import factories

#: The NVSI as it appears on its invoices (test values; the VAT id and IBAN pass their checks).
SELLER = {
    "name": "Nederlandse Vereniging voor Sociale Innovatie", "street": "Catharijnesingel 47",
    "postal_code": "3511 GC", "city": "Utrecht", "country": "NL", "kvk": "81234567",
    "vat_id": "NL812345678B01", "iban": "NL91ABNA0417164300", "bic": "ABNANL2A",
    "email": "facturen@nvsi.test",
}


def _cents(amount: Decimal) -> int:
    return int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def buyer_of(employer) -> dict:
    """The buyer snapshot of ``employer``."""
    return {"employer_id": employer.id, "name": employer.name, "street": employer.street_address,
            "postal_code": employer.postal_code, "city": employer.city, "country": "NL",
            "kvk": employer.kvk_number, "vat_id": employer.vat_id, "email": employer.contact_email}


def _number(session, code: str) -> tuple[InvoiceSeries, int]:
    series = session.scalar(sa.select(InvoiceSeries).where(InvoiceSeries.code == code).with_for_update())
    if series is None:
        series = InvoiceSeries(code=code, last_number=0)
        session.add(series)
        session.flush()
    series.last_number += 1
    return series, series.last_number


def _issue(session, doc_type: DocumentType, employer, lines, *, period, issue_date, credits=None,
           placement_id=None, vat_rate=Decimal("21")) -> Invoice:
    sign = -1 if doc_type is DocumentType.CREDIT_NOTE else 1
    series, sequence = _number(session, ("C" if sign < 0 else "F") + str(issue_date.year))
    number = f"{series.code}-{sequence:06d}"
    rows, by_rate = [], defaultdict(int)
    for index, (hours, rate_cents, *rest) in enumerate(lines):
        description = rest[0] if rest else f"Groenonderhoud - A. Jansen (regel {index + 1})"
        hours = Decimal(hours) * sign
        net = _cents(hours * rate_cents)
        category = "S" if vat_rate else "Z"
        by_rate[(category, vat_rate)] += net
        rows.append(InvoiceLine(placement_id=placement_id, description=description, service_start=period[0],
                                service_end=period[1], hours=hours, rate_cents=rate_cents, net_cents=net,
                                vat_category=category, vat_rate=vat_rate))
    net = sum(by_rate.values())
    vat = sum(_cents(Decimal(n) * rate / 100) for (_, rate), n in by_rate.items())
    invoice = Invoice(
        doc_type=doc_type, series_id=series.id, sequence=sequence, number=number, employer_id=employer.id,
        credits_invoice_id=credits.id if credits else None, period_start=period[0], period_end=period[1],
        issue_date=issue_date, due_date=issue_date + dt.timedelta(days=14), net_cents=net, vat_cents=vat,
        gross_cents=net + vat, payment_reference=f"NVSI{sequence:06d}{series.code}",
        seller=dict(SELLER), buyer=buyer_of(employer), rules_version=1, lines=rows,
    )
    session.add(invoice)
    session.flush()
    return invoice


#: The worked example: 38 hours at EUR 12.30, in the week of 2 March 2026, invoiced on 9 March.
HOURS_38 = ((Decimal("38"), 1230),)
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
ISSUED = dt.date(2026, 3, 9)
FOUR_HOURS = ((Decimal("4"), 1230),)
CREDITED = dt.date(2026, 3, 16)


def invoice(session, *, employer=None, lines=HOURS_38, period=WEEK, issue_date=ISSUED, placement_id=None,
            **overrides) -> Invoice:
    """An issued invoice; by default 38 hours at EUR 12.30 with 21% VAT (467.40 + 98.15 = 565.55).
    ``lines`` are ``(hours, rate_cents[, description])``."""
    employer = employer or factories.employer(session, vat_id="NL012345672B01")
    return _issue(session, DocumentType.INVOICE, employer, lines, period=period, issue_date=issue_date,
                  placement_id=placement_id, **overrides)


def credit_note(session, credited: Invoice, *, lines=FOUR_HOURS, issue_date=CREDITED, **overrides) -> Invoice:
    """A credit note on ``credited`` (hours given positive; stored negative)."""
    from tenants.employers.models import Employer

    employer = session.get(Employer, credited.employer_id)
    return _issue(session, DocumentType.CREDIT_NOTE, employer, lines,
                  period=(credited.period_start, credited.period_end), issue_date=issue_date, credits=credited,
                  **overrides)
