"""What both Alembic streams' env.py files share. See nvsi.migrate for where they run."""

from alembic import context


def run(target_metadata) -> None:
    """Run migrations on the connection nvsi.migrate handed over (online mode only)."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `nvsi migrate`, not the alembic command")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=config.attributes.get("version_table_schema"),
        # Scripts never name a schema: the connection decides where they run.
        include_schemas=False,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
