"""Substitute data from other metering systems and for conventional meters (DQ-6, DQ-8).

- Reserve metering system (DQ-8): where the point's reserve meter has a valid value, it is used
  before any estimate.
- Substation balancing: the balancing meter minus the other customers of the substation, only
  where exactly one customer is missing (otherwise the difference cannot be attributed).
- Conventional (non-remote) meters: the average daily flow of the last billing period shaped by
  a standard load profile per day type and scaled by season (S1 15.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metra.mdm.batch import Bools, Codes, Floats, Ints
from metra.mdm.estimation.like_day import day_types
from metra.mdm.estimation.methods import Method, determined_status
from metra.profiles.model import Profile


@dataclass(frozen=True)
class Reserve:
    """Reserve meter values aligned on the batch (NaN where none) and which are valid."""

    values: Floats
    valid: Bools
    meter_ids: tuple[str, ...] = ()


def from_reserve(values: Floats, need: Ints, reserve: Reserve) -> Ints:
    """Take the reserve meter's valid values wherever the main meter needs one (DQ-8).

    `need` are flat positions; `values` is filled in place. Returns the positions filled.
    """
    offered = np.ravel(reserve.values)[need]
    use = np.ravel(reserve.valid)[need] & ~np.isnan(offered)
    values.reshape(-1)[need[use]] = offered[use]
    return need[use]


@dataclass(frozen=True)
class Substation:
    """A balancing meter's values and the batch rows of the customers it feeds."""

    name: str
    balancing: Floats
    customers: tuple[int, ...]
    loss_ratio: float = 0.0


def from_substation(
    values: Floats, need: Bools, substations: Sequence[Substation]
) -> tuple[Floats, Bools]:
    """Balancing meter (less losses) minus the other customers where one customer is missing.

    Substations are tried in order (put the smallest group first): an interval filled by one is
    no longer missing for the next.
    """
    out = values.copy()
    need = need.copy()
    used = np.zeros(values.shape, np.bool_)
    for s in substations:
        rows = np.array(s.customers, np.int64)
        gap = need[rows]
        alone = gap.sum(axis=0) == 1
        known = np.where(gap, 0.0, np.nan_to_num(out[rows])).sum(axis=0)
        rest = np.maximum(s.balancing * (1.0 - s.loss_ratio) - known, 0.0)
        ok = alone & ~np.isnan(s.balancing)
        for k, row in enumerate(rows):
            take = gap[k] & ok
            out[row, take] = rest[take]
            used[row] |= take
            need[row] &= ~take
    return out, used


@dataclass(frozen=True)
class StandardLoadProfile:
    """Shares of a day's energy per interval for working days, Saturdays and Sundays/holidays.

    `shapes` has shape (3, intervals per day), each row summing to 1; `season[month - 1]` is the
    month's daily energy relative to the yearly mean. The published shapes (PL: the DSOs'
    standard profiles per tariff group) belong in the jurisdiction's data; `name` says which
    one was used (DQ-9).
    """

    shapes: Floats
    season: Floats
    name: str = "standard load profile"


@dataclass(frozen=True)
class ConventionalEstimate:
    """Substitute intervals of conventional meters with their method, status and sources."""

    values: Floats
    method: NDArray[np.uint8]
    status: Codes
    average_daily: Floats
    reference_month: int
    period: str
    slp: StandardLoadProfile
    days: list[date]

    def provenance(self, row: int) -> list[dict[str, Any]]:
        """Method, inputs and sources of meter `row`'s substitute values (DQ-9)."""
        months = sorted({d.month for d in self.days})
        reference = float(self.slp.season[self.reference_month - 1])
        return [
            {
                "method": "standard_profile",
                "first": 0,
                "last": int(self.values.shape[1]) - 1,
                "inputs": {
                    "average_daily": float(self.average_daily[row]),
                    "reference_month": self.reference_month,
                    "season_ratio": {
                        str(m): float(self.slp.season[m - 1]) / reference for m in months
                    },
                },
                "sources": [f"billing period {self.period}", self.slp.name],
            }
        ]


def from_standard_profile(
    average_daily: Floats,
    reference_month: int,
    days: list[date],
    slp: StandardLoadProfile,
    profile: Profile,
    *,
    period: str = "last",
) -> ConventionalEstimate:
    """Intervals of conventional meters over `days` from a billing period's daily mean (DQ-6).

    `average_daily[m]` is meter m's mean daily flow in the last billing period (S1 15.3: or
    the next one when there is no last), named by `period`, whose month is `reference_month`;
    each day gets that flow times season(day) / season(reference) and is spread by the day
    type's shape (holidays as Sundays). Values have shape (meters, days x intervals per day).
    """
    types = day_types(profile, days)
    months = np.array([d.month - 1 for d in days])
    ratio = slp.season[months] / slp.season[reference_month - 1]
    daily = average_daily[:, None] * ratio[None, :]
    shaped = daily[:, :, None] * slp.shapes[types][None, :, :]
    values = np.asarray(shaped.reshape(average_daily.size, -1), np.float64)
    return ConventionalEstimate(
        values,
        np.full(values.shape, Method.STANDARD_PROFILE, np.uint8),
        determined_status(values.shape),
        np.asarray(average_daily, np.float64),
        reference_month,
        period,
        slp,
        list(days),
    )
