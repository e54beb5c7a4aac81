"""The validation checks, each a few NumPy passes over (meters, intervals) arrays.

Every check returns its hits and the (meters, intervals) mask of what it hit; `validate` decides
from the rule set whether that mask invalidates or only flags. Checks that need context the batch
does not carry (registers, relay state, capacity ...) return nothing rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Batch, Bools, Floats, MeterBits, meter_bits, present
from metra.mdm.validation.findings import Hits, run_hits
from metra.mdm.validation.rules import Rule, RuleSet

Result = tuple[Hits, Bools]


@dataclass(frozen=True)
class Prepared:
    """Arrays every check shares, computed once per batch."""

    values: Floats
    present: Bools
    bits: np.ndarray
    per_day: int
    days: int

    @staticmethod
    def of(batch: Batch) -> Prepared:
        has = present(batch.status)
        values = np.where(has, batch.values, 0.0)
        return Prepared(values, has, meter_bits(batch.status), batch.per_day, batch.n_days)

    def by_day(self, array: np.ndarray) -> np.ndarray:
        """View a (meters, intervals) array as (meters, days, intervals per day)."""
        return array.reshape(array.shape[0], self.days, self.per_day)

    def spread(self, day_mask: Bools) -> Bools:
        """A (meters, days) mask stretched over each day's intervals."""
        return np.repeat(day_mask, self.per_day, axis=1)


def _day_hits(rule: Rule, p: Prepared, day_mask: Bools, **evidence: np.ndarray) -> Result:
    rows, days = np.nonzero(day_mask)
    first = days.astype(np.int64) * p.per_day
    hits = Hits(
        rule,
        rows.astype(np.int64),
        first,
        first + p.per_day - 1,
        {n: np.asarray(a, np.float64)[rows, days] for n, a in evidence.items()},
    )
    return hits, p.spread(day_mask)


def _empty(rule: Rule, batch: Batch) -> Result:
    none = np.zeros(0, np.int64)
    return Hits(rule, none, none, none, {}), np.zeros(batch.values.shape, np.bool_)


def gaps(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Missing intervals (DQ-4): every run of intervals with no value."""
    mask = ~p.present
    return run_hits(Rule.GAP, mask), mask


def duplicates(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals delivered more than once with different values (the store's changed bitmap)."""
    if batch.conflicts is None:
        return _empty(Rule.DUPLICATE, batch)
    mask = batch.conflicts & p.present
    return run_hits(Rule.DUPLICATE, mask, value=p.values), mask


def interval_length(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Days stored with an integration period other than the batch's (or one not allowed)."""
    if batch.day_interval_s is None:
        return _empty(Rule.INTERVAL_LENGTH, batch)
    got = batch.day_interval_s
    wrong = (got != 0) & (got != batch.interval_s)
    allowed = np.isin(got, np.array(sorted(rules.allowed_interval_s)))
    wrong |= (got != 0) & ~allowed
    return _day_hits(
        Rule.INTERVAL_LENGTH,
        p,
        wrong,
        interval_s=got,
        expected_s=np.full(got.shape, rules.interval_s),
    )


def spikes(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """The largest intervals of a day against its k-th largest interval, times the spike factor.

    A day's k-th largest value is a robust "normal high" (one or two spikes cannot move it), so a
    value above `spike_factor` times it (with a floor for near-empty days) is implausible.
    """
    day = p.by_day(p.values)
    k = min(rules.spike_rank, p.per_day)
    kth = np.partition(day, p.per_day - k, axis=2)[:, :, p.per_day - k]
    base = np.maximum(kth, rules.spike_min_base)
    threshold = np.repeat(base * rules.spike_factor, p.per_day, axis=1)
    mask = p.present & (p.values > threshold)
    hits = run_hits(
        Rule.SPIKE,
        mask,
        value=p.values,
        threshold=threshold,
        kth_largest=np.repeat(kth, p.per_day, axis=1),
    )
    return hits, mask


def history_spikes(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals above `spike_factor` times the meter's historical peak interval."""
    if batch.history_peak is None:
        return _empty(Rule.SPIKE_HISTORY, batch)
    base = np.maximum(batch.history_peak, rules.spike_min_base) * rules.spike_factor
    known = ~np.isnan(batch.history_peak)
    threshold = np.broadcast_to(base[:, None], p.values.shape)
    mask = p.present & known[:, None] & (p.values > threshold)
    return run_hits(Rule.SPIKE_HISTORY, mask, value=p.values, threshold=threshold), mask


def zero_runs(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Consecutive zeros at least `zero_run_min_s` long while the relay is closed."""
    closed = np.ones(p.values.shape, np.bool_) if batch.relay_closed is None else batch.relay_closed
    zero = p.present & (p.values == 0.0) & closed
    hits = run_hits(Rule.ZERO_RUN, zero)
    minimum = max(1, rules.zero_run_min_s // batch.interval_s)
    keep = hits.last - hits.first + 1 >= minimum
    hits = Hits(
        Rule.ZERO_RUN,
        hits.meter[keep],
        hits.first[keep],
        hits.last[keep],
        {"intervals": (hits.last - hits.first + 1)[keep].astype(np.float64)},
    )
    return hits, _mask_of(hits, p.values.shape)


def _mask_of(hits: Hits, shape: tuple[int, ...]) -> Bools:
    """The mask covering each hit's interval range."""
    delta = np.zeros((shape[0], shape[1] + 1), np.int32)
    np.add.at(delta, (hits.meter, hits.first), 1)
    np.add.at(delta, (hits.meter, hits.last + 1), -1)
    return np.cumsum(delta, axis=1)[:, :-1] > 0


def negative(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Negative interval values on an energy channel (an energy register never runs back)."""
    mask = p.present & (p.values < 0.0)
    return run_hits(Rule.NEGATIVE, mask, value=p.values), mask


def reverse_flow(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Energy in the reverse direction at a point with no generation."""
    if batch.reverse is None:
        return _empty(Rule.REVERSE_FLOW, batch)
    producer = (
        np.zeros(len(batch.meter_ids), np.bool_) if batch.generation is None else batch.generation
    )
    reverse = np.nan_to_num(batch.reverse)
    mask = (reverse > rules.reverse_min) & ~producer[:, None]
    return run_hits(Rule.REVERSE_FLOW, mask, value=reverse), mask


def _advance(batch: Batch) -> Floats | None:
    if batch.registers is None:
        return None
    return np.diff(batch.registers, axis=1)


def sum_check(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A complete day's profile total against the register advance of the same day."""
    advance = _advance(batch)
    if advance is None:
        return _empty(Rule.SUM_CHECK, batch)
    total = p.by_day(p.values).sum(axis=2)
    complete = p.by_day(p.present).all(axis=2) & ~np.isnan(advance)
    tolerance = np.maximum(rules.sum_tolerance_abs, rules.sum_tolerance_ratio * np.abs(advance))
    off = complete & (np.abs(np.nan_to_num(advance) - total) > tolerance)
    return _day_hits(
        Rule.SUM_CHECK, p, off, profile_total=total, register_advance=advance, tolerance=tolerance
    )


def register_decrease(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A cumulative register that went down during a day (reversed or replaced register)."""
    advance = _advance(batch)
    if advance is None:
        return _empty(Rule.REGISTER_DECREASE, batch)
    down = np.nan_to_num(advance) < 0.0
    assert batch.registers is not None
    return _day_hits(
        Rule.REGISTER_DECREASE,
        p,
        down,
        register_start=batch.registers[:, :-1],
        register_end=batch.registers[:, 1:],
    )


def capacity(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Interval energy above what the connection capacity can deliver in the interval."""
    if batch.capacity_kw is None:
        return _empty(Rule.CAPACITY, batch)
    limit = batch.capacity_kw * (batch.interval_s / 3600.0) * rules.capacity_margin
    threshold = np.broadcast_to(np.nan_to_num(limit, nan=np.inf)[:, None], p.values.shape)
    mask = p.present & (p.values > threshold)
    return run_hits(Rule.CAPACITY, mask, value=p.values, threshold=threshold), mask


def register_capacity(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A day's register advance above 24 h at the connection capacity."""
    advance = _advance(batch)
    if advance is None or batch.capacity_kw is None:
        return _empty(Rule.REGISTER_CAPACITY, batch)
    limit = np.nan_to_num(batch.capacity_kw * 24.0 * rules.capacity_margin, nan=np.inf)
    over = np.nan_to_num(advance) > limit[:, None]
    return _day_hits(
        Rule.REGISTER_CAPACITY,
        p,
        over,
        register_advance=advance,
        limit=np.broadcast_to(limit[:, None], over.shape),
    )


def clock_deviation(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A meter clock off by more than the sync threshold: its interval times are doubtful."""
    if batch.clock_deviation_s is None:
        return _empty(Rule.CLOCK_DEVIATION, batch)
    off = np.abs(np.nan_to_num(batch.clock_deviation_s)) > rules.clock_threshold_s
    rows = np.flatnonzero(off).astype(np.int64)
    width = p.values.shape[1]
    hits = Hits(
        Rule.CLOCK_DEVIATION,
        rows,
        np.zeros(rows.size, np.int64),
        np.full(rows.size, width - 1, np.int64),
        {
            "deviation_s": batch.clock_deviation_s[rows],
            "threshold_s": np.full(rows.size, rules.clock_threshold_s),
        },
    )
    return hits, np.broadcast_to(off[:, None], p.values.shape)


def _bits(rule: Rule, p: Prepared, wanted: int) -> Result:
    found = (p.bits & wanted).astype(np.float64)
    mask = p.present & (found != 0)
    return run_hits(rule, mask, bits=found), mask


def clock_adjusted(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals the meter marked as clock adjusted or clock invalid (their length is wrong)."""
    return _bits(Rule.CLOCK_ADJUSTED, p, MeterBits.CLOCK_ADJUSTED | MeterBits.CLOCK_INVALID)


def power_down(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals with a power failure (partial energy, real but incomplete)."""
    return _bits(Rule.POWER_DOWN, p, MeterBits.POWER_DOWN)


def data_not_valid(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals the meter itself declared not valid, or written during a critical error."""
    return _bits(Rule.DATA_NOT_VALID, p, MeterBits.DATA_NOT_VALID | MeterBits.CRITICAL_ERROR)


def disconnected(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Energy recorded while the relay was open (a bypass or a relay fault)."""
    if batch.relay_closed is None:
        return _empty(Rule.DISCONNECTED, batch)
    mask = p.present & ~batch.relay_closed & (p.values > 0.0)
    return run_hits(Rule.DISCONNECTED, mask, value=p.values), mask


def removed(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Values stamped while the meter was not installed (before commissioning, after removal)."""
    if batch.installed is None:
        return _empty(Rule.REMOVED, batch)
    mask = p.present & ~batch.installed
    return run_hits(Rule.REMOVED, mask, value=p.values), mask


def events(batch: Batch, rules: RuleSet, p: Prepared) -> list[Result]:
    """Intervals during and after events that make data suspect (DQ-3, DQ-10), one per code."""
    ev = batch.events
    width = p.values.shape[1]
    span = max(1, -(-rules.event_suspect_s // batch.interval_s))
    out: list[Result] = []
    codes = np.array(ev.codes, dtype=object)
    for code in sorted(set(ev.codes) & set(rules.event_rules)):
        pick = codes == code
        meter, first = ev.meter[pick], ev.interval[pick]
        inside = (first >= 0) & (first < width)
        meter, first = meter[inside], first[inside]
        last = np.minimum(first + span - 1, width - 1)
        hits = Hits(
            rules.event_rules[code],
            meter,
            first,
            last,
            {},
            (("code", code),),
        )
        out.append((hits, _mask_of(hits, p.values.shape)))
    return out


INTERVAL_CHECKS = {
    Rule.GAP: gaps,
    Rule.DUPLICATE: duplicates,
    Rule.INTERVAL_LENGTH: interval_length,
    Rule.SPIKE: spikes,
    Rule.SPIKE_HISTORY: history_spikes,
    Rule.ZERO_RUN: zero_runs,
    Rule.NEGATIVE: negative,
    Rule.REVERSE_FLOW: reverse_flow,
    Rule.SUM_CHECK: sum_check,
    Rule.REGISTER_DECREASE: register_decrease,
    Rule.CAPACITY: capacity,
    Rule.REGISTER_CAPACITY: register_capacity,
    Rule.CLOCK_DEVIATION: clock_deviation,
    Rule.CLOCK_ADJUSTED: clock_adjusted,
    Rule.POWER_DOWN: power_down,
    Rule.DATA_NOT_VALID: data_not_valid,
    Rule.DISCONNECTED: disconnected,
    Rule.REMOVED: removed,
}
"""Rule -> check; event-driven rules come from `events`."""
