"""Fixtures for the command engine: the store's backends for request and lifecycle tests (both
SQLite and PostgreSQL, rolled back per test), and for execution a migrated SQLite file per test
with a real `metra.meter.fleet.Fleet` imported from its own inventory over loopback."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from store.conftest import backend_url, conn, engine, postgresql_url, sqlite_url

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem.objects import invocation_counter_object
from metra.dlms.data import Data
from metra.dlms.obis import Obis
from metra.dlms.protection import SecurityContext
from metra.headend.collector import MeterTarget
from metra.headend.command_exec import CommandExecutor, ExecutorSettings
from metra.headend.command_runner import CommandRunner, RunnerSettings
from metra.headend.firmware import FirmwareStore
from metra.headend.importer import import_file
from metra.headend.keystore import AssociationKeys, KeyStore, MasterKey
from metra.meter.fleet import Fleet, FleetConfig, MeterFactory
from metra.net.client import DlmsClient, Endpoint
from metra.profiles import Profile, load_profile
from metra.security import command_requests
from metra.security.roles import Principal, Role
from metra.security.safeguards import CommandPolicy
from metra.store import make_engine, migrate

__all__ = ["backend_url", "conn", "engine", "postgresql_url", "sqlite_url"]

#: A Tuesday, 10:00 in Warsaw: a working day, inside every disconnection window.
START = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
KEK = bytes(range(32))
HES_TITLE = b"HES\x00\x00\x00\x00\x07"
ZONE = CommandPolicy.parse(["127.0.0.0/8"])
LOCAL = "127.0.0.1"


def person(name: str, *roles: Role) -> Principal:
    """A principal as log-in would give it (the roles granted by someone else)."""
    return Principal(uuid4(), name, frozenset(roles))


@pytest.fixture(scope="session")
def pl() -> Profile:
    return load_profile("pl")


@pytest.fixture(scope="session")
def ua() -> Profile:
    return load_profile("ua")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("commands") / "template.db"
    migrate(path)
    return path


@pytest.fixture
def file_engine(template_db: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file of its own: the runner commits as in production."""
    copy = tmp_path / "metra.db"
    shutil.copyfile(template_db, copy)
    made = make_engine(copy)
    yield made
    made.dispose()


@dataclass
class Rig:
    """A fleet imported into the store, with an executor and runner pointed at it."""

    fleet: Fleet
    engine: Engine
    keystore: KeyStore
    profile: Profile
    targets: dict[UUID, MeterTarget]
    runner: CommandRunner
    executor: CommandExecutor
    ids: list[UUID]

    def submit(self, kind: str, meters: list[UUID] | None = None, **kw: Any) -> list[UUID]:
        """Submit as a service engineer from the controlled zone; returns the command ids."""
        actor = kw.pop("actor", person("sam", Role.SERVICE, Role.ADMINISTRATOR))
        with self.engine.begin() as c:
            done = command_requests.submit(
                c,
                actor,
                self.profile,
                kw.pop("policy", ZONE),
                kind,
                meters or self.ids[:1],
                source_address=LOCAL,
                now=self.fleet.clock.now(),
                **kw,
            )
        return list(done.command_ids)

    @asynccontextmanager
    async def reading(
        self, meter_id: UUID, *, keys: AssociationKeys | None = None
    ) -> AsyncIterator[DlmsClient]:
        """A session of the reading client (SAP 2) with the stored keys: the way an independent
        observer sees the meter (not through the executor under test)."""
        target = self.targets[meter_id]
        endpoint = Endpoint(target.host, target.port, client_address=16, timeout=5.0)
        async with DlmsClient(endpoint, ClientSettings()) as public:
            start = await public.get(1, invocation_counter_object(2).to_bytes(), 2)
        assert isinstance(start, int)
        if keys is None:
            with self.engine.connect() as c:
                keys = self.keystore.association(c, meter_id, "wan", 2)
        settings = ClientSettings(
            mechanism=Mechanism.HLS_GMAC,
            security=SecurityContext(
                b"TST\x00\x00\x00\x00\x02", keys.encryption_key, keys.authentication_key
            ),
            invocation_counter=int(start),
        )
        reading = Endpoint(target.host, target.port, client_address=2, timeout=5.0)
        async with DlmsClient(reading, settings) as client:
            yield client

    async def read(
        self,
        meter_id: UUID,
        class_id: int,
        obis: Obis,
        attr: int,
        *,
        keys: AssociationKeys | None = None,
    ) -> Data:
        """Read an attribute as the reading client (see `reading`)."""
        async with self.reading(meter_id, keys=keys) as client:
            return await client.get(class_id, obis.to_bytes(), attr)

    async def log_codes(self, meter_id: UUID, log: Obis) -> list[int]:
        """Event codes in one of the meter's event logs (column 2 of each entry)."""
        rows = await self.read(meter_id, 7, log, 2)
        assert isinstance(rows, list)
        return [int(row[1]) for row in rows]  # type: ignore[index, call-overload]


@asynccontextmanager
async def rig(
    engine: Engine,
    tmp_path: Path,
    *,
    meters: int = 2,
    factory: MeterFactory | None = None,
    operator_key: ec.EllipticCurvePrivateKey | str | None = "fleet",
    vendor_key: ec.EllipticCurvePublicKey | None = None,
    profile: str = "pl",
) -> AsyncIterator[Rig]:
    """Start a fleet, import it, and build the executor and runner the tests drive."""
    config = FleetConfig(meters=meters, seed=11, start=START, profile=profile)
    async with Fleet(config, factory) as fleet:
        path = tmp_path / "inventory.json"
        fleet.write_inventory(path, KEK)
        keystore = KeyStore(MasterKey.generate())
        ids, imported = import_file(engine, keystore, path, KEK, at=START, by="import")
        targets = {
            ids[m.serial]: MeterTarget(
                ids[m.serial],
                m.serial,
                m.system_title,
                m.address.host,
                m.address.port,
                substation=f"SS{i % 2}",
            )
            for i, m in enumerate(imported)
            if m.address is not None
        }
        key = fleet.operator_key if operator_key == "fleet" else operator_key
        assert not isinstance(key, str)
        executor = CommandExecutor(
            ExecutorSettings(HES_TITLE, operator_key=key, request_timeout_s=5.0),
            now=fleet.clock.now,
        )
        profile_obj = load_profile(profile)
        runner = CommandRunner(
            engine,
            keystore,
            profile_obj,
            executor,
            firmware=FirmwareStore(vendor_key or fleet.firmware_key.public_key()),
            settings=RunnerSettings(backoff_scale=0.0),
            now=fleet.clock.now,
        )
        try:
            yield Rig(
                fleet, engine, keystore, profile_obj, targets, runner, executor, sorted(targets)
            )
        finally:
            runner.close()


def statuses(engine: Engine, ids: list[UUID]) -> list[str]:
    from metra.store import commands

    with engine.connect() as c:
        return [commands.get(c, i).status for i in ids]
