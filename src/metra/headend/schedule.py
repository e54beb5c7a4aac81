"""When each meter's daily read runs: inside the profile's read window, spread over it (COL-1).

The jurisdiction profile gives the daily read window in local time (PL 00:15-06:00 after day n,
well before the 09:00 KPI checkpoint). Reading every meter at the window's first second would
flood the network and the store and then leave it idle; so each meter gets its own start time,
evenly spaced over the first part of the window (`spread`), and the rest of the window is left
for retries with back-off. A meter's place in the window comes from a hash of its UUID, so it
reads at about the same time every day and adding a meter does not move the others much.

Scheduling is pure: `DayPlan.due(now)` says which reads to start at a moment, so tests drive it
with any clock; `run_window` is the loop that starts them with a collector.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from metra.profiles.model import Profile

from .collector import Collector, MeterOutcome, MeterTarget


def read_window(profile: Profile, day: date) -> tuple[datetime, datetime]:
    """The window (UTC) in which day n is read: the profile's local window on day n + 1.

    A window whose end is not after its start runs over midnight. Local times are converted with
    the profile's time zone, so a DST change night gives a shorter or longer window.
    """
    plan = profile.collection.read_plan
    zone = ZoneInfo(profile.timezone)
    local_day = day + timedelta(days=1)
    start = datetime.combine(local_day, plan.daily_window_start, zone)
    end_day = (
        local_day
        if plan.daily_window_end > plan.daily_window_start
        else local_day + timedelta(days=1)
    )
    end = datetime.combine(end_day, plan.daily_window_end, zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _rank(target: MeterTarget) -> bytes:
    return hashlib.sha256(b"metra read slot\x00" + target.meter_id.bytes).digest()


@dataclass
class DayPlan:
    """Start times of day n's reads, and which have been started."""

    day: date
    window: tuple[datetime, datetime]
    starts: dict[MeterTarget, datetime]
    started: set[MeterTarget] = field(default_factory=set)

    def due(self, now: datetime) -> list[MeterTarget]:
        """Reads to start at `now` (their start passed, not started yet), oldest start first.

        Nothing starts outside the window: before it nothing is due, and a read not started by
        its end is left to the next day's read, whose backfill fetches what is missing (COL-8).
        """
        start, end = self.window
        if not start <= now < end:
            return []
        ready = sorted(
            (at, t.serial, t)
            for t, at in self.starts.items()
            if at <= now and t not in self.started
        )
        self.started.update(t for _, _, t in ready)
        return [t for _, _, t in ready]

    def next_start(self, now: datetime) -> datetime | None:
        """When the next read becomes due after `now` (None: none left in the window)."""
        pending = [at for t, at in self.starts.items() if t not in self.started and at > now]
        upcoming = min(pending, default=None)
        return upcoming if upcoming is not None and upcoming < self.window[1] else None

    def missed(self) -> list[MeterTarget]:
        """Reads never started (the window closed first)."""
        return sorted((t for t in self.starts if t not in self.started), key=lambda t: t.serial)


def plan_day(
    profile: Profile, day: date, targets: Sequence[MeterTarget], *, spread: float = 0.5
) -> DayPlan:
    """Start times for day n: the targets, in an order fixed by their UUIDs, evenly over the
    first `spread` of the window (0 < spread <= 1); the rest of the window is for retries."""
    if not 0.0 < spread <= 1.0:
        raise ValueError("spread must be in (0, 1]")
    start, end = read_window(profile, day)
    span = (end - start) * spread
    ordered = sorted(targets, key=_rank)
    n = len(ordered)
    starts = {t: start + span * (i / n) for i, t in enumerate(ordered)}
    return DayPlan(day, (start, end), starts)


async def run_window(
    collector: Collector,
    plan: DayPlan,
    *,
    now: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[MeterOutcome]:
    """Start each read of `plan` when due (within the collector's own bounds) until the window
    closes or every read started; return the outcomes once the started reads finished."""
    running: list[asyncio.Task[MeterOutcome]] = []
    while True:
        moment = now()
        for target in plan.due(moment):
            running.append(asyncio.ensure_future(collector.collect_meter(target, plan.day)))
        upcoming = plan.next_start(moment)
        if upcoming is None:
            if moment < plan.window[0]:
                await sleep((plan.window[0] - moment).total_seconds())
                continue
            break
        await sleep(max(0.0, (upcoming - moment).total_seconds()))
    return list(await asyncio.gather(*running))
