"""The invoice and the credit note as PDF (fpdf2, core fonts, like the other documents).

Every field art. 35a Wet OB asks for is on it: both parties' full name and address (as they were
on the invoice date), the NVSI's VAT id and KvK number, the buyer's VAT id when known, the
invoice date, the unique sequential number, per line what was done and when (hours × rate =
amount), the amount excluding VAT, the VAT rate and amount per category, the total; and for
payment the due date, the payment reference and the NVSI's IBAN. A credit note names the invoice
it corrects.

The same document always gives the same bytes (the PDF's creation date is the invoice date), so
the PDF is made on demand and never stored: the invoice row is the record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fpdf import FPDF
from stdnum import iban as iban_number

from tenants.documents.pdf import long_date, money, number, pdf_text
from tenants.invoicing.documents import VAT_CATEGORY_TEXT, cents_to_decimal, vat_breakdown
from tenants.invoicing.models import DocumentType, Invoice


def _euros(cents: int) -> str:
    return money(cents_to_decimal(cents))


def _short_date(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def _address(party: dict) -> list[str]:
    lines = [party.get("street") or "", f"{party.get('postal_code') or ''}  {party.get('city') or ''}".strip()]
    if (party.get("country") or "NL") != "NL":
        lines.append(party["country"])
    return [line for line in lines if line]


def format_iban(value: str) -> str:
    """``NL91 ABNA 0417 1643 00``."""
    return iban_number.format(value) if value else ""


class _InvoicePDF(FPDF):
    """A4 with the seller in the header and the number and page in the footer."""

    def __init__(self, invoice: Invoice, title: str):
        super().__init__(format="A4")
        self.invoice, self.doc_title = invoice, title
        self._headers: tuple[str, ...] = ()
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=22)
        self.set_title(pdf_text(f"{title} {invoice.number}"))
        self.set_author(pdf_text(invoice.seller.get("name", "")))
        self.set_creator("NVSI platform")
        self.set_lang("nl")
        # Deterministic output: the creation date is the invoice date, not the moment of rendering.
        self.set_creation_date(dt.datetime.combine(invoice.issue_date, dt.time(), tzinfo=dt.timezone.utc))
        self.add_page()

    def header(self):
        seller = self.invoice.seller
        self.set_font("Helvetica", style="B", size=12)
        self.cell(0, 6, pdf_text(seller.get("name", "")), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", size=8.5)
        parts = _address(seller) + [f"KvK {seller.get('kvk', '')}", f"btw-id {seller.get('vat_id', '')}"]
        self.cell(0, 4.5, pdf_text(" | ".join(parts)), new_x="LMARGIN", new_y="NEXT")
        bank = f"IBAN {format_iban(seller.get('iban', ''))}"
        if seller.get("bic"):
            bank += f" (BIC {seller['bic']})"
        if seller.get("email"):
            bank += f" | {seller['email']}"
        self.cell(0, 4.5, pdf_text(bank), new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(120, 120, 120)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(6)

    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, pdf_text(f"{self.doc_title} {self.invoice.number} - pagina {self.page_no()} van {{nb}}"),
                  align="C")

    def facts(self, rows: list[tuple[str, str]], label_width: float = 45) -> None:
        for label, value in rows:
            self.set_font("Helvetica", style="B", size=9.5)
            self.cell(label_width, 5, pdf_text(label))
            self.set_font("Helvetica", size=9.5)
            self.multi_cell(0, 5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")

    #: The lines table: column widths (mm, 170 in all) and alignments; cell padding and line height.
    COLUMNS = ((66, "L"), (40, "L"), (16, "R"), (22, "R"), (26, "R"))
    PADDING, LINE_HEIGHT = 1.2, 4.6

    def _wrap(self, text: str, width: float) -> list[str]:
        """``text`` greedily wrapped to ``width`` mm in the current font (core font metrics; our
        own, as fpdf2's table measures each line anew per character, which made a 50-line
        invoice take a third of a second)."""
        widths, scale = self.current_font.cw, self.font_size / 1000

        def measure(word: str) -> float:
            return sum(widths.get(c, 600) for c in word) * scale

        out, line = [], ""
        for word in text.split():
            while measure(word) > width:  # a word longer than the column: cut it
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut]) > width:
                    cut -= 1
                if line:
                    out.append(line)
                    line = ""
                out.append(word[:cut])
                word = word[cut:]
            candidate = f"{line} {word}" if line else word
            if line and measure(candidate) > width:
                out.append(line)
                line = word
            else:
                line = candidate
        out.append(line)
        return out

    def _table_row(self, cells: tuple[str, ...], header: bool = False) -> None:
        self.set_font("Helvetica", style="B" if header else "", size=9)
        wrapped = [self._wrap(pdf_text(text), width - 2 * self.PADDING)
                   for text, (width, _) in zip(cells, self.COLUMNS, strict=True)]
        height = max(len(lines) for lines in wrapped) * self.LINE_HEIGHT + 2 * self.PADDING
        if not header and self.will_page_break(height):
            self.add_page()
            self._table_row(self._headers, header=True)
            self.set_font("Helvetica", size=9)
        x, y = self.l_margin, self.get_y()
        for lines, (width, align) in zip(wrapped, self.COLUMNS, strict=True):
            self.rect(x, y, width, height, style="DF" if header else "D")
            for index, text in enumerate(lines):
                self.set_xy(x + self.PADDING, y + self.PADDING + index * self.LINE_HEIGHT)
                self.cell(width - 2 * self.PADDING, self.LINE_HEIGHT, text, align=align)
            x += width
        self.set_xy(self.l_margin, y + height)

    def table_rows(self, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        """The lines as a bordered table; the header row is repeated on every new page."""
        self._headers = headers
        self.set_draw_color(160, 160, 160)
        self.set_fill_color(235, 235, 235)
        self._table_row(headers, header=True)
        for row in rows:
            self._table_row(row)

    def total_row(self, label: str, value: str, bold: bool = False) -> None:
        self.set_font("Helvetica", style="B" if bold else "", size=9.5)
        self.set_x(self.l_margin + 60)
        self.cell(80, 5.5, pdf_text(label), align="R")
        self.cell(0, 5.5, pdf_text(value), align="R", new_x="LMARGIN", new_y="NEXT")


def render_invoice_pdf(invoice: Invoice, credited: Invoice | None = None, municipality: str | None = None) -> bytes:
    """The PDF of ``invoice`` (an invoice or a credit note; ``credited``: the invoice a credit
    note corrects; ``municipality``: on whose behalf the NVSI invoices, printed when given)."""
    credit = invoice.doc_type is DocumentType.CREDIT_NOTE
    title = "Creditnota" if credit else "Factuur"
    pdf = _InvoicePDF(invoice, title)
    buyer = invoice.buyer

    pdf.set_font("Helvetica", style="B", size=10)
    pdf.cell(0, 5, pdf_text(buyer.get("name", "")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in _address(buyer):
        pdf.cell(0, 5, pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)

    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 9, pdf_text(f"{title} {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    rows = [("Factuurnummer" if not credit else "Creditnotanummer", invoice.number),
            ("Factuurdatum" if not credit else "Datum", long_date(invoice.issue_date))]
    if credit and credited is not None:
        rows.append(("Correctie op factuur", f"{credited.number} van {long_date(credited.issue_date)}"))
    rows.append(("Periode", f"{long_date(invoice.period_start)} t/m {long_date(invoice.period_end)}"))
    if not credit:  # a credit note is not paid by the employer: no due date
        rows.append(("Vervaldatum", long_date(invoice.due_date)))
    rows += [("Betalingskenmerk" if not credit else "Kenmerk", invoice.payment_reference),
             ("Klant KvK-nummer", buyer.get("kvk") or "-")]
    if buyer.get("vat_id"):
        rows.append(("Btw-id klant", buyer["vat_id"]))
    if municipality:
        rows.append(("Namens", municipality))
    pdf.facts(rows)
    pdf.ln(4)

    table = []
    for line in invoice.lines:
        period = _short_date(line.service_start) if line.service_start == line.service_end else \
            f"{_short_date(line.service_start)} t/m {_short_date(line.service_end)}"
        table.append((line.description, period, number(Decimal(line.hours)), _euros(line.rate_cents),
                      _euros(line.net_cents)))
    pdf.table_rows(("Omschrijving", "Datum dienst", "Uren", "Tarief", "Bedrag"), table)
    pdf.ln(4)

    pdf.total_row("Totaal exclusief btw", _euros(invoice.net_cents))
    for part in vat_breakdown(invoice):
        label = VAT_CATEGORY_TEXT.get(part.category, "btw")
        rate = number(part.rate)
        pdf.total_row(f"{label.capitalize()} {rate}% over {_euros(part.taxable_cents)}", _euros(part.vat_cents))
    pdf.total_row("Totaal inclusief btw", _euros(invoice.gross_cents), bold=True)
    pdf.ln(6)

    pdf.set_font("Helvetica", size=9.5)
    seller = invoice.seller
    account = f"IBAN {format_iban(seller.get('iban', ''))} ten name van {seller.get('name', '')}"
    if credit:
        text = (f"Deze creditnota corrigeert factuur {credited.number if credited else ''}. Het bedrag van "
                f"{_euros(-invoice.gross_cents)} wordt verrekend met wat u nog verschuldigd bent of aan u "
                f"terugbetaald. Vermeld bij vragen het kenmerk {invoice.payment_reference}.")
    else:
        text = (f"Wij verzoeken u het bedrag van {_euros(invoice.gross_cents)} uiterlijk op "
                f"{long_date(invoice.due_date)} over te maken op {account}, onder vermelding van "
                f"betalingskenmerk {invoice.payment_reference}.")
    pdf.multi_cell(0, 5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
