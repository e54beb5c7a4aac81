"""The estimation pipeline: which method fills which invalid interval, in the Polish order.

Order (DQ-6..DQ-8): corrections of known faults on the valid values (DQ-7); then for every
invalid interval the reserve metering system (DQ-8), linear interpolation of short gaps (flat at
an edge), like-day averaging of long gaps scaled to the register advance, and the substation
balance where it is the only source. Whatever is left stays without an estimate (method NONE)
and is reported; so do intervals in which the meter was not installed. Each value's method is
kept per interval; `provenance` gives method, inputs and sources per meter-day (DQ-9). Work is
done on the flat positions still to fill (and on the few rows that need like days), never by a
Python loop per meter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metra.mdm.batch import Batch, Codes, Floats, Ints, MeterBits
from metra.mdm.estimation.correction import Correction, apply_corrections
from metra.mdm.estimation.interpolation import fill_short
from metra.mdm.estimation.like_day import (
    day_types,
    like_day_average,
    like_day_weights,
    scale_to_registers,
)
from metra.mdm.estimation.methods import DETERMINED, Method
from metra.mdm.estimation.provenance import LikeDayNotes, Notes
from metra.mdm.estimation.substitute import Reserve, Substation, from_reserve, from_substation
from metra.mdm.validation.rules import RuleSet
from metra.mdm.validation.validate import Validation
from metra.profiles.model import Profile

Methods = NDArray[np.uint8]

_POWER_DOWN = np.uint16(MeterBits.POWER_DOWN << 8)


@dataclass(frozen=True)
class Estimate:
    """Served values, their status and method per interval, and how to explain them (DQ-9)."""

    batch: Batch
    values: Floats
    status: Codes
    method: Methods
    notes: Notes

    def provenance(self, row: int, day: int) -> list[dict[str, Any]]:
        """Method, interval range, inputs and sources of every non-measured run in one day."""
        per_day = self.batch.per_day
        codes = self.method[row, day * per_day : (day + 1) * per_day]
        change = np.flatnonzero(np.diff(codes.astype(np.int16))) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [per_day])) - 1
        out: list[dict[str, Any]] = []
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            method = Method(int(codes[first]))
            if method is Method.MEASURED:
                continue
            entry: dict[str, Any] = {"method": method.name.lower(), "first": first, "last": last}
            entry.update(self.notes.note(method, row, day) or {})
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
    values = np.array(batch.values, np.float64, order="C")
    flat = values.reshape(-1)
    invalid = validation.invalid_at
    flat[invalid] = np.nan
    method = np.zeros(values.shape, np.uint8)
    codes = method.reshape(-1)
    codes[invalid] = Method.NONE

    corrected = apply_corrections(values, validation.invalid, corrections)
    codes[corrected] = Method.CORRECTED

    need = invalid
    if batch.installed is not None:  # no meter, nothing to estimate: left as read, invalid
        need = need[np.ravel(batch.installed)[need]]
    if reserve is not None:
        used = from_reserve(values, need, reserve)
        codes[used] = Method.RESERVE
        need = need[codes[need] == Method.NONE]

    max_len = rules.short_gap_max_s // batch.interval_s
    inner, edge = fill_short(values, need, max_len)
    codes[inner] = Method.INTERPOLATED
    codes[edge] = Method.FLAT_FILL
    need = need[codes[need] == Method.NONE]

    like = None
    if need.size:
        like = _like_days(batch, rules, profile, values, method, need)
        need = need[codes[need] == Method.NONE]

    if substations and need.size:
        missing = np.zeros(values.shape, np.bool_)
        missing.reshape(-1)[need] = True
        values, used_mask = from_substation(values, missing, substations)
        flat = values.reshape(-1)
        method[used_mask] = Method.SUBSTATION
        need = need[codes[need] == Method.NONE]

    left = codes[invalid] == Method.NONE
    flat[invalid[left]] = np.ravel(batch.values)[invalid[left]]  # no estimate: served as read
    status = validation.status.copy()
    determined = np.concatenate((invalid[~left], corrected))
    status.reshape(-1)[determined] = DETERMINED
    notes = Notes(
        batch.per_day,
        max_len,
        None if reserve is None else reserve.meter_ids,
        like,
        tuple(corrections),
        tuple(substations),
    )
    return Estimate(batch, values, status, method, notes)


def _like_days(
    batch: Batch,
    rules: RuleSet,
    profile: Profile,
    values: Floats,
    method: Methods,
    need: Ints,
) -> LikeDayNotes:
    """Like-day averages (scaled to the registers) for the rows with positions left, in place."""
    width, per_day = values.shape[1], batch.per_day
    rows = np.unique(need // width)
    local = np.searchsorted(rows, need // width) * width + need % width
    wanted = np.zeros((rows.size, width), np.bool_)
    wanted.reshape(-1)[local] = True
    outage = ((batch.status[rows] & _POWER_DOWN) != 0).reshape(rows.size, -1, per_day).any(axis=2)
    sub_method = method[rows]
    usable = (sub_method == Method.MEASURED) | (sub_method == Method.CORRECTED)
    usable &= ~np.repeat(outage, per_day, axis=1)
    days = batch.days
    types = day_types(profile, days)
    weights = like_day_weights(types, rules.like_day_window_days)
    sub = values[rows]
    mean, count = like_day_average(sub, usable, weights, per_day)
    take = wanted & (count > 0)
    sub = np.where(take, mean, sub)
    sub_method[take] = Method.LIKE_DAY
    factors = np.ones((rows.size, len(days)))
    if batch.registers is not None:
        advance = np.diff(batch.registers[rows], axis=1)
        sub, factors = scale_to_registers(sub, take, advance, per_day)
    values[rows] = sub
    method[rows] = sub_method
    return LikeDayNotes(rows, days, types, weights, outage, factors, rules.like_day_window_days)
