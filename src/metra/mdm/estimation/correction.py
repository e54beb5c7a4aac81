"""Corrected data from correction factors of a known fault (DQ-7).

When the fault is known the recorded values are right in shape and wrong by a factor: a meter
that lost one phase of three measured about two thirds of a balanced load; a CT set up with the
wrong ratio scales everything by the ratio of ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Bools, Floats, Ints


def missing_phase_factor(phases: int = 3, missing: int = 1) -> float:
    """Factor restoring a balanced load's energy when `missing` of `phases` phases were lost."""
    if not 0 <= missing < phases:
        raise ValueError("a meter must keep at least one phase")
    return phases / (phases - missing)


def ct_ratio_factor(
    true_primary: float, true_secondary: float, set_primary: float, set_secondary: float
) -> float:
    """Factor correcting values computed with a wrong current-transformer ratio."""
    return (true_primary / true_secondary) / (set_primary / set_secondary)


@dataclass(frozen=True)
class Correction:
    """A known fault of one batch row over intervals `first`..`last` and its factor."""

    row: int
    first: int
    last: int
    factor: float
    fault: str


def apply_corrections(values: Floats, invalid: Bools, corrections: Sequence[Correction]) -> Ints:
    """Multiply each faulty range's valid values by its factor, in place.

    Each correction works on the values as recorded (overlapping corrections do not compound:
    the later one stands). Returns the flat positions corrected.
    """
    width = values.shape[1]
    recorded = [values[c.row, c.first : c.last + 1].copy() for c in corrections]
    done: list[Ints] = [np.zeros(0, np.int64)]
    for c, before in zip(corrections, recorded, strict=True):
        take = ~invalid[c.row, c.first : c.last + 1]
        values[c.row, c.first : c.last + 1] = np.where(take, before * c.factor, before)
        done.append(c.row * width + c.first + np.flatnonzero(take))
    return np.unique(np.concatenate(done))
