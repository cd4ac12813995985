"""The ledger's tables (shared schema) and the database rules that guard them.

Entries are written first, then their transaction header; inserting the header runs a trigger
that refuses it unless its entries number two or more, sum to zero, share its booking date and
fall in an open period. Once the header exists, no entry can join it. The foreign key from entry
to header is checked at COMMIT, so no entry can exist without a (balanced) header. All four tables
refuse UPDATE and DELETE. Both backends: PostgreSQL (PL/pgSQL) and SQLite (trigger WHEN clauses).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nvsi.db import BigIntPK, BigIntType, Created, SharedBase, append_only


class LedgerAccount(SharedBase):
    """An account of the chart (:mod:`nvsi.ledger.chart`), for the NVSI or for one municipality."""

    __tablename__ = "ledger_accounts"

    id: Mapped[BigIntPK]
    #: ``code`` or ``code/tenant_id``: unique, also where tenant_id is empty.
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    #: The chart code, e.g. ``1100``.
    code: Mapped[str] = mapped_column(sa.String(10))
    #: The municipality whose money it holds; None for the NVSI's own accounts. No cascade: a
    #: ledger outlives an offboarded member (records are kept 7 years).
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    #: When the account was first used.
    created_at: Mapped[Created]


class LedgerTransaction(SharedBase):
    """A balanced set of entries booked on one date: the unit of every money movement."""

    __tablename__ = "ledger_transactions"

    #: A UUID chosen before the entries are written (they carry it).
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    #: Chosen by the caller; a retry with the same key returns the first result.
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: The accounting date; decides the period (and whether it is closed).
    booking_date: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    #: The municipality it concerns, if any (closed periods are per municipality).
    tenant_id: Mapped[int | None] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"), index=True)
    #: What kind of movement: invoice, credit_note, premium, travel, settlement, payment, reversal…
    kind: Mapped[str] = mapped_column(sa.String(40))
    #: For people: what it is.
    description: Mapped[str] = mapped_column(sa.String(300))
    #: The object it comes from, e.g. ``invoice`` + ``alpha/17``.
    source_type: Mapped[str | None] = mapped_column(sa.String(40))
    source_id: Mapped[str | None] = mapped_column(sa.String(80))
    #: The transaction this one reverses (at most one reversal each).
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("ledger_transactions.id"), unique=True
    )
    #: Who posted it (None: a job).
    posted_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When it was written.
    posted_at: Mapped[Created]

    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="transaction", order_by="LedgerEntry.id", viewonly=True
    )

    __table_args__ = (sa.Index(None, "source_type", "source_id"), sa.Index(None, "tenant_id", "booking_date"))


class LedgerEntry(SharedBase):
    """One line of a transaction: a signed amount in cents on one account (debit > 0 > credit)."""

    __tablename__ = "ledger_entries"

    id: Mapped[BigIntPK]
    #: The header; checked at COMMIT, since the header is written after its entries.
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid,
        sa.ForeignKey("ledger_transactions.id", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    #: The account.
    account_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("ledger_accounts.id"))
    #: Cents; positive is debit, negative is credit; never zero.
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    #: Copy of the header's booking date (the trigger checks it), so balances need no join.
    booking_date: Mapped[dt.date] = mapped_column(sa.Date)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries", viewonly=True)
    account: Mapped[LedgerAccount] = relationship(viewonly=True, lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        sa.Index(None, "account_id", "booking_date"),
    )


class ClosedPeriod(SharedBase):
    """A municipality's period that is settled: the database refuses any booking dated in it."""

    __tablename__ = "ledger_closed_periods"

    id: Mapped[BigIntPK]
    #: The municipality.
    tenant_id: Mapped[int] = mapped_column(BigIntType, sa.ForeignKey("tenants.id"))
    #: First and last day of the period (inclusive).
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)
    #: Why it was closed, e.g. ``settlement 2026-H1``.
    reason: Mapped[str] = mapped_column(sa.String(200))
    #: Who closed it (None: a job).
    closed_by_user_id: Mapped[int | None] = mapped_column(BigIntType)
    #: When.
    closed_at: Mapped[Created]

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "period_start"),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
    )


LEDGER_TABLES = ("ledger_accounts", "ledger_transactions", "ledger_entries", "ledger_closed_periods")


def ledger_guard_ddl(dialect: str, table: str, schema: str | None) -> list[str]:
    """The balance guards for ``table`` (entries or transactions), beyond append-only.

    Migrations carry a frozen copy. On PostgreSQL the functions find their tables through the
    schema of the table that fired (``TG_TABLE_SCHEMA``), so they work wherever the shared schema is.
    """
    if dialect == "postgresql":
        qualified = f'"{schema}"."{table}"' if schema else f'"{table}"'
        prefix = f'"{schema}".' if schema else ""
        if table == "ledger_entries":
            return [
                f"CREATE OR REPLACE FUNCTION {prefix}nvsi_ledger_entry_guard() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ DECLARE posted boolean; BEGIN "
                "EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.ledger_transactions WHERE id = $1)', "
                "TG_TABLE_SCHEMA) INTO posted USING NEW.transaction_id; "
                "IF posted THEN RAISE EXCEPTION 'ledger transaction % is posted: no entry can be added', "
                "NEW.transaction_id; END IF; RETURN NEW; END $$",
                f"CREATE TRIGGER ledger_entries_guard BEFORE INSERT ON {qualified} "
                f"FOR EACH ROW EXECUTE FUNCTION {prefix}nvsi_ledger_entry_guard()",
            ]
        if table == "ledger_transactions":
            return [
                f"CREATE OR REPLACE FUNCTION {prefix}nvsi_ledger_balance_check() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ DECLARE n bigint; total numeric; other_dates bigint; closed boolean; "
                "BEGIN "
                "EXECUTE format('SELECT count(*), coalesce(sum(amount_cents), 0), "
                "count(*) FILTER (WHERE booking_date <> $2) FROM %I.ledger_entries WHERE transaction_id = $1', "
                "TG_TABLE_SCHEMA) INTO n, total, other_dates USING NEW.id, NEW.booking_date; "
                "IF n < 2 THEN RAISE EXCEPTION 'ledger transaction % has % entries: two or more needed', "
                "NEW.id, n; END IF; "
                "IF total <> 0 THEN RAISE EXCEPTION 'ledger transaction % does not balance: entries sum to % "
                "cents', NEW.id, total; END IF; "
                "IF other_dates > 0 THEN RAISE EXCEPTION 'ledger transaction %: entries dated otherwise', "
                "NEW.id; END IF; "
                "EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.ledger_closed_periods WHERE tenant_id = $1 "
                "AND $2 BETWEEN period_start AND period_end)', TG_TABLE_SCHEMA) INTO closed "
                "USING NEW.tenant_id, NEW.booking_date; "
                "IF closed THEN RAISE EXCEPTION 'ledger period closed: % is in a settled period of tenant %', "
                "NEW.booking_date, NEW.tenant_id; END IF; "
                "RETURN NEW; END $$",
                f"CREATE TRIGGER ledger_transactions_balance AFTER INSERT ON {qualified} "
                f"FOR EACH ROW EXECUTE FUNCTION {prefix}nvsi_ledger_balance_check()",
            ]
        return []
    trigger_prefix = f'"{schema}".' if schema else ""
    if table == "ledger_entries":
        return [
            f"CREATE TRIGGER {trigger_prefix}ledger_entries_guard BEFORE INSERT ON ledger_entries "
            "WHEN EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) "
            "BEGIN SELECT RAISE(ABORT, 'ledger transaction is posted: no entry can be added'); END",
        ]
    if table == "ledger_transactions":
        return [
            f"CREATE TRIGGER {trigger_prefix}ledger_transactions_balance AFTER INSERT ON ledger_transactions "
            "BEGIN "
            "SELECT RAISE(ABORT, 'ledger transaction has fewer than two entries') "
            "WHERE (SELECT count(*) FROM ledger_entries WHERE transaction_id = NEW.id) < 2; "
            "SELECT RAISE(ABORT, 'ledger transaction does not balance') "
            "WHERE (SELECT coalesce(sum(amount_cents), 0) FROM ledger_entries WHERE transaction_id = NEW.id) <> 0; "
            "SELECT RAISE(ABORT, 'ledger transaction: entries dated otherwise') "
            "WHERE EXISTS (SELECT 1 FROM ledger_entries WHERE transaction_id = NEW.id "
            "AND booking_date <> NEW.booking_date); "
            "SELECT RAISE(ABORT, 'ledger period closed') "
            "WHERE EXISTS (SELECT 1 FROM ledger_closed_periods WHERE tenant_id = NEW.tenant_id "
            "AND NEW.booking_date BETWEEN period_start AND period_end); "
            "END",
        ]
    return []


def _install_guards(table: sa.Table) -> None:
    @sa.event.listens_for(table, "after_create")
    def _install(target, connection, **_kw):
        schema = connection.schema_for_object(target)
        for statement in ledger_guard_ddl(connection.dialect.name, target.name, schema):
            connection.execute(sa.text(statement))


for _model in (LedgerAccount, LedgerTransaction, LedgerEntry, ClosedPeriod):
    append_only(_model.__table__)
_install_guards(LedgerEntry.__table__)
_install_guards(LedgerTransaction.__table__)
