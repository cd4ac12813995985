"""Structured refusals: a code, the field, the rule and its version, and a message in Dutch and
English, so an API client and a person both see why something was refused."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_decimal
from babel.support import Translations
from flask_babel import get_locale

#: Where the compiled catalogs are (the same ones Flask-Babel uses).
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"


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


class RuleViolations(ValueError):
    """A refusal for broken rules: ``violations`` lists each. Services raise a subclass; the
    app answers 422 with every violation (``nvsi.errors``), so API views need not catch it."""

    def __init__(self, violations: list[Violation]):
        super().__init__("; ".join(v.message_nl for v in violations))
        self.violations = violations


def N_(message: str) -> str:
    """Marks a Dutch message for extraction where it is not passed to :func:`violation` directly."""
    return message


def violation(code: str, field: str | None, rule: str | None, version: int | None, message: str,
              /, **params) -> Violation:
    """Build a violation; ``message`` is a Dutch source string, translated for English. Literal
    messages are extracted through the keyword ``violation:5``; others are wrapped in ``N_``.
    Works with or without a Flask app context: jobs make violations too."""
    texts = {}
    for locale in ("nl", "en"):
        local = {k: _number(v, locale) if isinstance(v, Decimal) else v for k, v in params.items()}
        text = _catalog(locale).gettext(message)
        texts[locale] = text % local if local else text
    return Violation(code, field, rule, version, texts["nl"], texts["en"])


@functools.cache
def _catalog(locale: str) -> Translations:
    """The compiled catalog of ``locale`` (Dutch is the source language: it has none)."""
    return Translations.load(str(TRANSLATIONS), [locale])


def _number(value: Decimal, locale: str) -> str:
    """A number in ``locale`` with its own places (12.30 → "12,30" in Dutch)."""
    places = max(0, -value.as_tuple().exponent)
    return format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""), locale=locale)


def as_errors(violations: list[Violation]) -> dict[str, list[str]]:
    """Violations as the ``errors`` member of a problem response (field → messages)."""
    errors: dict[str, list[str]] = {}
    for v in violations:
        errors.setdefault(v.field or "_schema", []).append(v.message)
    return errors
