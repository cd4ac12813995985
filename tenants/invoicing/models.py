"""Invoices and credit notes (in the municipality's schema).

The NVSI invoices the employers on behalf of the municipality. An issued document is never
edited: its content columns are frozen by a database trigger (only its payment state moves), and
a correction is a credit note. Which timesheet entries a line invoiced, or credited, is recorded
per entry with a unique key, so no hour is ever invoiced (or credited) twice, whatever runs at once.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, TenantBase, UTCDateTime


def _enum(cls, name: str, length: int = 20):
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=True, length=length,
                   values_callable=lambda e: [m.value for m in e])


class DocumentType(str, enum.Enum):
    """Invoice, or credit note (negative amounts, naming the invoice it corrects)."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class PaymentStatus(str, enum.Enum):
    """Where the money of a document stands (moved by payments, never by editing)."""

    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    #: Fully offset by credit notes.
    CREDITED = "credited"


class InvoiceSeries(TenantBase):
    """A gapless number series, e.g. invoices of 2026. The row is locked while a number is
    taken, in the same transaction as the document: a rollback gives the number back."""

    __tablename__ = "invoice_series"

    id: Mapped[BigIntPK]
    #: ``F2026`` (invoices) or ``C2026`` (credit notes).
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: The last number issued in the series (0: none yet).
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(TenantBase):
    """A collective invoice to one employer for one period (or a credit note)."""

    __tablename__ = "invoices"

    id: Mapped[BigIntPK]
    #: See :class:`DocumentType`.
    doc_type: Mapped[DocumentType] = mapped_column(_enum(DocumentType, "invoice_doc_type"))
    #: The series and the number in it (gapless); ``number`` is the printed form.
    series_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoice_series.id"))
    sequence: Mapped[int]
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The employer invoiced.
    employer_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("employers.id"), index=True)
    #: For a credit note: the invoice it corrects.
    credits_invoice_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("invoices.id"), index=True)
    #: The period of the hours (first and last day, inclusive).
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)
    #: Invoice date and due date (invoice date + the payment term in force).
    issue_date: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    #: Totals in cents (negative on a credit note): net + VAT = gross.
    net_cents: Mapped[int] = mapped_column(sa.BigInteger)
    vat_cents: Mapped[int] = mapped_column(sa.BigInteger)
    gross_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: The reference the employer quotes when paying by bank transfer.
    payment_reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The parties as they were on the invoice date (art. 35a Wet OB): a document never changes
    #: when an address does.
    seller: Mapped[dict] = mapped_column(sa.JSON)
    buyer: Mapped[dict] = mapped_column(sa.JSON)
    #: Rule-set version whose VAT rate and payment term applied.
    rules_version: Mapped[int | None]
    #: The ledger transaction of the document (shared schema; no foreign key across schemas).
    ledger_transaction_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: Who made it (None: the invoice run).
    created_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    created_at: Mapped[Created]
    # -- the payment state: the only columns that change after issue -----------------------------
    #: See :class:`PaymentStatus`.
    status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus, "invoice_status"),
                                                  default=PaymentStatus.OPEN)
    #: Received so far (cents), and credited by credit notes (cents, positive).
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    credited_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: When the invoice e-mail went out (None: not yet; the run retries).
    mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Optimistic lock for the payment state.
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice", order_by="InvoiceLine.id",
                                                    cascade="all")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("series_id", "sequence"),
        sa.CheckConstraint("gross_cents = net_cents + vat_cents", name="gross_is_net_plus_vat"),
        sa.CheckConstraint(
            "(doc_type = 'invoice' AND credits_invoice_id IS NULL AND gross_cents >= 0) OR "
            "(doc_type = 'credit_note' AND credits_invoice_id IS NOT NULL AND gross_cents <= 0)",
            name="credit_note_shape",
        ),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
    )

    @property
    def outstanding_cents(self) -> int:
        """What the employer still owes on this invoice."""
        return self.gross_cents - self.paid_cents - self.credited_cents


class InvoiceLine(TenantBase):
    """One placement's hours on an invoice: hours × rate, rounded to cents once per line."""

    __tablename__ = "invoice_lines"

    id: Mapped[BigIntPK]
    invoice_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoices.id"), index=True)
    #: The placement worked (the candidate's name is on the line's description).
    placement_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("placements.id"), index=True)
    #: What the employer reads, e.g. "Groenonderhoud – J. Jansen, 2–8 maart 2026".
    description: Mapped[str] = mapped_column(sa.String(300))
    #: The days the hours were worked (date of the service, art. 35a Wet OB).
    service_start: Mapped[dt.date] = mapped_column(sa.Date)
    service_end: Mapped[dt.date] = mapped_column(sa.Date)
    #: Hours (negative on a credit note) and the hourly rate in cents.
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(9, 2))
    rate_cents: Mapped[int]
    #: hours × rate, rounded half-up to cents (the one rounding of a line).
    net_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: VAT category (UNCL5305: S standard, Z zero, E exempt) and rate in percent.
    vat_category: Mapped[str] = mapped_column(sa.String(2))
    vat_rate: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class EntryRole(str, enum.Enum):
    """Whether a line invoiced an entry's hours or credited them back."""

    INVOICED = "invoiced"
    CREDITED = "credited"


class InvoicedEntry(TenantBase):
    """A timesheet entry's hours on an invoice line (or credited on a credit-note line).

    Unique per (entry, role): an entry is invoiced once and credited at most once, which the
    database guarantees also when two invoice runs race.
    """

    __tablename__ = "invoiced_entries"

    id: Mapped[BigIntPK]
    entry_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("timesheet_entries.id"))
    line_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("invoice_lines.id"), index=True)
    role: Mapped[EntryRole] = mapped_column(_enum(EntryRole, "invoiced_entry_role"))
    #: The hours of the entry (positive), as invoiced or credited.
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(4, 2))

    __table_args__ = (sa.UniqueConstraint("entry_id", "role"),)


#: Columns of an issued document that never change (the trigger's list; the migration has a copy).
FROZEN_COLUMNS = ("doc_type", "series_id", "sequence", "number", "employer_id", "credits_invoice_id",
                  "period_start", "period_end", "issue_date", "due_date", "net_cents", "vat_cents",
                  "gross_cents", "payment_reference", "seller", "buyer")


def frozen_invoice_ddl(dialect: str, schema: str | None) -> list[str]:
    """Triggers: an issued invoice's content cannot be updated, and no invoice, line or
    invoiced entry can be deleted (or truncated on PostgreSQL)."""
    columns = ", ".join(c for c in FROZEN_COLUMNS if c not in ("seller", "buyer"))
    if dialect == "postgresql":
        prefix = f'"{schema}".' if schema else ""
        function = f"{prefix}nvsi_invoice_frozen"
        statements = [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'issued invoices are never edited (% on %): issue a credit note', "
            "TG_OP, TG_TABLE_NAME; END $$",
            f"CREATE TRIGGER invoices_frozen BEFORE UPDATE OF {columns}, seller, buyer ON {prefix}\"invoices\" "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
        for table in ("invoices", "invoice_lines", "invoiced_entries"):
            statements += [
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {prefix}\"{table}\" "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {prefix}\"{table}\" "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            ]
        statements.append(
            f"CREATE TRIGGER invoice_lines_frozen BEFORE UPDATE ON {prefix}\"invoice_lines\" "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        return statements
    prefix = f'"{schema}".' if schema else ""
    statements = [
        f"CREATE TRIGGER {prefix}invoices_frozen BEFORE UPDATE OF {columns}, seller, buyer ON invoices "
        "BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
        f"CREATE TRIGGER {prefix}invoice_lines_frozen BEFORE UPDATE ON invoice_lines "
        "BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END",
    ]
    for table in ("invoices", "invoice_lines", "invoiced_entries"):
        statements.append(
            f"CREATE TRIGGER {prefix}{table}_no_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'issued invoices are never edited: issue a credit note'); END"
        )
    return statements


@sa.event.listens_for(InvoicedEntry.__table__, "after_create")
def _install(target, connection, **_kw):
    # Installed once the last of the three tables exists.
    schema = connection.schema_for_object(target)
    for statement in frozen_invoice_ddl(connection.dialect.name, schema):
        connection.execute(sa.text(statement))
