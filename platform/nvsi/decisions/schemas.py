"""marshmallow schemas of proposals, votes and development agreements. The same ``…Args``
check the API and the pages; the output schemas are what every role sees (all of it is open to
the members)."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validates

from nvsi.decisions import services
from nvsi.decisions.models import DevelopmentStatus, ProposalStatus, VoteChoice
from nvsi.schemas import Args, OptionalText, PageArgs

#: Dates are ISO 8601 (what <input type="date"> sends).
DATE_ERRORS = {"invalid": _l("Geen geldige datum (verwacht: JJJJ-MM-DD).")}


class _LazyErrors:
    """Fields whose own ``error_messages`` are lazy translations: resolved when the error is made
    (marshmallow would otherwise take a lazy string for a list of characters)."""

    def make_error(self, key: str, **kwargs) -> ValidationError:
        return ValidationError(str(self.error_messages[key]).format(**kwargs))


class Date(_LazyErrors, fields.Date):
    """An ISO date with a translated message."""


class Enum(_LazyErrors, fields.Enum):
    """An enum (by value) with a translated message."""


class OptionalDate(Date):
    """A date where an empty string means "not given"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class NumberText(fields.Field):
    """A number given as text ("12,50" or "12.50") or as a JSON number; kept as text, so the rule
    set reads it exactly (never through a float's rounding)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValidationError(_("Geef een getal."))
        if isinstance(value, str) and not value.strip():
            raise ValidationError(_("Dit veld is verplicht."))
        return str(value)


#: Euros as people type them. A separator followed by exactly three digits groups thousands; one
#: followed by one or two digits starts the cents: 12500 · 12.500 · 12.500,50 · 12,500.50 · 1234,5.
_EUROS = (
    re.compile(r"^(?P<int>\d{1,3}(?:\.\d{3})+)(?:,(?P<cents>\d{1,2}))?$"),  # Dutch
    re.compile(r"^(?P<int>\d{1,3}(?:,\d{3})+)(?:\.(?P<cents>\d{1,2}))?$"),  # English
    re.compile(r"^(?P<int>\d+)(?:[.,](?P<cents>\d{1,2}))?$"),  # no grouping
)


class EuroCents(fields.Field):
    """An amount typed in euros, loaded as whole cents (an int)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value or "").replace("€", "").replace(" ", "").strip()
        match = next((m for m in (p.fullmatch(text) for p in _EUROS) if m), None)
        if not match:
            raise ValidationError(_("Geef een bedrag in euro's, bijvoorbeeld 12500 of 12.500,50."))
        whole = int(match["int"].replace(".", "").replace(",", ""))
        return whole * 100 + int((match["cents"] or "0").ljust(2, "0"))


# -- proposals ----------------------------------------------------------------------------------


class ProposalArgs(Args):
    """A proposal to change one rule-set parameter."""

    #: Slug of the member proposing; only needed by an administrator of several members.
    member = OptionalText(load_default=None, allow_none=True)
    #: The parameter's key, e.g. ``min_hourly_rate``.
    parameter = fields.String(required=True)
    #: The new value (text or number), checked against the parameter's kind and bounds.
    value = NumberText(required=True, metadata={"description": 'Text or a number, e.g. "12.50"'})
    #: First day the value would apply; after the last voting day.
    effective_from = Date(required=True, error_messages=DATE_ERRORS)
    #: Last voting day (voting closes at its end, Dutch time); default: ``voting_window_days`` from today.
    closes_on = OptionalDate(load_default=None, allow_none=True, error_messages=DATE_ERRORS)
    #: Why the change is proposed.
    rationale = fields.String(required=True)

    @validates("parameter")
    def _parameter(self, value, **kwargs):
        if not value:
            raise ValidationError(_("Kies de regel die u wilt wijzigen."))

    @validates("rationale")
    def _rationale(self, value, **kwargs):
        if not 1 <= len(value) <= 5000:
            raise ValidationError(_("Licht het voorstel toe (ten hoogste 5000 tekens)."))


class ProposalListArgs(PageArgs):
    """Filters of the proposal list."""

    status = Enum(ProposalStatus, by_value=True, load_default=None,
                         error_messages={"unknown": _l("Kies open, adopted, rejected of no_quorum.")})


class VoteArgs(Args):
    """A vote: for, against or abstain."""

    choice = Enum(VoteChoice, by_value=True, required=True, error_messages={
        "unknown": _l("Kies voor (for), tegen (against) of onthouding (abstain)."),
    })


class DecisionMemberSchema(Schema):
    """A member (municipality) as shown with proposals and votes."""

    slug = fields.String()
    name = fields.String()


class VoteSchema(Schema):
    """A member's vote."""

    member = fields.Nested(DecisionMemberSchema, attribute="tenant")
    choice = fields.Enum(VoteChoice, by_value=True)
    cast_at = fields.AwareDateTime(attribute="created_at")
    changed_at = fields.AwareDateTime(attribute="updated_at")


class ProposalParameterSchema(Schema):
    """The parameter a proposal changes."""

    key = fields.String()
    unit = fields.String()
    kind = fields.Function(lambda p: p.kind.value)
    description_nl = fields.String()
    description_en = fields.String()


class TallySchema(Schema):
    """The votes: counted at the close, or as they stand while voting is open."""

    votes_for = fields.Integer(data_key="for")
    votes_against = fields.Integer(data_key="against")
    votes_abstain = fields.Integer(data_key="abstain")


class ProposalSchema(Schema):
    """A proposal, its votes and (once closed) its outcome and what it was computed from."""

    id = fields.Integer()
    parameter = fields.Nested(ProposalParameterSchema)
    value = fields.Method("_value", metadata={"type": "string", "description": "Exact decimal"})
    effective_from = fields.Date()
    rationale = fields.String()
    member = fields.Nested(DecisionMemberSchema, attribute="tenant", allow_none=True,
                           metadata={"description": "The member proposing; null: the NVSI"})
    opens_at = fields.AwareDateTime()
    closes_at = fields.AwareDateTime()
    last_voting_day = fields.Function(lambda p: services.last_voting_day(p).isoformat(),
                                      metadata={"type": "string", "format": "date"})
    status = fields.Enum(ProposalStatus, by_value=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    tally = fields.Function(lambda p: TallySchema().dump(services.tally(p)),
                            metadata={"type": "object"})
    active_members = fields.Integer(allow_none=True)
    quorum_pct = fields.Decimal(as_string=True, allow_none=True)
    quorum_version = fields.Integer(allow_none=True)
    majority_pct = fields.Decimal(as_string=True, allow_none=True)
    majority_version = fields.Integer(allow_none=True)
    rule_set_version = fields.Integer(allow_none=True)
    adoption_error = fields.String(allow_none=True)
    votes = fields.List(fields.Nested(VoteSchema))
    created_at = fields.AwareDateTime()

    def _value(self, proposal) -> str:
        return str(services.display_value(proposal.value, proposal.parameter.kind))


class ProposalPageSchema(Schema):
    """A page of proposals."""

    items = fields.List(fields.Nested(ProposalSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# -- development agreements --------------------------------------------------------------------


class DevelopmentItemArgs(Args):
    """A development agreement (API: the budget in whole cents)."""

    year = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    budget_cents = fields.Integer(required=True)
    status = Enum(DevelopmentStatus, by_value=True, load_default=DevelopmentStatus.PLANNED, error_messages={
        "unknown": _l("Kies gepland (planned), in uitvoering (in_progress), klaar (done) of vervallen (dropped)."),
    })

    @validates("year")
    def _year(self, value, **kwargs):
        if not 2000 <= value <= 2100:
            raise ValidationError(_("Geef een jaar van 2000 tot en met 2100."))

    @validates("title")
    def _title(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Geef een titel van ten hoogste 200 tekens."))

    @validates("description")
    def _description(self, value, **kwargs):
        if not 1 <= len(value) <= 5000:
            raise ValidationError(_("Beschrijf de afspraak (ten hoogste 5000 tekens)."))

    @validates("budget_cents")
    def _budget(self, value, **kwargs):
        if value < 0:
            raise ValidationError(_("Het budget kan niet negatief zijn."))


class DevelopmentItemFormArgs(DevelopmentItemArgs):
    """The same on the page, where the budget is typed in euros (field ``budget``)."""

    budget_cents = EuroCents(required=True, data_key="budget")


class DevelopmentListArgs(Args):
    """``?year=``: only the agreements of one year."""

    year = fields.Integer(load_default=None)


class DevelopmentItemSchema(Schema):
    """A development agreement."""

    id = fields.Integer()
    year = fields.Integer()
    title = fields.String()
    description = fields.String()
    budget_cents = fields.Integer()
    budget = fields.Function(lambda i: f"{i.budget_cents // 100}.{i.budget_cents % 100:02d}",
                             metadata={"type": "string", "description": "Euros, exact"})
    status = fields.Enum(DevelopmentStatus, by_value=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
