"""The settlement statement as PDF (fpdf2, core fonts; the house style of
``tenants.documents.pdf``). Dutch: the NVSI's statement to a Dutch municipality."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_decimal
from fpdf import FPDF

from tenants.documents.pdf import long_date, money, pdf_text

STEP_LABELS = {
    "service_fee": "Servicevergoeding",
    "contribution_municipality": "Contributie gemeente",
    "contribution_service_company": "Contributie servicebedrijf",
    "annual_fee": "Jaarlijkse vergoeding",
    "closing": "Afsluiting resultaat",
}


def euros(cents: int) -> str:
    """``EUR 1.234,56`` (negative: ``EUR -1.234,56``)."""
    return money(Decimal(cents) / 100)


def pct(value: Decimal) -> str:
    """``20,00%``."""
    return format_decimal(value, "#,##0.00", locale="nl") + "%"


@dataclass(frozen=True)
class StatementFacts:
    """What the statement states (gathered by the view; no database access here)."""

    municipality: str
    reference: str
    period_label: str
    period_start: dt.date
    period_end: dt.date
    settled_on: dt.date
    settled_by: str
    settlement: object  # nvsi.settlement.models.Settlement


class _Statement(FPDF):
    def __init__(self, facts: StatementFacts):
        super().__init__(format="A4")
        self.facts = facts
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(True, margin=22)
        self.set_title(pdf_text(f"Afrekening {facts.period_label} {facts.municipality}"))
        self.set_author("NVSI")
        self.set_creator("NVSI platform")
        self.set_lang("nl")
        self.add_page()

    def header(self):
        self.set_font("Helvetica", style="B", size=12)
        self.cell(0, 7, "Nederlandse Vereniging voor Sociale Innovatie (NVSI)", new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(120, 120, 120)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(5)

    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, pdf_text(f"Kenmerk {self.facts.reference} - pagina {self.page_no()} van {{nb}}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", style="B", size=11)
        self.cell(0, 6, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=9)
        self.multi_cell(0, 4.5, pdf_text(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def facts_table(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.set_font("Helvetica", style="B", size=10)
            self.cell(55, 5.5, pdf_text(label))
            self.set_font("Helvetica", size=10)
            self.cell(0, 5.5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def figure_rows(self, rows: list[tuple[str, str, str]], total: tuple[str, str] | None = None) -> None:
        """(label, basis, amount) rows with the amount right-aligned; then a total line."""
        width = self.w - self.l_margin - self.r_margin
        for label, basis, amount in rows:
            self.set_font("Helvetica", size=10)
            self.cell(width * 0.5, 6, pdf_text(label))
            self.cell(width * 0.22, 6, pdf_text(basis))
            self.cell(width * 0.28, 6, pdf_text(amount), align="R", new_x="LMARGIN", new_y="NEXT")
        if total:
            self.line(self.l_margin + width * 0.6, self.get_y(), self.w - self.r_margin, self.get_y())
            self.set_font("Helvetica", style="B", size=10)
            self.cell(width * 0.72, 7, pdf_text(total[0]))
            self.cell(width * 0.28, 7, pdf_text(total[1]), align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)


def render_statement(facts: StatementFacts) -> bytes:
    """The statement of one settled half year: every figure, the percentages and the rule-set
    and contract versions used, and the ledger postings."""
    s = facts.settlement
    pdf = _Statement(facts)
    pdf.set_font("Helvetica", style="B", size=15)
    pdf.cell(0, 8, pdf_text(f"Halfjaarlijkse afrekening {facts.period_label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.facts_table([
        ("Gemeente", facts.municipality),
        ("Periode", f"{long_date(facts.period_start)} t/m {long_date(facts.period_end)}"),
        ("Kenmerk", facts.reference),
        ("Afgerekend op", f"{long_date(facts.settled_on)} door {facts.settled_by}"),
        ("Uitvoeringscontract", f"{s.contract_reference}, versie {s.contract_version}"),
        ("Gedeelde regels", ", ".join(f"{k} versie {v}" for k, v in sorted(s.rule_versions.items()))),
    ])
    pdf.heading("Resultaat voor de gemeente")
    rows = [
        ("Bruto-omzet (exclusief btw)", "", euros(s.revenue_cents)),
        ("Premies kandidaten", "", euros(-s.premiums_cents)),
        ("Reiskosten", "", euros(-s.travel_cents)),
        ("Servicevergoeding", f"{pct(s.service_fee_pct)} van de omzet", euros(-s.service_fee_cents)),
        ("Contributie gemeente", f"{pct(s.contribution_municipality_pct)} van de omzet",
         euros(-s.contribution_municipality_cents)),
        ("Jaarlijkse vergoeding", "verschuldigd" if s.annual_fee_due else "niet in dit halfjaar",
         euros(-s.annual_fee_cents)),
    ]
    label = "Resultaat voor de gemeente" if s.result_cents >= 0 else "Door de gemeente te betalen"
    pdf.figure_rows(rows, (label, euros(s.result_cents)))
    pdf.heading("Contributie en servicevergoeding")
    pdf.figure_rows([
        ("Contributie servicebedrijf", f"{pct(s.contribution_service_company_pct)} van de omzet",
         euros(s.contribution_service_company_cents)),
        ("Servicevergoeding na contributie", "", euros(s.service_company_net_cents)),
        ("Contributie aan de NVSI (totaal)", "", euros(s.contribution_total_cents)),
    ])
    pdf.paragraph(
        "De contributie is 2% van de bruto-omzet: 1% betaalt de gemeente, 1% het servicebedrijf uit zijn "
        "servicevergoeding. Zij wordt niet apart gefactureerd maar in deze afrekening verrekend. Elk bedrag "
        "is een percentage van de omzet, eenmaal afgerond op hele centen (half naar boven)."
    )
    pdf.heading("Boekingen in het grootboek")
    pdf.set_font("Helvetica", size=9)
    for step, transaction_id in s.ledger_transactions.items():
        pdf.cell(60, 5, pdf_text(STEP_LABELS.get(step, step)))
        pdf.cell(0, 5, transaction_id, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.paragraph(f"Alle boekingen zijn gedateerd {long_date(facts.period_end)}. Het halfjaar is daarna in het "
                  "grootboek afgesloten: er kan niets meer in worden geboekt.")
    return bytes(pdf.output())
