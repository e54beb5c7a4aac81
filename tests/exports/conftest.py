"""The store's fixtures (SQLite file and PostgreSQL, rolled-back transactions) and the export
world built once per test in the test's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from tests.exports.world import World, build
from tests.store.conftest import (  # noqa: F401
    backend_url,
    conn,
    engine,
    postgresql_url,
    sqlite_url,
)


@pytest.fixture
def world(conn: Connection) -> World:  # noqa: F811
    return build(conn)
