"""Declarative bases and column types shared by every model.

Two metadata collections, never mixed:

* ``SharedBase`` – tables of the NVSI level, always in the schema ``nvsi``.
* ``TenantBase`` – tables of a municipality, declared *without* a schema. At run time a
  ``schema_translate_map`` (see :mod:`nvsi.tenancy.routing`) places them in the tenant's schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, mapped_column

#: Name of the shared schema on PostgreSQL. On SQLite the shared tables live in the main file.
SHARED_SCHEMA = "nvsi"

#: One naming convention for every constraint, so migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BIGINT identity keys (ready for Citus); SQLite only auto-increments an INTEGER primary key.
BigIntType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BigIntPK = Annotated[int, mapped_column(BigIntType, sa.Identity(), primary_key=True)]


def utcnow() -> dt.datetime:
    """The current moment as an aware UTC datetime (stored as TIMESTAMP WITH TIME ZONE)."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """An aware datetime in UTC on both backends (SQLite forgets the zone: it is put back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use nvsi.db.utcnow()")
            value = value.astimezone(dt.timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


Created = Annotated[dt.datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]


class SharedBase(DeclarativeBase):
    """Base of the models of the shared NVSI level (schema ``nvsi``)."""

    metadata = sa.MetaData(schema=SHARED_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Base of the models stored once per municipality, in that tenant's own schema."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
