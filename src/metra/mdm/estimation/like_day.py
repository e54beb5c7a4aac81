"""Long gaps: like-day averaging from the same meter's neighbouring days (DQ-6).

For each missing slot the estimate is the mean of the same slot on days of the same type
(working day, Saturday, Sunday or public holiday, the Polish practice of treating holidays as
Sundays) within the profile's window, skipping outage days (any power-down interval). The
average of those days is then scaled so the day's total matches the register advance when the
registers are known ("considering its variability").
"""

from __future__ import annotations

from datetime import date

import numpy as np
from numpy.typing import NDArray

from metra.mdm.batch import Bools, Floats
from metra.profiles.calendar import is_public_holiday
from metra.profiles.model import Profile

WORKING, SATURDAY, SUNDAY = 0, 1, 2


def day_types(profile: Profile, days: list[date]) -> NDArray[np.int8]:
    """Day type per day: holidays count as Sundays, the first weekend day as Saturday."""
    weekend = sorted(profile.calendar.weekend_days)
    types = np.zeros(len(days), np.int8)
    for i, day in enumerate(days):
        if is_public_holiday(profile, day) or (weekend and day.isoweekday() == weekend[-1]):
            types[i] = SUNDAY
        elif day.isoweekday() in weekend:
            types[i] = SATURDAY
    return types


def like_day_weights(types: NDArray[np.int8], window: int) -> Floats:
    """(days, days) matrix: 1 where day e may stand in for day d (same type, within the window)."""
    index = np.arange(types.size)
    distance = np.abs(index[:, None] - index[None, :])
    same = types[:, None] == types[None, :]
    return np.asarray((distance > 0) & (distance <= window) & same, np.float64)


def like_day_average(
    values: Floats, usable: Bools, weights: Floats, per_day: int
) -> tuple[Floats, Floats]:
    """Per-slot like-day mean and the number of days behind it, shapes (rows, intervals)."""
    rows = values.shape[0]
    days = weights.shape[0]
    v = np.where(usable, values, 0.0).reshape(rows, days, per_day)
    u = usable.reshape(rows, days, per_day).astype(np.float64)
    total = weights @ v
    count = weights @ u
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean.reshape(rows, -1), count.reshape(rows, -1)


def scale_to_registers(
    values: Floats, estimated: Bools, advance: Floats, per_day: int
) -> tuple[Floats, Floats]:
    """Scale each day's estimates so the day's total equals the register advance when known.

    Returns the scaled values and the factor used per (row, day) (1 where not scaled: advance
    unknown, nothing estimated, or the measured part already exceeds the advance).
    """
    rows = values.shape[0]
    v = values.reshape(rows, -1, per_day)
    e = estimated.reshape(rows, -1, per_day)
    est_sum = np.where(e, v, 0.0).sum(axis=2)
    real_sum = np.where(e, 0.0, np.nan_to_num(v)).sum(axis=2)
    rest = advance - real_sum
    complete = ~np.isnan(v).any(axis=2)
    ok = complete & ~np.isnan(advance) & (est_sum > 0) & (rest >= 0)
    factor = np.where(ok, np.divide(rest, est_sum, out=np.ones_like(rest), where=ok), 1.0)
    scaled = np.where(e, v * factor[:, :, None], v)
    return scaled.reshape(rows, -1), factor
