"""Balance of a substation and each of its feeders for one local day, from served data (BAL-1).

Reads the served VEE versions of every meter involved for the day and the profile's like-day
window before it (the customers' own patterns: same day type, same day length), scales them to
primary kWh and compares each element's balancing meter with the sum of its customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection

from metra.mdm.balance.energy import ElementBalance, balance
from metra.mdm.balance.losses import LossModel, at_boundary, loss_energy
from metra.mdm.balance.topology import Element, Point, substation_elements
from metra.mdm.batch import Floats
from metra.mdm.billing.axis import LocalAxis, local_axis
from metra.mdm.billing.inputs import Channels, Versions, day_ratios, served
from metra.profiles.model import Profile

DEFAULT_CHANNELS = Channels()


@dataclass(frozen=True)
class ElementReport:
    """An element's balance (None without a balancing meter) and the data it lacked."""

    element: Element
    result: ElementBalance | None
    no_data: tuple[str, ...]

    def to_json(self, axis: LocalAxis, first: int) -> dict[str, Any]:
        """JSON-ready report; interval times are UTC starts."""
        r = self.result
        meter = self.element.balancing
        out: dict[str, Any] = {
            "kind": self.element.kind,
            "code": self.element.code,
            "balancing_meter": None if meter is None else meter.serial,
            "customers": len(self.element.customers),
            "no_data": list(self.no_data),
        }
        if r is None:
            return out
        customers = self.element.customers
        excess = [axis.utc_start(first + int(i)).isoformat() for i in r.excess_intervals]
        out.update(
            {
                "input_kwh": r.input_kwh,
                "customers_kwh": r.customers_kwh,
                "imbalance_kwh": r.imbalance_kwh,
                "imbalance_percent": None if np.isnan(r.imbalance_percent) else r.imbalance_percent,
                "permissible_percent": r.permissible_percent,
                "exceeded": r.exceeded,
                "complete_intervals": int(r.complete.sum()),
                "intervals": int(r.complete.size),
                "excess_intervals": excess,
                "suspects": [
                    {
                        "meter": customers[s.row].serial,
                        "meter_id": str(customers[s.row].meter_id),
                        "score": s.score,
                        "correlation": s.correlation,
                        "explained": s.explained,
                        "shortfall_kwh": s.shortfall_kwh,
                        "flags": list(s.flags),
                    }
                    for s in r.suspects
                ],
            }
        )
        return out


@dataclass(frozen=True)
class BalanceReport:
    """The substation and its feeders for one local day, the served versions used and the
    losses to the boundary applied per meter (kWh over the day)."""

    day: date
    axis: LocalAxis
    first: int
    substation: ElementReport
    feeders: tuple[ElementReport, ...]
    inputs: dict[str, Versions]
    losses_kwh: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready report of the whole substation."""
        return {
            "day": self.day.isoformat(),
            "substation": self.substation.to_json(self.axis, self.first),
            "feeders": [f.to_json(self.axis, self.first) for f in self.feeders],
            "losses_to_boundary_kwh": self.losses_kwh,
            "inputs": self.inputs,
        }


@dataclass(frozen=True)
class _Loaded:
    """Net energy (A+ - A-) and export of every meter on the loaded axis, primary kWh."""

    row_of: dict[UUID, int]
    net: Floats
    export: Floats | None
    versions: list[Versions]


def _load(
    conn: Connection,
    meters: Sequence[UUID],
    first: date,
    n_days: int,
    channels: Channels,
    to_kwh: float,
    interval_s: int,
) -> _Loaded:
    imported = served(conn, meters, channels.active_import, first, n_days, interval_s)
    per_day = imported.values.shape[1] // n_days
    scale = np.repeat(day_ratios(conn, meters, first, n_days), per_day, axis=1) * to_kwh
    versions = imported.versions
    export: Floats | None = None
    if channels.active_export is not None:
        got = served(conn, meters, channels.active_export, first, n_days, interval_s)
        if any(got.versions):
            export = np.nan_to_num(got.values) * scale
            for mine, theirs in zip(versions, got.versions, strict=True):
                mine.update(theirs)
    net = imported.values * scale - (0.0 if export is None else export)
    return _Loaded({m: k for k, m in enumerate(meters)}, net, export, versions)


def _like_days(axis: LocalAxis, target: int, window: int) -> list[int]:
    """Earlier local days of the same type and length within the window (the like days)."""
    lengths = np.bincount(axis.local_day, minlength=len(axis.days))
    return [
        d
        for d in range(max(0, target - window), target)
        if axis.day_types[d] == axis.day_types[target] and lengths[d] == lengths[target]
    ]


def _element(
    element: Element,
    data: _Loaded,
    today: slice,
    like: list[slice],
    permissible: float,
) -> ElementReport:
    def rows(points: Sequence[Point]) -> list[int]:
        return [data.row_of[p.meter_id] for p in points]

    customers = rows(element.customers)
    values = data.net[:, today]
    no_data = tuple(
        p.serial
        for p in (*element.customers, *([element.balancing] if element.balancing else []))
        if np.isnan(values[data.row_of[p.meter_id]]).all()
    )
    if element.balancing is None:
        return ElementReport(element, None, no_data)
    history = np.stack([data.net[customers, s] for s in like]) if like else None
    baseline = (
        np.nanmean(history, axis=0)
        if history is not None and not np.isnan(history).all()
        else np.full(values[customers].shape, np.nan)
    )
    export = baseline_export = None
    if data.export is not None:
        export = data.export[customers, today]
        if like:
            baseline_export = np.nanmean(np.stack([data.export[customers, s] for s in like]), 0)
    result = balance(
        values[data.row_of[element.balancing.meter_id]],
        values[customers],
        baseline,
        permissible,
        export=export,
        baseline_export=baseline_export,
    )
    return ElementReport(element, result, no_data)


def substation_balance(
    conn: Connection,
    code: str,
    day: date,
    profile: Profile,
    *,
    channels: Channels = DEFAULT_CHANNELS,
    to_kwh: float = 1e-3,
) -> BalanceReport:
    """Balance of substation `code` and its feeders on local `day` (profile's time zone)."""
    whole, feeders = substation_elements(conn, code, day)
    points = [*whole.customers, *([whole.balancing] if whole.balancing else [])]
    points += [f.balancing for f in feeders if f.balancing is not None]
    meters = sorted({p.meter_id for p in points}, key=str)
    window = profile.vee.like_day_window_days
    first = day - timedelta(days=window + 1)
    n_days = window + 3
    interval_s = profile.metering.interval_minutes * 60
    probe = served(conn, meters, channels.active_import, day, 1)
    interval_s = probe.interval_s or interval_s
    axis = local_axis(profile, first, n_days, interval_s)
    data = _load(conn, meters, first, n_days, channels, to_kwh, interval_s)
    losses = _to_boundary(data, points, interval_s, profile)
    target = axis.days.index(day)

    def part(d: int) -> slice:
        where = np.flatnonzero(axis.local_day == d)
        return slice(int(where[0]), int(where[-1]) + 1)

    today = part(target)
    like = [part(d) for d in _like_days(axis, target, window)]
    permissible = profile.balance.permissible_imbalance_percent
    reports = [_element(e, data, today, like, permissible) for e in (whole, *feeders)]
    inputs = {
        str(m): data.versions[data.row_of[m]] for m in meters if data.versions[data.row_of[m]]
    }
    daily_losses = {
        serial: float(np.nansum(values[today])) for serial, values in sorted(losses.items())
    }
    return BalanceReport(
        day, axis, today.start, reports[0], tuple(reports[1:]), inputs, daily_losses
    )


def _to_boundary(
    data: _Loaded, points: Sequence[Point], interval_s: int, profile: Profile
) -> dict[str, Floats]:
    """Move every meter not on its balance boundary to the boundary (losses, S2 4.2.2zh).

    The balance reads active energy only, so Q comes from the profile's assumed tan(phi).
    Returns the loss series per meter serial.
    """
    out: dict[str, Floats] = {}
    for point in {p.meter_id: p for p in points}.values():
        model = LossModel.of_point(point.metering_point)
        if model is None:
            continue
        row = data.row_of[point.meter_id]
        loss = loss_energy(data.net[row], None, interval_s, model, profile.balance.assumed_tan_phi)
        data.net[row] = at_boundary(data.net[row], loss, model)
        out[point.serial] = loss
    return out
