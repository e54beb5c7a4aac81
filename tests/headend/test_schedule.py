"""The daily read runs inside the profile's read window, spread over it (COL-1); decisions are
tested with a fake clock, then one window is run with the real collector against model meters."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from uuid import uuid4

import pytest
from sqlalchemy import Engine

from metra.headend.collector import MeterTarget
from metra.headend.schedule import plan_day, read_window, run_window
from metra.profiles import load_profile

from .test_collector import DAY, make_rig, stop

PL = load_profile("pl")


def _targets(n: int, cells: int = 4) -> list[MeterTarget]:
    return [
        MeterTarget(
            uuid4(),
            f"MTR{i:08d}",
            b"MTR" + i.to_bytes(5, "big"),
            "127.0.0.1",
            4059,
            f"SS{i % cells}",
        )
        for i in range(n)
    ]


def test_col1_window_is_the_profiles_local_window_after_day_n() -> None:
    # PL: 00:15-06:00 Europe/Warsaw on day n+1; winter time is UTC+1.
    assert read_window(PL, date(2025, 3, 9)) == (
        datetime(2025, 3, 9, 23, 15, tzinfo=UTC),
        datetime(2025, 3, 10, 5, 0, tzinfo=UTC),
    )
    # The night clocks go forward (30 March 2025, 02:00 -> 03:00): the window is an hour shorter.
    start, end = read_window(PL, date(2025, 3, 29))
    assert (start, end) == (
        datetime(2025, 3, 29, 23, 15, tzinfo=UTC),
        datetime(2025, 3, 30, 4, 0, tzinfo=UTC),
    )
    no_start, no_end = read_window(load_profile("no"), date(2025, 6, 1))  # 00:15-05:00 CEST
    assert no_end - no_start == timedelta(hours=4, minutes=45)


def test_col1_meters_spread_evenly_over_the_first_part_of_the_window() -> None:
    targets = _targets(1000)
    plan = plan_day(PL, DAY, targets, spread=0.5)
    start, end = plan.window
    times = sorted(plan.starts.values())
    assert times[0] == start and times[-1] < start + (end - start) / 2
    gaps = {b - a for a, b in pairwise(times)}
    assert max(gaps) - min(gaps) <= timedelta(microseconds=1)  # evenly spaced
    # Cells are interleaved, not read one after another: every tenth of the spread holds
    # about a quarter of each cell's meters.
    tenth = (end - start) / 20
    for k in range(10):
        lo = start + tenth * k
        chunk = [t for t, at in plan.starts.items() if lo <= at < lo + tenth]
        for cell in ("SS0", "SS1", "SS2", "SS3"):
            assert 10 <= sum(t.substation == cell for t in chunk) <= 40
    # The same meter keeps its place from day to day.
    other = plan_day(PL, DAY + timedelta(days=1), targets, spread=0.5)
    assert all(
        plan.starts[t] - plan.window[0] == other.starts[t] - other.window[0] for t in targets
    )
    with pytest.raises(ValueError):
        plan_day(PL, DAY, targets, spread=0.0)


def test_col1_due_follows_the_clock_and_nothing_starts_outside_the_window() -> None:
    targets = _targets(100)
    plan = plan_day(PL, DAY, targets, spread=0.5)
    start, end = plan.window
    assert plan.due(start - timedelta(seconds=1)) == []
    first = plan.due(start)
    assert len(first) == 1
    quarter = plan.due(start + (end - start) / 4)  # half of the spread has passed
    assert 45 <= len(quarter) <= 50 and not set(first) & set(quarter)
    assert plan.due(start + (end - start) / 4) == []  # each read starts once
    assert plan.next_start(start + (end - start) / 4) is not None
    # A head-end that was down until after the window starts nothing more that day...
    late = plan_day(PL, DAY, targets, spread=0.5)
    assert late.due(end) == [] and late.next_start(end) is None
    assert len(late.missed()) == 100
    # ...and one started mid-window catches up at once with every read already due.
    catching_up = plan_day(PL, DAY, targets, spread=0.5)
    assert len(catching_up.due(start + (end - start) * 0.75)) == 100
    assert catching_up.missed() == []


def test_col1_run_window_starts_reads_on_schedule_with_the_collector(engine: Engine) -> None:
    async def run() -> None:
        rig = await make_rig(engine, 3)
        plan = plan_day(PL, DAY, rig.targets, spread=0.5)
        fake = [plan.window[0] - timedelta(hours=2)]  # started before the window opens
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            fake[0] += timedelta(seconds=seconds)

        collector = rig.collector()
        outcomes = await run_window(collector, plan, now=lambda: fake[0], sleep=sleep)
        collector.close()
        await stop(rig)
        assert sorted(o.serial for o in outcomes) == sorted(t.serial for t in rig.targets)
        assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
        assert slept[0] == 2 * 3600  # waited for the window, then for each start
        assert fake[0] == max(plan.starts.values())
        assert plan.missed() == []

    asyncio.run(run())
