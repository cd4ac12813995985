"""The model stays ready for Citus schema-based sharding (docs/operations.md, "Scale-out"):

* no foreign key leaves a tenant schema: a tenant schema can move to another worker node;
* every integer key (primary or foreign) is BIGINT on PostgreSQL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import nvsi.models  # noqa: F401  (completes both metadata collections)
from nvsi.db import SharedBase, TenantBase
from nvsi.extensions import db


def test_no_foreign_key_leaves_a_tenant_table():
    for table in TenantBase.metadata.tables.values():
        assert table.schema is None, f"tenant table {table.name} names a schema"
        for fk in table.foreign_keys:
            target = fk.column.table
            assert target.schema is None and target.metadata is TenantBase.metadata, (
                f"{table.name}.{fk.parent.name} refers to {target.fullname}: a tenant table may only "
                "refer to tables of its own tenant (Citus moves each tenant schema as a whole)"
            )


def test_no_shared_table_refers_to_a_tenant_table():
    for table in SharedBase.metadata.tables.values():
        for fk in table.foreign_keys:
            assert fk.column.table.metadata is SharedBase.metadata, f"{table.fullname} refers to a tenant table"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # Citus is PostgreSQL's
def test_ids_are_bigint_and_no_foreign_key_crosses_schemas_on_postgresql(database):
    with database.app.app_context(), db.engine.connect() as conn:
        not_bigint = conn.execute(sa.text("""
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type
            FROM information_schema.table_constraints tc
            JOIN information_schema.key_column_usage k
              ON k.constraint_schema = tc.constraint_schema AND k.constraint_name = tc.constraint_name
            JOIN information_schema.columns c
              ON c.table_schema = k.table_schema AND c.table_name = k.table_name AND c.column_name = k.column_name
            WHERE tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
              AND (tc.table_schema = 'nvsi' OR tc.table_schema LIKE 't\\_%')
              AND c.table_name <> 'alembic_version'
              AND c.data_type IN ('integer', 'smallint')
        """)).all()
        cross_schema = conn.execute(sa.text("""
            SELECT con.conname, src.nspname, dst.nspname
            FROM pg_constraint con
            JOIN pg_class sc ON sc.oid = con.conrelid JOIN pg_namespace src ON src.oid = sc.relnamespace
            JOIN pg_class dc ON dc.oid = con.confrelid JOIN pg_namespace dst ON dst.oid = dc.relnamespace
            WHERE con.contype = 'f' AND src.oid <> dst.oid
        """)).all()
        tenant_tables = conn.scalar(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 't_alpha'"
        ))
    assert tenant_tables > 1  # the check ran over real tenant tables
    assert not not_bigint, f"integer key columns that are not BIGINT: {not_bigint}"
    assert not cross_schema, f"foreign keys between schemas: {cross_schema}"
