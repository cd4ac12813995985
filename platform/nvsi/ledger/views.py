"""The ledger for NVSI administrators: the trial balance page ``/admin/ledger`` (every account's
debit or credit balance on a date, with totals that match) and an account's entries
(``/admin/ledger/rekening/<code>``), and their JSON API under ``/api/v1/ledger``. Read-only: the
ledger is written by the money flows (invoices, premiums, settlements), never by hand.

A municipality's own accounts are shown to its administrators under ``/g/<slug>/finance``
(``tenants.finance``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_babel import format_currency
from flask_babel import gettext as _
from marshmallow import ValidationError

from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.ledger import services
from nvsi.ledger.chart import CHART, account_key
from nvsi.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from nvsi.ledger.schemas import (
    AccountEntriesArgs,
    AccountEntriesSchema,
    AsOfArgs,
    TrialBalanceSchema,
    balance_row,
)
from nvsi.schemas import ordered_errors
from nvsi.tenancy.models import Tenant

bp = Blueprint("ledger", __name__)

ADMIN = Role.NVSI_ADMIN
#: At most this many entries of one account on a page (narrow the dates for more).
MAX_ENTRIES = 1000


@bp.app_template_filter("cents")
def _cents(cents: int | None) -> str:
    """An amount in cents as euros in the user's locale: "€ 1.234,56"."""
    return "" if cents is None else format_currency(Decimal(cents) / 100, "EUR")


def _slugs() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Tenant.id, Tenant.slug)).all())


def _names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Tenant.id, Tenant.name)).all())


def _tenant_id(slug: str | None, field: str = "tenant") -> int | None:
    """The id of the municipality ``slug`` (None when not given); unknown: a field error."""
    if not slug:
        return None
    found = db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == slug))
    if found is None:
        raise ValidationError({field: [_("Onbekende gemeente.")]})
    return found


def trial_balance_data(as_of: dt.date, tenant_slug: str | None) -> dict:
    """The trial balance on ``as_of`` as plain data (page and API)."""
    tenant_id = _tenant_id(tenant_slug)
    tb = services.trial_balance(db.session, as_of, tenant_id)
    slugs = _slugs()
    return {
        "as_of": as_of, "tenant": tenant_slug or None, "rows": [balance_row(b, slugs) for b in tb.rows],
        "total_debit_cents": tb.total_debit, "total_credit_cents": tb.total_credit,
        "balanced": tb.total_debit == tb.total_credit,
    }


def account_entries(code: str, tenant_slug: str | None, date_from: dt.date | None, as_of: dt.date) -> dict:
    """The entries of one account from ``date_from`` to ``as_of`` (inclusive), oldest first, each
    with the running balance; the opening balance is the balance before ``date_from``."""
    if code not in CHART:
        abort(404)
    tenant_id = _tenant_id(tenant_slug)
    if CHART[code].per_tenant and tenant_id is None:
        raise ValidationError({"tenant": [_("Deze rekening wordt per gemeente bijgehouden: kies een gemeente.")]})
    tenant_id = tenant_id if CHART[code].per_tenant else None
    account_id = db.session.scalar(sa.select(LedgerAccount.id).where(LedgerAccount.key == account_key(code, tenant_id)))
    opening = 0
    if date_from is not None:
        opening = services.balance(db.session, code, tenant_id, as_of=date_from - dt.timedelta(days=1))
    query = (
        sa.select(LedgerEntry.transaction_id, LedgerEntry.booking_date, LedgerTransaction.kind,
                  LedgerTransaction.description, LedgerEntry.amount_cents)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account_id, LedgerEntry.booking_date <= as_of)
        .order_by(LedgerEntry.booking_date, LedgerEntry.id)
        .limit(MAX_ENTRIES + 1)
    )
    if date_from is not None:
        query = query.where(LedgerEntry.booking_date >= date_from)
    rows = db.session.execute(query).all() if account_id is not None else []
    running, entries = opening, []
    for transaction_id, booking_date, kind, description, cents in rows[:MAX_ENTRIES]:
        running += cents
        entries.append({"transaction_id": transaction_id, "booking_date": booking_date, "kind": kind,
                        "description": description, "amount_cents": cents, "balance_cents": running})
    return {
        "code": code, "name": str(CHART[code].name), "tenant": tenant_slug if tenant_id is not None else None,
        "date_from": date_from, "as_of": as_of, "opening_balance_cents": opening,
        "closing_balance_cents": services.balance(db.session, code, tenant_id, as_of=as_of),
        "entries": entries, "truncated": len(rows) > MAX_ENTRIES,
    }


# -- API ---------------------------------------------------------------------------------------


@bp.get("/api/v1/ledger/trial-balance")
@roles_required(ADMIN)
def api_trial_balance():
    """The trial balance on a date.
    ---
    get:
      tags: [ledger]
      summary: Trial balance (NVSI administrators)
      description: >
        Every account's balance on as_of (inclusive), as a debit or a credit, in cents. Over all
        accounts the totals match (balanced). With tenant, only that municipality's accounts
        (their totals need not match: the NVSI's own accounts hold the other side).
      parameters:
      - {in: query, name: as_of, schema: {type: string, format: date}, description: 'Default today'}
      - {in: query, name: tenant, schema: {type: string}, description: "A municipality's slug"}
      responses:
        200:
          description: OK
          content: {application/json: {schema: TrialBalanceSchema}}
        403: {description: Not an NVSI administrator}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = AsOfArgs().load(request.args.to_dict())
    return TrialBalanceSchema().dump(trial_balance_data(args["as_of"] or dt.date.today(), args["tenant"]))


@bp.get("/api/v1/ledger/accounts/<code>/entries")
@roles_required(ADMIN)
def api_account_entries(code: str):
    """The entries of one account, with the running balance.
    ---
    get:
      tags: [ledger]
      summary: An account's entries (NVSI administrators)
      description: Oldest first, from date_from to as_of (inclusive); at most 1000 (truncated says more).
      parameters:
      - {in: query, name: tenant, schema: {type: string}, description: "The municipality's slug (accounts kept per municipality)"}
      - {in: query, name: date_from, schema: {type: string, format: date}}
      - {in: query, name: as_of, schema: {type: string, format: date}, description: 'Default today'}
      responses:
        200:
          description: OK
          content: {application/json: {schema: AccountEntriesSchema}}
        403: {description: Not an NVSI administrator}
        404: {$ref: '#/components/responses/NotFound'}
        422: {$ref: '#/components/responses/Invalid'}
    """
    args = AccountEntriesArgs().load(request.args.to_dict())
    data = account_entries(code, args["tenant"], args["date_from"], args["as_of"] or dt.date.today())
    return AccountEntriesSchema().dump(data)


# -- pages -------------------------------------------------------------------------------------


@bp.get("/admin/ledger")
@roles_required(ADMIN)
def trial_balance():
    """The trial balance page: every account on a date, debit and credit columns, totals."""
    form = request.args.to_dict()
    errors, data = {}, None
    try:
        args = AsOfArgs().load(form)
        data = trial_balance_data(args["as_of"] or dt.date.today(), args["tenant"])
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, AsOfArgs())
    tenants = list(db.session.scalars(sa.select(Tenant).order_by(Tenant.name)))
    return render_template("ledger/trial_balance.html", form=form, errors=errors, data=data, tenants=tenants,
                           names=_names()), 422 if errors else 200


@bp.get("/admin/ledger/rekening/<code>")
@roles_required(ADMIN)
def account(code: str):
    """One account's entries with the running balance (drill-down from the trial balance)."""
    if code not in CHART:
        abort(404)
    form = request.args.to_dict()
    errors, data = {}, None
    try:
        args = AccountEntriesArgs().load(form)
        data = account_entries(code, args["tenant"], args["date_from"], args["as_of"] or dt.date.today())
    except ValidationError as exc:
        errors = ordered_errors(exc.messages, AccountEntriesArgs())
    tenants = list(db.session.scalars(sa.select(Tenant).order_by(Tenant.name)))
    return render_template("ledger/account.html", code=code, account=CHART[code], form=form, errors=errors,
                           data=data, tenants=tenants), 422 if errors else 200
