"""End to end over loopback: a `metra.meter.fleet.Fleet` of real virtual meters is imported from
its own inventory file (RFC 3394-wrapped keys) and read by the collector (COL-1, COL-8, SEC-7,
KPI-5). The meters persist their replay guards across sessions, so this also proves the head-end
continues each meter's invocation counter (first from the meter's 0-0:43.1.x.255 object, then from
its own record) instead of being refused as a replay on the second session.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT_PERIOD
from metra.headend.collector import Collector, CollectorSettings, MeterTarget
from metra.headend.importer import import_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.headend.plans import day_bounds
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.store import diagnostics, intervals

START = datetime(2025, 3, 10, 1, 30, tzinfo=UTC)
DAY = date(2025, 3, 9)
KEK = bytes(range(32))
CHANNEL = str(ACTIVE_ENERGY_IMPORT_PERIOD)


def test_fleet_imported_from_inventory_and_read_end_to_end(engine: Engine, tmp_path: Path) -> None:
    async def run() -> None:
        config = FleetConfig(meters=4, seed=7, start=START)
        async with Fleet(config) as fleet:
            path = tmp_path / "inventory.json"
            fleet.write_inventory(path, KEK)
            keystore = KeyStore(MasterKey.generate())
            ids, imported = import_file(engine, keystore, path, KEK, at=START, by="import")
            targets = [
                MeterTarget(
                    ids[m.serial],
                    m.serial,
                    m.system_title,
                    m.address.host,
                    m.address.port,
                    substation=f"SS{i % 2}",
                )
                for i, m in enumerate(imported)
                if m.address is not None
            ]
            settings = CollectorSettings(
                client_system_title=b"HES\x00\x00\x00\x00\x01", backoff_scale=0.0001
            )
            collector = Collector(
                engine, keystore, load_profile("pl"), settings, now=fleet.clock.now
            )
            outcomes = await collector.collect(targets, DAY)
            again = await collector.collect(targets, DAY)  # a second session per meter
            collector.close()
        assert len(targets) == 4
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        assert all(o.ok for o in again), [o.reason for o in again]
        assert sum(o.intervals_new for o in again) == 0  # nothing duplicated
        start, end = day_bounds(DAY)
        with engine.connect() as conn:
            for target in targets:
                horizon = start - timedelta(days=29)
                assert not intervals.missing(conn, target.meter_id, CHANNEL, horizon, end)
                diag = diagnostics.get(conn, target.meter_id)
                assert diag is not None and diag.success_count == 2

    asyncio.run(run())
