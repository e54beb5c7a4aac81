"""Throughput of billing determinants and of an element balance, against plain NumPy passes.

Billing: `compute` over meters x one local month of 15-minute values (A+, A-, R1, R4; G12
zones; PL) against a baseline of one sum and one max per day over the same A+ array.
Balance: `balance` of one element with many customers for a day against a plain column sum.
Prints intervals per second and the ratio to the baseline measured in the same run.

    python bench/bench_balance.py [--meters 20000] [--customers 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from metra.mdm.balance.energy import balance
from metra.mdm.billing.axis import month_axis
from metra.mdm.billing.determinants import Quantities, compute
from metra.mdm.billing.zones import tariff_named
from metra.profiles import load_profile


def _best(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    args = parser.parse_args()
    pl = load_profile("pl")
    axis, part = month_axis(pl, date(2025, 3, 1), 900)
    month = axis.select(part)
    rng = np.random.default_rng(1)
    shape = (args.meters, month.size)
    a = rng.uniform(0.05, 0.5, shape)
    a[rng.random(shape) < 0.001] = np.nan
    q = Quantities(a, rng.uniform(0, 0.01, shape), a * 0.3, rng.uniform(0, 0.01, shape))
    tariff = tariff_named(pl, "G12")
    starts = month.day_starts()

    def baseline() -> None:
        np.add.reduceat(np.nan_to_num(a), starts, axis=1)
        np.fmax.reduceat(a, starts, axis=1)

    base = _best(baseline)
    took = _best(lambda: compute(month, q, tariff, pl.billing, 0.4), repeat=2)
    n = a.size
    print(
        f"billing determinants: {args.meters} meters x {month.size} intervals (March, G12): "
        f"{n / took / 1e6:.1f} M intervals/s, {took:.2f} s; "
        f"{took / base:.1f} x the plain per-day sum + max ({n / base / 1e6:.1f} M/s)"
    )

    k, per_day = args.customers, 96
    customers = rng.uniform(0.05, 0.5, (k, per_day))
    pattern = customers * rng.normal(1.0, 0.05, (k, per_day))
    fed = customers.sum(axis=0) * 1.03
    customers[7, 40:56] *= 0.2

    def plain() -> None:
        fed - customers.sum(axis=0)

    base = _best(plain, repeat=5)
    took = _best(lambda: balance(fed, customers, pattern, 10.0), repeat=5)
    print(
        f"element balance: {k} customers x {per_day} intervals: {k * per_day / took / 1e6:.1f} M "
        f"intervals/s, {took * 1e3:.1f} ms; {took / base:.1f} x a plain column sum"
    )


if __name__ == "__main__":
    main()
