"""marshmallow schemas for employers. The same ``EmployerArgs`` checks the API and the pages."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from marshmallow import ValidationError, fields, post_load, validates
from stdnum.nl import btw

from nvsi.schemas import Args, OptionalText, PageArgs

KVK_RE = re.compile(r"^\d{8}$")
POSTAL_CODE_RE = re.compile(r"^([1-9]\d{3})\s?([A-Za-z]{2})$")


class EmployerArgs(Args):
    """Input for creating an employer (and, all fields optional, for editing one)."""

    name = fields.String(required=True)
    kvk_number = fields.String(required=True)
    vat_id = OptionalText(load_default=None, allow_none=True)
    street_address = fields.String(required=True)
    postal_code = fields.String(required=True)
    city = fields.String(required=True)
    contact_email = fields.Email(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul een naam in van ten hoogste 200 tekens."))

    @validates("kvk_number")
    def _kvk(self, value, **kwargs):
        if not KVK_RE.fullmatch(value):
            raise ValidationError(_("Een KvK-nummer bestaat uit precies 8 cijfers."))

    @validates("vat_id")
    def _vat(self, value, **kwargs):
        if value is not None and not btw.is_valid(value):
            raise ValidationError(
                _("Geen geldig btw-identificatienummer (verwacht: NL, 9 cijfers, B, 2 cijfers).")
            )

    @validates("postal_code")
    def _postal_code(self, value, **kwargs):
        if not POSTAL_CODE_RE.fullmatch(value):
            raise ValidationError(_("Een postcode is 4 cijfers en 2 letters, bijvoorbeeld 3511 AB."))

    @validates("street_address")
    def _street(self, value, **kwargs):
        if not 1 <= len(value) <= 200:
            raise ValidationError(_("Vul straat en huisnummer in (ten hoogste 200 tekens)."))

    @validates("city")
    def _city(self, value, **kwargs):
        if not 1 <= len(value) <= 100:
            raise ValidationError(_("Vul een plaats in (ten hoogste 100 tekens)."))

    @post_load
    def _normalise(self, data, **kwargs):
        if data.get("postal_code"):
            digits, letters = POSTAL_CODE_RE.fullmatch(data["postal_code"]).groups()
            data["postal_code"] = f"{digits} {letters.upper()}"
        if data.get("vat_id"):
            data["vat_id"] = btw.compact(data["vat_id"])
        if data.get("contact_email"):
            data["contact_email"] = data["contact_email"].lower()
        return data


class EmployerUpdateArgs(EmployerArgs):
    """Input for editing: any subset of fields, plus the version the client last saw."""

    version = fields.Integer(required=True)


class EmployerListArgs(PageArgs):
    """Filters of the employer list."""

    q = OptionalText(load_default=None)
    archived = fields.Boolean(load_default=False)


class EmployerSchema(Args):
    """An employer as the API shows it."""

    id = fields.Integer()
    name = fields.String()
    kvk_number = fields.String()
    vat_id = fields.String(allow_none=True)
    street_address = fields.String()
    postal_code = fields.String()
    city = fields.String()
    contact_email = fields.String()
    archived = fields.Boolean()
    archived_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()


class EmployerPageSchema(Args):
    """A page of employers."""

    items = fields.List(fields.Nested(EmployerSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
