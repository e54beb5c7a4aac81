"""Security tests run on both backends with the store's fixtures (an SQLite file and a fresh
PostgreSQL database, each migrated once; every test in a rolled-back transaction), and with a
cheap Argon2 cost so that hashing does not dominate the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from store.conftest import backend_url, conn, engine, postgresql_url, sqlite_url

from metra.profiles import Profile, load_profile
from metra.security import passwords

__all__ = ["backend_url", "conn", "engine", "postgresql_url", "sqlite_url"]


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Argon2id still, at a test cost (the production cost is argon2-cffi's default)."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    yield


@pytest.fixture(scope="session")
def pl() -> Profile:
    return load_profile("pl")


@pytest.fixture(scope="session")
def ru() -> Profile:
    return load_profile("ru")
