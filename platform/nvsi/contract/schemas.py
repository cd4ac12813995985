"""marshmallow schemas of the execution contract: input (``…Args``, used by the API and the
pages alike) and output per audience.

What a member sees: the backoffice and municipality users get :class:`ContractPublicSchema`,
the contract in force with its terms (fee, contribution share, service levels) and the go/no-go
outcome, because these determine the half-yearly result of every municipality and the service
they may expect. NVSI-internal fields (the review note, amendment notes, who recorded what, draft
contracts) are for NVSI administrators only (:class:`ContractSchema`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, post_load, validates, validates_schema

from nvsi.contract.models import SERVICE_COMPANY, ContractStatus, ReviewOutcome
from nvsi.schemas import Args, OptionalText

REFERENCE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./")


class _LazyMessages:
    """Field errors from lazily translated messages, as plain text in a list (marshmallow keeps
    a message that is not a ``str`` as it is, which would not be a list)."""

    def make_error(self, key: str, **kwargs) -> ValidationError:
        error = super().make_error(key, **kwargs)
        return ValidationError([str(m) for m in error.messages] if isinstance(error.messages, list)
                               else [str(error.messages)])


class Day(_LazyMessages, fields.Date):
    """A calendar date as ``YYYY-MM-DD``; an empty string means "not given"."""

    default_error_messages = {"invalid": _l("Geen geldige datum; gebruik JJJJ-MM-DD, bijvoorbeeld 2017-01-01.")}

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None) and not self.required:
            return None
        if isinstance(value, dt.datetime) or not isinstance(value, (str, dt.date)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Percentage(_LazyMessages, fields.Field):
    """A percentage with at most two decimals, read into a ``Decimal`` (never a float).

    A JSON number is taken as the decimal the client wrote (``12.5`` is 12.50, not the nearest
    binary float); more than two decimals are refused rather than rounded.
    """

    default_error_messages = {
        "invalid": _l("Geef een getal, bijvoorbeeld 12.50."),
        "places": _l("Ten hoogste 2 decimalen."),
    }

    def __init__(self, *, minimum: Decimal, maximum: Decimal, exclusive_minimum: bool = False, **kwargs):
        kwargs.setdefault("metadata", {"type": "string", "example": "12.50", "description": "percentage"})
        super().__init__(**kwargs)
        self.minimum, self.maximum, self.exclusive_minimum = minimum, maximum, exclusive_minimum

    def _deserialize(self, value, attr, data, **kwargs):
        if value == "":  # an empty form field
            if self.required:
                raise self.make_error("required")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise self.make_error("invalid")
        try:
            number = Decimal(str(value).replace(",", ".")) if not isinstance(value, Decimal) else value
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not number.is_finite():
            raise self.make_error("invalid")
        if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
            raise self.make_error("places")
        low_ok = number > self.minimum if self.exclusive_minimum else number >= self.minimum
        if not low_ok or number > self.maximum:
            if self.exclusive_minimum:
                message = _("Moet groter zijn dan %(min)s en ten hoogste %(max)s.", min=self.minimum, max=self.maximum)
            else:
                message = _("Moet tussen %(min)s en %(max)s liggen.", min=self.minimum, max=self.maximum)
            raise ValidationError(message)
        return number.quantize(Decimal("0.01"))

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else f"{value:.2f}"


class OptionalInteger(fields.Integer):
    """A whole number where an empty string (an empty form field) means "not given"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == "":
            return None
        return super()._deserialize(value, attr, data, **kwargs)


def _percent_field(**kwargs):
    return Percentage(minimum=Decimal("0"), maximum=Decimal("100"), **kwargs)


def _availability_field(**kwargs):
    return Percentage(minimum=Decimal("0"), maximum=Decimal("100"), exclusive_minimum=True, **kwargs)


def _check_hours(value: int | None) -> None:
    if value is not None and not 1 <= value <= 24 * 31:
        raise ValidationError(_("Geef een aantal uren van 1 tot en met 744."))


def _check_reference(value: str) -> None:
    if not 1 <= len(value) <= 40 or not set(value) <= REFERENCE_CHARS:
        raise ValidationError(
            _("Een kenmerk heeft 1 tot 40 tekens: letters, cijfers en - _ . /, bijvoorbeeld UC-2017-01.")
        )


class TermsArgs(Args):
    """The terms of a contract version."""

    service_fee_pct = _percent_field(required=True)
    service_company_contribution_pct = _percent_field(load_default=Decimal("1.00"))
    helpdesk_response_hours = fields.Integer(required=True)
    availability_pct = _availability_field(required=True)

    @validates("helpdesk_response_hours")
    def _hours(self, value, **kwargs):
        _check_hours(value)


class ContractArgs(TermsArgs):
    """Input for registering a contract with its first version (the terms from its start)."""

    reference = fields.String(required=True)
    service_company = fields.String(load_default=SERVICE_COMPANY)
    status = fields.String(load_default=ContractStatus.ACTIVE.value)
    start_date = Day(required=True)
    end_date = Day(required=True)
    review_date = Day(load_default=None, allow_none=True)
    note = OptionalText(load_default=None, allow_none=True)

    @validates("reference")
    def _reference(self, value, **kwargs):
        _check_reference(value)

    @validates("service_company")
    def _company(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul de naam van het servicebedrijf in (ten hoogste 200 tekens)."))

    @validates("status")
    def _status(self, value, **kwargs):
        if value not in (ContractStatus.DRAFT.value, ContractStatus.ACTIVE.value):
            raise ValidationError(_("Kies 'active' (in werking) of 'draft' (concept)."))

    @validates_schema
    def _period(self, data, **kwargs):
        start, end, review = data.get("start_date"), data.get("end_date"), data.get("review_date")
        if start and end and end <= start:
            raise ValidationError(_("De einddatum moet na de begindatum liggen."), "end_date")
        if start and end and review and not start <= review <= end:
            raise ValidationError(_("De go/no-go-datum moet binnen de looptijd liggen."), "review_date")

    @post_load
    def _enum(self, data, **kwargs):
        data["status"] = ContractStatus(data["status"])
        return data


class ContractUpdateArgs(Args):
    """Input for changing a contract: its reference, end date (extension) or review date."""

    reference = fields.String()
    end_date = Day()
    review_date = Day()

    @validates("reference")
    def _reference(self, value, **kwargs):
        _check_reference(value)


class ContractVersionArgs(Args):
    """Input for an amendment: the new terms from ``effective_from``; terms not given are
    carried over from the latest version."""

    effective_from = Day(required=True)
    service_fee_pct = _percent_field(load_default=None)
    service_company_contribution_pct = _percent_field(load_default=None)
    helpdesk_response_hours = OptionalInteger(load_default=None, allow_none=True)
    availability_pct = _availability_field(load_default=None)
    note = OptionalText(load_default=None, allow_none=True)

    @validates("helpdesk_response_hours")
    def _hours(self, value, **kwargs):
        _check_hours(value)

    @validates_schema
    def _something_changes(self, data, **kwargs):
        terms = ("service_fee_pct", "service_company_contribution_pct", "helpdesk_response_hours", "availability_pct")
        if all(data.get(name) is None for name in terms):
            raise ValidationError(_("Geef ten minste één nieuwe voorwaarde op."), "service_fee_pct")


class ReviewArgs(Args):
    """Input for recording the go/no-go outcome. A no-go needs its reasons in ``note``."""

    outcome = fields.String(required=True)
    decided_on = Day(required=True)
    note = OptionalText(load_default=None, allow_none=True)

    @validates("outcome")
    def _outcome(self, value, **kwargs):
        if value not in {o.value for o in ReviewOutcome}:
            raise ValidationError(_("Kies 'go' of 'no_go'."))

    @validates("decided_on")
    def _not_future(self, value, **kwargs):
        if value > dt.date.today():
            raise ValidationError(_("Een besluit kan niet in de toekomst genomen zijn."))

    @validates_schema
    def _reasons(self, data, **kwargs):
        if data.get("outcome") == ReviewOutcome.NO_GO.value and not data.get("note"):
            raise ValidationError(_("Leg bij een no-go de redenen vast."), "note")


class EndArgs(Args):
    """Input for ending the active contract; without ``end_date`` it ends on its planned date."""

    end_date = Day(load_default=None, allow_none=True)


class TermsOnArgs(Args):
    """The date of ``GET /api/v1/contract/terms``; today when omitted."""

    on = Day(load_default=None, allow_none=True)


# -- output --------------------------------------------------------------------------------------


class TermsSchema(Schema):
    """The terms of one version, as members see them."""

    number = fields.Integer()
    effective_from = fields.Date()
    service_fee_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))
    service_company_contribution_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))
    helpdesk_response_hours = fields.Integer()
    availability_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))


class ContractVersionSchema(TermsSchema):
    """A version with its NVSI-internal fields."""

    note = fields.String(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()


class ContractPublicSchema(Schema):
    """The contract in force, for the backoffice and municipality users: period, go/no-go
    outcome and terms; no notes and no names."""

    reference = fields.String()
    service_company = fields.String()
    status = fields.Function(lambda c: c.status.value)
    start_date = fields.Date()
    end_date = fields.Date()
    review_date = fields.Date()
    review_outcome = fields.Function(lambda c: c.review_outcome.value if c.review_outcome else None)
    review_decided_on = fields.Date(allow_none=True)
    terms_today = fields.Function(
        lambda c: TermsSchema().dump(v) if (v := c.version_on(dt.date.today())) else None,
        metadata={"description": "The version in force today (null before the start)"},
    )
    versions = fields.List(fields.Nested(TermsSchema))


class ContractSchema(ContractPublicSchema):
    """A contract as NVSI administrators see it: everything, every version."""

    id = fields.Integer()
    review_note = fields.String(allow_none=True)
    review_recorded_by_id = fields.Integer(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    versions = fields.List(fields.Nested(ContractVersionSchema))


class ContractListSchema(Schema):
    """Every contract."""

    items = fields.List(fields.Nested(ContractSchema))


class ContractTermsSchema(Schema):
    """The terms in force on a date (``nvsi.contract.services.ContractTerms``)."""

    on = fields.Date()
    contract_id = fields.Integer()
    reference = fields.String()
    version = fields.Integer()
    effective_from = fields.Date()
    service_fee_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))
    service_company_contribution_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))
    helpdesk_response_hours = fields.Integer()
    availability_pct = Percentage(minimum=Decimal(0), maximum=Decimal(100))
