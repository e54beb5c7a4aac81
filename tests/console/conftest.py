"""A seeded metra system behind the console: the API tests' world (two consumers, a retailer,
a month of 15-minute data, one account per role; `tests/api/conftest.py`) plus what only the
console shows: a balancing meter on substation SS-1 with served data around 2025-03-04, a VEE
finding to decide, a time-sync command request, a prepayment account (tariff, two cards of
which one withdrawn, a payment, a charged day, notices), and the console mounted with cookies
without the Secure flag (the test client speaks plain HTTP).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from api.conftest import (  # the API's seed, reused (imported fixtures apply here too)
    CHANNEL,
    EPOCH,
    PASSWORD,
    World,
    build_world,
    cheap_hasher,
    settings_for,
    template_db,
)
from fastapi.testclient import TestClient
from sqlalchemy import Connection, insert

from metra.api import create_app
from metra.console import ConsoleSettings, make_mount
from metra.mdm.estimation.methods import Method
from metra.mdm.schema import vee_finding
from metra.mdm.versions import NewDay, write
from metra.prepay import accounts, instruments, ledger, notices, tariffs
from metra.profiles import load_profile
from metra.security import command_requests, login, users
from metra.security.roles import Role
from metra.security.safeguards import CommandPolicy
from metra.store import intervals
from metra.store.masterdata import Entity, change, create

__all__ = ["CHANNEL", "PASSWORD", "cheap_hasher", "template_db"]

BALANCE_DAY = date(2025, 3, 4)
FINDING_AT = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
VALID = intervals.status_code(intervals.Origin.REMOTE, intervals.Quality.VALID)


def _serve(conn: Connection, meter: object, day: date, values: np.ndarray) -> None:
    write(
        conn,
        [
            NewDay(
                meter,  # type: ignore[arg-type]
                CHANNEL,
                day,
                900,
                values,
                np.full(96, VALID, np.uint16),
                np.full(96, Method.MEASURED, np.uint8),
                1,
                [],
            )
        ],
        at=datetime(2025, 4, 1, tzinfo=UTC),
    )


def seed_console(conn: Connection, world: World) -> None:
    """A balancing meter for SS-1 reading 10 % more than its customer, and a finding."""
    station = create(conn, Entity.METER, {"serial": "BAL-SS1"}, effective=EPOCH)
    world.meters["station"] = station
    assert world.substation is not None
    change(
        conn, Entity.SUBSTATION, world.substation, {"balancing_meter_id": station}, effective=EPOCH
    )
    customer = np.arange(96, dtype=float) + 10.0
    for offset in (-1, 0, 1):
        day = BALANCE_DAY + timedelta(days=offset)
        if offset:
            _serve(conn, world.meters["a"], day, customer)
        _serve(conn, station, day, customer * 1.1)
    conn.execute(
        insert(vee_finding).values(
            meter_id=world.meters["a"],
            channel=CHANNEL,
            rule="spike",
            severity="error",
            first_at=FINDING_AT,
            last_at=FINDING_AT + timedelta(minutes=30),
            evidence={"value": 5000.0, "limit": 1000.0},
            found_at=FINDING_AT + timedelta(days=1),
        )
    )


CARD, WITHDRAWN_CARD = "4111-2222-3333-4444", "5500-0000-0000-0004"


def seed_commands_and_prepay(conn: Connection, world: World) -> None:
    """A time-sync request for meter "a" and a PLN prepayment account on point "a"."""
    profile = load_profile("pl")
    admin = users.principal(conn, world.users[Role.ADMINISTRATOR])
    at = datetime(2025, 4, 1, 9, tzinfo=UTC)
    command_requests.submit(
        conn,
        admin,
        profile,
        CommandPolicy(),
        "time_sync",
        [world.meters["a"]],
        source_address="10.0.0.9",
        reason="seed",
        now=at,
    )
    tariffs.set_tariff(conn, admin, "G11", "PLN", date(2025, 1, 1), 1_000_000, now=at)
    account = accounts.open_account(
        conn,
        admin,
        profile,
        world.points["a"],
        unit="PLN",
        starts_on=date(2025, 3, 1),
        tariff_code="G11",
        now=at,
    )
    instruments.issue(conn, admin, account.id, CARD, now=at)
    instruments.issue(conn, admin, account.id, WITHDRAWN_CARD, now=at)
    instruments.withdraw(conn, admin, WITHDRAWN_CARD, reason="reported stolen", now=at)
    ledger.top_up(conn, admin, account.id, 5000, payment_ref="SEED-1", instrument=CARD, now=at)
    ledger.charge(conn, account.id, BALANCE_DAY, energy_unit_kwh=0.001, now=at)
    notices.run(conn, profile, now=at)


def first_id(world: World, table: str) -> str:
    """The id of the (first) seeded command request or prepayment account."""
    from sqlalchemy import text

    with world.engine.connect() as conn:
        return str(conn.execute(text(f"SELECT id FROM {table} LIMIT 1")).scalar_one())


@pytest.fixture(scope="module")
def world(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(template_db, tmp_path_factory.mktemp("console"))
    with built.engine.begin() as conn:
        seed_console(conn, built)
        seed_commands_and_prepay(conn, built)
    yield built
    built.engine.dispose()


def console_app(world: World, **overrides: object):  # type: ignore[no-untyped-def]
    mount = make_mount(ConsoleSettings(secure_cookie=False))
    return create_app(settings_for(world, mounts=(mount,), **overrides))


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(console_app(world), follow_redirects=False) as test_client:
        yield test_client


def session_for(world: World, role: Role) -> str:
    """A fresh full session token for the role's account (as a log-in would give)."""
    with world.engine.begin() as conn:
        return login.issue_token(conn, world.users[role], kind="session", ttl=timedelta(hours=1))


def as_role(client: TestClient, world: World, role: Role) -> TestClient:
    """The client with the role's session cookie (and no other)."""
    client.cookies.clear()
    client.cookies.set("metra_session", session_for(world, role))
    return client
