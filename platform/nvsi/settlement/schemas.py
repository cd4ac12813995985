"""marshmallow schemas of settlements: input (``…Args``) and output. Amounts in integer cents,
percentages as decimal strings ("20.00")."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields

from nvsi.schemas import Args, OptionalText
from nvsi.settlement.services import HalfYear, InvalidPeriod


class Period(fields.Field):
    """A half year written as ``2026-H1`` (January–June) or ``2026-H2`` (July–December)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return HalfYear.parse(value if isinstance(value, str) else "")
        except InvalidPeriod:
            raise ValidationError([str(_l("Geen geldig halfjaar; gebruik bijvoorbeeld 2026-H1 (januari–juni) "
                                          "of 2026-H2 (juli–december)."))]) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class Year(fields.Integer):
    """A calendar year."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        try:
            year = int(value)
        except (TypeError, ValueError):
            year = 0
        if not 2000 <= year <= 2999:
            raise ValidationError([str(_l("Geen geldig jaar, bijvoorbeeld 2026."))])
        return year


class SettleArgs(Args):
    """Which municipality's half year to settle (or preview)."""

    tenant = fields.String(required=True, metadata={"description": "The municipality's slug"})
    period = Period(required=True, metadata={"description": "e.g. 2026-H1"})


class SettlementListArgs(Args):
    """The overview: one year (default: the year of the half year that ended last), optionally
    one municipality."""

    year = Year(load_default=None, allow_none=True)
    tenant = OptionalText(load_default=None)


class RefusalSchema(Schema):
    """A reason the half year cannot be settled (yet)."""

    code = fields.String()
    field = fields.String(allow_none=True)
    message = fields.String()


_PCT = dict(as_string=True, places=2)


class FiguresSchema(Schema):
    """The figures of a half year (stored, or computed for a preview)."""

    revenue_cents = fields.Integer(metadata={"description": "R: gross revenue excluding VAT"})
    premiums_cents = fields.Integer(metadata={"description": "P"})
    travel_cents = fields.Integer(metadata={"description": "T"})
    service_fee_pct = fields.Decimal(**_PCT)
    service_fee_cents = fields.Integer(metadata={"description": "F = R × service_fee_pct, half-up"})
    contribution_municipality_pct = fields.Decimal(**_PCT)
    contribution_municipality_cents = fields.Integer(metadata={"description": "Cm"})
    contribution_service_company_pct = fields.Decimal(**_PCT)
    contribution_service_company_cents = fields.Integer(metadata={"description": "Cs, out of F"})
    annual_fee_due = fields.Boolean()
    annual_fee_cents = fields.Integer(metadata={"description": "A"})
    result_cents = fields.Integer(metadata={"description": "R − P − T − F − Cm − A, owed to the municipality"})
    service_company_net_cents = fields.Integer(metadata={"description": "F − Cs"})
    contribution_total_cents = fields.Integer(metadata={"description": "Cm + Cs, the NVSI's income"})
    rule_versions = fields.Dict(keys=fields.String(), values=fields.Integer())


class SettlementSchema(FiguresSchema):
    """A settled half year."""

    id = fields.Integer()
    tenant_id = fields.Integer()
    tenant = fields.Function(lambda s: s.tenant.slug, metadata={"description": "The municipality's slug"})
    period = fields.Function(lambda s: s.label)
    period_start = fields.Date()
    period_end = fields.Date()
    contract_reference = fields.String()
    contract_version = fields.Integer()
    ledger_transactions = fields.Dict(keys=fields.String(), values=fields.String(),
                                      metadata={"description": "Posting step → ledger transaction id"})
    settled_by_user_id = fields.Integer(allow_none=True)
    settled_at = fields.AwareDateTime()


class SettlementListSchema(Schema):
    """Settlements, newest half year first."""

    items = fields.List(fields.Nested(SettlementSchema))


class PreviewFiguresSchema(FiguresSchema):
    """Computed figures, with the contract they come from."""

    contract_reference = fields.Function(lambda f: f.contract.reference)
    contract_version = fields.Function(lambda f: f.contract.version)


class PreviewSchema(Schema):
    """What settling the half year would do, or the settlement made before."""

    tenant = fields.String()
    period = Period()
    period_start = fields.Date()
    period_end = fields.Date()
    settleable = fields.Boolean(metadata={"description": "No refusals: it can be settled now"})
    figures = fields.Nested(PreviewFiguresSchema, allow_none=True)
    refusals = fields.List(fields.Nested(RefusalSchema))
    settlement = fields.Nested(SettlementSchema, allow_none=True)
