"""Validation finds every injected fault: rule, intervals and evidence (DQ-3, DQ-4, DQ-10)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from metra.mdm.batch import Events, MeterBits
from metra.mdm.validation import Rule, RuleSet, Severity, validate
from metra.profiles import load_profile
from metra.store.intervals import Origin, status_code
from tests.mdm.synthetic import batch_of, true_values

RULES = RuleSet.from_profile(load_profile("pl"))


def _found(result: object, rule: Rule) -> set[tuple[int, int, int]]:
    batch = result.findings._batch  # type: ignore[attr-defined]
    rows = {m: i for i, m in enumerate(batch.meter_ids)}
    return {(rows[f.meter_id], f.first, f.last) for f in result.findings if f.rule == rule}  # type: ignore[attr-defined]


def test_dq4_clean_fleet_has_no_findings() -> None:
    result = validate(batch_of(true_values(30, 14)), RULES)
    assert len(result.findings) == 0
    assert not result.invalid.any() and not result.suspect.any()


def test_dq4_every_injected_gap_and_spike_is_found_with_evidence() -> None:
    rng = np.random.default_rng(7)
    batch = batch_of(true_values(50, 14))
    gaps = set()
    for m in range(0, 50, 3):
        first = int(rng.integers(0, batch.values.shape[1] - 300))
        last = first + int(rng.integers(0, 200))
        batch.values[m, first : last + 1] = np.nan
        batch.status[m, first : last + 1] = 0
        gaps.add((m, first, last))
    spikes = {
        (m, int(i), int(i)) for m, i in zip(range(1, 50, 3), rng.integers(0, 1300, 17), strict=True)
    }
    for m, i, _ in spikes:
        batch.values[m, i] = 40.0
    result = validate(batch, RULES)
    assert _found(result, Rule.GAP) == gaps
    assert _found(result, Rule.SPIKE) == spikes
    spike = next(f for f in result.findings if f.rule == Rule.SPIKE)
    assert spike.evidence["value"] == 40.0
    assert spike.evidence["threshold"] == pytest.approx(
        RULES.spike_factor * spike.evidence["kth_largest"]
    )
    assert spike.severity is Severity.INVALID
    assert result.invalid[1, next(iter(s for s in spikes if s[0] == 1))[1]]


def test_dq4_reversed_register_and_sum_check_and_capacity() -> None:
    batch = batch_of(true_values(6, 10), capacity_kw=np.full(6, 7.0))
    assert batch.registers is not None
    batch.registers[2, 5:] -= 500.0  # register ran back during day 4
    batch.registers[3, 7:] += 30.0  # advance of day 6 disagrees with the profile
    batch.values[4, 200] = 5.0  # 20 kW in 15 min on a 7 kW connection
    result = validate(batch, RULES)
    assert _found(result, Rule.REGISTER_DECREASE) == {(2, 4 * 96, 5 * 96 - 1)}
    assert (3, 6 * 96, 7 * 96 - 1) in _found(result, Rule.SUM_CHECK)
    assert (4, 200, 200) in _found(result, Rule.CAPACITY)
    decrease = next(f for f in result.findings if f.rule == Rule.REGISTER_DECREASE)
    assert decrease.evidence["register_end"] < decrease.evidence["register_start"]


def test_dq10_tamper_events_reboot_and_clock_jumps_make_data_suspect() -> None:
    batch = batch_of(true_values(5, 3))
    events = Events(
        np.array([0, 1, 2, 3]),
        np.array([10, 50, 100, 150]),
        (
            "tamper.magnetic_field",
            "tamper.terminal_cover_opened",
            "power.up",
            "clock.adjusted_new_time",
        ),
    )
    batch = dataclasses.replace(batch, events=events)
    batch.status[4, 60] = status_code(Origin.REMOTE, meter=MeterBits.CLOCK_ADJUSTED)
    result = validate(batch, RULES)
    assert _found(result, Rule.SUSPECT_EVENT) == {(0, 10, 13), (1, 50, 53), (2, 100, 103)}
    assert _found(result, Rule.CLOCK_ADJUSTED) == {(3, 150, 153), (4, 60, 60)}
    codes = {f.evidence["code"] for f in result.findings if f.rule == Rule.SUSPECT_EVENT}
    assert codes == {"tamper.magnetic_field", "tamper.terminal_cover_opened", "power.up"}
    assert result.suspect[0, 10] and not result.invalid[0, 10]


def test_dq3_status_bits_zeros_negative_reverse_relay_removed_duplicates_clock() -> None:
    shape = (8, 3 * 96)
    closed = np.ones(shape, bool)
    closed[5, 100:120] = False
    installed = np.ones(shape, bool)
    installed[6, 200:] = False
    reverse = np.zeros(shape)
    reverse[3, 40:42] = 0.3
    conflicts = np.zeros(shape, bool)
    conflicts[7, 9] = True
    day_interval = np.full((8, 3), 900, np.int32)
    day_interval[7, 2] = 1800
    batch = batch_of(
        true_values(8, 3),
        relay_closed=closed,
        installed=installed,
        reverse=reverse,
        generation=np.zeros(8, bool),
        conflicts=conflicts,
        clock_deviation_s=np.array([0, 0, 0, 0, 0, 0, 0, 95.0]),
        day_interval_s=day_interval,
    )
    batch.status[0, 5] = status_code(Origin.REMOTE, meter=MeterBits.POWER_DOWN)
    batch.status[0, 6] = status_code(Origin.REMOTE, meter=MeterBits.DATA_NOT_VALID)
    batch.values[1, 96:192] = 0.0
    batch.values[2, 30] = -0.2
    result = validate(batch, RULES)
    assert _found(result, Rule.POWER_DOWN) == {(0, 5, 5)}
    assert _found(result, Rule.DATA_NOT_VALID) == {(0, 6, 6)}
    assert _found(result, Rule.ZERO_RUN) == {(1, 96, 191)}
    assert _found(result, Rule.NEGATIVE) == {(2, 30, 30)}
    assert _found(result, Rule.REVERSE_FLOW) == {(3, 40, 41)}
    assert _found(result, Rule.DISCONNECTED) == {(5, 100, 119)}
    assert _found(result, Rule.REMOVED) == {(6, 200, 287)}
    assert _found(result, Rule.DUPLICATE) == {(7, 9, 9)}
    assert _found(result, Rule.CLOCK_DEVIATION) == {(7, 0, 287)}
    assert _found(result, Rule.INTERVAL_LENGTH) == {(7, 192, 287)}


def test_jur1_rule_set_follows_the_profile_and_can_disable_rules() -> None:
    profile = load_profile("pl")
    assert RULES.spike_factor == profile.vee.spike_factor
    assert RULES.short_gap_max_s == profile.vee.short_gap_max_minutes * 60
    batch = batch_of(true_values(2, 2))
    batch.values[0, 3] = 99.0
    quiet = dataclasses.replace(RULES, enabled=frozenset(set(Rule) - {Rule.SPIKE, Rule.SUM_CHECK}))
    assert len(validate(batch, quiet).findings) == 0
    strict = dataclasses.replace(RULES, spike_factor=1000.0)
    assert not _found(validate(batch, strict), Rule.SPIKE)


def test_dq4_spike_rule_equals_its_definition_on_every_day() -> None:
    """The spike check only ranks candidate days; it must match ranking every day (DQ-4)."""
    rng = np.random.default_rng(11)
    batch = batch_of(true_values(40, 10))
    values, status = batch.values, batch.status
    days = values.reshape(40, 10, 96)
    second = np.sort(days, axis=2)[:, :, -2]  # the k-th largest once a new maximum is set
    # values just above and just below the threshold, big spikes, negatives, gaps, empty days
    for m in range(40):
        d, i = int(rng.integers(0, 10)), int(rng.integers(0, 96))
        edge = RULES.spike_factor * max(second[m, d], RULES.spike_min_base)
        values[m, d * 96 + i] = edge * (1 + 1e-12 if m % 2 else 1 - 1e-12)
    values[3, 100:150] = np.nan
    status[3, 100:150] = 0
    values[4, 96:192], status[4, 96:192] = np.nan, 0
    values[4, 120] = 2.0  # a value under a missing status counts as 0
    values[5, 10] = -3.0
    values[6, 0:96] = 0.0
    values[6, 40] = 0.2
    result = validate(batch, RULES)

    has = (status & 7) != 0
    zeroed = np.where(has, values, 0.0).reshape(40, 10, 96)
    base = np.maximum(np.partition(zeroed, 93, axis=2)[:, :, 93], RULES.spike_min_base)
    over = has.reshape(40, 10, 96) & (zeroed > (base * RULES.spike_factor)[:, :, None])
    expected = {(m, d * 96 + i, d * 96 + i) for m, d, i in zip(*np.nonzero(over), strict=True)}
    assert len(expected) >= 20
    assert _found(result, Rule.SPIKE) == expected
