"""A small store for export tests: one substation with a feeder, three customers and a balancing
meter, 4 days of 15-minute A+ and A- from the virtual meters (`metra.meter.measurement`), VEE run
over it (a gap interpolated, a day edited by hand), daily billing snapshots and meter events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection

from metra.mdm import run_vee
from metra.mdm.versions import edit
from metra.meter.measurement import Quantity
from metra.profiles import load_profile
from metra.store.events import MeterEvent, add_meter_events
from metra.store.intervals import DayReading, Origin, day_start, status_code, write_days
from metra.store.masterdata import Entity, create
from metra.store.registers import BillingSnapshot, Period, add_snapshots
from tests.mdm.virtual import model

PROFILE = load_profile("pl")
FIRST = date(2025, 3, 28)  # Warsaw goes to summer time on 2025-03-30
DAYS = 4
A_PLUS = "1-0:1.29.0.255"
A_MINUS = "1-0:2.29.0.255"
REGISTER = "1-0:1.8.0.255"
AT = datetime(2025, 4, 5, tzinfo=UTC)
SERIALS = ("SN-1", "SN-2", "SN-3", "BAL-1")


@dataclass(frozen=True)
class World:
    meters: dict[str, UUID]
    wh: dict[str, np.ndarray]  # serial -> A+ Wh per interval over the days


def build(conn: Connection) -> World:
    """Create master data, raw data, VEE results, billing snapshots and events."""
    on = date(2024, 1, 1)
    meters = {
        s: create(conn, Entity.METER, {"serial": s, "commissioned_on": on}, effective=on)
        for s in SERIALS
    }
    station = create(
        conn,
        Entity.SUBSTATION,
        {"code": "SS-1", "kind": "MV/LV", "balancing_meter_id": meters["BAL-1"]},
        effective=on,
    )
    feeder = create(conn, Entity.FEEDER, {"substation_id": station, "code": "F-1"}, effective=on)
    for serial in SERIALS[:3]:
        point = create(conn, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=on)
        create(
            conn,
            Entity.METERING_POINT,
            {"delivery_point_id": point, "meter_id": meters[serial], "role": "main"},
            effective=on,
        )
    start = day_start(FIRST)
    end = start + timedelta(days=DAYS)
    wh: dict[str, np.ndarray] = {}
    readings = []
    remote = status_code(Origin.REMOTE)
    for n, serial in enumerate(SERIALS):
        meter = model(n, seed=11)
        rows = list(meter.intervals(start, end))
        for channel, quantity in ((A_PLUS, Quantity.A_PLUS), (A_MINUS, Quantity.A_MINUS)):
            values = np.array([r.energy[quantity] for r in rows], float)
            bits = np.array([r.status for r in rows], int)
            if channel == A_PLUS:
                wh[serial] = values.copy()
                if serial == "SN-2":
                    values[96 + 40 : 96 + 43] = np.nan  # 45 minutes lost on day 2
            for d in range(DAYS):
                part = slice(d * 96, (d + 1) * 96)
                readings.append(
                    DayReading(
                        meters[serial],
                        channel,
                        FIRST + timedelta(days=d),
                        [None if np.isnan(v) else float(v) for v in values[part]],
                        [
                            0 if np.isnan(v) else remote | int(b) << 8
                            for v, b in zip(values[part], bits[part], strict=True)
                        ],
                        AT,
                    )
                )
        add_snapshots(
            conn,
            [
                BillingSnapshot(
                    meters[serial],
                    Period.DAILY,
                    start + timedelta(days=d),
                    REGISTER,
                    0,
                    float(round(meter.register(Quantity.A_PLUS, start + timedelta(days=d)))),
                    0,
                    30,
                    remote,
                    AT,
                )
                for d in range(DAYS + 1)
            ],
        )
    write_days(conn, readings)
    ids = [meters[s] for s in SERIALS]
    for channel in (A_PLUS, A_MINUS):
        run_vee(
            conn, ids, FIRST, FIRST + timedelta(days=DAYS), PROFILE, channel=channel,
            register_obis=None, energy_unit_kwh=0.001, at=AT,
        )  # fmt: skip
    edit(
        conn, meters["SN-3"], A_PLUS, FIRST + timedelta(days=2), {10: 50.0},
        actor="anna", reason="meter test", at=AT,
    )  # fmt: skip
    std, fraud = "0-0:99.98.0", "0-0:99.98.1"
    hour = timedelta(hours=1)
    add_meter_events(
        conn,
        [
            MeterEvent(meters["SN-1"], std, start + 5 * hour, 1, "power.down", AT),
            MeterEvent(meters["SN-1"], std, start + 6 * hour, 2, "power.up", AT),
            MeterEvent(
                meters["SN-2"],
                fraud,
                start + 27 * hour,
                44,
                "tamper.meter_cover_opened",
                AT,
                {"note": "a & b"},
            ),
            MeterEvent(meters["SN-3"], fraud, start + 48 * hour, 77, f"{fraud}.77", AT),
        ],
    )
    return World(meters, wh)
