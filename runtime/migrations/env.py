"""Alembic's environment for the app database: migrates the connection `runtime.schema` hands
over (under its lock), or, for a developer's `alembic` command (alembic.ini beside this file),
the database BACKOFFICE_DATABASE_URL names."""

from alembic import context
from sqlalchemy import Connection

from runtime.db import Base, make_engine
from runtime.settings import database_url


def _migrate(connection: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things, so a later revision's alter_column works there
    # by copying the table; on PostgreSQL it is a plain ALTER.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _migrate(given)
else:
    engine = make_engine(database_url())
    try:
        with engine.begin() as connection:
            _migrate(connection)
    finally:
        engine.dispose()
