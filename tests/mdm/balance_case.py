"""A substation for balance tests: master data and served data with a known truth (BAL-1).

Substation SS-1 has a balancing meter and two feeders: F1 with its own balancing meter and
customers C0-C2, F2 without one and customers C3-C5. Balancing meters read the customers' true
consumption plus 3 % technical losses; tests pass what the customers' meters recorded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection

from metra.mdm.billing.inputs import ACTIVE_IMPORT
from metra.mdm.estimation.methods import Method
from metra.mdm.versions import NewDay, write
from metra.store.intervals import Origin, Quality, status_code
from metra.store.masterdata import Entity, create

DAY = date(2025, 6, 18)  # a Wednesday, UTC+2 in Warsaw
FIRST = DAY - timedelta(days=29)
N_DAYS = 31
ON = date(2025, 1, 1)
VALID = status_code(Origin.REMOTE, Quality.VALID)
THEFT = slice(29 * 96 + 32, 29 * 96 + 48)  # 10:00-14:00 local on DAY = 08:00-12:00 UTC


def _meter(conn: Connection, serial: str) -> UUID:
    return create(conn, Entity.METER, {"serial": serial}, effective=ON)


def _customer(conn: Connection, feeder: UUID, serial: str, grid: dict[str, object]) -> UUID:
    meter = _meter(conn, serial)
    delivery = create(conn, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=ON)
    create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": delivery, "meter_id": meter, "role": "main", **grid},
        effective=ON,
    )
    return meter


def _serve(conn: Connection, meter: UUID, kwh: np.ndarray) -> None:
    write(
        conn,
        [
            NewDay(
                meter,
                ACTIVE_IMPORT,
                FIRST + timedelta(days=d),
                900,
                kwh[d * 96 : (d + 1) * 96] * 1000.0,  # meters store Wh
                np.full(96, VALID, np.uint16),
                np.full(96, Method.MEASURED, np.uint8),
                1,
                [],
            )
            for d in range(N_DAYS)
        ],
        at=datetime(2025, 6, 20, tzinfo=UTC),
    )


def network(
    conn: Connection,
    metered: np.ndarray,
    truth: np.ndarray,
    grid: dict[str, object] | None = None,
) -> list[str]:
    """Master data and served data; returns the customer serials in row order."""
    station_meter, f1_meter = _meter(conn, "BAL-SS1"), _meter(conn, "BAL-F1")
    station = create(
        conn,
        Entity.SUBSTATION,
        {"code": "SS-1", "kind": "MV/LV", "balancing_meter_id": station_meter},
        effective=ON,
    )
    f1 = create(
        conn,
        Entity.FEEDER,
        {"substation_id": station, "code": "F1", "balancing_meter_id": f1_meter},
        effective=ON,
    )
    f2 = create(conn, Entity.FEEDER, {"substation_id": station, "code": "F2"}, effective=ON)
    serials = [f"C{i}" for i in range(6)]
    for i, serial in enumerate(serials):
        point = grid if grid is not None and i == 0 else {}
        _serve(conn, _customer(conn, f1 if i < 3 else f2, serial, point), metered[i])
    _serve(conn, station_meter, truth.sum(0) * 1.03)
    _serve(conn, f1_meter, truth[:3].sum(0) * 1.03)
    return serials
