"""A municipality's view of its money in the NVSI ledger, for its administrators (and the
backoffice): ``/g/<slug>/finance`` (the balances of its accounts on a date: receivables, revenue,
premiums payable, settlement payable…, and its transactions up to that date) and its half-yearly
settlement statements (``/g/<slug>/finance/settlements…``, page and PDF); the API under
``/api/v1/g/<slug>/finance`` and ``/api/v1/g/<slug>/settlements``.

Everything is filtered on the tenant of the URL (``g.tenant``), never on a parameter: the
ledger and the settlements live in the shared schema, where every municipality's rows are.
"""

from __future__ import annotations

import datetime as dt

from flask import g, render_template, request, url_for
from marshmallow import ValidationError

from nvsi.auth.access import roles_required
from nvsi.auth.models import Role
from nvsi.extensions import db
from nvsi.ledger import services as ledger
from nvsi.ledger.chart import CHART
from nvsi.ledger.schemas import TenantAsOfArgs, TenantFinanceSchema, balance_row
from nvsi.schemas import ordered_errors
from nvsi.settlement import services as settlements
from nvsi.settlement.schemas import SettlementListSchema, SettlementSchema
from nvsi.settlement.views import render_statement_page, statement_pdf
from tenants.candidates.views import private

ROLES = (Role.MUNICIPALITY_ADMIN, Role.BACKOFFICE)
#: The latest transactions shown with the balances.
TRANSACTIONS_SHOWN = 50


def finance_data(as_of: dt.date) -> dict:
    """The municipality's balances on ``as_of`` and its latest transactions up to that day."""
    tenant = g.tenant
    rows = [balance_row(b, {tenant.id: tenant.slug}) for b in ledger.balances(db.session, as_of=as_of,
                                                                              tenant_id=tenant.id)]
    found = ledger.transactions(db.session, tenant_id=tenant.id, end=as_of, limit=TRANSACTIONS_SHOWN)
    entries = ledger.entries_by_transaction(db.session, [t.id for t in found])
    transactions = [
        {"id": t.id, "booking_date": t.booking_date, "kind": t.kind, "description": t.description,
         "source_type": t.source_type, "source_id": t.source_id, "reverses_id": t.reverses_id,
         "posted_at": t.posted_at,
         "entries": [{"code": e.account.code, "account": str(CHART[e.account.code].name),
                      "tenant_id": e.account.tenant_id, "amount_cents": e.amount_cents}
                     for e in entries.get(t.id, [])]}
        for t in found
    ]
    return {"as_of": as_of, "balances": rows, "transactions": transactions}


def register_pages(bp):
    @bp.get("/finance")
    @roles_required(*ROLES)
    @private
    def finance():
        """The municipality's accounts on a date, and its transactions."""
        form = request.args.to_dict()
        errors, data = {}, None
        try:
            args = TenantAsOfArgs().load(form)
            data = finance_data(args["as_of"] or dt.date.today())
        except ValidationError as exc:
            errors = ordered_errors(exc.messages, TenantAsOfArgs())
        recent = settlements.list_settlements(db.session, tenant_id=g.tenant.id)[:2]
        return render_template("finance/index.html", form=form, errors=errors, data=data,
                               recent=recent), 422 if errors else 200

    @bp.get("/finance/settlements")
    @roles_required(*ROLES)
    @private
    def finance_settlements():
        """The municipality's settled half years."""
        items = settlements.list_settlements(db.session, tenant_id=g.tenant.id)
        return render_template("finance/settlements.html", items=items)

    @bp.get("/finance/settlements/<int:settlement_id>")
    @roles_required(*ROLES)
    @private
    def finance_settlement(settlement_id: int):
        """The statement of one of the municipality's settled half years."""
        settlement = settlements.get_settlement(db.session, settlement_id, tenant_id=g.tenant.id)
        return render_statement_page(settlement, url_for("tenant.finance_settlement_pdf", settlement_id=settlement_id),
                                     url_for("tenant.finance_settlements"))

    @bp.get("/finance/settlements/<int:settlement_id>/pdf")
    @roles_required(*ROLES)
    def finance_settlement_pdf(settlement_id: int):
        """The statement as PDF."""
        return statement_pdf(settlements.get_settlement(db.session, settlement_id, tenant_id=g.tenant.id))


def register_api(bp):
    @bp.get("/finance")
    @roles_required(*ROLES)
    @private
    def api_finance():
        """The municipality's accounts on a date and its latest transactions.
        ---
        get:
          tags: [finance]
          summary: The municipality's ledger accounts and transactions (its administrators, backoffice)
          description: >
            Balances (debit minus credit, in cents) of the accounts kept for the municipality in
            the NVSI ledger on as_of (inclusive), and its latest 50 transactions up to that day.
          parameters:
          - {in: query, name: as_of, schema: {type: string, format: date}, description: 'Default today'}
          responses:
            200:
              description: OK
              content: {application/json: {schema: TenantFinanceSchema}}
            403: {description: Not an administrator of this municipality}
            404: {$ref: '#/components/responses/NotFound'}
            422: {$ref: '#/components/responses/Invalid'}
        """
        args = TenantAsOfArgs().load(request.args.to_dict())
        return TenantFinanceSchema().dump(finance_data(args["as_of"] or dt.date.today()))

    @bp.get("/settlements")
    @roles_required(*ROLES)
    @private
    def api_finance_settlements():
        """The municipality's settled half years, newest first.
        ---
        get:
          tags: [finance]
          summary: The municipality's settlements (its administrators, backoffice)
          responses:
            200:
              description: OK
              content: {application/json: {schema: SettlementListSchema}}
            403: {description: Not an administrator of this municipality}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return SettlementListSchema().dump({"items": settlements.list_settlements(db.session, tenant_id=g.tenant.id)})

    @bp.get("/settlements/<int:settlement_id>")
    @roles_required(*ROLES)
    @private
    def api_finance_settlement(settlement_id: int):
        """One of the municipality's settlements with every figure.
        ---
        get:
          tags: [finance]
          summary: A settlement of the municipality (its administrators, backoffice)
          responses:
            200:
              description: OK
              content: {application/json: {schema: SettlementSchema}}
            403: {description: Not an administrator of this municipality}
            404: {$ref: '#/components/responses/NotFound'}
        """
        return SettlementSchema().dump(settlements.get_settlement(db.session, settlement_id, tenant_id=g.tenant.id))
