"""Billing determinants of many meters over a local month, as NumPy reductions (BAL-2).

What S4 2.3 and S2 4.2.2 ask a metering system to deliver per point:

- energy per tariff zone per day and month, and the maximum integration-period demand per zone
  per day and month (S4 2.3): sums and maxima over the zone's intervals of each local day;
- tan(phi) compliance (S2 4.2.2v): the time the ratio of reactive (inductive, QI) to active
  import energy stayed above the limit and the largest excess in the period; intervals without
  active import have no ratio and are not counted;
- the maximum hourly volume in the system operator's planned peak hours on each working day and
  the mean of those maxima (S2 4.2.2g); an hour with a missing interval has no volume;
- max / min of P, Q and S (S2 4.2.2d): average powers of each integration period, P = A+ - A-,
  Q = R1 - R4 (inductive positive), S = sqrt(P^2 + Q^2).

Inputs are energies in kWh / kvarh per interval, NaN where the served data have no value; every
day reports how many intervals were missing so a bill is never silently based on a partial day.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from metra.mdm.batch import Floats, Ints
from metra.mdm.billing.axis import LocalAxis
from metra.mdm.billing.zones import peak_hours, zone_index
from metra.profiles.model import Billing, Tariff


@dataclass(frozen=True)
class Quantities:
    """Interval energies of the meters on an axis, shape (meters, intervals), NaN = missing."""

    active_import: Floats
    active_export: Floats | None = None
    reactive_inductive: Floats | None = None
    reactive_capacitive: Floats | None = None


@dataclass(frozen=True)
class Extreme:
    """Maximum or minimum per meter and the interval it occurred in (-1 where none)."""

    value: Floats
    at: Ints


@dataclass(frozen=True)
class Determinants:
    """The month's determinants per meter (first axis), day (second) and zone (third)."""

    axis: LocalAxis
    tariff: Tariff
    tan_phi_limit: Floats
    missing_day: Ints
    energy_day: Floats
    energy_month: Floats
    demand_day: Floats
    demand_month: Floats
    demand_month_at: Ints
    tan_phi_month: Floats
    tan_phi_minutes_day: Floats
    tan_phi_minutes: Floats
    tan_phi_max_excess: Extreme
    peak_hour_max_day: Floats
    peak_hour_mean: Floats
    p_max: Extreme
    p_min: Extreme
    q_max: Extreme
    q_min: Extreme
    s_max: Extreme
    s_min: Extreme

    def record(self, row: int) -> dict[str, Any]:
        """The determinants of one meter as JSON-ready data (NaN becomes None)."""
        axis = self.axis
        zones = list(self.tariff.zones)

        def at(index: int) -> str | None:
            return None if index < 0 else axis.utc_start(index).isoformat()

        def extreme(e: Extreme) -> dict[str, Any]:
            return {"value": _num(e.value[row]), "at": at(int(e.at[row]))}

        days = []
        for d, day in enumerate(axis.days):
            days.append(
                {
                    "day": day.isoformat(),
                    "day_type": axis.day_types[d],
                    "missing_intervals": int(self.missing_day[row, d]),
                    "energy_kwh": dict(zip(zones, _nums(self.energy_day[row, d]), strict=True)),
                    "max_demand_kw": dict(zip(zones, _nums(self.demand_day[row, d]), strict=True)),
                    "tan_phi_minutes_outside": _num(self.tan_phi_minutes_day[row, d]),
                    "peak_hour_max_kwh": _num(self.peak_hour_max_day[row, d]),
                }
            )
        return {
            "tariff": self.tariff.name,
            "zones": zones,
            "interval_s": axis.interval_s,
            "first_day": axis.days[0].isoformat(),
            "last_day": axis.days[-1].isoformat(),
            "missing_intervals": int(self.missing_day[row].sum()),
            "energy_kwh": dict(zip(zones, _nums(self.energy_month[row]), strict=True)),
            "energy_total_kwh": _num(float(np.sum(self.energy_month[row]))),
            "max_demand_kw": {
                z: {
                    "value": _num(self.demand_month[row, k]),
                    "at": at(int(self.demand_month_at[row, k])),
                }
                for k, z in enumerate(zones)
            },
            "tan_phi": {
                "limit": _num(self.tan_phi_limit[row]),
                "month": _num(self.tan_phi_month[row]),
                "minutes_outside": _num(self.tan_phi_minutes[row]),
                "max_excess": extreme(self.tan_phi_max_excess),
            },
            "peak_hours": {
                "mean_of_daily_max_kwh": _num(self.peak_hour_mean[row]),
            },
            "power": {
                "p_max_kw": extreme(self.p_max),
                "p_min_kw": extreme(self.p_min),
                "q_max_kvar": extreme(self.q_max),
                "q_min_kvar": extreme(self.q_min),
                "s_max_kva": extreme(self.s_max),
                "s_min_kva": extreme(self.s_min),
            },
            "days": days,
        }


def _num(value: float | np.floating[Any]) -> float | None:
    v = float(value)
    return None if np.isnan(v) else v


def _nums(values: Floats) -> list[float | None]:
    return [_num(v) for v in values]


def _max_with_index(values: Floats) -> Extreme:
    """Row-wise maximum ignoring NaN, with its column; NaN / -1 for an all-NaN row."""
    if values.shape[1] == 0:
        n = values.shape[0]
        return Extreme(np.full(n, np.nan), np.full(n, -1, np.int64))
    filled = np.where(np.isnan(values), -np.inf, values)
    index = np.argmax(filled, axis=1)
    best = filled[np.arange(values.shape[0]), index]
    found = np.isfinite(best)
    return Extreme(np.where(found, best, np.nan), np.where(found, index, -1).astype(np.int64))


def _min_with_index(values: Floats) -> Extreme:
    neg = _max_with_index(-values)
    return Extreme(-neg.value, neg.at)


def _per_day_sum(values: Floats, starts: Ints) -> Floats:
    return np.asarray(np.add.reduceat(values, starts, axis=1), np.float64)


def _per_day_max(values: Floats, starts: Ints) -> Floats:
    return np.asarray(np.fmax.reduceat(values, starts, axis=1), np.float64)


CHUNK = 256
"""Meters per pass: a month of 256 meters (6 MB per array) keeps the temporaries of each step
in the allocator's and the CPU's caches; whole-fleet arrays were 4 x slower."""


def compute(
    axis: LocalAxis,
    quantities: Quantities,
    tariff: Tariff,
    billing: Billing,
    tan_phi_limit: Floats | float,
) -> Determinants:
    """All determinants for the meters in `quantities` over the (local month) axis."""
    meters = quantities.active_import.shape[0]
    limit = np.broadcast_to(np.asarray(tan_phi_limit, np.float64), (meters,))
    if meters <= CHUNK:
        return _compute(axis, quantities, tariff, billing, limit)
    parts = []
    for start in range(0, meters, CHUNK):
        rows = slice(start, start + CHUNK)
        chunk = Quantities(
            quantities.active_import[rows],
            _rows(quantities.active_export, rows),
            _rows(quantities.reactive_inductive, rows),
            _rows(quantities.reactive_capacitive, rows),
        )
        parts.append(_compute(axis, chunk, tariff, billing, limit[rows]))
    return _concatenate(parts)


def _rows(values: Floats | None, rows: slice) -> Floats | None:
    return None if values is None else values[rows]


def _concatenate(parts: list[Determinants]) -> Determinants:
    """Stack the per-chunk results along the meter axis."""
    joined: dict[str, Any] = {}
    for f in dataclasses.fields(Determinants):
        values = [getattr(p, f.name) for p in parts]
        if isinstance(values[0], Extreme):
            joined[f.name] = Extreme(
                np.concatenate([v.value for v in values]), np.concatenate([v.at for v in values])
            )
        elif isinstance(values[0], np.ndarray):
            joined[f.name] = np.concatenate(values)
        else:
            joined[f.name] = values[0]
    return Determinants(**joined)


def _compute(
    axis: LocalAxis,
    quantities: Quantities,
    tariff: Tariff,
    billing: Billing,
    limit: Floats,
) -> Determinants:
    a = np.asarray(quantities.active_import, np.float64)
    meters, n = a.shape
    if n != axis.size:
        raise ValueError(f"quantities have {n} intervals, the axis {axis.size}")
    to_kw = 3600.0 / axis.interval_s
    starts = axis.day_starts()
    zone = zone_index(axis, tariff)
    missing = np.isnan(a)

    energy_day = np.empty((meters, len(starts), len(tariff.zones)))
    demand_day = np.empty_like(energy_day)
    demand_month = np.empty((meters, len(tariff.zones)))
    demand_at = np.empty((meters, len(tariff.zones)), np.int64)
    for k in range(len(tariff.zones)):
        inside = zone == k
        energy_day[:, :, k] = _per_day_sum(np.where(inside & ~missing, a, 0.0), starts)
        in_zone = np.where(inside, a * to_kw, np.nan)
        demand_day[:, :, k] = _per_day_max(in_zone, starts)
        best = _max_with_index(in_zone)
        demand_month[:, k], demand_at[:, k] = best.value, best.at

    limit = np.array(limit, np.float64)
    r1 = quantities.reactive_inductive
    if r1 is None:
        tan = np.full(a.shape, np.nan)
        tan_month = np.full(meters, np.nan)
    else:
        r1 = np.asarray(r1, np.float64)
        usable = (a > 0) & ~np.isnan(r1)
        tan = np.where(usable, r1 / np.where(usable, a, 1.0), np.nan)
        sum_a = np.where(usable, a, 0.0).sum(axis=1)
        sum_r = np.where(usable, r1, 0.0).sum(axis=1)
        tan_month = np.where(sum_a > 0, sum_r / np.where(sum_a > 0, sum_a, 1.0), np.nan)
    outside = tan > limit[:, None]
    minutes_day = _per_day_sum(outside.astype(np.float64), starts) * axis.interval_s / 60.0
    if r1 is None:  # no reactive channel: compliance unknown, not "never outside"
        minutes_day[:] = np.nan
    excess = _max_with_index(np.where(outside, tan - limit[:, None], np.nan))

    hour_starts = axis.hour_starts()
    hourly = np.add.reduceat(a, hour_starts, axis=1)
    in_peak = peak_hours(axis, billing)
    hour_day_starts = np.concatenate(
        [[0], np.flatnonzero(np.diff(axis.local_day[hour_starts])) + 1]
    ).astype(np.int64)
    peak_max_day = _per_day_max(np.where(in_peak, hourly, np.nan), hour_day_starts)
    counted = ~np.isnan(peak_max_day)
    count = counted.sum(axis=1)
    peak_mean = np.where(
        count > 0, np.where(counted, peak_max_day, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan
    )

    p = a if quantities.active_export is None else a - quantities.active_export
    p = p * to_kw
    if r1 is None:
        q = np.full(a.shape, np.nan)
    else:
        r4 = quantities.reactive_capacitive
        q = (r1 if r4 is None else r1 - r4) * to_kw
    s = np.sqrt(p**2 + q**2)

    return Determinants(
        axis=axis,
        tariff=tariff,
        tan_phi_limit=limit,
        missing_day=_per_day_sum(missing.astype(np.float64), starts).astype(np.int64),
        energy_day=energy_day,
        energy_month=energy_day.sum(axis=1),
        demand_day=demand_day,
        demand_month=demand_month,
        demand_month_at=demand_at,
        tan_phi_month=tan_month,
        tan_phi_minutes_day=minutes_day,
        tan_phi_minutes=minutes_day.sum(axis=1),
        tan_phi_max_excess=excess,
        peak_hour_max_day=peak_max_day,
        peak_hour_mean=peak_mean,
        p_max=_max_with_index(p),
        p_min=_min_with_index(p),
        q_max=_max_with_index(q),
        q_min=_min_with_index(q),
        s_max=_max_with_index(s),
        s_min=_min_with_index(s),
    )
