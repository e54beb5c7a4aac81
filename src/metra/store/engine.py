"""Engines for the two supported backends: an SQLite file (embedded default) and PostgreSQL.

The URL is normalised so that operators can write what they know (`postgresql://...` or a bare
file path) and still get the driver the project ships (psycopg 3). SQLite is tuned on every new
connection because its pragmas are per connection, not per file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from metra.store.errors import StoreError


def normalise_url(url: str | Path | URL) -> URL:
    """Turn a URL or a plain file path into a SQLAlchemy URL with the project's drivers."""
    if isinstance(url, Path) or (isinstance(url, str) and "://" not in url):
        return URL.create("sqlite+pysqlite", database=str(url))
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    raise StoreError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Apply the pragmas the store relies on.

    WAL lets readers go on while the head-end writes; synchronous=FULL makes a committed batch
    survive a power loss (REL-3), not only a process crash; foreign keys are off by default in
    SQLite and the schema depends on them; busy_timeout lets a second writer wait, not fail.
    """
    assert isinstance(dbapi_connection, sqlite3.Connection)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def make_engine(url: str | Path | URL, *, echo: bool = False) -> Engine:
    """Create an engine for `url` (SQLite file path or URL, or a PostgreSQL URL)."""
    target = normalise_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_engine(target, echo=echo)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(target, echo=echo, pool_pre_ping=True)
