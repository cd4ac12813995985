"""Structured refusals: a code, the field, the rule and its version, and a message in Dutch and
English, so an API client and a person both see why something was refused."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import force_locale, format_decimal, get_locale
from flask_babel import gettext as _


@dataclass(frozen=True)
class Violation:
    """One broken rule."""

    #: Stable machine code, e.g. ``"above_maximum"``.
    code: str
    #: The input field concerned, if any.
    field: str | None
    #: The rule-set parameter broken, if any.
    rule: str | None
    #: The rule-set version the parameter's value comes from, if any.
    version: int | None
    message_nl: str
    message_en: str

    @property
    def message(self) -> str:
        """The message in the user's language."""
        return self.message_en if str(get_locale() or "nl").startswith("en") else self.message_nl

    def as_dict(self) -> dict:
        return {
            "code": self.code, "field": self.field, "rule": self.rule, "version": self.version,
            "message": self.message, "message_nl": self.message_nl, "message_en": self.message_en,
        }


def violation(code: str, field: str | None, rule: str | None, version: int | None, message: str,
              /, **params) -> Violation:
    """Build a violation; ``message`` is a Dutch source string, translated for English."""
    texts = {}
    for locale in ("nl", "en"):
        with force_locale(locale):
            local = {k: _number(v) if isinstance(v, Decimal) else v for k, v in params.items()}
            texts[locale] = _(message, **local)
    return Violation(code, field, rule, version, texts["nl"], texts["en"])


def _number(value: Decimal) -> str:
    """A number in the current locale with its own places (12.30 → "12,30" in Dutch)."""
    places = max(0, -value.as_tuple().exponent)
    return format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""))


def as_errors(violations: list[Violation]) -> dict[str, list[str]]:
    """Violations as the ``errors`` member of a problem response (field → messages)."""
    errors: dict[str, list[str]] = {}
    for v in violations:
        errors.setdefault(v.field or "_schema", []).append(v.message)
    return errors
