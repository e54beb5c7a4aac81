"""Energy balance of one element and the ranking of suspects, on hand-computed arrays (BAL-1)."""

from __future__ import annotations

import numpy as np
import pytest

from metra.mdm.balance.energy import balance


def test_bal1_imbalance_against_permissible_and_the_point_that_explains_it() -> None:
    """BAL-1: balancing 4 x 10 kWh, customers 4+4+4+4 and 5+5+3+3 kWh.

    Input 40, customers 32, imbalance 8 = 20 % > 10 % permissible. Per interval the imbalance
    is 1, 1, 3, 3; above 10 % of the input (1 kWh) in intervals 2 and 3 by 2 + 2 = 4 kWh.
    Customer 1's shortfall against its pattern (5 kWh) is 0, 0, 2, 2: it explains all 4 kWh
    and correlates perfectly; customer 0 metered its usual 4 kWh and is not listed.
    """
    result = balance(
        np.array([10.0, 10.0, 10.0, 10.0]),
        np.array([[4.0, 4.0, 4.0, 4.0], [5.0, 5.0, 3.0, 3.0]]),
        np.array([[4.0, 4.0, 4.0, 4.0], [5.0, 5.0, 5.0, 5.0]]),
        10.0,
    )
    assert (result.input_kwh, result.customers_kwh, result.imbalance_kwh) == (40.0, 32.0, 8.0)
    assert result.imbalance_percent == pytest.approx(20.0)
    assert result.exceeded
    assert result.imbalance.tolist() == [1.0, 1.0, 3.0, 3.0]
    assert result.excess_intervals.tolist() == [2, 3]
    [suspect] = result.suspects
    assert suspect.row == 1
    assert suspect.correlation == pytest.approx(1.0)
    assert suspect.explained == pytest.approx(1.0)
    assert suspect.shortfall_kwh == pytest.approx(4.0)
    assert suspect.score == pytest.approx(1.0)


def test_bal1_technical_losses_within_the_permissible_share_are_not_exceeded() -> None:
    """BAL-1: 3 % more at the balancing meter than at the customers: 2.91 % of input, fine."""
    customers = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    result = balance(customers.sum(0) * 1.03, customers, customers, 10.0)
    assert result.imbalance_percent == pytest.approx(100 * 0.03 / 1.03)
    assert not result.exceeded
    assert result.excess_intervals.size == 0


def test_bal1_missing_interval_leaves_the_balance_incomplete_not_wrong() -> None:
    """BAL-1: an interval without a customer's value is left out of both sides."""
    customers = np.array([[1.0, np.nan, 1.0], [1.0, 1.0, 1.0]])
    result = balance(np.array([2.0, 50.0, 2.0]), customers, np.ones((2, 3)), 10.0)
    assert result.complete.tolist() == [True, False, True]
    assert (result.input_kwh, result.imbalance_kwh) == (4.0, 0.0)
    assert np.isnan(result.imbalance[1])


def test_bal1_zero_flat_and_reverse_flow_are_flagged() -> None:
    """BAL-1: a stopped meter (zero), a stuck one (flat) and export where none was usual."""
    usual = np.array([[1.0, 2.0, 3.0, 2.0]] * 4)
    metered = usual.copy()
    metered[0] = 0.0  # stopped
    metered[1] = 1.5  # flat
    export = np.zeros_like(usual)
    export[2] = [0.0, 0.5, 0.5, 0.0]  # reverse flow at a consumer
    result = balance(
        usual.sum(0), metered, usual, 10.0, export=export, baseline_export=np.zeros_like(usual)
    )
    flags = {s.row: s.flags for s in result.suspects}
    assert flags[0] == ("zero",)
    assert flags[1] == ("flat",)
    assert flags[2] == ("reverse",)
    assert 3 not in flags
    assert result.suspects[0].row == 0  # the stopped meter explains most of the imbalance
