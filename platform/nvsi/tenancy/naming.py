"""Validated tenant slugs and the schema names made from them.

Schema names are only ever built here, from a slug that matched :data:`SLUG_RE`; raw input never
reaches SQL.
"""

from __future__ import annotations

import re

#: A tenant slug: lower-case letter first, then letters, digits or underscores (2–41 chars).
SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
#: Prefix that keeps tenant schemas apart from ``nvsi``, ``public`` and system schemas.
SCHEMA_PREFIX = "t_"


class InvalidSlug(ValueError):
    """A tenant slug that does not match :data:`SLUG_RE`."""


def validate_slug(slug: str) -> str:
    """Return ``slug`` if it is a valid tenant slug, else raise :class:`InvalidSlug`."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidSlug(f"invalid tenant slug {slug!r}: must match {SLUG_RE.pattern}")
    return slug


def schema_for_slug(slug: str) -> str:
    """The schema name of the tenant with this slug (``t_<slug>``)."""
    return SCHEMA_PREFIX + validate_slug(slug)


def slug_for_schema(schema: str) -> str:
    """The slug of a tenant schema name; raises :class:`InvalidSlug` for anything else."""
    if not schema.startswith(SCHEMA_PREFIX):
        raise InvalidSlug(f"not a tenant schema: {schema!r}")
    return validate_slug(schema[len(SCHEMA_PREFIX):])


def quoted_schema(schema: str) -> str:
    """The tenant schema name, validated and double-quoted, for the rare raw SQL statement."""
    slug_for_schema(schema)
    return f'"{schema}"'
