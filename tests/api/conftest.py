"""A seeded metra system behind the API, for every test of `metra.api`.

The database is a migrated SQLite file copied per test module and seeded through the core
modules (master data, intervals, registers, events, VEE, security): two consumers with one
delivery point each, a retailer supplying the first, a meter on each point, a month of
15-minute data, and one account per role with a session token. Argon2 runs at a test cost.

A module that sets ``BACKENDS = ("sqlite", "postgresql")`` runs on both stores: its world is
then also built in a PostgreSQL database (127.0.0.1:5432, marker `postgres`) copied from a
template migrated once per session; every database made here is dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from metra.api import ApiSettings, create_app
from metra.mdm.estimation.methods import DETERMINED, Method
from metra.mdm.versions import NewDay, write
from metra.security import login, passwords, users
from metra.security.roles import Role
from metra.store import diagnostics, intervals, make_engine, migrate, registers
from metra.store.events import MeterEvent, Severity, add_meter_events, record_system_event
from metra.store.masterdata import Entity, change, create
from metra.store.schema import metadata  # noqa: F401  (tables registered)

CHANNEL = "1-0:1.29.0.255"
MONTH_START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30
EPOCH = date(2024, 1, 1)
PASSWORD = "Initial-pass-1"
ROLES = tuple(Role)
PG_ADMIN_URL = os.environ.get("METRA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


@pytest.fixture(scope="session", autouse=True)
def cheap_hasher() -> Iterator[None]:
    """Argon2id still, at a test cost (production uses argon2-cffi's default)."""
    saved = passwords.HASHER
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    passwords.HASHER = saved


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("api") / "template.db"
    migrate(path)
    return path


@dataclass
class World:
    """Ids of what the seed created, and a session token per role. `db` is the SQLite file, or
    the PostgreSQL URL."""

    db: Path | str
    engine: Engine
    master_key: str
    parties: dict[str, UUID] = field(default_factory=dict)
    substation: UUID | None = None
    other_substation: UUID | None = None
    points: dict[str, UUID] = field(default_factory=dict)
    metering_points: dict[str, UUID] = field(default_factory=dict)
    meters: dict[str, UUID] = field(default_factory=dict)
    users: dict[Role, UUID] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)
    alarm_id: int = 0

    def token(self, role: Role) -> str:
        """A fresh session token for the role's account (log-out in one test spends only it)."""
        with self.engine.begin() as conn:
            return login.issue_token(conn, self.users[role], kind="session", ttl=timedelta(hours=1))

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


def day_values(day: int) -> tuple[list[float | None], list[int]]:
    """96 increasing quarter-hour energies; the 10th interval of day 3 missing."""
    values: list[float | None] = [float(day * 100 + i) for i in range(96)]
    status = [intervals.status_code(intervals.Origin.REMOTE)] * 96
    if day == 3:
        values[10] = None
        status[10] = 0
    return values, status


def seed_masterdata(conn: Connection, world: World) -> None:
    party = {"is_person": True, "role": "consumer"}
    for name in ("consumer-a", "consumer-b"):
        world.parties[name] = create(conn, Entity.PARTY, {**party, "name": name}, effective=EPOCH)
    for name in ("retailer-a", "retailer-b"):
        world.parties[name] = create(
            conn,
            Entity.PARTY,
            {"is_person": False, "role": "supplier", "name": name},
            effective=EPOCH,
        )
    world.substation = create(
        conn, Entity.SUBSTATION, {"code": "SS-1", "kind": "MV/LV"}, effective=EPOCH
    )
    world.other_substation = create(
        conn, Entity.SUBSTATION, {"code": "SS-2", "kind": "MV/LV"}, effective=EPOCH
    )
    feeders = {
        "a": create(
            conn, Entity.FEEDER, {"substation_id": world.substation, "code": "F1"}, effective=EPOCH
        ),
        "b": create(
            conn,
            Entity.FEEDER,
            {"substation_id": world.other_substation, "code": "F2"},
            effective=EPOCH,
        ),
    }
    for key in ("a", "b"):
        world.points[key] = create(
            conn,
            Entity.DELIVERY_POINT,
            {
                "consumer_id": world.parties[f"consumer-{key}"],
                "supplier_id": world.parties[f"retailer-{key}"],
                "feeder_id": feeders[key],
                "address": f"Street {key}",
            },
            effective=EPOCH,
        )
        world.meters[key] = create(
            conn,
            Entity.METER,
            {"serial": f"SN-{key}", "system_title": b"MTR0000" + key.encode(), "model": "m1"},
            effective=EPOCH,
        )
        world.metering_points[key] = create(
            conn,
            Entity.METERING_POINT,
            {"delivery_point_id": world.points[key], "meter_id": world.meters[key], "role": "main"},
            effective=EPOCH,
        )
    # a firmware change: the meter's history has two versions
    change(conn, Entity.METER, world.meters["a"], {"firmware": "2.0"}, effective=date(2025, 2, 1))


def seed_readings(conn: Connection, world: World) -> None:
    arrived = MONTH_START + timedelta(days=DAYS + 1)
    for meter in world.meters.values():
        days = []
        for d in range(DAYS):
            values, status = day_values(d)
            days.append(
                intervals.DayReading(
                    meter,
                    CHANNEL,
                    (MONTH_START + timedelta(days=d)).date(),
                    values,
                    status,
                    arrived,
                )
            )
        intervals.write_days(conn, days)
        registers.add_readings(
            conn,
            [
                registers.RegisterReading(
                    meter,
                    "1-0:1.8.0.255",
                    MONTH_START + timedelta(days=d),
                    1000.0 + d,
                    0,
                    30,
                    0,
                    arrived,
                )
                for d in range(3)
            ],
        )
        registers.add_snapshots(
            conn,
            [
                registers.BillingSnapshot(
                    meter,
                    registers.Period.MONTHLY,
                    MONTH_START,
                    "1-0:1.8.0.255",
                    0,
                    5000.0,
                    0,
                    30,
                    0,
                    arrived,
                )
            ],
        )
        add_meter_events(
            conn,
            [
                MeterEvent(
                    meter,
                    "0-0:99.98.0.255",
                    MONTH_START + timedelta(hours=5),
                    1,
                    "power-down",
                    arrived,
                )
            ],
        )
        diagnostics.record_success(conn, meter, arrived, ip_address="127.0.0.1", tcp_port=1)
        values = np.arange(96, dtype=float)
        status = np.full(
            96, intervals.status_code(intervals.Origin.REMOTE, intervals.Quality.VALID), np.uint16
        )
        method = np.full(96, Method.MEASURED, np.uint8)
        values[10], status[10], method[10] = 9.5, DETERMINED, Method.INTERPOLATED
        write(
            conn,
            [NewDay(meter, CHANNEL, date(2025, 3, 4), 900, values, status, method, 1, [])],
            at=arrived,
        )
    world.alarm_id = record_system_event(
        conn,
        occurred_at=arrived,
        severity=Severity.ALARM,
        source="headend",
        code="meter.tamper",
        message="cover opened",
        meter_id=world.meters["a"],
    )


def seed_users(conn: Connection, world: World) -> None:
    from metra.profiles import load_profile

    policy = load_profile("pl").passwords
    admin_id, _ = users.bootstrap(conn, "admin", secret=PASSWORD)
    world.users[Role.ADMINISTRATOR] = admin_id
    admin = users.principal(conn, admin_id)
    for role in ROLES:
        if role is Role.ADMINISTRATOR:
            continue
        party = {
            Role.RETAILER: world.parties["retailer-a"],
            Role.CONSUMER: world.parties["consumer-a"],
        }.get(role)
        user_id = users.create(
            conn,
            admin,
            f"user-{role.value}",
            policy=policy,
            initial_password=PASSWORD,
            party_id=party,
        )
        users.grant(conn, admin, user_id, role)
        world.users[role] = user_id


def seed(world: World) -> World:
    """Seed an empty migrated store through the core modules."""
    with world.engine.begin() as conn:
        seed_masterdata(conn, world)
        seed_readings(conn, world)
        seed_users(conn, world)
    return world


def build_world(template: Path, directory: Path) -> World:
    path = directory / "metra.db"
    shutil.copyfile(template, path)
    return seed(World(path, make_engine(path), secrets.token_hex(32)))


def clone(seeded: World, db: Path | str) -> World:
    """The same world (ids, accounts, master key) in a copy of its store at `db`."""
    return World(
        db,
        make_engine(db),
        seeded.master_key,
        parties=dict(seeded.parties),
        substation=seeded.substation,
        other_substation=seeded.other_substation,
        points=dict(seeded.points),
        metering_points=dict(seeded.metering_points),
        meters=dict(seeded.meters),
        users=dict(seeded.users),
        alarm_id=seeded.alarm_id,
    )


@pytest.fixture(scope="session")
def seeded_template(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The world seeded once per session; each module's world is a file copy of it (seeding
    through the core modules for every module cost more than the tests of many of them)."""
    built = build_world(template_db, tmp_path_factory.mktemp("seeded"))
    built.engine.dispose()
    return built


class PostgresDatabases:
    """Databases of this test session on the PostgreSQL service: a migrated template, and a
    copy of it per module world; all dropped by `drop_all`."""

    def __init__(self) -> None:
        self.admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
        self.prefix = f"metra_api_{secrets.token_hex(4)}"
        self.made: list[str] = []
        self.copies = 0
        self.template = self.create(f"{self.prefix}_template")
        migrate(self.url(self.template))
        self.seeded: World | None = None

    def seed_template(self) -> World:
        """Seed the template once; copies made after carry the seed (ids as in the World)."""
        if self.seeded is None:
            url = self.url(self.template)
            self.seeded = seed(World(url, make_engine(url), secrets.token_hex(32)))
            self.seeded.engine.dispose()  # a template must have no connections to be copied
        return self.seeded

    def url(self, name: str) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def create(self, name: str, template: str | None = None) -> str:
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self.made.append(name)
        return name

    def copy(self) -> str:
        """A fresh migrated database (a file copy of the template: no migration per module)."""
        self.copies += 1
        return self.url(self.create(f"{self.prefix}_{self.copies}", self.template))

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.remove(name)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in reversed(self.made):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.clear()
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The session's PostgreSQL template; fails clearly when the service is not there."""
    try:
        databases = PostgresDatabases()
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}). "
            f"Start it with: {PG_START}",
            pytrace=False,
        )
    try:
        yield databases
    finally:
        databases.drop_all()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the world of a module that lists ``BACKENDS`` on each of them."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "world" in metafunc.fixturenames:
        params = [
            pytest.param(b, marks=pytest.mark.postgres) if b == "postgresql" else b
            for b in backends
        ]
        metafunc.parametrize("backend", params, indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """The store the module's world lives in: SQLite unless the module asks for more."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest,
    backend: str,
    seeded_template: World,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The seeded system, a fresh copy per module. SQLite lives in memory-backed /dev/shm when
    there is one, because every request commits and SQLite's synchronous=FULL would otherwise
    wait for the disk."""
    if backend == "postgresql":
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        seeded = databases.seed_template()
        url = databases.copy()
        built = clone(seeded, url)
        yield built
        built.engine.dispose()
        databases.drop(url)
        return
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("w")
    shutil.copyfile(seeded_template.db, where / "metra.db")
    built = clone(seeded_template, where / "metra.db")
    yield built
    built.engine.dispose()
    shutil.rmtree(where, ignore_errors=True)


def settings_for(world: World, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "db_url": str(world.db),
        "profile": "pl",
        "rate_per_s": 0.0,
        "master_key": world.master_key,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(world))) as test_client:
        yield test_client


def month_query() -> dict[str, str]:
    return {
        "channel": CHANNEL,
        "start": MONTH_START.isoformat(),
        "end": (MONTH_START + timedelta(days=DAYS)).isoformat(),
    }
