"""Power-quality reads in the daily plan (COL-1, COL-6): the power-quality profile's values and
the power-quality log's occurrences reach the store's power_quality repository.

Against a model meter with a power-quality profile (values known in advance, scaler and unit
read from the meter) and end to end against the virtual fleet, whose power-quality log records
a voltage sag at the start of each power outage and whose power-quality profile (10-minute
voltage per phase and frequency) shows 0 V while the outage lasts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from metra.dlms.data import Array, Data, DoubleLongUnsigned, Enum, Integer, Structure
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import AttributeDescriptor, DataAccessResult, SelectiveAccess
from metra.headend.collector import Collector, CollectorSettings, load_targets
from metra.headend.importer import import_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.headend.plans import day_bounds, plan_for, power_quality_due, power_quality_span
from metra.meter.faults import FaultRates
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.store import power_quality
from metra.store.schema import audit_record

from .meter_model import CLOCK, ModelMeter, _capture, _stamp
from .test_collector import DAY, make_rig, stop

PQ = bytes((1, 0, 99, 2, 0, 255))
PQ_PERIOD = 600
#: Average, minimum and maximum voltage L1 (OBIS group D 24, 23, 26), 0.1 V resolution.
COLUMNS = {
    bytes((1, 0, 32, 24, 0, 255)): ("average", 0),
    bytes((1, 0, 32, 23, 0, 255)): ("min", -40),
    bytes((1, 0, 32, 26, 0, 255)): ("max", 35),
}


def volts_tenths(at: datetime, offset: int) -> int:
    n = int(at.timestamp()) // PQ_PERIOD
    return 2300 + n % 17 + offset


@dataclass
class PqMeter(ModelMeter):
    """The model meter plus a power-quality profile (10-minute voltage average, min, max)."""

    def rights(self, ctx: RequestContext, class_id: int, instance: bytes) -> Any:
        if (class_id, instance) == (7, PQ) or (class_id == 3 and instance in COLUMNS):
            return super().rights(ctx, 7, bytes((1, 0, 99, 1, 0, 255)))
        return super().rights(ctx, class_id, instance)

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        ln, attr = bytes(attribute.instance_id), attribute.attribute_id
        if attribute.class_id == 3 and ln in COLUMNS and attr == 3:
            return Structure([Integer(-1), Enum(35)])  # 0.1 V
        if ln != PQ:
            return super().get(ctx, attribute, access)
        if attr == 3:
            return Array([_capture(8, CLOCK)] + [_capture(3, c) for c in COLUMNS])
        if attr == 4:
            return DoubleLongUnsigned(PQ_PERIOD)
        assert attr == 2 and access is not None
        first, last = day_bounds(DAY)  # the range asked is day n (checked by the plan test)
        rows: list[Data] = []
        t = first + timedelta(seconds=PQ_PERIOD)
        while t <= last:
            cells: list[Data] = [_stamp(t)]
            cells += [DoubleLongUnsigned(volts_tenths(t, off)) for _, off in COLUMNS.values()]
            rows.append(Structure(cells))
            t += timedelta(seconds=PQ_PERIOD)
        return Array(rows)


def test_col6_cadence_from_the_profile_daily_pl_weekly_no() -> None:
    pl, no = load_profile("pl"), load_profile("no")
    days = [date(2025, 3, 1) + timedelta(days=k) for k in range(14)]
    assert all(power_quality_due(pl, d) for d in days)
    weekly = [d for d in days if power_quality_due(no, d)]
    assert len(weekly) == 2 and (weekly[1] - weekly[0]).days == 7
    assert power_quality_span(no, weekly[0]) == (
        day_bounds(weekly[0])[1] - timedelta(days=7),
        day_bounds(weekly[0])[1],
    )
    plan = plan_for(pl, DAY, first_missing=None, events_since=None)
    assert plan.power_quality == day_bounds(DAY)
    # UA's daily contents name no power quality: its plan reads none.
    assert (
        plan_for(load_profile("ua"), DAY, first_missing=None, events_since=None).power_quality
        is None
    )


def test_col6_power_quality_profile_values_stored_with_kind_scaler_unit(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 1)
        model = rig.meters[0]
        pq_meter = PqMeter(
            model.system_title, rig.clock, keys=model.keys, installed=model.installed
        )
        await stop(rig)
        server = await pq_meter.serve()
        target = replace(rig.targets[0], port=server.sockets[0].getsockname()[1])
        collector = rig.collector()
        (outcome,) = await collector.collect([target], DAY)
        again = await collector.collect([target], DAY)
        collector.close()
        server.close()
        await server.wait_closed()
        assert outcome.ok and again[0].ok, outcome.reason
        start, end = day_bounds(DAY)
        with engine.connect() as conn:
            records = power_quality.records(
                conn, target.meter_id, start, end + timedelta(seconds=1)
            )
            trail = conn.execute(
                select(audit_record.c.details).where(audit_record.c.action == "session.read")
            ).all()
        assert len(records) == 144 * 3  # once, though read twice
        for record in records:
            kind, offset = COLUMNS[_ln(record.obis)]
            assert record.kind == kind
            assert record.raw_value == volts_tenths(record.captured_at, offset)
            assert (record.scaler, record.unit) == (-1, 35)
        assert "power_quality_profile" in trail[0][0]["read"]

    asyncio.run(run())


def _ln(obis: str) -> bytes:
    a, rest = obis.split("-")
    b, rest = rest.split(":")
    c, d, e, f = rest.split(".")
    return bytes(int(x) for x in (a, b, c, d, e, f))


KEK = bytes(range(32))
FLEET_START = datetime(2025, 3, 10, 1, 30, tzinfo=UTC)


_VOLTAGES = ("32.7.0.255", "52.7.0.255", "72.7.0.255")


def _dark(at: datetime, outages: list[tuple[datetime, datetime]]) -> bool:
    return any(start <= at < end for start, end in outages)


def test_col6_fleet_power_quality_log_sags_stored_as_occurrences_end_to_end(
    engine: Engine, tmp_path: Path
) -> None:
    async def run() -> None:
        rates = FaultRates(outages_per_year=3000.0)
        config = FleetConfig(meters=2, seed=11, start=FLEET_START, fault_rates=rates)
        async with Fleet(config) as fleet:
            path = tmp_path / "inventory.json"
            fleet.write_inventory(path, KEK)
            keystore = KeyStore(MasterKey.generate())
            import_file(engine, keystore, path, KEK, at=FLEET_START, by="import")
            with engine.connect() as conn:
                # Commissioned on day n: no 30-day load-profile backfill to wait for here.
                targets = [
                    replace(t, commissioned=day_bounds(DAY)[0])
                    for t in load_targets(conn, on=FLEET_START.date())
                ]
            settings = CollectorSettings(
                client_system_title=b"HES\x00\x00\x00\x00\x01", backoff_scale=0.0001
            )
            collector = Collector(
                engine, keystore, load_profile("pl"), settings, now=fleet.clock.now
            )
            outcomes = await collector.collect(targets, DAY)
            collector.close()
            sags = {
                slot.identity.serial: sorted(
                    o.start.replace(microsecond=o.start.microsecond // 10_000 * 10_000)  # COSEM
                    for o in (slot.faults.outages if slot.faults else ())
                    if day_bounds(DAY)[0] < o.start <= day_bounds(DAY)[1]
                )
                for slot in fleet.meters
            }
            outages = {
                slot.identity.serial: [
                    (o.start, o.end) for o in (slot.faults.outages if slot.faults else ())
                ]
                for slot in fleet.meters
            }
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        start, end = day_bounds(DAY)
        with engine.connect() as conn:
            for target in targets:
                stored = power_quality.records(conn, target.meter_id, start, end + timedelta(1))
                assert [r.captured_at for r in stored if r.kind == "sag"] == sags[target.serial]
                events = [r for r in stored if r.kind == "sag"]
                assert all(r.obis == "0-0:99.98.4.255" for r in events)
                # The fleet's power-quality profile: every 10 minutes a voltage per phase and the
                # frequency, in volts / hertz from the scaler and unit read from the meter.
                values = [r for r in stored if r.kind == "instantaneous"]
                volts = [r for r in values if r.obis.split(":")[1] in _VOLTAGES]
                hertz = [r for r in values if r.obis == "1-0:14.7.0.255"]
                assert len(values) == len(volts) + len(hertz) and len(hertz) >= 144
                assert {(r.unit, r.scaler) for r in volts} == {(35, -1)}
                assert {(r.unit, r.scaler) for r in hertz} == {(44, -2)}
                lit = [r for r in volts if not _dark(r.captured_at, outages[target.serial])]
                assert all(207 <= r.raw_value * 10**r.scaler <= 253 for r in lit)  # type: ignore[operator]
                # A sag the log reports is 0 V in the profile entries during the outage.
                assert all(
                    r.raw_value == 0 for r in volts if _dark(r.captured_at, outages[target.serial])
                )
            skipped = conn.execute(
                select(audit_record.c.details).where(audit_record.c.action == "session.read")
            ).all()
        assert sum(len(s) for s in sags.values()) > 0
        assert not any("1-0:99.2.0.255" in d[0]["skipped"] for d in skipped)
        assert all("power_quality_profile" in d[0]["read"] for d in skipped)

    asyncio.run(run())
