"""run_vee takes what the rules need from the store's master data as of each day, on SQLite and
PostgreSQL: reserve meter of the point (DQ-8), relay state from the disconnector log, removal
date, connection capacity behind a CT, and the feeder's balancing meter and customers (DQ-6).

Values are the virtual meters' A+ in Wh, as the head-end stores them (energy unit 0.001 kWh).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, select

from metra.mdm import run_vee
from metra.mdm.context import DISCONNECTOR_LOG
from metra.mdm.estimation import Method
from metra.mdm.schema import vee_finding
from metra.mdm.versions import served
from metra.store.events import MeterEvent, add_meter_events
from metra.store.intervals import DayReading, write_days
from metra.store.masterdata import Entity, change, create
from tests.mdm.virtual import PROFILE, model, truth

CHANNEL = "1-0:1.29.0.255"
FIRST = date(2025, 3, 3)
DAYS = 35
START = FIRST + timedelta(days=28)  # the like-day window before it is read as context
END = FIRST + timedelta(days=DAYS)
REMOVED = END - timedelta(days=2)
AT = datetime(2025, 4, 10, tzinfo=UTC)
SINCE = date(2024, 1, 1)


def _day(meter: UUID, d: int, row: np.ndarray) -> DayReading:
    values = row[d * 96 : (d + 1) * 96]
    return DayReading(
        meter,
        CHANNEL,
        FIRST + timedelta(days=d),
        [None if np.isnan(v) else float(v) for v in values],
        [0 if np.isnan(v) else 1 for v in values],
        AT,
    )


def _grid(conn: Connection) -> tuple[dict[str, UUID], np.ndarray]:
    """Feeder F1 of SS-1 with a balancing meter; five customers, a reserve meter on DP0."""
    wh = truth([model(i, seed=21) for i in range(5)], FIRST, DAYS).values * 1000.0

    def meter(serial: str, **attrs: object) -> UUID:
        return create(conn, Entity.METER, {"serial": serial, **attrs}, effective=SINCE)

    ids = {f"M{i}": meter(f"M{i}") for i in range(5)}
    ids["R0"] = meter("R0")
    ids["B"] = meter("B")
    station = create(conn, Entity.SUBSTATION, {"code": "SS-1", "kind": "MV/LV"}, effective=SINCE)
    feeder = create(
        conn,
        Entity.FEEDER,
        {"substation_id": station, "code": "F1", "balancing_meter_id": ids["B"]},
        effective=SINCE,
    )
    points = {}
    for i, kw in enumerate((20.0, 20.0, 20.0, 10.0, 20.0)):
        dp = create(
            conn,
            Entity.DELIVERY_POINT,
            {"feeder_id": feeder, "max_power_kw": kw},
            effective=SINCE,
        )
        joined = START if i == 4 else SINCE  # M4 is a new customer from START on
        points[i] = create(
            conn,
            Entity.METERING_POINT,
            {"delivery_point_id": dp, "meter_id": ids[f"M{i}"], "role": "main"},
            effective=joined,
        )
        if i == 0:
            create(
                conn,
                Entity.METERING_POINT,
                {"delivery_point_id": dp, "meter_id": ids["R0"], "role": "reserve"},
                effective=SINCE,
            )
    create(  # M3 is behind a 10/5 CT: it sees half of DP3's 10 kW
        conn,
        Entity.TRANSFORMER,
        {
            "metering_point_id": points[3],
            "kind": "CT",
            "ratio_primary": 10.0,
            "ratio_secondary": 5.0,
        },
        effective=SINCE,
    )
    change(
        conn, Entity.METER, ids["M2"], {"serial": "M2", "removed_on": REMOVED}, effective=REMOVED
    )
    return ids, wh


def _store(conn: Connection, ids: dict[str, UUID], wh: np.ndarray) -> dict[str, np.ndarray]:
    raw = {f"M{i}": wh[i].copy() for i in range(5)}
    raw["R0"] = wh[0] * 1.002
    gap = (DAYS - 5) * 96
    raw["M0"][gap + 20 : gap + 60] = np.nan  # 10 h: the reserve meter fills it
    cut = (DAYS - 4) * 96
    raw["M1"][cut + 41 : cut + 56] = 0.0  # relay open 10:07..14:00: nothing flows ...
    raw["M1"][cut + 48] = 150.0  # ... except through a bypass at 12:00
    raw["M3"][(DAYS - 3) * 96 + 30] = 1600.0  # above 10 kW / 2 x 15 min x 1.2 = 1500 Wh
    raw["M4"][:] = np.nan  # the new customer's meter was never read
    installed = np.ones(DAYS * 96, bool)
    installed[: 28 * 96] = False  # M4 was not on the feeder before START
    removed = np.zeros(DAYS * 96, bool)
    removed[(REMOVED - FIRST).days * 96 :] = True
    flows = [wh[0], raw["M1"], np.where(removed, 0.0, wh[2]), wh[3], np.where(installed, wh[4], 0)]
    customers = np.sum(flows, axis=0)  # what really flowed: nothing while M1's relay was open
    raw["B"] = customers / 0.97  # 3 % of the feeder's energy is lost in the network
    write_days(conn, [_day(ids[k], d, v) for k, v in raw.items() for d in range(DAYS)])
    relay = datetime.combine(FIRST + timedelta(days=DAYS - 4), datetime.min.time(), UTC)
    add_meter_events(
        conn,
        [
            MeterEvent(
                ids["M1"], DISCONNECTOR_LOG, relay + timedelta(hours=10, minutes=7), 62, "2.62", AT
            ),
            MeterEvent(ids["M1"], DISCONNECTOR_LOG, relay + timedelta(hours=14), 63, "2.63", AT),
        ],
    )
    return raw


def _findings(conn: Connection, meter: UUID, rule: str) -> list[tuple[datetime, datetime]]:
    t = vee_finding.c
    query = select(t.first_at, t.last_at).where(t.meter_id == meter, t.rule == rule)
    return sorted((a, b) for a, b in conn.execute(query))


def test_dq6_dq8_run_vee_looks_up_reserve_relay_removal_capacity_and_feeder(
    conn: Connection,
) -> None:
    ids, wh = _grid(conn)
    raw = _store(conn, ids, wh)
    customers = [ids[f"M{i}"] for i in range(4)]  # M4 is not asked for: read as context only
    run = run_vee(
        conn, customers, START, END, PROFILE, channel=CHANNEL, energy_unit_kwh=0.001, at=AT
    )

    gap_day = FIRST + timedelta(days=DAYS - 5)
    m0 = served(conn, ids["M0"], CHANNEL, gap_day)
    assert m0 is not None and (m0.method[20:60] == Method.RESERVE).all()
    np.testing.assert_allclose(m0.values[20:60], wh[0, (DAYS - 5) * 96 :][20:60] * 1.002)
    assert f"meter:{ids['R0']}" in m0.provenance[0]["sources"]

    cut = datetime.combine(FIRST + timedelta(days=DAYS - 4), datetime.min.time(), UTC)
    bypass = (cut + timedelta(hours=12), cut + timedelta(hours=12, minutes=15))
    assert _findings(conn, ids["M1"], "data-while-disconnected") == [bypass]

    removed = _findings(conn, ids["M2"], "data-after-removal")
    end = datetime.combine(END, datetime.min.time(), UTC)
    assert removed == [(datetime.combine(REMOVED, datetime.min.time(), UTC), end)]
    gone = served(conn, ids["M2"], CHANNEL, REMOVED)
    assert gone is not None and (gone.method == Method.NONE).all()  # no meter: no estimate

    over = _findings(conn, ids["M3"], "capacity")
    at = cut + timedelta(days=1, hours=7, minutes=30)
    assert over == [(at, at + timedelta(minutes=15))]
    t = vee_finding.c
    evidence = conn.execute(
        select(t.evidence).where(t.meter_id == ids["M3"], t.rule == "capacity")
    ).scalar_one()
    assert evidence["threshold"] == 1500.0 and evidence["value"] == 1600.0

    summary = run.summary()
    assert summary["meters"] == 4 and summary["days"] == 7
    assert summary["intervals_validated"] == 4 * 7 * 96
    assert summary["estimated"]["reserve"] == 40
    assert summary["findings"]["data-while-disconnected"] == 1

    # the new customer M4 (context row 4) is what the balancing meter saw beyond the others
    row = run.batch.meter_ids.index(ids["M4"])
    first = run.skip * 96
    got = run.estimate.values[row, first:]
    assert (run.estimate.method[row, first:] == Method.SUBSTATION).all()
    real = wh[4, 28 * 96 :]
    error = np.abs(got - real).sum() / real.sum()
    assert error < 0.002, f"substation estimate of the new customer: {error:.2%} interval error"
    note = run.estimate.provenance(row, run.skip)[0]
    assert note["sources"][0] == "substation:SS-1/F1"
    assert abs(note["inputs"]["loss_ratio"] - 0.03) < 1e-9  # measured before M4 joined
    assert served(conn, ids["M4"], CHANNEL, START) is None  # context rows are not written
    assert not np.isnan(raw["B"]).any()
