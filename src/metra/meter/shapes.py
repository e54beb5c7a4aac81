"""Load shapes of the customer types and the time-of-use calendar: static tables, no state.

The measurement model (:mod:`metra.meter.measurement`) takes its *daily totals* from closed-form
cumulative curves and uses these tables only to split a day among tariff zones and 15-minute
slots. Every table here depends on (customer type, day type, month) alone, so it is computed once
per process and shared by every meter of a fleet.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "SLOTS_PER_DAY",
    "CustomerShape",
    "DayType",
    "TariffCalendar",
    "customer_shape",
    "export_weights",
    "import_weights",
    "zone_shares",
]

#: The model's resolution: 15-minute slots, 96 a day (30 and 60 minutes are sums of these).
SLOTS_PER_DAY = 96


class DayType(IntEnum):
    """Day types of the activity calendar's week profile."""

    WORKDAY = 0
    SATURDAY = 1
    HOLIDAY = 2  # Sundays and public (special) days


@dataclass(frozen=True)
class CustomerShape:
    """Yearly energy, seasonality and weekly pattern of one customer type.

    ``weekly`` is an additive pattern per ISO weekday (Monday first) that sums to zero, so a
    week's energy does not depend on it and the cumulative curve stays closed-form.
    ``noise`` bounds the day-to-day randomness as a fraction of the mean day.
    """

    import_kwh_per_year: tuple[float, float]
    import_seasonal: float
    weekly: tuple[float, ...]
    noise: float
    export_kwh_per_year: tuple[float, float] = (0.0, 0.0)
    export_seasonal: float = 0.0
    hourly_workday: tuple[float, ...] = ()
    hourly_weekend: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if abs(sum(self.weekly)) > 1e-9 or len(self.weekly) != 7:
            raise ValueError("the weekly pattern has 7 entries summing to zero")
        # Each day's energy must stay positive: mean * (1 - seasonal - noise + min weekly) > 0.
        if 1 - self.import_seasonal - self.noise + min(self.weekly) < 0.05:
            raise ValueError("the import curve would not be monotone")
        if self.export_kwh_per_year[1] and 1 - self.export_seasonal - self.noise < 0.05:
            raise ValueError("the export curve would not be monotone")


_HOUSE_WORK = (
    3,
    2.5,
    2.5,
    2.5,
    2.5,
    3,
    5,
    8,
    7,
    5,
    4,
    4,
    4.5,
    4,
    4,
    4.5,
    6,
    9,
    11,
    12,
    11,
    9,
    7,
    4,
)
_HOUSE_WEEKEND = (4, 3, 2.5, 2.5, 2.5, 2.5, 3, 5, 7, 8, 8, 8, 9, 8, 7, 7, 7, 9, 11, 12, 11, 9, 7, 5)
_PV_DIP = tuple(0.4 if 10 <= h <= 15 else 1.0 for h in range(24))
_BUSINESS_WORK = (2, 2, 2, 2, 2, 2, 3, 8, 12, 13, 13, 13, 12, 13, 13, 12, 11, 8, 4, 3, 2, 2, 2, 2)
_BUSINESS_WEEKEND = (2,) * 24
_EV_NIGHT = (6, 6, 5, 4, 2, 1) + (0,) * 18

SHAPES: dict[str, CustomerShape] = {
    "household": CustomerShape(
        (1800.0, 4500.0),
        0.25,
        (-0.04, -0.04, -0.04, -0.04, -0.04, 0.1, 0.1),
        0.2,
        hourly_workday=_HOUSE_WORK,
        hourly_weekend=_HOUSE_WEEKEND,
    ),
    "household-pv": CustomerShape(
        (2500.0, 5000.0),
        0.3,
        (-0.04, -0.04, -0.04, -0.04, -0.04, 0.1, 0.1),
        0.15,
        export_kwh_per_year=(3000.0, 7000.0),
        export_seasonal=0.75,
        hourly_workday=tuple(a * b for a, b in zip(_HOUSE_WORK, _PV_DIP, strict=True)),
        hourly_weekend=tuple(a * b for a, b in zip(_HOUSE_WEEKEND, _PV_DIP, strict=True)),
    ),
    "small-business": CustomerShape(
        (8000.0, 30000.0),
        0.15,
        (0.2, 0.2, 0.2, 0.2, 0.2, -0.45, -0.55),
        0.1,
        hourly_workday=_BUSINESS_WORK,
        hourly_weekend=_BUSINESS_WEEKEND,
    ),
    "ev": CustomerShape(
        (5000.0, 9000.0),
        0.2,
        (-0.03, -0.03, -0.03, -0.03, -0.03, 0.05, 0.1),
        0.3,
        hourly_workday=tuple(a + b for a, b in zip(_HOUSE_WORK, _EV_NIGHT, strict=True)),
        hourly_weekend=tuple(a + b for a, b in zip(_HOUSE_WEEKEND, _EV_NIGHT, strict=True)),
    ),
}


def customer_shape(customer_type: str) -> CustomerShape:
    return SHAPES[customer_type]


@functools.cache
def import_weights(customer_type: str, day_type: DayType) -> tuple[float, ...]:
    """Relative import per 15-minute slot (standard time), before per-slot randomness."""
    shape = SHAPES[customer_type]
    hourly = shape.hourly_workday if day_type is DayType.WORKDAY else shape.hourly_weekend
    return tuple(float(hourly[slot // 4]) for slot in range(SLOTS_PER_DAY))


@functools.cache
def export_weights(month: int) -> tuple[float, ...]:
    """Relative PV export per slot: a sine over the daylight hours of mid-``month`` at about
    52° N, noon at 12:30 standard time (enough to put the export at midday, longer in summer)."""
    day_of_year = (month - 1) * 30.4 + 15
    length = 12.0 + 4.5 * math.cos(2 * math.pi * (day_of_year - 172) / 365.25)
    sunrise = 12.5 - length / 2
    out = []
    for slot in range(SLOTS_PER_DAY):
        hour = (slot + 0.5) / 4
        x = (hour - sunrise) / length
        out.append(math.sin(math.pi * x) ** 2 if 0 < x < 1 else 0.0)
    return tuple(out)


@dataclass(frozen=True)
class TariffCalendar:
    """Time-of-use zones by standard-time hour, day type and month (an activity calendar).

    Zones: 1 day, 2 night, 3 peak, 4 weekend/holiday. Workdays: night 22-06 and 13-15, peak
    07-10 and 17-21 in winter (October to March) or 08-11 and 19-21 in summer, day otherwise;
    Saturdays: night 22-06, day otherwise; Sundays and special days: zone 4 all day.
    """

    zones: int = 4

    def zone(self, day_type: DayType, month: int, hour: int) -> int:
        if day_type is DayType.HOLIDAY:
            return 4
        if hour >= 22 or hour < 6:
            return 2
        if day_type is DayType.SATURDAY:
            return 1
        if 13 <= hour < 15:
            return 2
        winter = month >= 10 or month <= 3
        if winter:
            return 3 if 7 <= hour < 10 or 17 <= hour < 21 else 1
        return 3 if 8 <= hour < 11 or 19 <= hour < 21 else 1

    @functools.cache  # noqa: B019 - instances are frozen, few and live for the process
    def slot_zones(self, day_type: DayType, month: int) -> tuple[int, ...]:
        """The zone (1..zones) of each 15-minute slot."""
        return tuple(self.zone(day_type, month, slot // 4) for slot in range(SLOTS_PER_DAY))


@functools.cache
def zone_shares(
    calendar: TariffCalendar, customer_type: str, export: bool, day_type: DayType, month: int
) -> tuple[float, ...]:
    """Fraction of a day's import (or export) in each zone (index zone - 1), by the shape."""
    weights = export_weights(month) if export else import_weights(customer_type, day_type)
    zones = calendar.slot_zones(day_type, month)
    sums = [0.0] * calendar.zones
    for w, z in zip(weights, zones, strict=True):
        sums[z - 1] += w
    total = sum(sums)
    return tuple(s / total for s in sums) if total else tuple(0.0 for _ in sums)
