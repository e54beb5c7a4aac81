"""Determinants of a local calendar month from served data and master data (BAL-2).

Loads the UTC days a local month touches, scales the meter's values to primary kWh (unit
factor x instrument-transformer ratios of each day), cuts the local month out and computes
every determinant in one vectorised pass for all the meters asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from uuid import UUID

import numpy as np
from sqlalchemy import Connection

from metra.mdm.balance.losses import LossModel, at_boundary, loss_energy
from metra.mdm.batch import Floats
from metra.mdm.billing.axis import month_axis, month_span
from metra.mdm.billing.determinants import Determinants, Quantities, compute
from metra.mdm.billing.inputs import (
    Channels,
    Versions,
    connection_kv,
    day_ratios,
    point_attributes,
    served,
)
from metra.mdm.billing.zones import tan_phi_limit, tariff_named
from metra.profiles.model import Profile

DEFAULT_CHANNELS = Channels()


@dataclass(frozen=True)
class MonthRun:
    """Determinants of `meter_ids` for `month`, the served versions used and the losses added."""

    month: date
    meter_ids: tuple[UUID, ...]
    determinants: Determinants
    inputs: list[Versions]
    losses_kwh: Floats


def compute_month(
    conn: Connection,
    meter_ids: Sequence[UUID],
    month: date,
    profile: Profile,
    *,
    tariff: str | None = None,
    channels: Channels = DEFAULT_CHANNELS,
    to_kwh: float = 1e-3,
) -> MonthRun:
    """Determinants of a local month; `to_kwh` converts the stored unit (meters store Wh)."""
    ids = tuple(meter_ids)
    first_utc, n_days = month_span(month)
    active = served(conn, ids, channels.active_import, first_utc, n_days)
    step = active.interval_s or profile.metering.interval_minutes * 60
    if active.interval_s is None:
        active = served(conn, ids, channels.active_import, first_utc, n_days, step)
    axis, part = month_axis(profile, month, step)
    per_day = active.values.shape[1] // n_days
    scale = np.repeat(day_ratios(conn, ids, first_utc, n_days), per_day, axis=1) * to_kwh
    inputs = active.versions

    def channel(name: str | None) -> Floats | None:
        if name is None:
            return None
        got = served(conn, ids, name, first_utc, n_days, step)
        if not got.versions or not any(got.versions):
            return None
        for mine, theirs in zip(inputs, got.versions, strict=True):
            mine.update(theirs)
        return np.asarray((got.values * scale)[:, part], np.float64)

    quantities = Quantities(
        active_import=(active.values * scale)[:, part],
        active_export=channel(channels.active_export),
        reactive_inductive=channel(channels.reactive_inductive),
        reactive_capacitive=channel(channels.reactive_capacitive),
    )
    models = [LossModel.of_point(point_attributes(conn, m, month)) for m in ids]
    quantities, losses = _to_delivery_point(quantities, models, step, profile)
    limits = np.array(
        [tan_phi_limit(profile.billing, connection_kv(conn, m, month)) for m in ids], np.float64
    )
    determinants = compute(
        axis.select(part), quantities, tariff_named(profile, tariff), profile.billing, limits
    )
    return MonthRun(month.replace(day=1), ids, determinants, inputs, losses)


def _to_delivery_point(
    q: Quantities, models: Sequence[LossModel | None], interval_s: int, profile: Profile
) -> tuple[Quantities, Floats]:
    """Move each meter's energy to its delivery point (BAL-1, S2 4.2.2zh); losses per meter.

    Losses follow the net flow of each interval: they change A+ while the point imports and
    A- while it exports; meters on the boundary (model None) are left as they are.
    """
    a = q.active_import.copy()
    x = None if q.active_export is None else q.active_export.copy()
    total = np.zeros(a.shape[0])
    for row, model in enumerate(models):
        if model is None:
            continue
        net = a[row] - (0.0 if x is None else np.nan_to_num(x[row]))
        reactive = None
        if q.reactive_inductive is not None:
            reactive = q.reactive_inductive[row] - (
                0.0 if q.reactive_capacitive is None else np.nan_to_num(q.reactive_capacitive[row])
            )
        loss = loss_energy(net, reactive, interval_s, model, profile.balance.assumed_tan_phi)
        shift = at_boundary(np.zeros_like(loss), loss, model)
        importing = ~(net < 0)
        a[row] = np.where(importing, a[row] + shift, a[row])
        if x is not None:
            x[row] = np.where(importing, x[row], x[row] - shift)
        total[row] = float(np.nansum(loss))
    return replace(q, active_import=a, active_export=x), total
