"""The beschikking and the inzetbevestiging as PDF (fpdf2, pure Python).

Only the PDF core fonts are used (Helvetica, Latin-1): no font file has to be on the machine.
:func:`pdf_text` maps every other character to a Latin-1 look-alike (typographic quotes and
dashes, the masking bullet) or, failing that, to its base letter, so no text is ever refused.
The texts are Dutch: these are the municipality's letters to a Dutch resident.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal
from fpdf import FPDF

_REPLACEMENTS = {
    "•": "*", "–": "-", "—": "-", "‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"',
    "…": "...", "€": "EUR", "\u00a0": " ", "\u202f": " ", "ĳ": "ij", "Ĳ": "IJ", "œ": "oe", "Œ": "OE",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ŀ": "L", "ŀ": "l",
}


def pdf_text(text: str) -> str:
    """``text`` in the core fonts' Latin-1, transliterated where needed."""
    out = []
    for char in text:
        char = _REPLACEMENTS.get(char, char)
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
            char = "".join(c for c in base if not unicodedata.combining(c)) or "?"
        out.append(char)
    return "".join(out)


def long_date(day: dt.date) -> str:
    """``15 januari 2026``."""
    return format_date(day, "d MMMM y", locale="nl")


def money(amount: Decimal) -> str:
    """``EUR 2,00``."""
    return "EUR " + format_decimal(amount, "#,##0.00", locale="nl")


def number(value: Decimal) -> str:
    """``28`` or ``27,5``."""
    return format_decimal(value, "#,##0.##", locale="nl")


@dataclass(frozen=True)
class LetterFacts:
    """Everything a document states, gathered by the service (no database access here)."""

    municipality: str
    #: Kenmerk, e.g. ``FLX-12-B1`` (placement 12, beschikking version 1).
    reference: str
    issued_on: dt.date
    candidate_name: str
    #: Masked: the full BSN never goes into a document.
    candidate_bsn_masked: str
    employer_name: str
    assignment_title: str
    location: str
    start_date: dt.date
    end_date: dt.date
    hours_per_week: Decimal
    premium_per_hour: Decimal
    #: The maximum duration in months that applies at these hours, and the rule-set version.
    max_months: Decimal
    rules_version: int | None
    premium_yearly_cap: Decimal | None = None
    premium_payment_moments: Decimal | None = None
    goals: str = ""
    #: (name, planned date) of the guidance moments.
    guidance: list[tuple[str, dt.date]] = field(default_factory=list)


class _Letter(FPDF):
    """A4 letter with the municipality in the header and the reference and page in the footer."""

    def __init__(self, facts: LetterFacts, title: str):
        super().__init__(format="A4")
        self.facts = facts
        self.set_margins(25, 20, 25)
        self.set_auto_page_break(True, margin=22)
        self.set_title(pdf_text(title))
        self.set_author(pdf_text(facts.municipality))
        self.set_creator("NVSI platform")
        self.set_lang("nl")
        self.add_page()

    def header(self):
        self.set_font("Helvetica", style="B", size=13)
        self.cell(0, 8, pdf_text(self.facts.municipality), new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(120, 120, 120)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(6)

    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, pdf_text(f"Kenmerk {self.facts.reference} - pagina {self.page_no()} van {{nb}}"),
                  align="C")

    # -- building blocks ---------------------------------------------------------------------

    def lines(self, text: str, height: float, indent: float = 0) -> None:
        """``text`` word-wrapped to the margins, from ``indent`` on the current line. Our own
        greedy wrap: fpdf2's ``multi_cell`` measures each line anew per character, which made a
        letter take a tenth of a second."""
        width = self.w - self.r_margin - self.l_margin - indent
        widths, scale = self.current_font.cw, self.font_size / 1000  # core font metrics, per mille

        def measure(word: str) -> float:
            return sum(widths.get(c, 600) for c in word) * scale

        space = measure(" ")
        for paragraph in pdf_text(text).split("\n"):
            line, line_width = [], 0.0
            for word in self._fitting(paragraph.split(" "), width, measure):
                word_width = measure(word)
                if line and line_width + space + word_width > width:
                    self._line(" ".join(line), height, indent)
                    line, line_width = [], 0.0
                line.append(word)
                line_width += (space if len(line) > 1 else 0) + word_width
            self._line(" ".join(line), height, indent)

    @staticmethod
    def _fitting(words: list[str], width: float, measure) -> list[str]:
        """The words, each longer than a line cut into pieces that fit."""
        out = []
        for word in words:
            while measure(word) > width:
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut]) > width:
                    cut -= 1
                out.append(word[:cut])
                word = word[cut:]
            out.append(word)
        return out

    def _line(self, text: str, height: float, indent: float) -> None:
        self.set_x(self.l_margin + indent)
        self.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    def title_block(self, title: str) -> None:
        self.set_font("Helvetica", style="B", size=15)
        self.lines(title, 7)
        self.ln(3)

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", style="B", size=11)
        self.lines(text, 6)
        self.ln(1)

    def paragraph(self, text: str) -> None:
        self.set_font("Helvetica", size=10)
        self.lines(text, 5)
        self.ln(2)

    def items(self, texts: list[str], numbered: bool = False) -> None:
        self.set_font("Helvetica", size=10)
        for index, text in enumerate(texts, start=1):
            self.cell(8, 5, f"{index}." if numbered else "-")
            self.lines(text, 5, indent=8)
            self.ln(1)
        self.ln(1)

    def facts_table(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.set_font("Helvetica", style="B", size=10)
            self.cell(55, 5, pdf_text(label))
            self.set_font("Helvetica", size=10)
            self.lines(value, 5, indent=55)
        self.ln(3)

    def address_block(self) -> None:
        f = self.facts
        self.facts_table([("Datum", long_date(f.issued_on)), ("Kenmerk", f.reference),
                          ("Aan", f.candidate_name), ("BSN", f.candidate_bsn_masked)])

    def placement_facts(self) -> None:
        f = self.facts
        self.facts_table([
            ("Kandidaat", f"{f.candidate_name} (BSN {f.candidate_bsn_masked})"),
            ("Opdrachtgever", f.employer_name),
            ("Opdracht", f.assignment_title),
            ("Werklocatie", f.location),
            ("Startdatum", long_date(f.start_date)),
            ("Einddatum (uiterlijk)", long_date(f.end_date)),
            ("Uren per week", number(f.hours_per_week)),
            ("Premie per gewerkt uur", money(f.premium_per_hour)),
        ])

    def guidance_list(self) -> None:
        if self.facts.guidance:
            self.items([f"{name}: {long_date(day)}" for name, day in self.facts.guidance])
        else:
            self.paragraph("De begeleidingsmomenten worden met u afgesproken.")

    def output_bytes(self) -> bytes:
        return bytes(self.output())


def render_beschikking(facts: LetterFacts) -> bytes:
    """The *Beschikking re-integratie-instrument Flextensie*: the municipality places the
    candidate through the instrument and grants the premium per worked hour, with the
    provisions on the instrument's status and on guidance, and the notice of objection."""
    f = facts
    title = "Beschikking re-integratie-instrument Flextensie"
    pdf = _Letter(f, title)
    pdf.address_block()
    pdf.title_block(title)
    pdf.paragraph(f"Geachte {f.candidate_name},")
    pdf.paragraph("U heeft zich vrijwillig aangemeld voor het re-integratie-instrument Flextensie. "
                  "In deze beschikking leest u ons besluit over uw plaatsing.")
    pdf.heading("Besluit")
    pdf.paragraph(f"Het college van burgemeester en wethouders van {f.municipality} besluit:")
    pdf.items([
        f"U wordt met ingang van {long_date(f.start_date)} geplaatst via het re-integratie-instrument "
        f"Flextensie, op de opdracht \"{f.assignment_title}\" van {f.employer_name} in {f.location}, "
        f"voor {number(f.hours_per_week)} uur per week, tot en met {long_date(f.end_date)}.",
        f"U ontvangt een premie van {money(f.premium_per_hour)} netto per gewerkt uur (premie "
        "arbeidsinschakeling, artikel 31, tweede lid, onderdeel j, van de Participatiewet). "
        "De premie wordt niet gekort op uw uitkering.",
    ], numbered=True)
    pdf.heading("Gegevens van de plaatsing")
    pdf.placement_facts()
    pdf.heading("Bepalingen over het instrument")
    provisions = [
        "Flextensie is een re-integratie-instrument van de gemeente. Het wordt uitgevoerd door "
        "Flextensie Nederland b.v. onder de Nederlandse Vereniging voor Sociale Innovatie (NVSI). "
        "De plaatsing is geen dienstbetrekking: u krijgt geen arbeidsovereenkomst en de "
        "opdrachtgever is niet uw werkgever.",
        "Deelname is vrijwillig. Stopt u, dan heeft dat geen gevolgen voor uw uitkering.",
        "Uw uitkering loopt door. De premie wordt alleen betaald over werkelijk gewerkte uren die de "
        "opdrachtgever heeft goedgekeurd; over uren die u niet werkt, bijvoorbeeld bij ziekte, "
        "ontvangt u geen premie. Reiskosten worden vergoed.",
    ]
    if f.premium_payment_moments and f.premium_yearly_cap is not None:
        provisions.append(
            f"De opgebouwde premie wordt ten hoogste {number(f.premium_payment_moments)} keer per jaar "
            f"uitbetaald, tot ten hoogste {money(f.premium_yearly_cap)} per kalenderjaar."
        )
    version = f" (gedeelde regels, versie {f.rules_version})" if f.rules_version else ""
    provisions.append(
        f"De plaatsing is tijdelijk: bij {number(f.hours_per_week)} uur per week duurt zij ten hoogste "
        f"{number(f.max_months)} maanden{version}. Zij eindigt uiterlijk op {long_date(f.end_date)}."
    )
    pdf.items(provisions)
    pdf.heading("Begeleiding")
    pdf.paragraph("De gemeente begeleidt u tijdens de plaatsing. Deze begeleidingsmomenten zijn gepland:")
    pdf.guidance_list()
    pdf.paragraph("Bij elk begeleidingsmoment bespreken wij met u of de opdracht nog bijdraagt aan uw "
                  "re-integratiedoelen, zoals vastgelegd in de inzetbevestiging. Is dat niet meer zo, "
                  "dan kan de plaatsing worden beëindigd.")
    pdf.heading("Bezwaar")
    pdf.paragraph(
        "Bent u het niet eens met dit besluit? Dan kunt u binnen zes weken na de dag waarop het is "
        f"verzonden bezwaar maken bij het college van burgemeester en wethouders van {f.municipality} "
        "(artikelen 6:7 en 6:8 van de Algemene wet bestuursrecht). Vermeld in uw bezwaarschrift uw naam "
        f"en adres, de datum, het kenmerk {f.reference} en waarom u het niet eens bent met het besluit, "
        "en onderteken het."
    )
    pdf.paragraph(f"Met vriendelijke groet,\n\nHet college van burgemeester en wethouders van {f.municipality}")
    return pdf.output_bytes()


def render_inzetbevestiging(facts: LetterFacts) -> bytes:
    """The *inzetbevestiging*: the agreed deployment and the re-integration goals, with room for
    the signatures of the municipality and the candidate. Not a legal decision."""
    f = facts
    title = "Inzetbevestiging Flextensie"
    pdf = _Letter(f, title)
    pdf.address_block()
    pdf.title_block(title)
    pdf.paragraph("Deze inzetbevestiging legt de afspraken vast over uw inzet via het re-integratie-"
                  "instrument Flextensie en de re-integratiedoelen die u daarmee nastreeft. Zij is geen "
                  "besluit in de zin van de Algemene wet bestuursrecht: het besluit over uw plaatsing "
                  "staat in de beschikking.")
    pdf.heading("De inzet")
    pdf.placement_facts()
    pdf.heading("Re-integratiedoelen")
    pdf.paragraph(f.goals.strip() or "Er zijn (nog) geen re-integratiedoelen vastgelegd.")
    pdf.heading("Begeleiding en evaluatie")
    pdf.guidance_list()
    pdf.paragraph("Bij elk begeleidingsmoment bespreken de gemeente en de kandidaat of de opdracht nog "
                  "bijdraagt aan deze doelen.")
    pdf.heading("Ondertekening")
    pdf.paragraph("Gemeente en kandidaat verklaren zich akkoord met deze inzetbevestiging.")
    for party in (f"Namens {f.municipality}", f"Kandidaat: {f.candidate_name}"):
        if pdf.will_page_break(32):
            pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.lines(party, 6)
        pdf.set_font("Helvetica", size=10)
        for label in ("Naam", "Datum", "Handtekening"):
            pdf.cell(35, 8, label + ":")
            pdf.cell(0, 8, "_" * 45, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    return pdf.output_bytes()
