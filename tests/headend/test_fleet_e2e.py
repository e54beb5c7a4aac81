"""End to end over loopback: a `metra.meter.fleet.Fleet` is imported from its own inventory file
(RFC 3394-wrapped keys) and read by the collector (COL-1, COL-8, SEC-7, KPI-5).

The fleet's default meter model (`VirtualMeter`) is not wired into `Fleet` yet, so the fleet
serves the head-end tests' `ModelMeter` object model through its meter factory; the transport,
ports, keys and inventory are the fleet's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from metra.dlms.server import AssociationConfig, ServerEvent
from metra.headend.collector import Collector, CollectorSettings, MeterTarget
from metra.headend.importer import import_file
from metra.headend.keystore import AssociationKeys, KeyStore, MasterKey
from metra.headend.plans import day_bounds
from metra.meter.fleet import Fleet, FleetConfig, MeterRecipe
from metra.profiles import load_profile
from metra.store import diagnostics, intervals

from .meter_model import ModelMeter

START = datetime(2025, 3, 10, 1, 30, tzinfo=UTC)
DAY = date(2025, 3, 9)
KEK = bytes(range(32))


class FleetModel:
    """Adapts `ModelMeter` to the fleet's `ServableMeter` (WAN keys of SAPs 1 and 2)."""

    faults = None

    def __init__(self, recipe: MeterRecipe) -> None:
        keys = {
            sap: AssociationKeys(
                recipe.secrets.wan[sap].encryption_key, recipe.secrets.wan[sap].authentication_key
            )
            for sap in (1, 2)
        }
        self.handler = ModelMeter(
            recipe.identity.system_title,
            recipe.clock.now,
            keys=keys,
            installed=START - timedelta(days=40),
        )

    def associations(
        self, interface: Literal["wan", "optical"] = "wan"
    ) -> Mapping[int, AssociationConfig]:
        return self.handler.associations()

    def on_server_event(self, event: ServerEvent) -> None:
        pass


def test_fleet_imported_from_inventory_and_read_end_to_end(engine: Engine, tmp_path: Path) -> None:
    async def run() -> None:
        config = FleetConfig(meters=4, seed=7, start=START)
        async with Fleet(config, meter_factory=FleetModel) as fleet:
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
            collector.close()
        assert len(targets) == 4
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        start, end = day_bounds(DAY)
        with engine.connect() as conn:
            for target in targets:
                horizon = start - timedelta(days=29)
                assert not intervals.missing(conn, target.meter_id, "1-0:1.8.0.255", horizon, end)
                diag = diagnostics.get(conn, target.meter_id)
                assert diag is not None and diag.success_count == 1

    asyncio.run(run())
