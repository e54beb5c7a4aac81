"""Substation and feeder balances from master data and served data, SQLite and PostgreSQL (BAL-1).

Substation SS-1 has a balancing meter and two feeders: F1 with its own balancing meter and three
customers, F2 without one and three customers. The balancing meters read the customers' true
consumption plus 3 % technical losses; on the day under test one F1 customer's meter records
only 20 % of the true energy from 10:00 to 14:00 local time (a bypass), so exactly that energy
plus the losses is missing from the balance.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from metra.mdm.balance.run import substation_balance
from metra.mdm.billing.inputs import ACTIVE_IMPORT
from metra.profiles import load_profile
from metra.store.errors import NotFound
from tests.mdm.balance_case import DAY, N_DAYS, THEFT, network
from tests.mdm.synthetic import true_values

PL = load_profile("pl")


def test_bal1_the_customer_stealing_known_energy_is_listed_first(conn: Connection) -> None:
    """BAL-1: the imbalance is the losses plus the stolen energy; the thief (C1) is first for
    the substation and for its feeder, with its shortfall as evidence; F2 has no balancing meter.
    """
    truth = true_values(6, N_DAYS, seed=11)
    metered = truth.copy()
    metered[1, THEFT] *= 0.2
    stolen = float((truth[1, THEFT] * 0.8).sum())
    network(conn, metered, truth)

    report = substation_balance(conn, "SS-1", DAY, PL)
    today = slice(29 * 96 - 8, 30 * 96 - 8)  # local day = 22:00 UTC the day before, +24 h
    station = report.substation.result
    assert station is not None
    assert station.input_kwh == pytest.approx(truth.sum(0)[today].sum() * 1.03)
    assert station.imbalance_kwh == pytest.approx(truth[:, today].sum() * 0.03 + stolen)
    customers = report.substation.element.customers
    assert [c.serial for c in customers] == ["C0", "C1", "C2", "C3", "C4", "C5"]
    assert station.suspects[0].row == 1
    assert station.suspects[0].shortfall_kwh == pytest.approx(stolen, rel=0.25)
    assert station.suspects[0].correlation > 0.9
    assert station.suspects[0].score > 2 * max((s.score for s in station.suspects[1:]), default=0)

    f1, f2 = report.feeders
    assert f1.element.code == "F1" and f1.result is not None
    assert f1.result.imbalance_kwh == pytest.approx(truth[:3, today].sum() * 0.03 + stolen)
    assert f1.result.excess_intervals.size > 0  # intervals above 10 % of the input
    assert f1.result.suspects[0].row == 1
    assert f2.element.code == "F2" and f2.result is None

    doc = report.to_json()
    assert doc["substation"]["suspects"][0]["meter"] == "C1"
    assert doc["feeders"][0]["excess_intervals"][0] >= "2025-06-18T08:00:00+00:00"
    assert doc["feeders"][0]["excess_intervals"][-1] < "2025-06-18T12:00:00+00:00"
    assert set(doc["inputs"]) and all(
        v[ACTIVE_IMPORT]["2025-06-18"] == 1 for v in doc["inputs"].values()
    )


def test_bal1_normal_day_stays_within_the_permissible_imbalance(conn: Connection) -> None:
    """BAL-1: with only the 3 % losses the imbalance is 3 / 103 of the input (2.91 % < 10 %)."""
    truth = true_values(6, N_DAYS, seed=12)
    network(conn, truth.copy(), truth)
    report = substation_balance(conn, "SS-1", DAY, PL)
    station = report.substation.result
    assert station is not None
    assert station.imbalance_percent == pytest.approx(300 / 103)
    assert not station.exceeded and station.excess_intervals.size == 0


def test_bal1_a_stopped_meter_is_flagged_zero_and_listed_first(conn: Connection) -> None:
    """BAL-1: a customer recording nothing all day while usually consuming is flagged `zero`."""
    truth = true_values(6, N_DAYS, seed=13)
    metered = truth.copy()
    metered[4, 29 * 96 - 8 : 30 * 96] = 0.0
    serials = network(conn, metered, truth)
    report = substation_balance(conn, "SS-1", DAY, PL)
    station = report.substation.result
    assert station is not None and station.imbalance_percent > 5.0  # losses alone: 2.9 %
    first = station.suspects[0]
    assert serials[first.row] == "C4" and first.flags == ("zero",)


def test_bal1_line_losses_of_a_meter_before_the_boundary_count_in_the_balance(
    conn: Connection,
) -> None:
    """BAL-1 (S2 4.2.2zh): C0 is metered in the substation, the network's 0.4 kV line of
    0.3 ohm/km x 0.2 km runs on to its delivery point: the customer receives metered - line
    losses, so the imbalance grows by those losses. Per quarter hour with E kWh metered:
    P = 4E kW, Q = 0.4 P (PL assumed tan(phi)), loss = P^2 (1 + 0.16) / 0.4^2 x 0.06 / 1000 / 4.
    """
    truth = true_values(6, N_DAYS, seed=14)
    grid = {
        "on_balance_boundary": False,
        "meter_position": "upstream",
        "loss_line_ohm_per_km": 0.3,
        "loss_line_km": 0.2,
        "loss_line_kv": 0.4,
    }
    network(conn, truth.copy(), truth, grid)
    report = substation_balance(conn, "SS-1", DAY, PL)
    today = slice(29 * 96 - 8, 30 * 96 - 8)
    p = truth[0, today] * 4
    losses = float((p**2 * 1.16 / 0.16 * 0.06 / 1000 / 4).sum())
    assert report.losses_kwh == {"C0": pytest.approx(losses)}
    station = report.substation.result
    assert station is not None
    assert station.imbalance_kwh == pytest.approx(truth[:, today].sum() * 0.03 + losses)


def test_bal1_unknown_substation_is_a_clear_error(conn: Connection) -> None:
    """BAL-1: a substation code unknown on the day raises NotFound."""
    with pytest.raises(NotFound, match="SS-9"):
        substation_balance(conn, "SS-9", DAY, PL)
