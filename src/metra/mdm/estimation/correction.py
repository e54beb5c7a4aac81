"""Corrected data from correction factors of a known fault (DQ-7).

When the fault is known the recorded values are right in shape and wrong by a factor: a meter
that lost one phase of three measured about two thirds of a balanced load; a CT set up with the
wrong ratio scales everything by the ratio of ratios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Bools, Floats


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


def apply_corrections(
    values: Floats, usable: Bools, corrections: Sequence[Correction]
) -> tuple[Floats, Bools]:
    """Multiply the faulty ranges' usable values by their factors; returns values and mask."""
    out = values.copy()
    done = np.zeros(values.shape, np.bool_)
    for c in corrections:
        span = slice(c.first, c.last + 1)
        take = usable[c.row, span]
        out[c.row, span] = np.where(take, values[c.row, span] * c.factor, values[c.row, span])
        done[c.row, span] |= take
    return out, done
