"""Base classes for marshmallow schemas: strict input, messages in the user's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

#: marshmallow's own messages, in the user's language.
_MESSAGES = {
    "Missing data for required field.": _l("Dit veld is verplicht."),
    "Field may not be null.": _l("Dit veld mag niet leeg zijn."),
    "Unknown field.": _l("Onbekend veld."),
    "Not a valid string.": _l("Moet tekst zijn."),
    "Not a valid integer.": _l("Moet een geheel getal zijn."),
    "Not a valid number.": _l("Geen geldig getal."),
    "Not a valid boolean.": _l("Moet waar of onwaar zijn."),
    "Not a valid email address.": _l("Geen geldig e-mailadres."),
    "Invalid input type.": _l("Ongeldige invoer: een JSON-object verwacht."),
}


def _translate(messages):
    if isinstance(messages, dict):
        return {key: _translate(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [_translate(m) for m in messages]
    return str(_MESSAGES.get(messages, messages))


class Args(Schema):
    """Base of every input schema: unknown fields are refused, text is stripped, messages are
    translated, and every error names its field."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _strip(self, data, **kwargs):
        if isinstance(data, dict):
            return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return data

    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs):
        raise ValidationError(_translate(error.messages), data=data, valid_data=error.valid_data)


def ordered_errors(errors: dict, schema: Schema) -> dict:
    """Field errors in the order the schema declares its fields (the order of the form)."""
    order = list(schema.fields)
    return dict(sorted(errors.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


class LocalDecimal(fields.Decimal):
    """A decimal typed the Dutch way ("24,5") or the English way ("24.5"); never a float."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().replace(" ", "")
            if "," in value and "." not in value:
                value = value.replace(",", ".")
        return super()._deserialize(value, attr, data, **kwargs)


class OptionalText(fields.String):
    """Text where an empty string means "not given" (stored as None)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("", None):
            return None
        return super()._deserialize(value, attr, data, **kwargs)


class PageArgs(Args):
    """Paging of lists: ``page`` from 1, ``per_page`` up to MAX_PAGE_SIZE."""

    page = fields.Integer(load_default=1, validate=lambda n: n >= 1 or _fail(_l("Minimaal 1.")))
    per_page = fields.Integer(load_default=None)


def _fail(message) -> bool:
    raise ValidationError(str(message))
