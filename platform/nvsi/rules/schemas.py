"""marshmallow schemas of the rule set and the local frameworks."""

from __future__ import annotations

from marshmallow import fields

from nvsi.schemas import Args


class RulesOnArgs(Args):
    """``?date=``: the day to answer for (default today)."""

    date = fields.Date(load_default=None)


class VersionArgs(Args):
    """A new rule-set version (NVSI administrators)."""

    effective_from = fields.Date(required=True)
    title = fields.String(required=True)
    rationale = fields.String(load_default="")
    #: parameter key → new value (as a string or number; read exactly, never as a float)
    values = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True)


class RuleInForceSchema(Args):
    key = fields.String()
    value = fields.Decimal(as_string=True)
    unit = fields.String()
    kind = fields.Function(lambda r: r.kind.value)
    version = fields.Integer()
    effective_from = fields.Date()
    source = fields.String()
    shared_value = fields.Decimal(as_string=True)


class ParameterSchema(Args):
    key = fields.String()
    kind = fields.Function(lambda p: p.kind.value)
    unit = fields.String()
    min_value = fields.Decimal(as_string=True, allow_none=True)
    max_value = fields.Decimal(as_string=True, allow_none=True)
    local_stricter = fields.Function(lambda p: p.local_stricter.value if p.local_stricter else None)
    description_nl = fields.String()
    description_en = fields.String()
    source = fields.String(allow_none=True)


class RuleValueSchema(Args):
    key = fields.Function(lambda v: v.parameter.key)
    value = fields.Decimal(as_string=True)


class VersionSchema(Args):
    number = fields.Integer()
    effective_from = fields.Date()
    title = fields.String()
    rationale = fields.String()
    proposal_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    values = fields.List(fields.Nested(RuleValueSchema))


class ViolationSchema(Args):
    code = fields.String()
    field = fields.String(allow_none=True)
    rule = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    message = fields.String()
    message_nl = fields.String()
    message_en = fields.String()
