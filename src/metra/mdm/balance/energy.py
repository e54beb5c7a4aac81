"""The energy balance of one network element and the points that most likely explain it (BAL-1).

Per interval, the imbalance is the balancing meter's energy minus the sum of its customers'
(all at the balance boundary). Over the day it is compared with the permissible share of the
input from the profile (S2 4.2.21a, 4.8.2l): technical losses stay within it, energy theft or a
faulty meter usually does not.

Who explains an imbalance: a customer who takes energy past the meter (a bypass, a tampered or
stopped meter) shows a *shortfall* against their own like-day pattern (baseline - metered) in
the same intervals in which the imbalance appears. Each customer therefore gets

- `correlation`: Pearson correlation of the imbalance series with the customer's shortfall;
- `explained`: the share of the imbalance above the permissible level that the customer's
  shortfall in those intervals could account for (0..1);
- `flags`: `zero` (nothing metered while the like days had consumption), `flat` (a constant
  value while the like days vary: a stuck register or a fixed bypass), `reverse` (export at a
  point whose like days had none);

and `score = 0.5 max(correlation, 0) + 0.5 explained + 0.25 per flag`, at most 1. The list is
ordered by score (from 0.05) for inspection; it is evidence for a field visit, not a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Bools, Floats, Ints

_FLAG_WEIGHT = 0.25
LISTED_FROM = 0.05
"""Scores below this are noise around a customer's own pattern and are not listed."""


@dataclass(frozen=True)
class Suspect:
    """One customer's evidence; `row` indexes the customers given to `balance`.

    `shortfall_kwh` is what the customer metered below their own pattern in the intervals where
    the imbalance exceeded the permissible level.
    """

    row: int
    score: float
    correlation: float
    explained: float
    shortfall_kwh: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ElementBalance:
    """The day's balance of one element; `imbalance` per interval, NaN where data are missing."""

    input_kwh: float
    customers_kwh: float
    imbalance_kwh: float
    imbalance_percent: float
    permissible_percent: float
    exceeded: bool
    complete: Bools
    imbalance: Floats
    excess_intervals: Ints
    suspects: tuple[Suspect, ...]


def _correlation(u: Floats, d: Floats, use: Bools) -> Floats:
    """Pearson correlation of `u` with each row of `d` over the `use` intervals (0 if flat)."""
    if use.sum() < 3:
        return np.zeros(d.shape[0])
    uc = u[use] - u[use].mean()
    dc = d[:, use] - d[:, use].mean(axis=1, keepdims=True)
    denominator = np.sqrt((uc**2).sum() * (dc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dc @ uc) / denominator
    return np.where(denominator > 1e-12, r, 0.0)


def _flags(
    metered: Floats,
    baseline: Floats,
    export: Floats | None,
    baseline_export: Floats | None,
) -> list[tuple[str, ...]]:
    usual = np.nansum(baseline, axis=1)
    total = np.nansum(np.abs(metered), axis=1)
    zero = (usual > 0) & (total <= 1e-3 * usual)
    flat = (
        ~zero
        & (np.nanstd(metered, axis=1) <= 1e-9)
        & (np.nanstd(baseline, axis=1) > 0.05 * np.nanmean(baseline, axis=1))
    )
    reverse = np.zeros(metered.shape[0], np.bool_)
    if export is not None and baseline_export is not None:
        reverse = (np.nansum(export, axis=1) > 0) & (np.nansum(baseline_export, axis=1) <= 0)
    names = ("zero", "flat", "reverse")
    return [
        tuple(n for n, on in zip(names, hit, strict=True) if on)
        for hit in zip(zero, flat, reverse, strict=True)
    ]


def balance(
    balancing: Floats,
    customers: Floats,
    baseline: Floats,
    permissible_percent: float,
    *,
    export: Floats | None = None,
    baseline_export: Floats | None = None,
) -> ElementBalance:
    """Balance of one day: `balancing` (intervals,), `customers` and `baseline` (customers,
    intervals) in kWh at the boundary; `export` / `baseline_export` the customers' A- (flags)."""
    complete = ~np.isnan(balancing) & ~np.isnan(customers).any(axis=0)
    total = customers.sum(axis=0)
    u = np.where(complete, balancing - total, np.nan)
    fed = float(np.where(complete, balancing, 0.0).sum())
    taken = float(np.where(complete, total, 0.0).sum())
    imbalance = fed - taken
    percent = 100.0 * imbalance / fed if fed > 0 else float("nan")
    share = permissible_percent / 100.0
    excess = np.where(complete, u - share * balancing, np.nan)
    over = np.nan_to_num(excess, nan=0.0) > 0

    shortfall = baseline - customers
    correlation = _correlation(u, np.nan_to_num(shortfall), complete)
    beyond = float(np.where(over, excess, 0.0).sum())
    short_in_excess = np.where(over, np.maximum(np.nan_to_num(shortfall), 0.0), 0.0).sum(axis=1)
    if beyond > 0:
        explained = np.minimum(short_in_excess, beyond) / beyond
    else:
        explained = np.zeros(customers.shape[0])
    flags = _flags(customers, baseline, export, baseline_export)
    suspects = []
    for row in range(customers.shape[0]):
        score = 0.5 * max(float(correlation[row]), 0.0) + 0.5 * float(explained[row])
        score = min(1.0, score + _FLAG_WEIGHT * len(flags[row]))
        if score >= LISTED_FROM:
            suspects.append(
                Suspect(
                    row=row,
                    score=score,
                    correlation=float(correlation[row]),
                    explained=float(explained[row]),
                    shortfall_kwh=float(short_in_excess[row]),
                    flags=flags[row],
                )
            )
    suspects.sort(key=lambda s: (-s.score, s.row))
    return ElementBalance(
        input_kwh=fed,
        customers_kwh=taken,
        imbalance_kwh=imbalance,
        imbalance_percent=percent,
        permissible_percent=permissible_percent,
        exceeded=bool(fed > 0 and percent > permissible_percent),
        complete=complete,
        imbalance=u,
        excess_intervals=np.flatnonzero(over).astype(np.int64),
        suspects=tuple(suspects),
    )
