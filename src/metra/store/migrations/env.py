"""Alembic environment: runs migrations on the connection `metra.store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from metra.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        user_module_prefix="metra.store.sqltypes.",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through metra.store.migrate(url), which passes a connection")
_run(connection)
