"""Issue 4's proof that the backend does not change the data: the same fleet (same seed, same
faults) is read for several days into SQLite and into PostgreSQL, and the two stores hold the
same records, compared one by one: interval values, statuses and raw versions, registers,
billing snapshots, events, power quality and the communication diagnostics (STO-1, DQ-1, DQ-2,
DQ-5, KPI-5, COL-8).

Both fleets run on a frozen clock (a fixed start at one billionth of real speed) and the
head-end reads by that clock, so fault windows, meter clocks and read times are identical in
both runs; only what the backend does may differ, and it must not. Each fleet makes its own
random keys (there are no derived keys), so the ciphertexts differ and the data must not.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select, text
from sqlalchemy.exc import OperationalError

from metra.cli.collect import load_targets
from metra.headend.collector import Collector, CollectorSettings, MeterOutcome
from metra.headend.keystore import KeyStore, MasterKey
from metra.meter.faults import FaultRates
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.store import make_engine, migrate
from metra.store.schema import (
    billing_snapshot,
    comm_diagnostic,
    interval_day,
    meter_event,
    power_quality,
    register_reading,
    security_event,
)

PG_ADMIN_URL = os.environ.get("METRA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
#: The frozen moment the fleets stand at (a Wednesday night, UTC).
START = datetime(2025, 3, 12, 2, 0, tzinfo=UTC)
METERS = 6
FAULTS = FaultRates(
    offline_per_day=0.3,
    offline_minutes=300.0,
    drop_probability=0.15,
    corrupt_probability=0.3,
    corrupt_frame_probability=0.05,
    outages_per_year=120.0,
    tamper_per_year=60.0,
    register_jump_probability=0.2,
)
#: Per-meter data tables: every column is compared (read times too: the clock is frozen).
DATA_TABLES = (interval_day, register_reading, billing_snapshot, meter_event, power_quality)


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, migrated, dropped afterwards."""
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"metra_backends_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.orig}). Start it: {PG_START}",
            pytrace=False,
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _plain(value: Any) -> Any:
    """A value both backends must agree on, in a comparable, sortable form."""
    if isinstance(value, datetime):
        assert value.tzinfo is not None  # the store hands back aware UTC on both backends
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return repr(value)
    return value


def _reason(text: str | None) -> str | None:
    """A failure reason without the fleet's port numbers (each fleet has its own ports)."""
    return None if text is None else re.sub(r"127\.0\.0\.1[:', ]+\d+", "<meter>", text)


def _records(engine: Engine, serial_of: dict[Any, str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored record per table, the meter named by serial, sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        table: Table
        for table in DATA_TABLES:
            rows = []
            for row in conn.execute(select(table)):
                values = dict(row._mapping)
                values["meter_id"] = serial_of[values["meter_id"]]
                rows.append(tuple(_plain(values[c.name]) for c in table.columns))
            out[table.name] = sorted(rows, key=repr)
        t = comm_diagnostic
        out["comm_diagnostic"] = sorted(
            (
                serial_of[r.meter_id],
                r.success_count,
                r.failure_count,
                r.consecutive_failures,
                _plain(r.last_success_at),
                _plain(r.last_failure_at),
                _reason(r.last_failure_reason),
            )
            for r in conn.execute(select(t))
        )
        categories = Counter(c for (c,) in conn.execute(select(security_event.c.category)))
        out["security_event"] = sorted(categories.items())
    return out


def _outcome(o: MeterOutcome) -> tuple[Any, ...]:
    return (o.serial, o.ok, o.attempts, _reason(o.reason), o.intervals_new, o.events_new)


async def _read_days(
    url: str | Path, days: int, inventory: Path
) -> tuple[dict[str, Any], list[Any]]:
    """Read a fresh fleet into the store at ``url`` for ``days`` daily cycles."""
    engine = make_engine(url)
    keystore = KeyStore(MasterKey.generate())
    kek = secrets.token_bytes(16)
    outcomes: list[Any] = []
    config = FleetConfig(meters=METERS, seed=31, start=START, speed=1e-9, fault_rates=FAULTS)
    try:
        async with Fleet(config) as fleet:
            fleet.write_inventory(inventory, kek)
            installed = (START - timedelta(days=3)).date()
            targets = load_targets(
                engine, keystore, inventory, kek, commissioned=installed, at=fleet.clock.now()
            )
            settings = CollectorSettings(
                client_system_title=b"MTRBACK1",
                request_timeout_s=5.0,
                session_deadline_s=30.0,
                backoff_scale=0.0002,
            )
            collector = Collector(
                engine,
                keystore,
                load_profile("pl"),
                settings,
                now=fleet.clock.now,
                rng=random.Random(5),
            )
            try:
                for cycle in range(days):  # one daily read, then the next night
                    day = fleet.clock.now().date() - timedelta(days=1)
                    done = await collector.collect(targets, day)
                    outcomes += [(cycle, *_outcome(o)) for o in done]
                    fleet.clock.advance(timedelta(days=1))
            finally:
                collector.close()
        serial_of = {t.meter_id: t.serial for t in targets}
        return _records(engine, serial_of), outcomes
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sto1_sqlite_and_postgresql_store_identical_records(
    engine: Engine, postgresql_url: str, tmp_path: Path
) -> None:
    """STO-1, DQ-5, KPI-5: three nightly reads of a six-meter fleet with faults (offline windows,
    dropped sessions, corrupted frames, outages, tamper, a register jump) give the same outcomes
    and the same stored records, one by one, on SQLite and on PostgreSQL."""
    sqlite_url = engine.url.database
    assert sqlite_url is not None

    async def both() -> list[tuple[dict[str, Any], list[Any]]]:
        return list(
            await asyncio.gather(
                _read_days(sqlite_url, 3, tmp_path / "lite.json"),
                _read_days(postgresql_url, 3, tmp_path / "pg.json"),
            )
        )

    (lite, lite_outcomes), (pg, pg_outcomes) = asyncio.run(both())
    assert lite_outcomes == pg_outcomes
    assert lite.keys() == pg.keys()
    for name in lite:
        assert len(lite[name]) == len(pg[name]), name
        for a, b in zip(lite[name], pg[name], strict=True):
            assert a == b, (name, a, b)
    # The comparison is not vacuous: faults bit, and every kind of record is there.
    assert len(lite["interval_day"]) >= (METERS - 1) * 6 * 4  # 6 channels, 3 days + today
    assert lite["meter_event"] and lite["register_reading"] and lite["billing_snapshot"]
    assert any(row[2] for row in lite["comm_diagnostic"]), "no failure was diagnosed"
    assert any(not ok for _, _, ok, *_ in lite_outcomes), "every read succeeded"
