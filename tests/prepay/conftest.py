"""Fixtures for prepayment: both store backends (rolled back per test, from `store.conftest`), a
delivery point with a main meter, and principals as log-in would give them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import numpy as np
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection
from store.conftest import backend_url, conn, engine, postgresql_url, sqlite_url

from metra.mdm.estimation.methods import Method
from metra.mdm.versions import NewDay, write
from metra.profiles import Profile, load_profile
from metra.security import passwords
from metra.security.roles import Principal, Role
from metra.store import intervals
from metra.store.masterdata import Entity, create

__all__ = ["backend_url", "conn", "engine", "postgresql_url", "sqlite_url"]

CHANNEL = "1-0:1.29.0.255"
EPOCH = date(2024, 1, 1)
NOW = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
VALID = intervals.status_code(intervals.Origin.REMOTE, intervals.Quality.VALID)


def person(name: str, *roles: Role) -> Principal:
    """A principal as log-in would give it (the roles granted by someone else)."""
    return Principal(uuid4(), name, frozenset(roles))


clerk = person("clerk", Role.ADMINISTRATOR)
operator = person("olga", Role.OPERATOR)


@pytest.fixture(scope="session")
def pl() -> Profile:
    return load_profile("pl")


@pytest.fixture(scope="session")
def ua() -> Profile:
    return load_profile("ua")


@dataclass
class Point:
    """A delivery point supplied by a retailer, with a main meter."""

    delivery_point_id: UUID
    meter_id: UUID
    consumer_id: UUID
    retailer_id: UUID


def make_point(conn: Connection, name: str = "a", meter_id: UUID | None = None) -> Point:
    """Master data of one prepaid customer: consumer, retailer, point, metering point, meter."""
    consumer = create(
        conn,
        Entity.PARTY,
        {"role": "consumer", "is_person": True, "name": f"consumer {name}"},
        effective=EPOCH,
    )
    retailer = create(
        conn,
        Entity.PARTY,
        {"role": "supplier", "is_person": False, "name": f"retailer {name}"},
        effective=EPOCH,
    )
    point = create(
        conn,
        Entity.DELIVERY_POINT,
        {"consumer_id": consumer, "supplier_id": retailer, "address": f"Street {name} 1"},
        effective=EPOCH,
    )
    if meter_id is None:
        meter_id = create(conn, Entity.METER, {"serial": f"SN-{name}"}, effective=EPOCH)
    create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": point, "meter_id": meter_id, "role": "main"},
        effective=EPOCH,
    )
    return Point(point, meter_id, consumer, retailer)


@pytest.fixture
def point(conn: Connection) -> Point:
    return make_point(conn)


def serve_day(
    conn: Connection, meter_id: UUID, day: date, wh_per_interval: float, *, gap: bool = False
) -> None:
    """Store a served VEE version of a day: 96 equal quarter-hours (one NaN with `gap`)."""
    values = np.full(96, wh_per_interval)
    if gap:
        values[5] = np.nan
    status = np.full(96, VALID, np.uint16)
    method = np.full(96, Method.MEASURED, np.uint8)
    write(conn, [NewDay(meter_id, CHANNEL, day, 900, values, status, method, 1, [])], at=NOW)


# The command engine's fleet rig (a real fleet imported over loopback) for the fleet tests.
from commands.conftest import file_engine, template_db  # noqa: E402

__all__ += ["file_engine", "template_db"]


@pytest.fixture(scope="session", autouse=True)
def cheap_hasher() -> Iterator[None]:
    """Argon2id still, at a test cost (production uses argon2-cffi's default)."""
    saved = passwords.HASHER
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords.HASHER = saved
