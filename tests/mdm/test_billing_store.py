"""Determinant records from served data through the store, on SQLite and PostgreSQL (BAL-2, STO-5).

A CT-connected meter (200/5 A, ratio 40) records secondary Wh; its served June 2025 is a
constant 6.25 Wh per quarter hour = 0.25 kWh primary = 1 kW, so the month is 720 kWh by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from sqlalchemy import Connection

from metra.mdm.billing.inputs import ACTIVE_IMPORT, REACTIVE_QI
from metra.mdm.billing.month import compute_month
from metra.mdm.billing.records import history, latest, stale, store
from metra.mdm.estimation.methods import Method
from metra.mdm.versions import NewDay, edit, write
from metra.profiles import load_profile
from metra.store import audit
from metra.store.intervals import Origin, Quality, status_code
from metra.store.masterdata import Entity, create

PL = load_profile("pl")
AT = datetime(2025, 7, 2, 8, tzinfo=UTC)
VALID = status_code(Origin.REMOTE, Quality.VALID)


def _meter(conn: Connection) -> UUID:
    on = date(2025, 1, 1)
    meter = create(conn, Entity.METER, {"serial": "CT-1", "connection": "indirect"}, effective=on)
    delivery = create(conn, Entity.DELIVERY_POINT, {"connection_voltage_kv": 0.4}, effective=on)
    point = create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": delivery, "meter_id": meter, "role": "main"},
        effective=on,
    )
    for phase in ("L1", "L2", "L3"):
        create(
            conn,
            Entity.TRANSFORMER,
            {
                "metering_point_id": point,
                "kind": "CT",
                "phase": phase,
                "ratio_primary": 200.0,
                "ratio_secondary": 5.0,
            },
            effective=on,
        )
    return meter


def _serve(conn: Connection, meter: UUID, channel: str, value: float) -> None:
    days = [date(2025, 5, 31) + timedelta(days=d) for d in range(32)]
    write(
        conn,
        [
            NewDay(
                meter,
                channel,
                day,
                900,
                np.full(96, value),
                np.full(96, VALID, np.uint16),
                np.full(96, Method.MEASURED, np.uint8),
                1,
                [],
            )
            for day in days
        ],
        at=AT,
    )


def test_bal2_determinants_from_served_data_stored_with_their_input_versions(
    conn: Connection,
) -> None:
    """BAL-2, STO-5: compute from served VEE data x CT ratio, store, re-store is a no-op."""
    meter = _meter(conn)
    _serve(conn, meter, ACTIVE_IMPORT, 6.25)
    _serve(conn, meter, REACTIVE_QI, 2.5)
    run = compute_month(conn, [meter], date(2025, 6, 1), PL, tariff="G12")
    det = run.determinants
    assert det.energy_month[0].sum() == pytest.approx(720.0)  # 30 d x 24 h x 1 kW
    assert det.energy_month[0, 1] == pytest.approx(300.0)  # night: 10 h a day
    assert det.demand_month[0, 0] == pytest.approx(1.0)
    assert det.tan_phi_limit[0] == 0.4  # PL, 0.4 kV connection
    assert det.tan_phi_month[0] == pytest.approx(0.4)
    assert det.tan_phi_minutes[0] == 0.0
    assert sorted(run.inputs[0]) == [ACTIVE_IMPORT, REACTIVE_QI]
    assert len(run.inputs[0][ACTIVE_IMPORT]) == 32  # 31 May .. 1 July UTC cover local June

    assert store(conn, run, at=AT, by="billing") == 1
    assert store(conn, run, at=AT, by="billing") == 0  # same inputs, same figures
    record = latest(conn, meter, date(2025, 6, 1), "G12")
    assert record is not None and record.version == 1
    assert record.determinants["energy_kwh"] == {
        "day": pytest.approx(420.0),
        "night": pytest.approx(300.0),
    }
    assert record.inputs[ACTIVE_IMPORT]["2025-06-10"] == 1
    assert not stale(conn, record)
    trail = [e for e in audit.entries(conn) if e.action == "mdm.billing.determinants"]
    assert [e.target_id for e in trail] == [str(meter)]


def test_bal2_record_becomes_stale_after_an_edit_and_recomputes_as_a_new_version(
    conn: Connection,
) -> None:
    """BAL-2, DQ-11: a manual edit makes the record stale; the recomputed one is version 2."""
    meter = _meter(conn)
    _serve(conn, meter, ACTIVE_IMPORT, 6.25)
    month = date(2025, 6, 1)
    store(conn, compute_month(conn, [meter], month, PL), at=AT, by="billing")
    edit(
        conn,
        meter,
        ACTIVE_IMPORT,
        date(2025, 6, 10),
        {0: 12.5},
        actor="operator",
        reason="meter exchange protocol",
        at=AT + timedelta(hours=1),
    )
    first = latest(conn, meter, month, "G11")
    assert first is not None and stale(conn, first)
    rerun = compute_month(conn, [meter], month, PL)
    assert rerun.determinants.energy_month[0, 0] == pytest.approx(720.25)  # +6.25 Wh x 40
    assert store(conn, rerun, at=AT + timedelta(hours=2), by="billing") == 1
    versions = history(conn, meter, month, "G11")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].determinants["energy_total_kwh"] == pytest.approx(720.0)
    assert versions[1].inputs[ACTIVE_IMPORT]["2025-06-10"] == 2
    assert not stale(conn, versions[1])
