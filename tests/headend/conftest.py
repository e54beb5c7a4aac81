"""Fixtures for head-end tests: a migrated SQLite store per session and meters in master data.

Each test gets its own copy of the migrated database file, so tests that commit (the collector
commits per session, as in production) stay independent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Connection, Engine

from metra.store import make_engine, migrate
from metra.store.masterdata import Entity, create


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("headend") / "template.db"
    migrate(path)
    return path


@pytest.fixture
def engine(migrated_db: Path, tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "metra.db"
    shutil.copyfile(migrated_db, copy)
    engine = make_engine(copy)
    yield engine
    engine.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def add_meter(conn: Connection, serial: str, system_title: bytes | None = None) -> UUID:
    """Register a meter in master data (the key and reading tables reference it)."""
    return create(
        conn,
        Entity.METER,
        {"serial": serial, "system_title": system_title},
        effective=date(2024, 1, 1),
    )
