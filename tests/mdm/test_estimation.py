"""Estimates against the true values removed from a synthetic fleet (DQ-6..DQ-9)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from metra.mdm.estimation import (
    Correction,
    Method,
    Reserve,
    StandardLoadProfile,
    Substation,
    ct_ratio_factor,
    estimate,
    from_standard_profile,
    missing_phase_factor,
)
from metra.mdm.estimation.like_day import SATURDAY, SUNDAY, WORKING, day_types
from metra.mdm.validation import RuleSet, validate
from metra.profiles import load_profile
from tests.mdm.synthetic import batch_of, true_values

PROFILE = load_profile("pl")
RULES = RuleSet.from_profile(PROFILE)


def _blank(batch: object, row: int, span: slice) -> None:
    batch.values[row, span] = np.nan  # type: ignore[attr-defined]
    batch.status[row, span] = 0  # type: ignore[attr-defined]


def _run(batch: object, **kwargs: object) -> object:
    return estimate(batch, validate(batch, RULES), RULES, PROFILE, **kwargs)  # type: ignore[arg-type]


def test_dq6_short_gaps_are_interpolated_and_edges_flat_filled() -> None:
    truth = true_values(40, 7)
    batch = batch_of(truth)
    for m in range(40):
        _blank(batch, m, slice(100 + m, 100 + m + 1 + m % 8))  # 1..8 intervals: up to 2 h
    _blank(batch, 0, slice(0, 3))
    est = _run(batch)
    for m in range(40):
        span = slice(100 + m, 100 + m + 1 + m % 8)
        assert (est.method[m, span] == Method.INTERPOLATED).all()
    assert (est.method[0, :3] == Method.FLAT_FILL).all()
    assert est.values[0, 0] == est.values[0, 3]
    gaps = np.isnan(batch.values)
    error = np.abs(est.values[gaps] - truth[gaps]).sum() / truth[gaps].sum()
    assert error < 0.15, f"short-gap relative energy error {error:.3%}"


def test_dq6_long_gaps_use_like_days_scaled_to_the_register_advance() -> None:
    truth = true_values(30, 28)
    batch = batch_of(truth)
    for m in range(30):
        day = 3 + m % 20
        _blank(batch, m, slice(day * 96 + 10, day * 96 + 80))  # 17.5 h: a long gap
    est = _run(batch)
    gaps = np.isnan(batch.values)
    assert (est.method[gaps] == Method.LIKE_DAY).all()
    error = np.abs(est.values[gaps] - truth[gaps]).sum() / truth[gaps].sum()
    assert error < 0.05, f"like-day relative energy error {error:.3%}"
    daily = est.values.reshape(30, 28, 96).sum(axis=2)
    assert batch.registers is not None
    np.testing.assert_allclose(daily, np.diff(batch.registers, axis=1), rtol=1e-9)
    note = est.provenance(0, 3)[0]
    assert note["method"] == "like_day" and note["inputs"]["day_type"] == "working"
    assert "2025-03-13" in note["sources"] and "2025-03-08" not in note["sources"]


def test_dq6_whole_day_without_registers_is_like_day_averaged() -> None:
    truth = true_values(10, 21)
    batch = batch_of(truth)
    object.__setattr__(batch, "registers", None)
    _blank(batch, 4, slice(9 * 96, 10 * 96))
    est = _run(batch)
    error = abs(est.values[4, 9 * 96 : 10 * 96].sum() / truth[4, 9 * 96 : 10 * 96].sum() - 1)
    assert error < 0.03, f"like-day daily energy error {error:.3%}"


def test_dq6_holidays_count_as_sundays() -> None:
    days = [date(2025, 5, 1), date(2025, 5, 2), date(2025, 5, 3), date(2025, 5, 4)]
    assert day_types(PROFILE, days).tolist() == [SUNDAY, WORKING, SUNDAY, SUNDAY]
    assert day_types(PROFILE, [date(2025, 5, 10)]).tolist() == [SATURDAY]


def test_dq8_reserve_meter_goes_first() -> None:
    truth = true_values(4, 7)
    batch = batch_of(truth)
    _blank(batch, 1, slice(10, 12))
    _blank(batch, 2, slice(200, 400))
    reserve_values = np.full(truth.shape, np.nan)
    reserve_values[2] = truth[2] * 1.001
    est = _run(
        batch, reserve=Reserve(reserve_values, ~np.isnan(reserve_values), ("r0", "r1", "r2", "r3"))
    )
    assert (est.method[2, 200:400] == Method.RESERVE).all()
    assert (est.method[1, 10:12] == Method.INTERPOLATED).all()
    np.testing.assert_allclose(est.values[2, 200:400], truth[2, 200:400] * 1.001)
    assert "meter:r2" in est.provenance(2, 2)[0]["sources"]


def test_dq6_substation_balance_fills_the_only_missing_customer() -> None:
    truth = true_values(5, 3)
    batch = batch_of(truth)
    object.__setattr__(batch, "registers", None)
    _blank(batch, 3, slice(0, 288))  # three whole days: no like day available
    feeder = Substation("T-17", truth.sum(axis=0) / 0.97, (0, 1, 2, 3, 4), loss_ratio=0.03)
    est = _run(batch, substations=[feeder])
    assert (est.method[3] == Method.SUBSTATION).all()
    error = np.abs(est.values[3] - truth[3]).max()
    assert error < 1e-9, f"substation balance error {error}"


def test_dq6_conventional_meter_from_average_daily_flow_and_standard_profile() -> None:
    shapes = np.full((3, 96), 1 / 96)
    season = np.array([1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1, 1.3])
    days = [date(2025, 4, 1), date(2025, 4, 2)]
    values = from_standard_profile(
        np.array([10.0, 4.0]), 3, days, StandardLoadProfile(shapes, season), PROFILE
    ).values
    assert values.shape == (2, 192)
    assert values[0, :96].sum() == pytest.approx(10.0 * 1.0 / 1.1)
    assert values[1, 96:].sum() == pytest.approx(4.0 / 1.1)


def test_dq7_corrected_data_from_known_fault_factors() -> None:
    assert missing_phase_factor(3, 1) == pytest.approx(1.5)
    assert ct_ratio_factor(200, 5, 100, 5) == pytest.approx(2.0)
    truth = true_values(3, 2)
    batch = batch_of(truth)
    batch.values[1, 50:100] = truth[1, 50:100] * 2 / 3
    est = _run(
        batch, corrections=[Correction(1, 50, 99, missing_phase_factor(), "missing phase L2")]
    )
    np.testing.assert_allclose(est.values[1, 50:100], truth[1, 50:100])
    assert (est.method[1, 50:100] == Method.CORRECTED).all()
    assert est.provenance(1, 0)[0]["sources"] == ["fault:missing phase L2"]


def test_dq5_raw_arrays_are_not_modified() -> None:
    batch = batch_of(true_values(3, 7))
    _blank(batch, 0, slice(10, 300))
    before = batch.values.copy(), batch.status.copy()
    _run(batch)
    np.testing.assert_array_equal(before[0], batch.values)
    np.testing.assert_array_equal(before[1], batch.status)


def test_dq7_corrections_stand_next_to_gaps_in_the_same_row() -> None:
    """A corrected row with a gap keeps its corrected values; the gap is bridged between them."""
    truth = true_values(2, 2)
    batch = batch_of(truth)
    batch.values[1, 40:120] = truth[1, 40:120] / 2.0  # wrong CT ratio: half the energy
    _blank(batch, 1, slice(60, 62))
    est = _run(batch, corrections=[Correction(1, 40, 119, ct_ratio_factor(200, 5, 100, 5), "CT")])
    kept = np.r_[40:60, 62:120]
    np.testing.assert_allclose(est.values[1, kept], truth[1, kept])
    assert (est.method[1, kept] == Method.CORRECTED).all()
    assert (est.method[1, 60:62] == Method.INTERPOLATED).all()
    assert abs(est.values[1, 60] - truth[1, 60]) < 0.1 * truth[1, 60]
