"""The store's fixtures (SQLite file and a fresh PostgreSQL database, rolled-back transactions)."""

from tests.store.conftest import (  # noqa: F401
    backend_url,
    conn,
    engine,
    postgresql_url,
    sqlite_url,
)
