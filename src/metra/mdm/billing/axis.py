"""Local-time view of a UTC interval grid: local day, minute, hour and day type per interval.

Interval rows are UTC days (docs/store.md) but tariff zones, peak hours and billing months are
local: a Polish night zone starts at 22:00 Warsaw time, and a March billing month has a 23-hour
day. The axis is computed once per grid (not per meter) and every determinant is then a NumPy
reduction over it, whatever the number of meters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from metra.mdm.batch import Bools, Ints
from metra.profiles.calendar import is_public_holiday, is_working_day
from metra.profiles.model import DAY_TYPES, Profile
from metra.store.intervals import SECONDS_PER_DAY, day_start, intervals_per_day


def day_type(profile: Profile, day: date) -> str:
    """The tariff day type: working, holiday (public holiday or day off), saturday or sunday.

    A Saturday worked under a transfer decree is a working day, a transferred day off counts as
    a holiday, as tariffs and the system operator's peak hours treat them.
    """
    if is_working_day(profile, day):
        return "working"
    if is_public_holiday(profile, day) or day in profile.calendar.extra_days_off:
        return "holiday"
    return "saturday" if day.isoweekday() == 6 else "sunday"


@dataclass(frozen=True)
class LocalAxis:
    """Per interval of a UTC grid from `origin`: local day (index into `days`), minute, hour key.

    `hour` numbers the local clock hours in time order (a repeated autumn hour gets two keys),
    so intervals of one hour are contiguous and hourly volumes are one `add.reduceat`.
    """

    origin: datetime
    interval_s: int
    local_day: Ints
    minute: Ints
    hour: Ints
    days: tuple[date, ...]
    day_types: tuple[str, ...]
    working: Bools

    @property
    def size(self) -> int:
        """Number of intervals on the axis."""
        return int(self.local_day.shape[0])

    def utc_start(self, index: int) -> datetime:
        """The UTC start of interval `index`."""
        return self.origin + timedelta(seconds=index * self.interval_s)

    def day_starts(self) -> Ints:
        """Index of the first interval of every local day (for `reduceat`)."""
        return _starts(self.local_day)

    def hour_starts(self) -> Ints:
        """Index of the first interval of every local hour (for `reduceat`)."""
        return _starts(self.hour)

    def month_of_day(self) -> Ints:
        """The month (1..12) of each local day."""
        return np.array([d.month for d in self.days], np.int64)

    def type_code(self) -> Ints:
        """Each local day's type as its index in `DAY_TYPES`."""
        return np.array([DAY_TYPES.index(t) for t in self.day_types], np.int64)

    def select(self, part: slice) -> LocalAxis:
        """The axis restricted to a slice of intervals (a local month inside loaded UTC days)."""
        start, stop, _ = part.indices(self.size)
        first_day = int(self.local_day[start])
        last_day = int(self.local_day[stop - 1])
        return LocalAxis(
            origin=self.utc_start(start),
            interval_s=self.interval_s,
            local_day=self.local_day[start:stop] - first_day,
            minute=self.minute[start:stop],
            hour=self.hour[start:stop] - int(self.hour[start]),
            days=self.days[first_day : last_day + 1],
            day_types=self.day_types[first_day : last_day + 1],
            working=self.working[first_day : last_day + 1],
        )


def _starts(keys: Ints) -> Ints:
    if keys.size == 0:
        return np.zeros(0, np.int64)
    change = np.flatnonzero(np.diff(keys)) + 1
    return np.concatenate([[0], change]).astype(np.int64)


def _offsets(zone: ZoneInfo, first: date, n_days: int, interval_s: int) -> Ints:
    """UTC offset in seconds at each interval start.

    The offset is looked up twice per day; only on the two DST-change days a year is it looked
    up per interval of that day (the grid, not the meters' data).
    """
    per_day = intervals_per_day(interval_s)
    out = np.empty(n_days * per_day, np.int64)
    for d in range(n_days):
        begins = datetime.combine(first + timedelta(days=d), datetime.min.time(), UTC)
        before = begins.astimezone(zone).utcoffset()
        after = (begins + timedelta(seconds=SECONDS_PER_DAY - 1)).astimezone(zone).utcoffset()
        assert before is not None and after is not None
        span = slice(d * per_day, (d + 1) * per_day)
        if before == after:
            out[span] = int(before.total_seconds())
            continue
        for i in range(per_day):
            at = begins + timedelta(seconds=i * interval_s)
            offset = at.astimezone(zone).utcoffset()
            assert offset is not None
            out[d * per_day + i] = int(offset.total_seconds())
    return out


def local_axis(profile: Profile, first_utc_day: date, n_days: int, interval_s: int) -> LocalAxis:
    """Build the local view of `n_days` UTC days from `first_utc_day` in the profile's zone."""
    per_day = intervals_per_day(interval_s)
    utc_s = np.arange(n_days * per_day, dtype=np.int64) * interval_s
    offsets = _offsets(ZoneInfo(profile.timezone), first_utc_day, n_days, interval_s)
    local_s = utc_s + offsets
    epoch = first_utc_day.toordinal()
    ordinal = epoch + np.floor_divide(local_s, SECONDS_PER_DAY)
    first_ordinal = int(ordinal[0]) if ordinal.size else epoch
    last_ordinal = int(ordinal[-1]) if ordinal.size else epoch - 1
    days = tuple(date.fromordinal(o) for o in range(first_ordinal, last_ordinal + 1))
    types = tuple(day_type(profile, d) for d in days)
    return LocalAxis(
        origin=day_start(first_utc_day),
        interval_s=interval_s,
        local_day=(ordinal - first_ordinal).astype(np.int64),
        minute=np.floor_divide(np.mod(local_s, SECONDS_PER_DAY), 60).astype(np.int64),
        hour=np.floor_divide(utc_s + np.mod(offsets, 3600), 3600).astype(np.int64),
        days=days,
        day_types=types,
        working=np.array([t == "working" for t in types], np.bool_),
    )


def month_span(month: date) -> tuple[date, int]:
    """The UTC days to load for a local calendar month: one extra day either side covers any
    offset from UTC. Returns (first UTC day, number of days)."""
    first_local = month.replace(day=1)
    next_month = (first_local + timedelta(days=32)).replace(day=1)
    first_utc = first_local - timedelta(days=1)
    return first_utc, (next_month - first_utc).days + 1


def month_axis(profile: Profile, month: date, interval_s: int) -> tuple[LocalAxis, slice]:
    """The axis over the UTC days of `month_span(month)` and the slice of it that is the month."""
    first_local = month.replace(day=1)
    next_month = (first_local + timedelta(days=32)).replace(day=1)
    first_utc, n_days = month_span(month)
    axis = local_axis(profile, first_utc, n_days, interval_s)
    first_index = axis.days.index(first_local)
    last_index = axis.days.index(next_month)
    inside = np.flatnonzero((axis.local_day >= first_index) & (axis.local_day < last_index))
    return axis, slice(int(inside[0]), int(inside[-1]) + 1)
