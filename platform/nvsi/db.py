"""Declarative bases and column types shared by every model.

Two metadata collections, never mixed:

* ``SharedBase`` – tables of the NVSI level, always in the schema ``nvsi``.
* ``TenantBase`` – tables of a municipality, declared *without* a schema. At run time a
  ``schema_translate_map`` (see :mod:`nvsi.tenancy.routing`) places them in the tenant's schema.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


class ObjectNotFound(LookupError):
    """A row that does not exist in the caller's scope (missing or another tenant's: the same
    answer). Services raise a subclass; the app answers it as the ordinary 404 (``nvsi.errors``)."""


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


def append_only_ddl(dialect: str, table: str, schema: str | None) -> list[str]:
    """Statements that make ``table`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).

    Enforced by the database, so no code path (nor a hand-typed statement) can rewrite history.
    Migrations carry a frozen copy of these statements.
    """
    if dialect == "postgresql":
        qualified = f'"{schema}"."{table}"' if schema else f'"{table}"'
        function = f'"{schema}".nvsi_append_only' if schema else "nvsi_append_only"
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {qualified} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {qualified} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    prefix = f'"{schema}".' if schema else ""
    return [
        f"CREATE TRIGGER {prefix}{table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {prefix}{table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END",
    ]


def append_only(table: sa.Table) -> None:
    """Have ``create_all`` install the append-only triggers of ``table`` (see above)."""

    @sa.event.listens_for(table, "after_create")
    def _install(target, connection, **_kw):
        schema = connection.schema_for_object(target)
        for statement in append_only_ddl(connection.dialect.name, target.name, schema):
            connection.execute(sa.text(statement))


@contextmanager
def savepoint(session, on_conflict: Callable[[sa.exc.IntegrityError], Exception] | None = None,
              *, chain: bool = True) -> Iterator[None]:
    """Make the changes of the ``with`` block in a savepoint and flush them there.

    A unique key that fires means a concurrent writer got there first (a check before the
    change cannot see rows not yet committed): ``on_conflict(error)`` gives the exception to
    raise instead, and the session stays usable. The changes must be made *inside* the block:
    ``begin_nested`` flushes what is pending before the SAVEPOINT, outside its protection.
    ``chain=False`` drops the driver's error (whose text repeats the statement's parameters).
    """
    try:
        with session.begin_nested():
            yield
            session.flush()
    except sa.exc.IntegrityError as exc:
        if on_conflict is None:
            raise
        raise on_conflict(exc) from (exc if chain else None)
