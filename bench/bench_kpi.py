"""Acquisition KPI for one day of 1,000,000 meters, against a plain NumPy pass over the same arrays.

The day is PL local day 2025-11-12 (two UTC-day rows per meter, 15-minute intervals). Per meter:
both rows arrive by remote reading in the night; 5 % have 4 intervals missing that a second
version fills two days later; 2 % lack the second UTC day; 1 % deliver nothing; 0.5 % are new
(not counted, KPI-4); 0.3 % carry an exclusion. Timed: `arrivals` (first arrival per interval
over versions, the local-day window, complete / first per meter) and `score` at the three
checkpoints, over the version rows as they come from the store. Baseline: one pass that reads
every status code and every arrival time (present-mask `all` per row and a max), the cheapest
pass that touches the same data. Chunks of meters, as a real run over a big fleet would be.
Usage: python bench/bench_kpi.py [--meters N] [--chunk C]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np

from metra.mdm.kpi.acquisition import (
    DayRows,
    arrivals,
    checkpoints,
    deadline,
    local_day,
    score,
    to_us,
)
from metra.profiles import load_profile
from metra.store.intervals import Origin, status_code

DAY = date(2025, 11, 12)
REMOTE = status_code(Origin.REMOTE)


def _rows(meters: int, seed: int) -> tuple[DayRows, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    night = to_us(datetime(2025, 11, 13, 0, 30, tzinfo=UTC))
    fate = rng.random(meters)
    gaps, no_second, nothing = fate < 0.05, (fate >= 0.05) & (fate < 0.07), fate >= 0.99
    first_meters = np.flatnonzero(~nothing)
    second_meters = np.flatnonzero(~nothing & ~no_second)
    filled = np.flatnonzero(gaps & ~nothing & ~no_second)
    meter = np.concatenate([first_meters, second_meters, filled])
    slot = np.concatenate(
        [np.zeros(first_meters.size, np.intp), np.ones(second_meters.size + filled.size, np.intp)]
    )
    registered = night + rng.integers(0, 8 * 3600 * 10**6, meter.size, dtype=np.int64)
    registered[-filled.size :] += 2 * 86_400 * 10**6
    status = np.full((meter.size, 96), REMOTE, np.uint16)
    second_with_gap = first_meters.size + np.flatnonzero(gaps[second_meters])
    status[second_with_gap, 40:44] = 0  # the first version lacks them ...
    status[-filled.size :, :] = 0
    status[-filled.size :, 40:44] = REMOTE  # ... the second brings them
    counted = rng.random(meters) >= 0.005
    excusable = rng.random(meters) < 0.003
    return DayRows(meter.astype(np.intp), slot, registered, status, 900), counted, excusable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    args = parser.parse_args()
    profile = load_profile("pl")
    window = local_day(profile, DAY)
    first = window[0].date()
    points = checkpoints(profile, DAY)
    deadlines = [to_us(deadline(profile, DAY, p)) for p in points]
    as_of = to_us(datetime.combine(DAY + timedelta(days=10), datetime.min.time(), UTC))
    kpi_s = base_s = 0.0
    rows_total = 0
    on_time = [0] * len(points)
    counted_total = [0] * len(points)
    done = seed = 0
    while done < args.meters:
        size = min(args.chunk, args.meters - done)
        rows, counted, excusable = _rows(size, seed)
        t0 = time.perf_counter()
        arrived = arrivals([rows], size, first, window)
        scores = [score(arrived, counted, excusable, d, as_of) for d in deadlines]
        t1 = time.perf_counter()
        complete = ((rows.status & 0x7) != 0).all(axis=1)
        latest = int(rows.registered_us.max())
        t2 = time.perf_counter()
        del complete, latest
        kpi_s += t1 - t0
        base_s += t2 - t1
        rows_total += rows.meter.size
        for k, s in enumerate(scores):
            on_time[k] += s.on_time
            counted_total[k] += s.counted
        done += size
        seed += 1
    print(f"meters {args.meters:,}, version rows {rows_total:,} (96 intervals each), day {DAY}")
    for k, p in enumerate(points):
        share = 100.0 * on_time[k] / counted_total[k]
        print(f"  n+{p.day_offset} {p.hour:02d}:00: {share:6.2f} % (target {p.percent:g} %)")
    print(f"KPI      {kpi_s:8.3f} s  {args.meters / kpi_s:14,.0f} meters/s")
    print(f"baseline {base_s:8.3f} s  {args.meters / base_s:14,.0f} meters/s (status + time pass)")
    print(f"ratio    {kpi_s / base_s:8.1f} x the plain NumPy pass")


if __name__ == "__main__":
    main()
