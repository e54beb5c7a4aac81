"""The collection engine against real DLMS servers.

Requirements: COL-1, COL-5, COL-8, KPI-5, STO-5, REL-3, SEC-3.

Each meter is a `ModelMeter` served by `metra.net.server` over loopback with HLS-GMAC on client
SAPs 1 and 2; the head-end reads it with `metra.net.client.DlmsClient`, as in production.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select

from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT
from metra.dlms.obis import Obis
from metra.headend.collector import Collector, CollectorSettings, MeterTarget
from metra.headend.keystore import AssociationKeys, KeyStore, MasterKey
from metra.headend.plans import day_bounds
from metra.net.errors import RequestRefused
from metra.profiles import load_profile
from metra.store import audit, diagnostics, intervals, registers
from metra.store.events import SecurityCategory, meter_events, security_events
from metra.store.schema import interval_day

from .conftest import add_meter
from .meter_model import PERIOD, ModelMeter, energy_at

DAY = date(2025, 3, 9)
START = datetime(2025, 3, 10, 1, 30, tzinfo=UTC)  # the night after day n
HEADEND_TITLE = b"HES\x00\x00\x00\x00\x01"
CHANNEL = "1-0:1.8.0.255"


class Clock:
    """Shared fleet/head-end clock: starts at START and runs at real speed."""

    def __init__(self) -> None:
        self.offset = START - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Rig:
    engine: Engine
    keystore: KeyStore
    clock: Clock
    meters: list[ModelMeter]
    targets: list[MeterTarget]
    servers: list[asyncio.Server]

    def collector(self, **overrides: object) -> Collector:
        settings = CollectorSettings(
            client_system_title=HEADEND_TITLE,
            backoff_scale=0.0001,
            request_timeout_s=5.0,
            session_deadline_s=20.0,
            primary_channel=CHANNEL,  # this model's load profile captures the A+ register
            **overrides,  # type: ignore[arg-type]
        )
        return Collector(self.engine, self.keystore, load_profile("pl"), settings, now=self.clock)


async def make_rig(engine: Engine, count: int, substations: int = 2) -> Rig:
    clock = Clock()
    keystore = KeyStore(MasterKey.generate())
    meters, targets, servers = [], [], []
    for i in range(count):
        title = b"MTR" + i.to_bytes(5, "big")
        meter = ModelMeter(title, clock, installed=START - timedelta(days=40))
        meter.events = [(datetime(2025, 3, 9, 3, tzinfo=UTC), 1), (START - timedelta(hours=20), 2)]
        server = await meter.serve()
        port = server.sockets[0].getsockname()[1]
        with engine.begin() as conn:
            meter_id = add_meter(conn, f"MTR{i:08d}", title)
            for sap, pair in meter.keys.items():
                keystore.put_association(conn, meter_id, "wan", sap, pair, at=START, by="t")
        meters.append(meter)
        servers.append(server)
        targets.append(
            MeterTarget(meter_id, f"MTR{i:08d}", title, "127.0.0.1", port, f"SS{i % substations}")
        )
    return Rig(engine, keystore, clock, meters, targets, servers)


async def stop(rig: Rig) -> None:
    for server in rig.servers:
        server.close()
        await server.wait_closed()


def stored_values(conn: Connection, target: MeterTarget, start: datetime, end: datetime) -> dict:
    return {v.start: v.value for v in intervals.read(conn, target.meter_id, CHANNEL, start, end)}


def expected(start: datetime, end: datetime) -> dict[datetime, float]:
    out = {}
    t = start
    while t < end:
        out[t] = float(energy_at(t + timedelta(seconds=PERIOD)))
        t += timedelta(seconds=PERIOD)
    return out


def test_col1_col5_daily_read_stores_plan_kpi5_sto5(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 3)
        collector = rig.collector()
        outcomes = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        start, end = day_bounds(DAY)
        horizon = start - timedelta(days=29)
        with engine.connect() as conn:
            for target in rig.targets:
                # COL-1 day n and COL-8: the whole 30-day horizon on the first read
                assert stored_values(conn, target, horizon, end) == expected(horizon, end)
                assert not intervals.missing(conn, target.meter_id, CHANNEL, horizon, end)
                regs = registers.readings(
                    conn, target.meter_id, CHANNEL, START - timedelta(1), START + timedelta(1)
                )
                assert len(regs) == 1 and regs[0].unit == 30
                snaps = registers.snapshots(
                    conn, target.meter_id, registers.Period.DAILY, start, end + timedelta(seconds=1)
                )
                assert [s.captured_at for s in snaps] == [start, end]
                events = meter_events(conn, target.meter_id, horizon, START)
                assert [e.code for e in events] == ["power.down", "power.up"]  # COL-5
                diag = diagnostics.get(conn, target.meter_id)  # KPI-5
                assert diag is not None and diag.success_count == 1 and diag.failure_count == 0
            actions = [e.action for e in audit.entries(conn)]
            assert actions.count("session.read") == 3  # STO-5

    asyncio.run(run())


def test_rel3_rereading_a_day_duplicates_nothing(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        collector = rig.collector()
        (first,) = await collector.collect(rig.targets, DAY)
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(interval_day)).scalar_one()
        (second,) = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert first.ok and second.ok
        assert first.intervals_new == 30 * 96 and second.intervals_new == 0
        assert second.events_new == 0
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(interval_day)).scalar_one() == rows

    asyncio.run(run())


def test_col8_offline_meter_is_retried_then_backfilled(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        rig.meters[0].offline = True
        collector = rig.collector()
        (down,) = await collector.collect(rig.targets, DAY)
        assert not down.ok and down.attempts == 4  # 1 + the profile's 3 retries
        with engine.connect() as conn:
            diag = diagnostics.get(conn, rig.targets[0].meter_id)
            assert diag is not None and diag.failure_count == 4 and diag.consecutive_failures == 4
            assert diag.last_failure_reason and "Error" in diag.last_failure_reason
        rig.meters[0].offline = False
        (up,) = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert up.ok
        start, end = day_bounds(DAY)
        horizon = start - timedelta(days=29)
        with engine.connect() as conn:
            assert not intervals.missing(conn, rig.targets[0].meter_id, CHANNEL, horizon, end)
            diag = diagnostics.get(conn, rig.targets[0].meter_id)
            assert diag is not None and diag.consecutive_failures == 0 and diag.success_count == 1

    asyncio.run(run())


def test_col8_drop_mid_transfer_keeps_partial_profile_and_fetches_the_rest(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        rig.meters[0].drop_after_bytes = 40_000  # a few days into the backfill
        collector = rig.collector()
        (outcome,) = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert outcome.ok and outcome.attempts == 2
        assert outcome.intervals_new == 30 * 96
        (partial, final) = [
            e for e in audit.entries(engine.connect()) if e.action == "session.read"
        ]
        assert partial.details["error"] and 0 < partial.details["values"] < 30 * 96
        assert final.details["values"] == 30 * 96 - partial.details["values"]
        start, end = day_bounds(DAY)
        with engine.connect() as conn:
            versions = conn.execute(select(func.max(interval_day.c.version))).scalar_one()
            assert versions == 1  # nothing read twice
            assert stored_values(conn, rig.targets[0], start - timedelta(days=29), end) == expected(
                start - timedelta(days=29), end
            )

    asyncio.run(run())


def test_clock_sync_above_threshold_only_and_journaled(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 2)
        rig.meters[0].drift = timedelta(seconds=42)
        rig.meters[1].drift = timedelta(seconds=2)  # under PL's 5 s threshold
        collector = rig.collector()
        outcomes = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert [o.clock_synced for o in outcomes] == [True, False]
        assert len(rig.meters[0].clock_sets) == 1 and not rig.meters[1].clock_sets
        assert abs(rig.meters[0].drift.total_seconds()) < 2
        with engine.connect() as conn:
            (sync,) = [e for e in audit.entries(conn) if e.action == "clock.sync"]
        assert sync.target_id == str(rig.targets[0].meter_id)
        assert sync.details["result"] == "set" and 40 < sync.details["drift_s"] < 44

    asyncio.run(run())


def test_sec3_meter_with_wrong_keys_is_refused_and_recorded(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        with engine.begin() as conn:
            wrong = AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))
            rig.keystore.put_association(
                conn, rig.targets[0].meter_id, "wan", 2, wrong, at=START, by="t"
            )
        collector = rig.collector()
        (outcome,) = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert outcome.refused and outcome.attempts == 1  # never retried with wrong keys
        with engine.connect() as conn:
            (event,) = security_events(conn, START - timedelta(1), START + timedelta(1))
            assert event["category"] == SecurityCategory.ATTEMPTED_COMPROMISE.value
            assert event["details"]["meter_id"] == str(rig.targets[0].meter_id)
            for pair in (wrong, *rig.meters[0].keys.values()):
                assert pair.encryption_key.hex() not in str(event)

    asyncio.run(run())


def test_concurrency_bounded_overall_and_per_substation(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 8, substations=2)
        collector = rig.collector(max_sessions=3, max_per_substation=2)
        outcomes = await collector.collect(rig.targets, DAY)
        collector.close()
        await stop(rig)
        assert all(o.ok for o in outcomes)
        assert max(collector.peak.values()) <= 2 and sum(collector.peak.values()) >= 2

    asyncio.run(run())


def test_col7_on_demand_read_of_any_attribute_is_audited(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        collector = rig.collector()
        value = await collector.read_on_demand(rig.targets[0], 3, ACTIVE_ENERGY_IMPORT, 2)
        with pytest.raises(RequestRefused):
            await collector.read_on_demand(rig.targets[0], 3, Obis.parse("1-0:99.99.0.255"), 2)
        collector.close()
        await stop(rig)
        assert value == energy_at(START.replace(minute=0))
        with engine.connect() as conn:
            reads = [e for e in audit.entries(conn) if e.action == "read.on_demand"]
        assert [r.details["result"] == "ok" for r in reads] == [True, False]

    asyncio.run(run())
