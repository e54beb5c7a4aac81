"""Data acquisition effectiveness for day n at the profile's checkpoints (KPI-1, KPI-2, KPI-4).

Day n is the jurisdiction's local day (the regulation's "doba"), so it is cut out of the UTC-day
rows of the store: in Warsaw it is 23:00 UTC of n-1 to 23:00 UTC of n in winter. A meter's data
for day n *arrived* when the last of the day's intervals first arrived by remote reading: per
interval the earliest `registered_at` of a raw version in which it is present with origin
REMOTE (S1 16.1 counts data acquired "through the remote reading system"; a value read locally
later does not make the remote acquisition on time), and for the day the latest of those. A day
with an interval that never arrived has no arrival time.

At each checkpoint (e.g. 09:00 of n+1, 90 %) a counted meter is on time when its day arrived by
the deadline. A meter that failed is left out of the figure when a documented exclusion whose
reason the profile allows at that checkpoint (S1 16.11) lasted at some moment between the start
of day n and the deadline: that is the period in which access was needed. An exclusion never
removes a meter that delivered: data that arrived prove there was access. Every meter that
pulled a figure down is named with why: its data came late, came incomplete, or did not come.

Everything per meter and per interval is NumPy over the whole population (no loop per meter);
times are int64 microseconds since the epoch with `NEVER` for "has not happened".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from metra.mdm.kpi.exclusions import Exclusion, exclusions
from metra.mdm.kpi.population import Population, population
from metra.profiles import Profile
from metra.profiles.model import Checkpoint
from metra.store.intervals import Origin, intervals_per_day
from metra.store.schema import interval_day

NEVER = np.iinfo(np.int64).max
"""Arrival time of something that has not arrived."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, unlike a float timestamp)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime | None:
    """The aware UTC datetime of `to_us`, None for NEVER."""
    return None if value == NEVER else _EPOCH + timedelta(microseconds=int(value))


class Miss(IntEnum):
    """Why a meter pulled a figure down, as of the evaluation time."""

    LATE = 1  # the whole day arrived, after the deadline
    INCOMPLETE = 2  # some intervals arrived, not all
    NO_DATA = 3  # nothing of the day arrived

    @property
    def text(self) -> str:
        """The reason as a report shows it."""
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class DayRows:
    """Raw version rows of one channel and one interval length as arrays.

    `meter` indexes the population, `slot` counts UTC days from the first one loaded, `status`
    holds one row of packed status codes per version (shape rows x intervals per day).
    """

    meter: NDArray[np.intp]
    slot: NDArray[np.intp]
    registered_us: NDArray[np.int64]
    status: NDArray[np.uint16]
    interval_s: int


@dataclass(frozen=True)
class Arrivals:
    """Per meter: when the whole local day had arrived and when its first interval did."""

    complete_us: NDArray[np.int64]
    first_us: NDArray[np.int64]


def local_day(profile: Profile, day: date) -> tuple[datetime, datetime]:
    """Start and end of the jurisdiction's local day in UTC (23, 24 or 25 hours long)."""
    zone = ZoneInfo(profile.timezone)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


def deadline(profile: Profile, day: date, point: Checkpoint) -> datetime:
    """The checkpoint's moment for day n: `hour` local time of day n + `day_offset` (24 = end)."""
    zone = ZoneInfo(profile.timezone)
    when = day + timedelta(days=point.day_offset + point.hour // 24)
    return datetime.combine(when, time(point.hour % 24), zone).astimezone(UTC)


def checkpoints(profile: Profile, day: date) -> tuple[Checkpoint, ...]:
    """The targets in force for day n: transitional ones before `transitional_until` (S1 20)."""
    k = profile.kpi
    return k.acquisition_transitional if day < k.transitional_until else k.acquisition


def label(point: Checkpoint) -> str:
    """How reports name a checkpoint, e.g. ``n+1 09:00``."""
    return f"n+{point.day_offset} {point.hour:02d}:00"


def arrivals(
    parts: Sequence[DayRows],
    meters: int,
    first_day: date,
    window: tuple[datetime, datetime],
    origins: Sequence[Origin] = (Origin.REMOTE,),
) -> Arrivals:
    """When each meter's data for the local-day `window` arrived, from its raw version rows.

    Per (meter, UTC day) only the day's intervals inside the window matter. Taking the versions
    in order of arrival, that part is complete at the first version by which every interval has
    come in some version (a cumulative OR of the present masks: the latest of the intervals'
    first arrivals) and begun at the first version holding any. Most days have one version, so
    that is one `all` and one `any` per row; the few with more are folded version by version.
    A meter's day is complete when every UTC-day part the window touches is, at the latest of
    their times; it began at the earliest.
    """
    start_us, end_us = to_us(window[0]), to_us(window[1])
    base_us = to_us(_day_start(first_day))
    touched = [
        s
        for s in range(max(0, (end_us - base_us - 1) // _DAY_US + 1))
        if base_us + (s + 1) * _DAY_US > start_us
    ]
    column = {s: k for k, s in enumerate(touched)}
    complete = np.full((meters, len(touched)), NEVER, np.int64)
    begun = np.full((meters, len(touched)), NEVER, np.int64)
    counted = np.zeros(8, np.bool_)
    counted[[int(o) for o in origins]] = True
    for part in parts:
        step = part.interval_s * 1_000_000
        for s in touched:
            lo = max(start_us - base_us - s * _DAY_US, 0)
            hi = min(end_us - base_us - s * _DAY_US, _DAY_US)
            if lo % step or hi % step:
                raise ValueError(f"the local day does not fall on {part.interval_s} s boundaries")
            chosen = np.flatnonzero(part.slot == s)
            if not chosen.size:
                continue
            order = chosen[np.lexsort((part.registered_us[chosen], part.meter[chosen]))]
            meter, registered = part.meter[order], part.registered_us[order]
            present = counted[part.status[order, lo // step : hi // step] & 0x7]
            starts = np.flatnonzero(np.r_[True, meter[1:] != meter[:-1]])
            done = np.where(present.all(axis=1), registered, NEVER)
            some = np.where(present.any(axis=1), registered, NEVER)
            group_done = done[starts]
            lengths = np.diff(np.r_[starts, meter.size])
            _fold(group_done, np.flatnonzero(lengths > 1), starts, lengths, present, registered)
            complete[meter[starts], column[s]] = group_done
            begun[meter[starts], column[s]] = np.minimum.reduceat(some, starts)
    if not touched:
        never = np.full(meters, NEVER, np.int64)
        return Arrivals(never, never.copy())
    return Arrivals(complete.max(axis=1), begun.min(axis=1))


def _fold(
    done: NDArray[np.int64],
    groups: NDArray[np.intp],
    starts: NDArray[np.intp],
    lengths: NDArray[np.intp],
    present: NDArray[np.bool_],
    registered: NDArray[np.int64],
) -> None:
    """For days with several versions: the first version by which the union is complete."""
    if not groups.size:
        return
    union = present[starts[groups]].copy()
    result = done[groups].copy()
    for k in range(1, int(lengths[groups].max())):
        alive = np.flatnonzero(lengths[groups] > k)
        rows = starts[groups[alive]] + k
        union[alive] |= present[rows]
        newly = (result[alive] == NEVER) & union[alive].all(axis=1)
        result[alive[newly]] = registered[rows[newly]]
    done[groups] = result


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Score:
    """One checkpoint's arithmetic over the population (indices into it)."""

    counted: int
    on_time: int
    below: NDArray[np.intp]
    why: NDArray[np.uint8]
    excused: NDArray[np.intp]

    @property
    def percent(self) -> float | None:
        """Share of counted meters on time; None when no meter is counted."""
        return 100.0 * self.on_time / self.counted if self.counted else None


def score(
    arrived: Arrivals,
    counted: NDArray[np.bool_],
    excusable: NDArray[np.bool_],
    deadline_us: int,
    as_of_us: int,
) -> Score:
    """On-time share at one deadline; failures with an allowed exclusion leave the figure."""
    on_time = counted & (arrived.complete_us <= deadline_us)
    failing = counted & ~on_time
    excused = failing & excusable
    below = np.flatnonzero(failing & ~excusable)
    complete = arrived.complete_us[below] <= as_of_us
    some = arrived.first_us[below] <= as_of_us
    why = np.where(complete, Miss.LATE, np.where(some, Miss.INCOMPLETE, Miss.NO_DATA))
    n_excused = int(np.count_nonzero(excused))
    return Score(
        counted=int(np.count_nonzero(counted)) - n_excused,
        on_time=int(np.count_nonzero(on_time)),
        below=below,
        why=why.astype(np.uint8),
        excused=np.flatnonzero(excused),
    )


@dataclass(frozen=True)
class CheckpointFigure:
    """The acquisition figure of day n at one checkpoint, and who pulled it down."""

    point: Checkpoint
    deadline: datetime
    due: bool  # the deadline has passed: the figure is final unless exclusions are added
    score: Score
    excused_by: dict[int, Exclusion]

    @property
    def label(self) -> str:
        return label(self.point)

    @property
    def met(self) -> bool | None:
        """True / False once due (no counted meter: met); None while still running."""
        if not self.due:
            return None
        percent = self.score.percent
        return percent is None or percent >= self.point.percent


@dataclass(frozen=True)
class Acquisition:
    """KPI-1 of one day: the population, each meter's arrival and every checkpoint's figure."""

    day: date
    channel: str
    as_of: datetime
    transitional: bool
    window: tuple[datetime, datetime]
    population: Population
    arrived: Arrivals
    figures: tuple[CheckpointFigure, ...]


def load_rows(
    conn: Connection,
    channel: str,
    days: Sequence[date],
    index: dict[UUID, int],
    as_of: datetime,
) -> list[DayRows]:
    """The channel's raw versions of `days` registered by `as_of`, one `DayRows` per length."""
    t = interval_day
    query = select(t.c.meter_id, t.c.day, t.c.interval_s, t.c.status, t.c.registered_at).where(
        t.c.channel == channel,
        t.c.day >= min(days),
        t.c.day <= max(days),
        t.c.registered_at <= as_of,
    )
    slot_of = {d: i for i, d in enumerate(days)}
    grouped: dict[int, tuple[list[int], list[int], list[int], list[bytes]]] = {}
    for meter_id, day, interval_s, status, registered_at in conn.execute(query):
        at = index.get(meter_id)
        if at is None or day not in slot_of:
            continue
        lists = grouped.setdefault(interval_s, ([], [], [], []))
        lists[0].append(at)
        lists[1].append(slot_of[day])
        lists[2].append(to_us(registered_at))
        lists[3].append(bytes(status))
    parts: list[DayRows] = []
    for interval_s, (meters, slots, registered, statuses) in sorted(grouped.items()):
        n = intervals_per_day(interval_s)
        parts.append(
            DayRows(
                np.array(meters, np.intp),
                np.array(slots, np.intp),
                np.array(registered, np.int64),
                np.frombuffer(b"".join(statuses), "<u2").reshape(-1, n).astype(np.uint16),
                interval_s,
            )
        )
    return parts


def _excusable(
    found: Sequence[Exclusion],
    pop: Population,
    reasons: tuple[str, ...],
    start: datetime,
    end: datetime,
) -> tuple[NDArray[np.bool_], dict[int, Exclusion]]:
    """Meters an allowed exclusion covers in [start, end), with the first such exclusion."""
    by_meter: dict[int, Exclusion] = {}
    for exc in found:
        if exc.reason.value not in reasons or not exc.overlaps(start, end):
            continue
        if exc.meter_id is not None:
            hits = [pop.index[exc.meter_id]] if exc.meter_id in pop.index else []
        elif exc.feeder_id is not None:
            hits = [i for i, f in enumerate(pop.feeder_ids) if f == exc.feeder_id]
        else:
            hits = [i for i, s in enumerate(pop.substation_ids) if s == exc.substation_id]
        for i in hits:
            by_meter.setdefault(i, exc)
    mask = np.zeros(len(pop), np.bool_)
    mask[list(by_meter)] = True
    return mask, by_meter


def acquisition(
    conn: Connection,
    profile: Profile,
    day: date,
    *,
    channel: str,
    as_of: datetime,
) -> Acquisition:
    """KPI-1 of local day `day` for the load-profile `channel`, as the store stood at `as_of`."""
    pop = population(conn, profile, day)
    window = local_day(profile, day)
    first = window[0].date()
    utc_days = [first]
    while _day_start(utc_days[-1] + timedelta(days=1)) < window[1]:
        utc_days.append(utc_days[-1] + timedelta(days=1))
    parts = load_rows(conn, channel, utc_days, pop.index, as_of)
    arrived = arrivals(parts, len(pop), first, window)
    points = checkpoints(profile, day)
    last_deadline = deadline(profile, day, points[-1])
    found = exclusions(conn, window[0], last_deadline)
    as_of_us = to_us(as_of)
    figures: list[CheckpointFigure] = []
    for point, reasons in zip(points, profile.kpi.checkpoint_exclusions, strict=True):
        due_at = deadline(profile, day, point)
        excusable, excused_by = _excusable(found, pop, reasons, window[0], due_at)
        result = score(arrived, pop.counted, excusable, to_us(due_at), as_of_us)
        figures.append(
            CheckpointFigure(
                point,
                due_at,
                due_at <= as_of,
                result,
                {i: excused_by[i] for i in result.excused.tolist()},
            )
        )
    return Acquisition(
        day=day,
        channel=channel,
        as_of=as_of,
        transitional=day < profile.kpi.transitional_until,
        window=window,
        population=pop,
        arrived=arrived,
        figures=tuple(figures),
    )
