"""marshmallow schemas of the product catalogue and access requests. The same ``…Args`` check
the API and the pages."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validates

from nvsi.schemas import Args, OptionalText

CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
#: Longest text of a product field or a note.
MAX_TEXT = 10_000


def _check_text(value: str | None, required: bool) -> None:
    if value is None or value == "":
        if required:
            raise ValidationError(_("Dit veld is verplicht."))
        return
    if len(value) > MAX_TEXT:
        raise ValidationError(_("Ten hoogste %(max)s tekens.", max=MAX_TEXT))


class ProductArgs(Args):
    """Input for a product: every text in Dutch (required) and English (optional)."""

    code = fields.String(required=True)
    name_nl = fields.String(required=True)
    name_en = OptionalText(load_default=None, allow_none=True)
    description_nl = fields.String(required=True)
    description_en = OptionalText(load_default=None, allow_none=True)
    target_group_nl = fields.String(required=True)
    target_group_en = OptionalText(load_default=None, allow_none=True)
    goals_nl = fields.String(required=True)
    goals_en = OptionalText(load_default=None, allow_none=True)
    conditions_nl = fields.String(required=True)
    conditions_en = OptionalText(load_default=None, allow_none=True)
    delivery_nl = OptionalText(load_default=None, allow_none=True)
    delivery_en = OptionalText(load_default=None, allow_none=True)
    available = fields.Boolean(load_default=True)

    @validates("code")
    def _code(self, value, **kwargs):
        if not CODE_RE.fullmatch(value):
            raise ValidationError(
                _("Een code heeft 2 tot 40 tekens: kleine letters, cijfers en -, beginnend met een letter.")
            )

    @validates("name_nl", "name_en")
    def _name(self, value, data_key, **kwargs):
        if value is not None and not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul een naam in van ten hoogste 200 tekens."))

    @validates("description_nl", "target_group_nl", "goals_nl", "conditions_nl")
    def _required_text(self, value, data_key, **kwargs):
        _check_text(value, required=True)

    @validates("description_en", "target_group_en", "goals_en", "conditions_en", "delivery_nl", "delivery_en")
    def _optional_text(self, value, data_key, **kwargs):
        _check_text(value, required=False)


class ProductUpdateArgs(ProductArgs):
    """Input for changing a product: any subset of the fields; the code stays."""

    class Meta(ProductArgs.Meta):
        exclude = ("code",)


class AccessRequestArgs(Args):
    """Input for asking access: the municipality (its slug; may be left out by a member of
    exactly one municipality) and an optional motivation."""

    tenant = OptionalText(load_default=None, allow_none=True, metadata={"description": "Slug of one of your municipalities"})
    motivation = OptionalText(load_default=None, allow_none=True)

    @validates("motivation")
    def _motivation(self, value, **kwargs):
        _check_text(value, required=False)


class DecisionArgs(Args):
    """Input for granting (``note`` optional) or refusing (``note`` is the required reason)."""

    note = OptionalText(load_default=None, allow_none=True)

    @validates("note")
    def _note(self, value, **kwargs):
        _check_text(value, required=False)


class RefusalArgs(DecisionArgs):
    """Input for refusing: the reason is required and shown to the municipality."""

    note = OptionalText(required=True, allow_none=True)

    @validates("note")
    def _reason(self, value, **kwargs):
        if not value:
            raise ValidationError(_("Geef de reden van de afwijzing; de gemeente krijgt die te zien."))
        _check_text(value, required=True)


class RequestListArgs(Args):
    """Filters of the request list."""

    status = OptionalText(load_default=None, allow_none=True)

    @validates("status")
    def _status(self, value, **kwargs):
        if value is not None and value not in ("pending", "granted", "refused"):
            raise ValidationError(_("Kies pending, granted of refused."))


# -- output --------------------------------------------------------------------------------------


class ProductSchema(Schema):
    """A product as the API shows it, in both languages."""

    id = fields.Integer()
    code = fields.String()
    name_nl = fields.String()
    name_en = fields.String(allow_none=True)
    description_nl = fields.String()
    description_en = fields.String(allow_none=True)
    target_group_nl = fields.String()
    target_group_en = fields.String(allow_none=True)
    goals_nl = fields.String()
    goals_en = fields.String(allow_none=True)
    conditions_nl = fields.String()
    conditions_en = fields.String(allow_none=True)
    delivery_nl = fields.String(allow_none=True)
    delivery_en = fields.String(allow_none=True)
    available = fields.Boolean()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class ProductListSchema(Schema):
    """The catalogue."""

    items = fields.List(fields.Nested(ProductSchema))


class AccessRequestSchema(Schema):
    """A request for access and its decision, as the municipality and the NVSI see it."""

    id = fields.Integer()
    product_id = fields.Integer()
    product_code = fields.Function(lambda r: r.product.code)
    tenant = fields.Function(lambda r: r.tenant.slug, metadata={"description": "The municipality's slug"})
    tenant_name = fields.Function(lambda r: r.tenant.name)
    status = fields.Function(lambda r: r.status.value, metadata={"enum": ["pending", "granted", "refused"]})
    motivation = fields.String(allow_none=True)
    requested_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)


class AccessRequestListSchema(Schema):
    """A list of requests."""

    items = fields.List(fields.Nested(AccessRequestSchema))
