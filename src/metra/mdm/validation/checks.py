"""The validation checks: one or two fused NumPy passes each, then work only where they hit.

Every check returns its hits and the flat positions (in the batch's (meters, intervals) grid,
row-major) of the intervals it hit; `validate` decides from the rule set whether those
invalidate or only flag. Faults are rare, so after the full-array comparison everything else
(runs, evidence, the spike rule's exact k-th largest) is done on the hit positions or on the
few candidate days only. Checks that need context the batch does not carry (registers, relay
state, capacity ...) return nothing rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import ORIGIN_MASK, Batch, Bools, Codes, Floats, Ints, MeterBits
from metra.mdm.validation.findings import Hits, hits_at, runs_at, spans
from metra.mdm.validation.rules import Rule, RuleSet

Result = tuple[Hits, Ints]
"""A check's hits and the flat positions they cover (unsorted, may repeat)."""

_METER_SHIFT = 8


@dataclass(frozen=True)
class Prepared:
    """Arrays every check shares, computed once per batch.

    `values` are the batch's values as they are (NaN where missing: comparisons with NaN are
    false, so each check ANDs with `present` only where the raw value could matter);
    `missing` are the flat positions of intervals without a value.
    """

    values: Floats
    status: Codes
    present: Bools
    missing: Ints
    per_day: int
    days: int

    @staticmethod
    def of(batch: Batch) -> Prepared:
        values = np.ascontiguousarray(batch.values, np.float64)
        status = np.ascontiguousarray(batch.status, np.uint16)
        absent = (status & np.uint16(ORIGIN_MASK)) == 0
        missing = np.flatnonzero(absent)
        return Prepared(values, status, ~absent, missing, batch.per_day, batch.n_days)

    @property
    def width(self) -> int:
        """Intervals per row."""
        return int(self.values.shape[1])

    def at(self, mask: Bools) -> Ints:
        """Flat positions where a full (meters, intervals) mask is set."""
        return np.flatnonzero(mask)

    def flat(self, array: np.ndarray) -> np.ndarray:
        """A (meters, intervals) array as one flat view."""
        return array.reshape(-1)


def _day_hits(rule: Rule, p: Prepared, day_mask: Bools, **evidence: np.ndarray) -> Result:
    rows, days = np.nonzero(day_mask)
    rows = rows.astype(np.int64)
    first = days.astype(np.int64) * p.per_day
    last = first + p.per_day - 1
    hits = Hits(
        rule,
        rows,
        first,
        last,
        {n: np.asarray(a, np.float64)[rows, days] for n, a in evidence.items()},
    )
    return hits, spans(rows, first, last, p.width)


def _empty(rule: Rule) -> Result:
    none = np.zeros(0, np.int64)
    return Hits(rule, none, none, none, {}), none


def _hits(rule: Rule, p: Prepared, pos: Ints, **evidence: Floats) -> Result:
    return hits_at(rule, pos, p.width, **evidence), pos


def gaps(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Missing intervals (DQ-4): every run of intervals with no value."""
    return _hits(Rule.GAP, p, p.missing)


def duplicates(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals delivered more than once with different values (the store's changed bitmap)."""
    if batch.conflicts is None:
        return _empty(Rule.DUPLICATE)
    pos = p.at(batch.conflicts & p.present)
    return _hits(Rule.DUPLICATE, p, pos, value=p.flat(p.values)[pos])


def interval_length(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Days stored with an integration period other than the batch's (or one not allowed)."""
    if batch.day_interval_s is None:
        return _empty(Rule.INTERVAL_LENGTH)
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


def _fold_width(per_day: int, k: int) -> int:
    width = per_day
    while width % 2 == 0 and width // 2 >= k:
        width //= 2
    return width


def _spike_candidates(day: Floats, k: int, factor: float, floor: float) -> Bools:
    """(meters, days) mask of the days that may hold a spike; all others certainly do not.

    Folding a day in halves with `fmax` leaves the maxima of `g` disjoint groups of its present
    values (NaN = missing is skipped). The k-th largest of those group maxima cannot exceed the
    day's k-th largest value, so a day whose maximum stays under `factor` times that bound (with
    the floor) has no spike. Any NaN in the bound keeps the day a candidate.
    """
    g = _fold_width(day.shape[2], k)
    if g == day.shape[2]:
        return np.ones(day.shape[:2], np.bool_)
    folded = day
    while folded.shape[2] > g:
        half = folded.shape[2] // 2
        folded = np.fmax(folded[:, :, :half], folded[:, :, half:])
    groups = np.sort(folded, axis=2)
    top = folded.max(axis=2)
    bound = np.maximum(groups[:, :, g - k], floor) * factor
    return np.asarray(~(top <= bound), np.bool_)


def spikes(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """The largest intervals of a day against its k-th largest interval, times the spike factor.

    A day's k-th largest value is a robust "normal high" (one or two spikes cannot move it), so a
    value above `spike_factor` times it (with a floor for near-empty days) is implausible.
    Missing intervals count as 0 in the ranking. The exact k-th largest is computed only on the
    days that `_spike_candidates` cannot clear.
    """
    per_day = p.per_day
    k = min(rules.spike_rank, per_day)
    day = p.values.reshape(-1, p.days, per_day)
    present = p.present.reshape(day.shape)
    rows, days = np.nonzero(
        _spike_candidates(day, k, rules.spike_factor, rules.units(rules.spike_min_base))
        | _garbage_days(p, day.shape)
    )
    if rows.size == 0:
        return _empty(Rule.SPIKE)
    has = present[rows, days]
    sub = np.where(has, day[rows, days], 0.0)
    kth = np.partition(sub, per_day - k, axis=1)[:, per_day - k]
    threshold = np.maximum(kth, rules.units(rules.spike_min_base)) * rules.spike_factor
    over = has & (sub > threshold[:, None])
    cand, slot = np.nonzero(over)
    pos = (rows[cand] * p.days + days[cand]).astype(np.int64) * per_day + slot  # sorted
    return _hits(
        Rule.SPIKE,
        p,
        pos,
        value=sub[cand, slot],
        threshold=threshold[cand],
        kth_largest=kth[cand],
    )


def _garbage_days(p: Prepared, shape: tuple[int, ...]) -> Bools:
    """Days with a value under a missing status (it counts as 0, so the fold's bound fails)."""
    out = np.zeros(shape[:2], np.bool_)
    odd = p.missing[~np.isnan(p.flat(p.values)[p.missing])]
    if odd.size:
        out.reshape(-1)[odd // p.per_day] = True
    return out


def history_spikes(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Intervals above `spike_factor` times the meter's historical peak interval."""
    if batch.history_peak is None:
        return _empty(Rule.SPIKE_HISTORY)
    base = np.maximum(batch.history_peak, rules.units(rules.spike_min_base)) * rules.spike_factor
    known = ~np.isnan(batch.history_peak)
    pos = p.at((p.values > base[:, None]) & known[:, None] & p.present)
    rows = pos // p.width
    return _hits(Rule.SPIKE_HISTORY, p, pos, value=p.flat(p.values)[pos], threshold=base[rows])


def _low(batch: Batch, p: Prepared) -> tuple[Ints, Floats]:
    """Positions and values of present intervals at or below zero (zero runs, negatives)."""
    pos = p.at((p.values <= 0.0) & p.present)
    return pos, p.flat(p.values)[pos]


def zero_runs(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Consecutive zeros at least `zero_run_min_s` long while the relay is closed."""
    pos, values = _low(batch, p)
    keep = values == 0.0
    if batch.relay_closed is not None:
        keep &= p.flat(batch.relay_closed)[pos]
    rows, first, last, _ = runs_at(pos[keep], p.width)
    minimum = max(1, rules.zero_run_min_s // batch.interval_s)
    long = last - first + 1 >= minimum
    rows, first, last = rows[long], first[long], last[long]
    hits = Hits(
        Rule.ZERO_RUN,
        rows,
        first,
        last,
        {"intervals": (last - first + 1).astype(np.float64)},
    )
    return hits, spans(rows, first, last, p.width)


def negative(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Negative interval values on an energy channel (an energy register never runs back)."""
    pos, values = _low(batch, p)
    below = values < 0.0
    return _hits(Rule.NEGATIVE, p, pos[below], value=values[below])


def reverse_flow(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Energy in the reverse direction at a point with no generation."""
    if batch.reverse is None:
        return _empty(Rule.REVERSE_FLOW)
    producer = (
        np.zeros(len(batch.meter_ids), np.bool_) if batch.generation is None else batch.generation
    )
    reverse = np.nan_to_num(batch.reverse)
    pos = p.at((reverse > rules.units(rules.reverse_min)) & ~producer[:, None])
    return _hits(Rule.REVERSE_FLOW, p, pos, value=reverse.reshape(-1)[pos])


def _advance(batch: Batch) -> Floats | None:
    if batch.registers is None:
        return None
    return np.diff(batch.registers, axis=1)


def sum_check(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A complete day's profile total against the register advance of the same day.

    Only complete days are judged, and on those every value is present, so the day total is
    taken from the values as they are.
    """
    advance = _advance(batch)
    if advance is None:
        return _empty(Rule.SUM_CHECK)
    shape = (-1, p.days, p.per_day)
    total = p.values.reshape(shape).sum(axis=2)
    complete = p.present.reshape(shape).all(axis=2) & ~np.isnan(advance)
    tolerance = np.maximum(
        rules.units(rules.sum_tolerance_abs), rules.sum_tolerance_ratio * np.abs(advance)
    )
    off = complete & (np.abs(np.nan_to_num(advance) - total) > tolerance)
    return _day_hits(
        Rule.SUM_CHECK, p, off, profile_total=total, register_advance=advance, tolerance=tolerance
    )


def register_decrease(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A cumulative register that went down during a day (reversed or replaced register)."""
    advance = _advance(batch)
    if advance is None or batch.registers is None:
        return _empty(Rule.REGISTER_DECREASE)
    down = np.nan_to_num(advance) < 0.0
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
        return _empty(Rule.CAPACITY)
    limit = (
        batch.capacity_kw * (batch.interval_s / 3600.0) * rules.capacity_margin
    ) / rules.energy_unit_kwh
    threshold = np.nan_to_num(limit, nan=np.inf)
    pos = p.at((p.values > threshold[:, None]) & p.present)
    rows = pos // p.width
    return _hits(Rule.CAPACITY, p, pos, value=p.flat(p.values)[pos], threshold=threshold[rows])


def register_capacity(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """A day's register advance above 24 h at the connection capacity."""
    advance = _advance(batch)
    if advance is None or batch.capacity_kw is None:
        return _empty(Rule.REGISTER_CAPACITY)
    limit = np.nan_to_num(
        batch.capacity_kw * 24.0 * rules.capacity_margin / rules.energy_unit_kwh, nan=np.inf
    )
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
        return _empty(Rule.CLOCK_DEVIATION)
    off = np.abs(np.nan_to_num(batch.clock_deviation_s)) > rules.clock_threshold_s
    rows = np.flatnonzero(off).astype(np.int64)
    first = np.zeros(rows.size, np.int64)
    last = np.full(rows.size, p.width - 1, np.int64)
    hits = Hits(
        Rule.CLOCK_DEVIATION,
        rows,
        first,
        last,
        {
            "deviation_s": batch.clock_deviation_s[rows],
            "threshold_s": np.full(rows.size, rules.clock_threshold_s),
        },
    )
    return hits, spans(rows, first, last, p.width)


_BIT_RULES = {
    Rule.CLOCK_ADJUSTED: MeterBits.CLOCK_ADJUSTED | MeterBits.CLOCK_INVALID,
    Rule.POWER_DOWN: MeterBits.POWER_DOWN,
    Rule.DATA_NOT_VALID: MeterBits.DATA_NOT_VALID | MeterBits.CRITICAL_ERROR,
}
"""Rules read from the meter's profile status byte and the bits each one looks at."""


def status_bits(batch: Batch, rules: RuleSet, p: Prepared) -> list[Result]:
    """Meter status bits: clock adjusted / invalid, power down, data not valid / critical error.

    One pass finds every interval with any of the bits; each rule then looks only there.
    """
    wanted = 0
    for rule, bits in _BIT_RULES.items():
        if rule in rules.enabled:
            wanted |= bits
    if not wanted:
        return []
    pos = p.at((p.status & np.uint16(wanted << _METER_SHIFT)) != 0)
    pos = pos[p.flat(p.present)[pos]]
    meter = p.flat(p.status)[pos] >> np.uint16(_METER_SHIFT)
    out: list[Result] = []
    for rule, bits in _BIT_RULES.items():
        if rule in rules.enabled:
            found = meter & np.uint16(bits)
            take = found != 0
            out.append(_hits(rule, p, pos[take], bits=found[take].astype(np.float64)))
    return out


def disconnected(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Energy recorded while the relay was open (a bypass or a relay fault)."""
    if batch.relay_closed is None:
        return _empty(Rule.DISCONNECTED)
    pos = p.at((p.values > 0.0) & ~batch.relay_closed & p.present)
    return _hits(Rule.DISCONNECTED, p, pos, value=p.flat(p.values)[pos])


def removed(batch: Batch, rules: RuleSet, p: Prepared) -> Result:
    """Values stamped while the meter was not installed (before commissioning, after removal)."""
    if batch.installed is None:
        return _empty(Rule.REMOVED)
    pos = p.at(p.present & ~batch.installed)
    return _hits(Rule.REMOVED, p, pos, value=p.flat(p.values)[pos])


def events(batch: Batch, rules: RuleSet, p: Prepared) -> list[Result]:
    """Intervals during and after events that make data suspect (DQ-3, DQ-10), one per code."""
    ev = batch.events
    width = p.width
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
        out.append((hits, spans(meter, first, last, width)))
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
    Rule.DISCONNECTED: disconnected,
    Rule.REMOVED: removed,
}
"""Rule -> check; status-bit rules come from `status_bits`, event-driven rules from `events`."""
