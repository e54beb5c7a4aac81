"""Time-of-use tariffs from the activity calendar (class 20) and special days table (class 11).

What the meter's COSEM objects hold is what decides the zone of every 15-minute slot (MTR-7): the
season in force on a date names a week profile, the weekday (or a special day) names a day
profile, and the day profile's actions switch the tariff (``script_selector`` = zone 1..4 of the
tariff script table) at their start times. Times are the jurisdiction's *standard* time, like the
measurement model's days, so zones switch at the same hours all year.

A change (activating the passive calendar, inserting or deleting a special day) never rewrites
the past: :class:`TariffSchedule` keeps every set of tables with the instant it took effect, at
a 15-minute boundary not before the change, so energy already measured stays in the register it
was counted in, and the tariff registers keep summing exactly to the total.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from metra.dlms.cosem.calendar import (
    DayProfile,
    DayProfileAction,
    SeasonProfile,
    SpecialDayEntry,
    WeekProfile,
)
from metra.dlms.cosem.objects import TARIFF_SCRIPT_TABLE
from metra.dlms.data import NOT_SPECIFIED, YEAR_NOT_SPECIFIED, Date, DateTime, Time
from metra.profiles.calendar import public_holidays
from metra.profiles.model import Profile

from .shapes import SLOTS_PER_DAY

__all__ = [
    "MAX_SPECIAL_DAYS",
    "Calendar",
    "CalendarError",
    "TariffSchedule",
    "TariffTables",
    "default_tables",
]

#: Tariff zones the meter registers (1-0:1.8.1..4 and 1-0:2.8.1..4).
ZONES = 4
#: Special days table size (a real meter's table is bounded too).
MAX_SPECIAL_DAYS = 128
_SLOT = timedelta(minutes=15)
#: Years of movable public holidays written into the factory special days table.
_HOLIDAY_YEARS = range(2020, 2040)


class CalendarError(ValueError):
    """Calendar tables that do not make a calendar (a week naming an unknown day, a zone outside
    1..4, ...): refused before they can take effect."""


@dataclass(frozen=True)
class Calendar:
    """One activity calendar (active or passive): name, seasons, week and day profiles."""

    name: bytes
    seasons: tuple[SeasonProfile, ...]
    weeks: tuple[WeekProfile, ...]
    days: tuple[DayProfile, ...]

    def check(self) -> None:
        """Raise :class:`CalendarError` unless every reference resolves and every action selects
        a tariff zone 1..4 of the tariff script table."""
        if not self.seasons:
            raise CalendarError("a calendar needs at least one season")
        weeks = {w.week_profile_name for w in self.weeks}
        days = {d.day_id for d in self.days}
        for season in self.seasons:
            if season.week_name not in weeks:
                raise CalendarError(f"season {season.season_profile_name!r}: no week of that name")
            start = season.season_start
            if not (1 <= start.month <= 12 and 1 <= start.day <= 31):
                raise CalendarError("a season starts on a given month and day")
        for week in self.weeks:
            for day_id in week.days:
                if day_id not in days:
                    raise CalendarError(f"week {week.week_profile_name!r}: no day {day_id}")
        for day in self.days:
            if not day.day_schedule:
                raise CalendarError(f"day {day.day_id} has no action")
            for action in day.day_schedule:
                if action.script_logical_name != TARIFF_SCRIPT_TABLE:
                    raise CalendarError(f"day {day.day_id}: script table is not the tariff one")
                if not 1 <= action.script_selector <= ZONES:
                    raise CalendarError(f"day {day.day_id}: zone {action.script_selector}")
                t = action.start_time
                if not (0 <= t.hour <= 23 and 0 <= t.minute <= 59):
                    raise CalendarError(f"day {day.day_id}: start time {t}")

    def week_for(self, day: date) -> WeekProfile:
        """The week profile of the season in force on ``day`` (the season that started last)."""
        best: tuple[date, SeasonProfile] | None = None
        for season in self.seasons:
            for start in _season_starts(season.season_start, day):
                if start <= day and (best is None or start > best[0]):
                    best = (start, season)
        season = best[1] if best is not None else self.seasons[0]
        return next(w for w in self.weeks if w.week_profile_name == season.week_name)


def _season_starts(start: DateTime, day: date) -> list[date]:
    """The dates ``start`` (year possibly a wildcard) stands for around ``day``."""
    years = [day.year - 1, day.year] if start.year == YEAR_NOT_SPECIFIED else [start.year]
    out = []
    for year in years:
        try:
            out.append(date(year, start.month, start.day))
        except ValueError:
            continue
    return out


@functools.cache
def _day_zones(schedule: tuple[DayProfileAction, ...]) -> tuple[int, ...]:
    """Zone of each 15-minute slot of a day profile: the last action started by the slot's
    start; before the first action the day continues the previous day's last zone."""
    actions = sorted(schedule, key=lambda a: (a.start_time.hour, a.start_time.minute))
    minutes = [a.start_time.hour * 60 + a.start_time.minute for a in actions]
    out = []
    for slot in range(SLOTS_PER_DAY):
        i = bisect.bisect_right(minutes, slot * 15) - 1
        out.append(actions[i].script_selector)
    return tuple(out)


@dataclass(frozen=True)
class TariffTables:
    """The active calendar and the special days in force together."""

    calendar: Calendar
    special_days: tuple[SpecialDayEntry, ...]
    _exact: dict[date, int] = field(init=False, repr=False, compare=False)
    _patterns: tuple[SpecialDayEntry, ...] = field(init=False, repr=False, compare=False)
    _days: dict[int, DayProfile] = field(init=False, repr=False, compare=False)
    _zones: dict[date, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exact: dict[date, int] = {}
        patterns = []
        for entry in self.special_days:
            d = entry.specialday_date
            if d.year != YEAR_NOT_SPECIFIED and d.month <= 12 and d.day <= 31:
                exact.setdefault(d.to_date(), entry.day_id)
            else:
                patterns.append(entry)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_patterns", tuple(patterns))
        object.__setattr__(self, "_days", {d.day_id: d for d in self.calendar.days})
        object.__setattr__(self, "_zones", {})

    def check(self) -> None:
        self.calendar.check()
        for entry in self.special_days:
            if entry.day_id not in self._days:
                raise CalendarError(f"special day {entry.index}: no day {entry.day_id}")

    def day_id(self, day: date) -> int:
        """The day profile of ``day``: a special day's, else the weekday's of its season."""
        special = self._exact.get(day)
        if special is not None:
            return special
        for entry in self._patterns:
            if _matches(entry.specialday_date, day):
                return entry.day_id
        return self.calendar.week_for(day).day_id(day.isoweekday())

    def zones(self, day: date) -> tuple[int, ...]:
        """The tariff zone of each slot of ``day`` (remembered per date: tables are shared)."""
        zones = self._zones.get(day)
        if zones is None:
            profile = self._days.get(self.day_id(day))
            if profile is None:
                raise CalendarError(f"{day}: no day profile")
            zones = self._zones[day] = _day_zones(profile.day_schedule)
        return zones


def _matches(pattern: Date, day: date) -> bool:
    """A special-day date with wildcards (year 0xFFFF, month / day 0xFF) against ``day``."""
    if pattern.year != YEAR_NOT_SPECIFIED and pattern.year != day.year:
        return False
    if pattern.month != NOT_SPECIFIED and pattern.month != day.month:
        return False
    if pattern.day != NOT_SPECIFIED and pattern.day != day.day:
        return False
    return pattern.weekday == NOT_SPECIFIED or pattern.weekday == day.isoweekday()


class TariffSchedule:
    """Every set of tariff tables a meter has had, each with the instant it took effect."""

    __slots__ = ("_starts", "_tables")

    def __init__(self, tables: TariffTables, since: datetime) -> None:
        tables.check()
        self._starts = [since]
        self._tables = [tables]

    @property
    def current(self) -> TariffTables:
        return self._tables[-1]

    def change(self, tables: TariffTables, at: datetime) -> datetime:
        """Make ``tables`` effective from the first 15-minute boundary at or after ``at`` (and
        not before the last change); returns that instant. Raises :class:`CalendarError`."""
        tables.check()
        effective = max(_ceil_slot(at, self._starts[0]), self._starts[-1])
        if effective == self._starts[-1]:
            self._tables[-1] = tables
        else:
            self._starts.append(effective)
            self._tables.append(tables)
        return effective

    def zones(self, day: date, start: datetime) -> tuple[int, ...]:
        """Zones of the slots of model day ``day`` starting at ``start`` (UTC)."""
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        end = start + timedelta(days=1)
        if i + 1 >= len(self._starts) or self._starts[i + 1] >= end:
            return self._tables[i].zones(day)
        out = []
        for slot in range(SLOTS_PER_DAY):
            t = start + _SLOT * slot
            j = max(0, bisect.bisect_right(self._starts, t) - 1)
            out.append(self._tables[j].zones(day)[slot])
        return tuple(out)


def _ceil_slot(at: datetime, origin: datetime) -> datetime:
    """The first 15-minute boundary (counted from ``origin``) at or after ``at``."""
    slots = -(-(at - origin) // _SLOT)
    return origin + _SLOT * slots


# ------------------------------------------------------------------------ factory tables


def _action(hour: int, zone: int) -> DayProfileAction:
    return DayProfileAction(Time(hour, 0, 0, 0), TARIFF_SCRIPT_TABLE, zone)


def _day(day_id: int, switches: tuple[tuple[int, int], ...]) -> DayProfile:
    return DayProfile(day_id, tuple(_action(h, z) for h, z in switches))


def _season(name: bytes, month: int, week: bytes) -> SeasonProfile:
    start = DateTime(YEAR_NOT_SPECIFIED, month, 1, NOT_SPECIFIED, 0, 0, 0, 0)
    return SeasonProfile(name, start, week)


@functools.cache
def factory_calendar() -> Calendar:
    """The calendar a meter leaves the factory with: zone 1 day, 2 night (22-06 and 13-15 on
    workdays), 3 peak (07-10 and 17-21 from October, 08-11 and 19-21 from April), 4 on Sundays and
    public holidays; Saturdays night / day."""
    winter = _day(1, ((0, 2), (6, 1), (7, 3), (10, 1), (13, 2), (15, 1), (17, 3), (21, 1), (22, 2)))
    summer = _day(2, ((0, 2), (6, 1), (8, 3), (11, 1), (13, 2), (15, 1), (19, 3), (21, 1), (22, 2)))
    saturday = _day(3, ((0, 2), (6, 1), (22, 2)))
    holiday = _day(4, ((0, 4),))
    return Calendar(
        b"METRA-TOU-1",
        (_season(b"SUMMER", 4, b"SUMMER"), _season(b"WINTER", 10, b"WINTER")),
        (
            WeekProfile(b"WINTER", (1, 1, 1, 1, 1, 3, 4)),
            WeekProfile(b"SUMMER", (2, 2, 2, 2, 2, 3, 4)),
        ),
        (winter, summer, saturday, holiday),
    )


@functools.cache
def default_tables(profile: Profile) -> TariffTables:
    """Factory tables: :func:`factory_calendar` and the jurisdiction's public holidays as special
    days (fixed holidays with a wildcard year, movable ones per year for 2020-2039)."""
    entries: list[Date] = []
    fixed_forever = {
        rule.fixed
        for rule in profile.calendar.holidays
        if rule.fixed and rule.from_year <= _HOLIDAY_YEARS.start and rule.until_year >= 9999
    }
    for mmdd in sorted(fixed_forever):
        month, day = (int(p) for p in mmdd.split("-"))
        entries.append(Date(YEAR_NOT_SPECIFIED, month, day, NOT_SPECIFIED))
    for year in _HOLIDAY_YEARS:
        for when in public_holidays(profile, year):
            if f"{when.month:02d}-{when.day:02d}" not in fixed_forever:
                entries.append(Date(when.year, when.month, when.day, NOT_SPECIFIED))
    special = tuple(SpecialDayEntry(i, d, 4) for i, d in enumerate(entries[:MAX_SPECIAL_DAYS], 1))
    return TariffTables(factory_calendar(), special)
