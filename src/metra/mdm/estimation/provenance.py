"""Method, inputs and sources behind every determined value (DQ-9), kept compactly.

A fleet-wide run fills many meter-days; building a note per meter-day up front would be a
Python loop per meter. Instead the estimator keeps what each method used (its parameters, the
like-day weights and scale factors as arrays, the corrections and substations) and a note is
built only when someone asks for the provenance of one meter-day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from metra.mdm.batch import Bools, Floats, Ints
from metra.mdm.estimation.correction import Correction
from metra.mdm.estimation.methods import Method
from metra.mdm.estimation.substitute import Substation

_DAY_TYPE_NAMES = ("working", "saturday", "sunday/holiday")


@dataclass(frozen=True)
class LikeDayNotes:
    """What like-day averaging used for the rows it worked on (`rows[i]` is batch row of i)."""

    rows: Ints
    days: list[date]
    types: np.ndarray
    weights: Floats
    outage: Bools
    factors: Floats
    window_days: int

    def note(self, row: int, day: int) -> dict[str, Any] | None:
        """Day type, window and register scale, and the like days actually averaged."""
        i = int(np.searchsorted(self.rows, row))
        if i >= self.rows.size or self.rows[i] != row:
            return None
        peers = np.flatnonzero(self.weights[day] > 0)
        return {
            "inputs": {
                "day_type": _DAY_TYPE_NAMES[int(self.types[day])],
                "window_days": self.window_days,
                "register_scale": float(self.factors[i, day]),
            },
            "sources": [self.days[e].isoformat() for e in peers.tolist() if not self.outage[i, e]],
        }


@dataclass(frozen=True)
class Notes:
    """Everything needed to explain an estimate of any meter-day on demand."""

    per_day: int
    max_gap_intervals: int
    reserve_ids: tuple[str, ...] | None = None
    like_day: LikeDayNotes | None = None
    corrections: tuple[Correction, ...] = ()
    substations: tuple[Substation, ...] = ()

    def note(self, method: Method, row: int, day: int) -> dict[str, Any] | None:
        """Inputs and sources of `method` for one meter-day, or None when there are none."""
        if method in (Method.INTERPOLATED, Method.FLAT_FILL):
            return {"inputs": {"max_gap_intervals": self.max_gap_intervals}, "sources": []}
        if method is Method.RESERVE and self.reserve_ids is not None:
            sources = ["reserve metering system"]
            if self.reserve_ids:
                sources.append(f"meter:{self.reserve_ids[row]}")
            return {"inputs": {}, "sources": sources}
        if method is Method.LIKE_DAY and self.like_day is not None:
            return self.like_day.note(row, day)
        if method is Method.CORRECTED:
            return self._correction(row, day)
        if method is Method.SUBSTATION:
            return self._substation(row)
        return None

    def _correction(self, row: int, day: int) -> dict[str, Any] | None:
        found = None
        for c in self.corrections:
            if c.row == row and c.first // self.per_day <= day <= c.last // self.per_day:
                found = c
        if found is None:
            return None
        return {"inputs": {"factor": found.factor}, "sources": [f"fault:{found.fault}"]}

    def _substation(self, row: int) -> dict[str, Any] | None:
        found = None
        for s in self.substations:
            if row in s.customers:
                found = s
        if found is None:
            return None
        return {
            "inputs": {"loss_ratio": found.loss_ratio},
            "sources": [f"substation:{found.name}", "balancing meter", "other customers"],
        }
