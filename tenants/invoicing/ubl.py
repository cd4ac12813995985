"""The invoice and the credit note as SI-UBL 2.0 XML (NLCIUS: the Dutch use of EN 16931 in
UBL 2.1), the e-invoice an employer's bookkeeping reads in.

Built with lxml from the stored invoice only (like the PDF: the same document always gives the
same bytes). A credit note is a UBL ``CreditNote`` whose amounts and quantities are positive
(the document type says they are taken back), while the database keeps them negative.
The tests validate the output against the official OASIS UBL 2.1 schemas.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from tenants.invoicing.documents import VAT_CATEGORY_TEXT, cents_to_decimal, vat_breakdown
from tenants.invoicing.models import DocumentType, Invoice

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0"
#: The Peppol billing process (SI-UBL 2.0 uses it too).
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
#: ISO 6523 ICD of the Dutch Chamber of Commerce number.
KVK_SCHEME = "0106"
#: UNCL4461: 30 credit transfer.
CREDIT_TRANSFER = "30"
#: UNCL1001: 380 commercial invoice, 381 credit note.
INVOICE_TYPE, CREDIT_NOTE_TYPE = "380", "381"
#: UN/ECE Rec 20: hour.
HOUR = "HUR"
CURRENCY = "EUR"

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_CAC, _CBC = "{%s}" % NS["cac"], "{%s}" % NS["cbc"]


def _cac(parent, name: str):
    return etree.SubElement(parent, _CAC + name)


def _cbc(parent, name: str, text, **attributes):
    element = etree.SubElement(parent, _CBC + name, {k: str(v) for k, v in attributes.items()})
    element.text = str(text)
    return element


def _amount(parent, name: str, cents: int):
    return _cbc(parent, name, f"{cents_to_decimal(cents):.2f}", currencyID=CURRENCY)


def _percent(rate: Decimal) -> str:
    return f"{Decimal(rate).normalize():f}"


def _tax_category(parent, name: str, category: str, rate: Decimal, exemption: bool):
    tax = _cac(parent, name)
    _cbc(tax, "ID", category)
    _cbc(tax, "Percent", _percent(rate))
    if exemption and category in ("E", "AE"):
        _cbc(tax, "TaxExemptionReason", VAT_CATEGORY_TEXT[category])
    _cbc(_cac(tax, "TaxScheme"), "ID", "VAT")


def _party(parent, name: str, party: dict):
    element = _cac(_cac(parent, name), "Party")
    if party.get("kvk"):
        _cbc(element, "EndpointID", party["kvk"], schemeID=KVK_SCHEME)
        _cbc(_cac(element, "PartyIdentification"), "ID", party["kvk"], schemeID=KVK_SCHEME)
    _cbc(_cac(element, "PartyName"), "Name", party["name"])
    address = _cac(element, "PostalAddress")
    if party.get("street"):
        _cbc(address, "StreetName", party["street"])
    if party.get("city"):
        _cbc(address, "CityName", party["city"])
    if party.get("postal_code"):
        _cbc(address, "PostalZone", party["postal_code"])
    _cbc(_cac(address, "Country"), "IdentificationCode", party.get("country") or "NL")
    if party.get("vat_id"):
        tax = _cac(element, "PartyTaxScheme")
        _cbc(tax, "CompanyID", party["vat_id"])
        _cbc(_cac(tax, "TaxScheme"), "ID", "VAT")
    legal = _cac(element, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", party["name"])
    if party.get("kvk"):
        _cbc(legal, "CompanyID", party["kvk"], schemeID=KVK_SCHEME)
    if party.get("email"):
        _cbc(_cac(element, "Contact"), "ElectronicMail", party["email"])


def render_invoice_ubl(invoice: Invoice, credited: Invoice | None = None) -> bytes:
    """The SI-UBL 2.0 XML of ``invoice`` (``credited``: the invoice a credit note corrects, named
    in its ``BillingReference`` as NLCIUS requires), UTF-8 with an XML declaration."""
    credit = invoice.doc_type is DocumentType.CREDIT_NOTE
    if credit and credited is None:
        raise ValueError("a credit note names the invoice it corrects: pass credited")
    sign = -1 if credit else 1  # a CreditNote carries positive amounts
    root_ns = NS["cn"] if credit else NS["inv"]
    root = etree.Element("{%s}%s" % (root_ns, "CreditNote" if credit else "Invoice"),
                         nsmap={None: root_ns, "cac": NS["cac"], "cbc": NS["cbc"]})
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", invoice.number)
    _cbc(root, "IssueDate", invoice.issue_date.isoformat())
    if credit:
        _cbc(root, "CreditNoteTypeCode", CREDIT_NOTE_TYPE)
    else:
        _cbc(root, "DueDate", invoice.due_date.isoformat())
        _cbc(root, "InvoiceTypeCode", INVOICE_TYPE)
    _cbc(root, "DocumentCurrencyCode", CURRENCY)
    # NLCIUS (BR-NL-2) wants a buyer or order reference; employers give no purchase order, so the
    # document's own payment reference serves as the one the buyer quotes.
    _cbc(root, "BuyerReference", invoice.payment_reference)
    period = _cac(root, "InvoicePeriod")
    _cbc(period, "StartDate", invoice.period_start.isoformat())
    _cbc(period, "EndDate", invoice.period_end.isoformat())
    if credit:
        # NLCIUS: the corrected invoice's number (its date is not recommended, BR-NL-24).
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", credited.number)
    _party(root, "AccountingSupplierParty", invoice.seller)
    _party(root, "AccountingCustomerParty", invoice.buyer)

    means = _cac(root, "PaymentMeans")
    _cbc(means, "PaymentMeansCode", CREDIT_TRANSFER)
    if credit:
        _cbc(means, "PaymentDueDate", invoice.due_date.isoformat())
    _cbc(means, "PaymentID", invoice.payment_reference)
    account = _cac(means, "PayeeFinancialAccount")  # no account name: not recommended (BR-NL-30)
    _cbc(account, "ID", invoice.seller["iban"])
    if invoice.seller.get("bic"):
        _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", invoice.seller["bic"])
    terms = _cac(root, "PaymentTerms")
    _cbc(terms, "Note", f"Betalen uiterlijk op {invoice.due_date.isoformat()} onder vermelding van "
                        f"betalingskenmerk {invoice.payment_reference}")

    tax_total = _cac(root, "TaxTotal")
    _amount(tax_total, "TaxAmount", sign * invoice.vat_cents)
    for part in vat_breakdown(invoice):
        subtotal = _cac(tax_total, "TaxSubtotal")
        _amount(subtotal, "TaxableAmount", sign * part.taxable_cents)
        _amount(subtotal, "TaxAmount", sign * part.vat_cents)
        _tax_category(subtotal, "TaxCategory", part.category, part.rate, exemption=True)

    totals = _cac(root, "LegalMonetaryTotal")
    _amount(totals, "LineExtensionAmount", sign * sum(line.net_cents for line in invoice.lines))
    _amount(totals, "TaxExclusiveAmount", sign * invoice.net_cents)
    _amount(totals, "TaxInclusiveAmount", sign * invoice.gross_cents)
    _amount(totals, "PayableAmount", sign * invoice.gross_cents)

    for index, line in enumerate(invoice.lines, start=1):
        row = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(row, "ID", index)
        _cbc(row, "CreditedQuantity" if credit else "InvoicedQuantity", f"{sign * Decimal(line.hours):.2f}",
             unitCode=HOUR)
        _amount(row, "LineExtensionAmount", sign * line.net_cents)
        line_period = _cac(row, "InvoicePeriod")
        _cbc(line_period, "StartDate", line.service_start.isoformat())
        _cbc(line_period, "EndDate", line.service_end.isoformat())
        item = _cac(row, "Item")
        _cbc(item, "Name", line.description)
        _tax_category(item, "ClassifiedTaxCategory", line.vat_category, line.vat_rate, exemption=False)
        price = _cac(row, "Price")
        _amount(price, "PriceAmount", line.rate_cents)
        _cbc(price, "BaseQuantity", "1", unitCode=HOUR)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
