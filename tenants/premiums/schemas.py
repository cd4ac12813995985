"""marshmallow schemas of premiums and travel costs: the same ``TravelCostArgs`` checks the API
and the page form. Amounts go in as euros ("12,50" or "12.50") and out as integer cents."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, post_load, validates

from nvsi.schemas import Args, LocalDecimal, PageArgs
from tenants.candidates.schemas import Day, OptionalId


class TravelCostArgs(Args):
    """A travel cost to record: the placement (and, optionally, its candidate as a check), the
    day of the journey, the amount in euros and what it was for."""

    placement_id = fields.Integer(required=True)
    candidate_id = OptionalId(load_default=None, allow_none=True)
    cost_date = Day(required=True)
    amount = LocalDecimal(required=True, places=None)
    description = fields.String(required=True)

    @validates("amount")
    def _amount(self, value: Decimal, **kwargs):
        if value.as_tuple().exponent < -2:
            raise ValidationError(_("Een bedrag heeft ten hoogste twee cijfers achter de komma."))
        if value <= 0:
            raise ValidationError(_("Het bedrag moet groter zijn dan nul."))
        if value >= Decimal("100000"):
            raise ValidationError(_("Het bedrag is te hoog: ten hoogste 99.999,99 euro."))

    @validates("description")
    def _description(self, value: str, **kwargs):
        if not 1 <= len(value) <= 300:
            raise ValidationError(_("Beschrijf de reiskosten (ten hoogste 300 tekens)."))

    @post_load
    def _cents(self, data, **kwargs):
        data["amount_cents"] = int(data.pop("amount") * 100)
        return data


class TravelCostListArgs(PageArgs):
    """Filters of the travel cost list."""

    candidate_id = OptionalId(load_default=None, allow_none=True)


class FlagResolveArgs(Args):
    """How a flagged excess was handled: a note is required."""

    note = fields.String(required=True)


class PremiumListArgs(Args):
    """Which calendar year to show (the shared rule set starts in 2016)."""

    year = fields.Integer(load_default=None, allow_none=True)

    @validates("year")
    def _year(self, value, **kwargs):
        if value is not None and not 2016 <= value <= 2100:
            raise ValidationError(_("Kies een jaar van 2016 tot en met 2100."))


class CandidateYearSchema(Args):
    """One candidate's premium in a year, against the cap (cents)."""

    candidate_id = fields.Integer(attribute="candidate.id")
    name = fields.String(attribute="candidate.name")
    year = fields.Integer()
    hours = fields.Decimal(as_string=True)
    accrued_cents = fields.Integer()
    flagged_cents = fields.Integer()
    cap_cents = fields.Integer()
    remaining_cents = fields.Integer()


class PremiumFlagSchema(Args):
    """Premium above the yearly cap, for review (never paid)."""

    id = fields.Integer()
    candidate_id = fields.Integer()
    name = fields.String(attribute="candidate.name")
    year = fields.Integer()
    work_date = fields.Date(attribute="accrual.work_date")
    cents = fields.Integer()
    status = fields.Function(lambda f: f.status.value)
    resolution_note = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class PremiumOverviewSchema(Args):
    """Premiums of a year: per candidate, and the review list of flagged excess."""

    year = fields.Integer()
    cap_cents = fields.Integer()
    candidates = fields.List(fields.Nested(CandidateYearSchema))
    flags = fields.List(fields.Nested(PremiumFlagSchema))


class TravelCostSchema(Args):
    """A travel cost reimbursement as the API shows it."""

    id = fields.Integer()
    candidate_id = fields.Integer()
    name = fields.String(attribute="candidate.name")
    placement_id = fields.Integer()
    cost_date = fields.Date()
    amount_cents = fields.Integer()
    description = fields.String()
    ledger_transaction_id = fields.UUID(allow_none=True)
    created_at = fields.AwareDateTime()


class TravelCostPageSchema(Args):
    """A page of travel costs."""

    items = fields.List(fields.Nested(TravelCostSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
