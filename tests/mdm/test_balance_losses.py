"""Losses between metering point and delivery point, by hand and through the store (BAL-1).

Hand figures: a 250 kVA transformer with P0 = 0.5 kW and Pk = 3.25 kW at S = 200 kVA loses
0.5 + 3.25 x (200/250)^2 = 2.58 kW, 0.645 kWh in a quarter hour. A 0.4 kV line of 0.2 ohm/km x
0.5 km = 0.1 ohm carrying 100 kVA: I = 100 / (sqrt(3) x 0.4) = 144.34 A, 3 I^2 R = 6.25 kW.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Connection

from metra.mdm.balance.losses import LossModel, at_boundary, loss_energy
from metra.mdm.billing.inputs import ACTIVE_IMPORT
from metra.mdm.billing.month import compute_month
from metra.mdm.billing.records import latest, store
from metra.mdm.estimation.methods import Method
from metra.mdm.versions import NewDay, write
from metra.profiles import load_profile
from metra.store.intervals import Origin, Quality, status_code
from metra.store.masterdata import Entity, create

PL = load_profile("pl")
VALID = status_code(Origin.REMOTE, Quality.VALID)
TRANSFORMER = {
    "on_balance_boundary": False,
    "meter_position": "downstream",
    "loss_transformer_kva": 250.0,
    "loss_no_load_kw": 0.5,
    "loss_load_kw": 3.25,
}


def test_bal1_transformer_losses_by_hand() -> None:
    """BAL-1 (S2 4.2.2zh): 200 kW, Q = 0 through 250 kVA: 0.645 kWh per quarter hour."""
    model = LossModel.of_point(TRANSFORMER)
    assert model is not None
    loss = loss_energy(np.array([50.0]), np.array([0.0]), 900, model, 0.4)
    assert loss[0] == pytest.approx(0.645)
    assert at_boundary(np.array([50.0]), loss, model)[0] == pytest.approx(50.645)


def test_bal1_line_losses_by_hand_with_assumed_tan_phi() -> None:
    """BAL-1: S = 100 kVA on 0.1 ohm at 0.4 kV: 6.25 kW; Q from tan(phi) 0.75 (P = 80 kW)."""
    model = LossModel.of_point(
        {
            "on_balance_boundary": False,
            "meter_position": "upstream",
            "loss_line_ohm_per_km": 0.2,
            "loss_line_km": 0.5,
            "loss_line_kv": 0.4,
        }
    )
    assert model is not None
    current = 100.0 / (math.sqrt(3) * 0.4)
    assert 3 * current**2 * 0.1 / 1000 == pytest.approx(6.25)
    loss = loss_energy(np.array([80.0, np.nan]), None, 3600, model, 0.75)
    assert loss[0] == pytest.approx(6.25)
    assert np.isnan(loss[1])
    assert at_boundary(np.array([80.0]), loss[:1], model)[0] == pytest.approx(73.75)


def test_bal1_meter_on_the_boundary_has_no_losses() -> None:
    """BAL-1: a metering point on the balance boundary, or without grid data, needs none."""
    assert LossModel.of_point({**TRANSFORMER, "on_balance_boundary": True}) is None
    assert LossModel.of_point({"on_balance_boundary": False, "meter_position": "upstream"}) is None
    assert LossModel.of_point({**TRANSFORMER, "meter_position": None}) is None


def test_bal1_bal2_billing_at_the_delivery_point_adds_transformer_losses(
    conn: Connection,
) -> None:
    """BAL-1, BAL-2: a meter on the LV side of the customer's transformer, boundary on MV.

    June 2025, 50 kWh per quarter hour (200 kW) and no reactive channel: Q = 0.4 x P (PL
    assumed tan(phi)), S^2 = 200^2 x 1.16; losses = (0.5 + 3.25 x 46400 / 62500) / 4 kWh per
    quarter hour, over 2880 quarter hours added to the metered 144,000 kWh.
    """
    on = date(2025, 1, 1)
    meter = create(conn, Entity.METER, {"serial": "MV-1"}, effective=on)
    delivery = create(conn, Entity.DELIVERY_POINT, {"connection_voltage_kv": 15.0}, effective=on)
    create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": delivery, "meter_id": meter, "role": "main", **TRANSFORMER},
        effective=on,
    )
    write(
        conn,
        [
            NewDay(
                meter,
                ACTIVE_IMPORT,
                date(2025, 5, 31) + timedelta(days=d),
                900,
                np.full(96, 50_000.0),
                np.full(96, VALID, np.uint16),
                np.full(96, Method.MEASURED, np.uint8),
                1,
                [],
            )
            for d in range(32)
        ],
        at=datetime(2025, 7, 2, tzinfo=UTC),
    )
    per_quarter = (0.5 + 3.25 * 46_400 / 62_500) / 4
    run = compute_month(conn, [meter], date(2025, 6, 1), PL)
    assert run.losses_kwh[0] == pytest.approx(2880 * per_quarter)
    assert run.determinants.energy_month[0, 0] == pytest.approx(144_000 + 2880 * per_quarter)
    store(conn, run, at=datetime(2025, 7, 2, tzinfo=UTC), by="billing")
    record = latest(conn, meter, date(2025, 6, 1), "G11")
    assert record is not None
    assert record.determinants["losses_to_delivery_point_kwh"] == pytest.approx(2880 * per_quarter)
