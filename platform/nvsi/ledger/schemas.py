"""marshmallow schemas of the ledger pages and API: the trial balance, an account's entries and
a municipality's balances and transactions. Amounts are integer cents (debit positive, credit
negative in ``balance_cents``/``amount_cents``; ``debit_cents``/``credit_cents`` are both ≥ 0)."""

from __future__ import annotations

from marshmallow import Schema, fields

from nvsi.contract.schemas import Day
from nvsi.schemas import Args, OptionalText


class AsOfArgs(Args):
    """The date of a balance (inclusive; today when omitted) and, optionally, one municipality."""

    as_of = Day(load_default=None, allow_none=True)
    tenant = OptionalText(load_default=None, metadata={"description": "A municipality's slug"})


class TenantAsOfArgs(Args):
    """The date of a municipality's balances (inclusive; today when omitted)."""

    as_of = Day(load_default=None, allow_none=True)


class AccountEntriesArgs(Args):
    """Which entries of an account: the municipality (for an account kept per municipality) and
    the dates (inclusive)."""

    tenant = OptionalText(load_default=None)
    date_from = Day(load_default=None, allow_none=True)
    as_of = Day(load_default=None, allow_none=True)


class BalanceSchema(Schema):
    """One account's balance."""

    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "asset, liability, revenue or expense"})
    tenant_id = fields.Integer(allow_none=True)
    tenant = fields.String(allow_none=True, metadata={"description": "The municipality's slug (null: the NVSI's own)"})
    debit_cents = fields.Integer()
    credit_cents = fields.Integer()
    balance_cents = fields.Integer(metadata={"description": "Debit minus credit"})


def balance_row(balance, slugs: dict[int, str]) -> dict:
    """A ``nvsi.ledger.services.Balance`` as a plain row (for the schema and the templates)."""
    return {
        "code": balance.code, "name": str(balance.name), "kind": balance.kind.value, "tenant_id": balance.tenant_id,
        "tenant": slugs.get(balance.tenant_id) if balance.tenant_id is not None else None,
        "debit_cents": balance.debit, "credit_cents": balance.credit, "balance_cents": balance.cents,
    }


class TrialBalanceSchema(Schema):
    """Every account's balance on a date; in a sound ledger the debit and credit totals match."""

    as_of = fields.Date()
    tenant = fields.String(allow_none=True)
    rows = fields.List(fields.Nested(BalanceSchema))
    total_debit_cents = fields.Integer()
    total_credit_cents = fields.Integer()
    balanced = fields.Boolean(metadata={"description": "Debit total equals credit total"})


class LedgerEntrySchema(Schema):
    """One entry of a transaction."""

    code = fields.String()
    account = fields.String(metadata={"description": "The account's name"})
    tenant_id = fields.Integer(allow_none=True)
    amount_cents = fields.Integer()


class LedgerTransactionSchema(Schema):
    """A posted transaction with its entries."""

    id = fields.UUID()
    booking_date = fields.Date()
    kind = fields.String()
    description = fields.String()
    source_type = fields.String(allow_none=True)
    source_id = fields.String(allow_none=True)
    reverses_id = fields.UUID(allow_none=True)
    posted_at = fields.AwareDateTime()
    entries = fields.List(fields.Nested(LedgerEntrySchema))


class AccountEntrySchema(Schema):
    """An entry of one account, with the running balance after it."""

    transaction_id = fields.UUID()
    booking_date = fields.Date()
    kind = fields.String()
    description = fields.String()
    amount_cents = fields.Integer()
    balance_cents = fields.Integer()


class AccountEntriesSchema(Schema):
    """The entries of one account within the dates asked for."""

    code = fields.String()
    name = fields.String()
    tenant = fields.String(allow_none=True)
    date_from = fields.Date(allow_none=True)
    as_of = fields.Date()
    opening_balance_cents = fields.Integer(metadata={"description": "Balance before date_from"})
    closing_balance_cents = fields.Integer()
    entries = fields.List(fields.Nested(AccountEntrySchema))
    truncated = fields.Boolean(metadata={"description": "More entries than shown (narrow the dates)"})


class TenantFinanceSchema(Schema):
    """A municipality's accounts on a date and its latest transactions up to that date."""

    as_of = fields.Date()
    balances = fields.List(fields.Nested(BalanceSchema))
    transactions = fields.List(fields.Nested(LedgerTransactionSchema))
