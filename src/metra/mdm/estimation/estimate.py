"""The estimation pipeline: which method fills which invalid interval, in the Polish order.

Order (DQ-6..DQ-8): corrections of known faults on the usable values (DQ-7); then for every
invalid interval the reserve metering system (DQ-8), linear interpolation of short gaps (flat at
an edge), like-day averaging of long gaps scaled to the register advance, and the substation
balance where it is the only source. Whatever is left stays without a value (method NONE) and is
reported. Each value's method is kept per interval; `provenance` gives method, inputs and
sources per meter-day (DQ-9). Work is done only on the rows that need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metra.mdm.batch import Batch, Codes, Floats, MeterBits, meter_bits
from metra.mdm.estimation.correction import Correction, apply_corrections
from metra.mdm.estimation.interpolation import fill_short
from metra.mdm.estimation.like_day import (
    day_types,
    like_day_average,
    like_day_weights,
    scale_to_registers,
)
from metra.mdm.estimation.methods import DETERMINED, Method
from metra.mdm.estimation.substitute import Reserve, Substation, from_reserve, from_substation
from metra.mdm.validation.rules import RuleSet
from metra.mdm.validation.validate import Validation
from metra.profiles.model import Profile

Methods = NDArray[np.uint8]


@dataclass(frozen=True)
class Estimate:
    """Served values, their status and method per interval, and per meter-day notes (DQ-9)."""

    batch: Batch
    values: Floats
    status: Codes
    method: Methods
    notes: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def provenance(self, row: int, day: int) -> list[dict[str, Any]]:
        """Method, interval range, inputs and sources of every non-measured run in one day."""
        per_day = self.batch.per_day
        codes = self.method[row, day * per_day : (day + 1) * per_day]
        change = np.flatnonzero(np.diff(codes.astype(np.int16))) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [per_day])) - 1
        notes = self.notes.get((row, day), {})
        out: list[dict[str, Any]] = []
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            method = Method(int(codes[first]))
            if method is Method.MEASURED:
                continue
            entry: dict[str, Any] = {"method": method.name.lower(), "first": first, "last": last}
            entry.update(notes.get(method.name.lower(), {}))
            out.append(entry)
        return out


def estimate(
    batch: Batch,
    validation: Validation,
    rules: RuleSet,
    profile: Profile,
    *,
    reserve: Reserve | None = None,
    substations: Sequence[Substation] = (),
    corrections: Sequence[Correction] = (),
) -> Estimate:
    """Replace every invalid interval by the first method that can give it a value."""
    values = np.where(validation.invalid, np.nan, batch.values)
    method = np.where(validation.invalid, np.uint8(Method.NONE), np.uint8(Method.MEASURED))
    notes: dict[tuple[int, int], dict[str, Any]] = {}
    per_day = batch.per_day

    values, corrected = apply_corrections(values, ~validation.invalid, corrections)
    method[corrected] = Method.CORRECTED
    for c in corrections:
        for day in range(c.first // per_day, c.last // per_day + 1):
            notes.setdefault((c.row, day), {})["corrected"] = {
                "inputs": {"factor": c.factor},
                "sources": [f"fault:{c.fault}"],
            }

    rows = np.flatnonzero(validation.invalid.any(axis=1))
    if rows.size:
        sub, sub_method = _fill_rows(batch, validation, rules, profile, rows, reserve, notes)
        values[rows] = sub
        method[rows] = sub_method

    need = method == Method.NONE
    if substations and need.any():
        values, used = from_substation(values, need, substations)
        method[used] = Method.SUBSTATION
        for s in substations:
            for row in s.customers:
                for day in np.flatnonzero(used[row].reshape(-1, per_day).any(axis=1)).tolist():
                    notes.setdefault((row, day), {})["substation"] = {
                        "inputs": {"loss_ratio": s.loss_ratio},
                        "sources": [f"substation:{s.name}", "balancing meter", "other customers"],
                    }

    none = method == Method.NONE
    served = np.where(none, batch.values, values)
    status = np.where((method != Method.MEASURED) & ~none, DETERMINED, validation.status).astype(
        np.uint16
    )
    return Estimate(batch, served, status, method.astype(np.uint8), notes)


def _fill_rows(
    batch: Batch,
    validation: Validation,
    rules: RuleSet,
    profile: Profile,
    rows: NDArray[np.int64],
    reserve: Reserve | None,
    notes: dict[tuple[int, int], dict[str, Any]],
) -> tuple[Floats, Methods]:
    """Reserve, short-gap and like-day estimates for the rows with invalid intervals."""
    per_day = batch.per_day
    values = np.where(validation.invalid[rows], np.nan, batch.values[rows])
    method = np.where(validation.invalid[rows], np.uint8(Method.NONE), np.uint8(Method.MEASURED))
    need = validation.invalid[rows].copy()

    if reserve is not None:
        sub = Reserve(reserve.values[rows], reserve.valid[rows], reserve.meter_ids)
        values, used = from_reserve(values, need, sub)
        method[used] = Method.RESERVE
        need &= ~used
        _note(notes, rows, used, per_day, "reserve", {}, ["reserve metering system"], reserve)

    max_len = rules.short_gap_max_s // batch.interval_s
    values, inner, edge = fill_short(values, ~need, max_len)
    method[inner] = Method.INTERPOLATED
    method[edge] = Method.FLAT_FILL
    need &= ~(inner | edge)
    _note(notes, rows, inner, per_day, "interpolated", {"max_gap_intervals": max_len}, [])
    _note(notes, rows, edge, per_day, "flat_fill", {"max_gap_intervals": max_len}, [])

    if need.any():
        values, method = _like_days(batch, rules, profile, rows, values, method, need, notes)
    return values, method


def _like_days(
    batch: Batch,
    rules: RuleSet,
    profile: Profile,
    rows: NDArray[np.int64],
    values: Floats,
    method: Methods,
    need: NDArray[np.bool_],
    notes: dict[tuple[int, int], dict[str, Any]],
) -> tuple[Floats, Methods]:
    per_day = batch.per_day
    days = batch.days
    outage = (
        (meter_bits(batch.status[rows]) & MeterBits.POWER_DOWN).reshape(len(rows), -1, per_day) != 0
    ).any(axis=2)
    usable = (method == Method.MEASURED) & ~np.repeat(outage, per_day, axis=1)
    types = day_types(profile, days)
    weights = like_day_weights(types, rules.like_day_window_days)
    mean, count = like_day_average(values, usable, weights, per_day)
    take = need & (count > 0)
    values = np.where(take, mean, values)
    method[take] = Method.LIKE_DAY
    factors = np.ones((len(rows), len(days)))
    if batch.registers is not None:
        advance = np.diff(batch.registers[rows], axis=1)
        values, factors = scale_to_registers(values, take, advance, per_day)
    hit_rows, hit_days = np.nonzero(take.reshape(len(rows), -1, per_day).any(axis=2))
    for r, d in zip(hit_rows.tolist(), hit_days.tolist(), strict=True):
        peers = np.flatnonzero(weights[d] > 0)
        used = [days[e].isoformat() for e in peers.tolist() if not outage[r, e]]
        notes.setdefault((int(rows[r]), d), {})["like_day"] = {
            "inputs": {
                "day_type": ("working", "saturday", "sunday/holiday")[int(types[d])],
                "window_days": rules.like_day_window_days,
                "register_scale": float(factors[r, d]),
            },
            "sources": used,
        }
    return values, method


def _note(
    notes: dict[tuple[int, int], dict[str, Any]],
    rows: NDArray[np.int64],
    used: NDArray[np.bool_],
    per_day: int,
    name: str,
    inputs: dict[str, Any],
    sources: list[str],
    reserve: Reserve | None = None,
) -> None:
    hit_rows, hit_days = np.nonzero(used.reshape(len(rows), -1, per_day).any(axis=2))
    for r, d in zip(hit_rows.tolist(), hit_days.tolist(), strict=True):
        extra = list(sources)
        if reserve is not None and reserve.meter_ids:
            extra.append(f"meter:{reserve.meter_ids[int(rows[r])]}")
        notes.setdefault((int(rows[r]), d), {})[name] = {"inputs": inputs, "sources": extra}
