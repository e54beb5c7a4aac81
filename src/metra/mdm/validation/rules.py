"""Validation rules and the per-jurisdiction rule set that parameterises them (DQ-4, JUR-1).

The numbers that differ by country (short-gap limit, spike factor, like-day window, interval
length, clock threshold) come from the profile; the rest are engineering defaults a utility may
override with `dataclasses.replace`. Each rule either invalidates the intervals it hits (they are
then estimated) or only marks them suspect (kept, flagged, DQ-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from metra.profiles.model import Profile


class Rule(StrEnum):
    """The checks; the value is the name stored with each finding."""

    GAP = "gap"
    DUPLICATE = "duplicate"
    INTERVAL_LENGTH = "interval-length"
    SPIKE = "spike"
    SPIKE_HISTORY = "spike-history"
    ZERO_RUN = "zero-run"
    NEGATIVE = "negative"
    REVERSE_FLOW = "reverse-flow"
    SUM_CHECK = "sum-check"
    REGISTER_DECREASE = "register-decrease"
    CAPACITY = "capacity"
    REGISTER_CAPACITY = "register-capacity"
    CLOCK_DEVIATION = "clock-deviation"
    CLOCK_ADJUSTED = "clock-adjusted"
    POWER_DOWN = "power-down"
    DATA_NOT_VALID = "data-not-valid"
    DISCONNECTED = "data-while-disconnected"
    REMOVED = "data-after-removal"
    SUSPECT_EVENT = "suspect-event"


class Severity(StrEnum):
    """What a failed rule does to the intervals it names."""

    INVALID = "invalid"
    SUSPECT = "suspect"


DEFAULT_INVALIDATING = frozenset(
    {
        Rule.GAP,
        Rule.INTERVAL_LENGTH,
        Rule.SPIKE,
        Rule.SPIKE_HISTORY,
        Rule.NEGATIVE,
        Rule.CAPACITY,
        Rule.DATA_NOT_VALID,
        Rule.REMOVED,
    }
)

DEFAULT_EVENT_RULES: dict[str, Rule] = {
    "tamper.terminal_cover_opened": Rule.SUSPECT_EVENT,
    "tamper.meter_cover_opened": Rule.SUSPECT_EVENT,
    "tamper.magnetic_field": Rule.SUSPECT_EVENT,
    "power.up": Rule.SUSPECT_EVENT,
    "device.reboot": Rule.SUSPECT_EVENT,
    "device.fault": Rule.SUSPECT_EVENT,
    "clock.adjusted_old_time": Rule.CLOCK_ADJUSTED,
    "clock.adjusted_new_time": Rule.CLOCK_ADJUSTED,
    "clock.invalid": Rule.CLOCK_ADJUSTED,
}
"""Meter event codes (as the head-end normalises them) that make data suspect (DQ-3, DQ-10)."""


@dataclass(frozen=True)
class RuleSet:
    """Every parameter of the checks and of estimation for one jurisdiction."""

    interval_s: int
    allowed_interval_s: frozenset[int]
    spike_factor: float
    short_gap_max_s: int
    like_day_window_days: int
    clock_threshold_s: float
    spike_rank: int = 3
    spike_min_base: float = 0.01
    zero_run_min_s: int = 12 * 3600
    sum_tolerance_ratio: float = 0.02
    sum_tolerance_abs: float = 0.5
    capacity_margin: float = 1.2
    reverse_min: float = 0.0
    event_suspect_s: int = 3600
    energy_unit_kwh: float = 1.0
    network_loss_ratio: float = 0.0
    invalidating: frozenset[Rule] = DEFAULT_INVALIDATING
    enabled: frozenset[Rule] = frozenset(Rule)
    event_rules: dict[str, Rule] = field(default_factory=lambda: dict(DEFAULT_EVENT_RULES))

    @staticmethod
    def from_profile(profile: Profile, *, energy_unit_kwh: float = 1.0) -> RuleSet:
        """The rule set of a jurisdiction: its `vee`, `metering` and clock parameters.

        `energy_unit_kwh` is the energy one unit of the batch's values stands for (0.001 for
        meters that store Wh): the absolute limits below are in kWh and kW.
        """
        return RuleSet(
            interval_s=profile.metering.interval_minutes * 60,
            allowed_interval_s=frozenset(m * 60 for m in profile.metering.allowed_intervals),
            spike_factor=profile.vee.spike_factor,
            short_gap_max_s=profile.vee.short_gap_max_minutes * 60,
            like_day_window_days=profile.vee.like_day_window_days,
            clock_threshold_s=float(profile.collection.clock_sync_threshold_s),
            energy_unit_kwh=energy_unit_kwh,
        )

    def units(self, kwh: float) -> float:
        """An energy in kWh in the batch's units."""
        return kwh / self.energy_unit_kwh

    def severity(self, rule: Rule) -> Severity:
        """Whether `rule` invalidates (estimate) or only flags (keep) what it hits."""
        return Severity.INVALID if rule in self.invalidating else Severity.SUSPECT
