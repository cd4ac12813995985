"""The chart of accounts.

One chart for the platform. Accounts marked *per tenant* exist once per municipality (the money
is that municipality's: its revenue, its employers' debts, its candidates' premiums); the others
once for the NVSI. Codes follow the Dutch decimal scheme (0–1 balance sheet, 4 costs, 8 revenue).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


class AccountKind(str, enum.Enum):
    """Where an account sits in the statements; decides the sign shown to a person."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow with debits; liabilities and revenue with credits."""
        return self in (AccountKind.ASSET, AccountKind.EXPENSE)


@dataclass(frozen=True)
class AccountType:
    """One line of the chart."""

    code: str
    name: object  # a lazy string (Dutch source, translated on display)
    kind: AccountKind
    per_tenant: bool


BANK = "1000"                    # the NVSI's bank account (all money of the instrument)
PAYMENTS_IN_TRANSIT = "1050"     # card/iDEAL payments confirmed by the provider, not yet on the bank
RECEIVABLES = "1100"             # what employers owe (per municipality)
VAT_PAYABLE = "1500"             # VAT charged on invoices, owed to the tax authority
PREMIUMS_PAYABLE = "1600"        # premiums accrued to candidates, not yet paid out
PREMIUMS_IN_PAYMENT = "1605"     # premiums in a generated SEPA batch, not yet confirmed by the bank
TRAVEL_PAYABLE = "1610"          # travel costs to reimburse to candidates
SERVICE_FEE_PAYABLE = "1700"     # the service company's fee, to be paid to it
EMPLOYER_CREDIT = "1750"         # overpayments by employers, owed back or to be set off
SETTLEMENT_PAYABLE = "1800"      # the result owed to (or, if negative, by) a municipality
PREMIUM_EXPENSE = "4000"
TRAVEL_EXPENSE = "4100"
SERVICE_FEE_EXPENSE = "4200"
CONTRIBUTION_EXPENSE = "4300"    # the municipality's 1% contribution
ANNUAL_FEE_EXPENSE = "4400"      # the annual fee the municipality owes the NVSI
REVENUE = "8000"                 # hours invoiced to employers, excluding VAT
CONTRIBUTION_INCOME = "8100"     # the 2% contribution (1% municipality + 1% service company)
ANNUAL_FEE_INCOME = "8200"

CHART: dict[str, AccountType] = {
    t.code: t
    for t in (
        AccountType(BANK, _l("Bankrekening NVSI"), AccountKind.ASSET, False),
        AccountType(PAYMENTS_IN_TRANSIT, _l("Onderweg van betaaldienst"), AccountKind.ASSET, False),
        AccountType(RECEIVABLES, _l("Debiteuren (werkgevers)"), AccountKind.ASSET, True),
        AccountType(VAT_PAYABLE, _l("Af te dragen btw"), AccountKind.LIABILITY, False),
        AccountType(PREMIUMS_PAYABLE, _l("Te betalen premies"), AccountKind.LIABILITY, True),
        AccountType(PREMIUMS_IN_PAYMENT, _l("Premies in betaling"), AccountKind.LIABILITY, True),
        AccountType(TRAVEL_PAYABLE, _l("Te betalen reiskosten"), AccountKind.LIABILITY, True),
        AccountType(SERVICE_FEE_PAYABLE, _l("Te betalen servicevergoeding"), AccountKind.LIABILITY, False),
        AccountType(EMPLOYER_CREDIT, _l("Tegoed van werkgevers"), AccountKind.LIABILITY, True),
        AccountType(SETTLEMENT_PAYABLE, _l("Af te rekenen met gemeente"), AccountKind.LIABILITY, True),
        AccountType(PREMIUM_EXPENSE, _l("Premies"), AccountKind.EXPENSE, True),
        AccountType(TRAVEL_EXPENSE, _l("Reiskosten"), AccountKind.EXPENSE, True),
        AccountType(SERVICE_FEE_EXPENSE, _l("Servicevergoeding"), AccountKind.EXPENSE, True),
        AccountType(CONTRIBUTION_EXPENSE, _l("Contributie gemeente"), AccountKind.EXPENSE, True),
        AccountType(ANNUAL_FEE_EXPENSE, _l("Jaarlijkse vergoeding"), AccountKind.EXPENSE, True),
        AccountType(REVENUE, _l("Omzet uren"), AccountKind.REVENUE, True),
        AccountType(CONTRIBUTION_INCOME, _l("Contributie-inkomsten"), AccountKind.REVENUE, False),
        AccountType(ANNUAL_FEE_INCOME, _l("Opbrengst jaarlijkse vergoeding"), AccountKind.REVENUE, False),
    )
}

#: The accounts whose balance makes up a municipality's result; settlement empties them.
RESULT_ACCOUNTS = (REVENUE, PREMIUM_EXPENSE, TRAVEL_EXPENSE, SERVICE_FEE_EXPENSE, CONTRIBUTION_EXPENSE,
                   ANNUAL_FEE_EXPENSE)


def account_key(code: str, tenant_id: int | None) -> str:
    """The unique key of an account: ``"1000"`` for the NVSI's, ``"1100/7"`` for tenant 7's."""
    kind = CHART[code]
    if kind.per_tenant and tenant_id is None:
        raise ValueError(f"account {code} is kept per municipality: a tenant is needed")
    return f"{code}/{tenant_id}" if kind.per_tenant else code
