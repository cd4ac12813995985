"""Mailing invoices and credit notes to the employers, with the PDF and the SI-UBL XML attached.

:func:`send_pending` mails every document of a tenant that has not gone out yet (``mailed_at``
empty) and stamps ``mailed_at`` on the ones the mail server accepted. It flushes; the caller
commits (the invoice run calls it after its tenant's documents are committed, so no mail ever
announces a document that was rolled back). A document whose mail failed keeps ``mailed_at``
empty and goes out with the next run; the log names the document, never an address.

Delivery is at least once: when the commit after a successful send fails, the next run sends
the same document again (the same number and content, so the employer sees a duplicate, never a
different invoice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from nvsi import mail
from nvsi.audit.services import record
from nvsi.db import utcnow
from nvsi.tenancy.routing import TenantRef
from tenants.documents.pdf import long_date, money
from tenants.invoicing.documents import cents_to_decimal, filename
from tenants.invoicing.models import DocumentType, Invoice
from tenants.invoicing.pdf import format_iban, render_invoice_pdf
from tenants.invoicing.ubl import render_invoice_ubl

log = logging.getLogger(__name__)

PDF, XML = "application/pdf", "application/xml"


@dataclass(frozen=True)
class InvoiceMail:
    """What goes to the employer for one document."""

    to: str
    subject: str
    body: str
    attachments: tuple[mail.Attachment, ...]


def _pay_paragraph(invoice: Invoice, tenant: TenantRef) -> str:
    """The paragraph with the link to the hosted invoice page (view, download, pay online), or
    nothing when no absolute link can be made (no ``MAIL_LINK_BASE_URL`` outside a request)."""
    from tenants.payments.online import pay_link

    if not current_app.config.get("MAIL_LINK_BASE_URL") and not has_request_context():
        return ""
    return "\n\n" + _("U kunt de factuur ook online bekijken en direct betalen met iDEAL of kaart: %(link)s",
                       link=pay_link(tenant, invoice))


def invoice_mail(invoice: Invoice, credited: Invoice | None, tenant: TenantRef) -> InvoiceMail:
    """The Dutch e-mail for ``invoice`` (``credited``: the invoice a credit note corrects), with
    the PDF and the e-invoice (SI-UBL 2.0) attached. The subject names no person."""
    credit = invoice.doc_type is DocumentType.CREDIT_NOTE
    seller = invoice.seller
    with force_locale("nl"):
        if credit:
            subject = _("Creditnota %(number)s van %(seller)s (%(municipality)s)", number=invoice.number,
                        seller=seller["name"], municipality=tenant.name)
            body = _(
                "Geachte heer/mevrouw,\n\n"
                "Namens %(municipality)s stuurt %(seller)s u creditnota %(number)s van %(date)s. Deze "
                "corrigeert factuur %(credited)s over de periode %(start)s tot en met %(end)s. Het bedrag "
                "van %(amount)s (inclusief btw) wordt verrekend met wat u nog verschuldigd bent, of aan u "
                "terugbetaald.\n\n"
                "De creditnota is bijgevoegd als PDF en als e-factuur (SI-UBL 2.0, XML) voor uw "
                "boekhouding.\n\nMet vriendelijke groet,\n%(seller)s\n%(email)s",
                municipality=tenant.name, seller=seller["name"], number=invoice.number,
                date=long_date(invoice.issue_date), credited=credited.number if credited else "",
                start=long_date(invoice.period_start), end=long_date(invoice.period_end),
                amount=money(cents_to_decimal(-invoice.gross_cents)), email=seller.get("email", ""),
            )
        else:
            subject = _("Factuur %(number)s van %(seller)s (%(municipality)s)", number=invoice.number,
                        seller=seller["name"], municipality=tenant.name)
            body = _(
                "Geachte heer/mevrouw,\n\n"
                "Namens %(municipality)s stuurt %(seller)s u factuur %(number)s van %(date)s voor de "
                "inzet via Flextensie in de periode %(start)s tot en met %(end)s.\n\n"
                "Wij verzoeken u het bedrag van %(amount)s (inclusief btw) uiterlijk op %(due)s over te "
                "maken op IBAN %(iban)s ten name van %(seller)s, onder vermelding van betalingskenmerk "
                "%(reference)s.%(online)s\n\n"
                "De factuur is bijgevoegd als PDF en als e-factuur (SI-UBL 2.0, XML) voor uw "
                "boekhouding.\n\nMet vriendelijke groet,\n%(seller)s\n%(email)s",
                municipality=tenant.name, seller=seller["name"], number=invoice.number,
                date=long_date(invoice.issue_date), start=long_date(invoice.period_start),
                end=long_date(invoice.period_end), amount=money(cents_to_decimal(invoice.gross_cents)),
                due=long_date(invoice.due_date), iban=format_iban(seller.get("iban", "")),
                reference=invoice.payment_reference, email=seller.get("email", ""),
                online=_pay_paragraph(invoice, tenant),
            )
    attachments = (
        mail.Attachment(filename(invoice, "pdf"), render_invoice_pdf(invoice, credited, tenant.name), PDF),
        mail.Attachment(filename(invoice, "xml"), render_invoice_ubl(invoice, credited), XML),
    )
    return InvoiceMail(invoice.buyer.get("email") or "", subject, body, attachments)


def pending(session: Session) -> list[Invoice]:
    """The documents not mailed yet, oldest first. On PostgreSQL their rows stay locked until
    the caller's commit and rows another run holds are skipped, so two runs never mail the same
    document."""
    return list(session.scalars(
        sa.select(Invoice).where(Invoice.mailed_at.is_(None)).order_by(Invoice.id)
        .options(selectinload(Invoice.lines)).with_for_update(skip_locked=True, of=Invoice)
    ))


def send_pending(session: Session, tenant: TenantRef) -> int:
    """Mail every document of ``tenant`` (the session's tenant) whose ``mailed_at`` is empty to
    the buyer's e-mail address; returns how many went out. Sets ``mailed_at`` (and nothing else)
    on those and records ``invoice.mailed`` in the audit log; flushes, never commits. A failure is
    logged (document id and the kind of failure only) and leaves the document for the next run;
    when the mail server is down the remaining documents wait too."""
    documents = pending(session)
    if not documents:
        return 0
    credited_ids = {d.credits_invoice_id for d in documents if d.credits_invoice_id}
    credited = {i.id: i for i in session.scalars(sa.select(Invoice).where(Invoice.id.in_(credited_ids)))} \
        if credited_ids else {}
    try:
        sender = mail.mailer()
    except mail.MailError as exc:
        log.error("invoice mail not configured", extra={"fields": {"tenant": tenant.slug, "error": str(exc)}})
        return 0
    sent = 0
    for invoice in documents:
        message = invoice_mail(invoice, credited.get(invoice.credits_invoice_id), tenant)
        if not message.to:
            log.warning("invoice not mailed: the buyer has no e-mail address",
                        extra={"fields": {"tenant": tenant.slug, "invoice_id": invoice.id}})
            continue
        headers = {"Auto-Submitted": "auto-generated"}
        if invoice.seller.get("email"):
            headers["Reply-To"] = invoice.seller["email"]
        try:
            result = sender.send(mail.Mail(to=(message.to,), subject=message.subject, body=message.body,
                                           headers=headers, attachments=message.attachments))
        except mail.MailError as exc:
            log.warning("invoice mail failed; retried by the next run",
                        extra={"fields": {"tenant": tenant.slug, "invoice_id": invoice.id, "error": str(exc)}})
            if exc.server_down:
                break
            continue
        now = utcnow()
        # Only mailed_at changes: no version bump, so a payment being booked meanwhile is not disturbed.
        session.execute(sa.update(Invoice).where(Invoice.id == invoice.id, Invoice.mailed_at.is_(None))
                        .values(mailed_at=now).execution_options(synchronize_session=False))
        set_committed_value(invoice, "mailed_at", now)
        record(session, "invoice.mailed", tenant_id=tenant.id, object_type="invoice", object_id=invoice.id,
               changes={"number": invoice.number, "via": result.via}, actor_label="system:invoice-mail")
        sent += 1
    session.flush()
    return sent
