"""The array form the VEE works on: many meters' intervals of one channel as (meters, intervals).

Everything the checks and estimators need travels with the values as arrays aligned on the same
interval grid, so each rule is a few NumPy passes over the whole fleet instead of a loop per
interval. Optional context (registers, relay state, events ...) is None when unknown; the rules
that need it are then skipped rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from metra.store.intervals import SECONDS_PER_DAY, day_start, intervals_per_day

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]
Codes = NDArray[np.uint16]

ORIGIN_MASK = 0x0007
QUALITY_SHIFT = 3
QUALITY_MASK = 0x0018
METER_SHIFT = 8


class MeterBits:
    """The meter's profile status byte (IDIS "AMR profile status", as the fleet's meters set it)."""

    CRITICAL_ERROR = 0x01
    CLOCK_INVALID = 0x02
    DATA_NOT_VALID = 0x04
    DAYLIGHT_SAVING = 0x08
    CLOCK_ADJUSTED = 0x20
    POWER_DOWN = 0x80


def meter_bits(status: Codes) -> NDArray[np.uint16]:
    """The meter status byte of every packed status code."""
    return np.asarray(status >> METER_SHIFT, np.uint16)


def present(status: Codes) -> Bools:
    """True where an interval has a value (origin other than MISSING)."""
    return np.asarray((status & ORIGIN_MASK) != 0, np.bool_)


@dataclass(frozen=True)
class Events:
    """Meter events on the batch's grid: `meter[k]` row, `interval[k]` index, `codes[k]` name."""

    meter: Ints
    interval: Ints
    codes: tuple[str, ...]

    @staticmethod
    def empty() -> Events:
        """No events at all."""
        return Events(np.zeros(0, np.int64), np.zeros(0, np.int64), ())


@dataclass(frozen=True)
class Batch:
    """One channel of many meters over whole UTC days.

    `values` and `status` have shape (meters, days x intervals per day); a missing value is NaN
    with origin 0 in its status. `registers[m, d]` is the cumulative register of the same
    quantity at the start of day d (shape (meters, days + 1), NaN when not read), used by the
    sum check, the register checks and to scale like-day estimates. Registers are in the unit
    of the values; `capacity_kw` is the connection capacity as the meter sees it (divided by its
    transformer ratio), in kW; the rule set says how much energy one unit of the values is.
    """

    meter_ids: tuple[UUID, ...]
    channel: str
    first_day: date
    interval_s: int
    values: Floats
    status: Codes
    registers: Floats | None = None
    day_interval_s: NDArray[np.int32] | None = None
    conflicts: Bools | None = None
    relay_closed: Bools | None = None
    installed: Bools | None = None
    reverse: Floats | None = None
    generation: Bools | None = None
    capacity_kw: Floats | None = None
    clock_deviation_s: Floats | None = None
    history_peak: Floats | None = None
    events: Events = field(default_factory=Events.empty)

    def __post_init__(self) -> None:
        per_day = intervals_per_day(self.interval_s)
        m = len(self.meter_ids)
        if self.values.shape != self.status.shape or self.values.ndim != 2:
            raise ValueError("values and status must be 2-D arrays of the same shape")
        if self.values.shape[0] != m or self.values.shape[1] % per_day:
            raise ValueError(f"expected ({m}, whole days x {per_day}), got {self.values.shape}")

    @property
    def per_day(self) -> int:
        """Intervals in one day."""
        return SECONDS_PER_DAY // self.interval_s

    @property
    def n_days(self) -> int:
        """Number of whole days in the batch."""
        return int(self.values.shape[1]) // self.per_day

    @property
    def days(self) -> list[date]:
        """The UTC days of the batch, in order."""
        return [self.first_day + timedelta(days=d) for d in range(self.n_days)]

    def start(self, index: int) -> datetime:
        """The UTC start of interval `index`."""
        return day_start(self.first_day) + timedelta(seconds=index * self.interval_s)
