"""VEE throughput: validation + estimation in intervals per second, against a plain NumPy pass.

The fleet (default 100,000 meters x 30 days of 15-minute values, 288 M intervals) is processed in
chunks of meters, as a real run would, with about 1 % of the intervals missing, a spike per 50
meters, and the context `run_vee` gives every batch (registers, the store's conflict bitmap and
stored interval lengths, connection capacity, relay state, installation), so every rule runs.
The baseline is a sum and a diff over the same chunk: the cheapest pass that touches every value.
Times are process CPU times (the machine may be shared), the best of `--repeat` runs per chunk.
Usage: python bench/bench_vee.py [--meters N] [--days D] [--chunk C] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from uuid import UUID

import numpy as np

from metra.mdm.batch import Batch
from metra.mdm.estimation import estimate
from metra.mdm.validation import RuleSet, validate
from metra.profiles import load_profile
from metra.store.intervals import Origin, status_code


def _chunk(meters: int, days: int, seed: int) -> Batch:
    rng = np.random.default_rng(seed)
    hours = np.arange(96) / 4.0
    shape = 0.15 + 0.25 * np.exp(-((hours - 8) ** 2) / 4) + 0.4 * np.exp(-((hours - 19) ** 2) / 6)
    values = rng.uniform(0.5, 2.0, (meters, 1)) * np.tile(shape, days)[None, :]
    values *= rng.normal(1.0, 0.03, values.shape)
    status = np.full(values.shape, status_code(Origin.REMOTE), np.uint16)
    gaps = rng.random(values.shape) < 0.002
    gaps[:, 1:] |= gaps[:, :-1]  # short runs
    values[gaps], status[gaps] = np.nan, 0
    spikes = rng.integers(0, values.shape[1], meters // 50)
    values[np.arange(spikes.size) * 50, spikes] = 50.0
    daily = np.nan_to_num(values).reshape(meters, days, 96).sum(axis=2)
    registers = np.concatenate([np.zeros((meters, 1)), np.cumsum(daily, axis=1)], axis=1)
    ids = tuple(UUID(int=i) for i in range(meters))
    relay_closed = np.ones(values.shape, np.bool_)
    relay_closed[1::97, 500:600] = False
    return Batch(
        ids,
        "1-0:1.29.0",
        date(2025, 3, 3),
        900,
        values,
        status,
        registers=registers,
        day_interval_s=np.full((meters, days), 900, np.int32),
        conflicts=rng.random(values.shape) < 0.0001,
        relay_closed=relay_closed,
        installed=np.ones(values.shape, np.bool_),
        capacity_kw=np.full(meters, 12.0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    profile = load_profile("pl")
    rules = RuleSet.from_profile(profile)
    vee_s = base_s = 0.0
    findings = estimated = 0
    done = 0
    seed = 0
    while done < args.meters:
        size = min(args.chunk, args.meters - done)
        batch = _chunk(size, args.days, seed)
        vee, base = [], []
        for _ in range(args.repeat):
            t0 = time.process_time()
            checked = validate(batch, rules)
            result = estimate(batch, checked, rules, profile)
            t1 = time.process_time()
            total = float(np.nansum(batch.values, axis=1).sum()) + float(
                np.abs(np.diff(batch.values, axis=1)).max(initial=0.0)
            )
            t2 = time.process_time()
            del total
            vee.append(t1 - t0)
            base.append(t2 - t1)
        vee_s += min(vee)
        base_s += min(base)
        findings += len(checked.findings)
        estimated += int((result.method != 0).sum())
        done += size
        seed += 1
    intervals = args.meters * args.days * 96
    print(f"meters {args.meters:,} x {args.days} days = {intervals:,} intervals")
    print(f"findings {findings:,}, estimated intervals {estimated:,}")
    print(f"VEE      {vee_s:8.2f} s  {intervals / vee_s:14,.0f} intervals/s")
    print(f"baseline {base_s:8.2f} s  {intervals / base_s:14,.0f} intervals/s (sum + diff)")
    print(f"ratio    {vee_s / base_s:8.1f} x the plain NumPy pass (aim: within 5 x)")


if __name__ == "__main__":
    main()
