"""Activity calendar (class 20) and Special days table (class 11) value shapes (MTR-7).

Tariff zones by months, weekdays and hours are expressed as seasons (from a date), each naming a
week profile, whose days name day profiles, whose actions run a tariff script at a time of day;
special days override the weekday with another day profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, Date, DateTime, LongUnsigned, OctetString, Structure, Time, Unsigned
from ..obis import Obis
from . import _shape

__all__ = ["DayProfile", "DayProfileAction", "SeasonProfile", "SpecialDayEntry", "WeekProfile"]


@dataclass(frozen=True, slots=True)
class SeasonProfile:
    """``season``: structure {season_profile_name: octet-string, season_start: octet-string
    (date-time, wildcards allowed), week_name: octet-string}."""

    season_profile_name: bytes
    season_start: DateTime
    week_name: bytes

    def to_data(self) -> Structure:
        return Structure(
            [
                OctetString(self.season_profile_name),
                _shape.date_time_data(self.season_start),
                OctetString(self.week_name),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> SeasonProfile:
        s = _shape.structure(value, 3, "season")
        return cls(
            _shape.octets(s[0], "season.season_profile_name"),
            _shape.date_time(s[1], "season.season_start"),
            _shape.octets(s[2], "season.week_name"),
        )


@dataclass(frozen=True, slots=True)
class WeekProfile:
    """``week_profile``: structure {week_profile_name: octet-string, monday .. sunday:
    unsigned (a day_id)}. ``days`` holds the seven day ids, Monday first."""

    week_profile_name: bytes
    days: tuple[int, int, int, int, int, int, int]

    def day_id(self, isoweekday: int) -> int:
        """The day profile of a weekday (1 = Monday .. 7 = Sunday, as COSEM counts)."""
        return self.days[isoweekday - 1]

    def to_data(self) -> Structure:
        return Structure([OctetString(self.week_profile_name), *(Unsigned(d) for d in self.days)])

    @classmethod
    def from_data(cls, value: Data) -> WeekProfile:
        s = _shape.structure(value, 8, "week_profile")
        d = [_shape.integer(v, Unsigned, "week_profile.day") for v in s[1:]]
        return cls(
            _shape.octets(s[0], "week_profile.week_profile_name"),
            (d[0], d[1], d[2], d[3], d[4], d[5], d[6]),
        )


@dataclass(frozen=True, slots=True)
class DayProfileAction:
    """``day_profile_action``: structure {start_time: octet-string (time), script_logical_name:
    octet-string, script_selector: long-unsigned} -- from ``start_time`` on, run that script
    (typically one of the tariff Script table, selecting the rate)."""

    start_time: Time
    script_logical_name: Obis
    script_selector: int

    def to_data(self) -> Structure:
        return Structure(
            [
                _shape.time_data(self.start_time),
                _shape.ln_data(self.script_logical_name),
                LongUnsigned(self.script_selector),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> DayProfileAction:
        s = _shape.structure(value, 3, "day_profile_action")
        return cls(
            _shape.time(s[0], "day_profile_action.start_time"),
            _shape.logical_name(s[1], "day_profile_action.script_logical_name"),
            _shape.integer(s[2], LongUnsigned, "day_profile_action.script_selector"),
        )


@dataclass(frozen=True, slots=True)
class DayProfile:
    """``day_profile``: structure {day_id: unsigned, day_schedule: array of day_profile_action}."""

    day_id: int
    day_schedule: tuple[DayProfileAction, ...] = ()

    def to_data(self) -> Structure:
        return Structure([Unsigned(self.day_id), _shape.array_of(self.day_schedule)])

    @classmethod
    def from_data(cls, value: Data) -> DayProfile:
        s = _shape.structure(value, 2, "day_profile")
        return cls(
            _shape.integer(s[0], Unsigned, "day_profile.day_id"),
            _shape.parse_array(s[1], DayProfileAction.from_data, "day_profile.day_schedule"),
        )


@dataclass(frozen=True, slots=True)
class SpecialDayEntry:
    """Special days table ``entries`` element (``spec_day_entry``): structure {index:
    long-unsigned, specialday_date: octet-string (date, wildcards allowed), day_id: unsigned}."""

    index: int
    specialday_date: Date
    day_id: int

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.index),
                _shape.date_data(self.specialday_date),
                Unsigned(self.day_id),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> SpecialDayEntry:
        s = _shape.structure(value, 3, "spec_day_entry")
        return cls(
            _shape.integer(s[0], LongUnsigned, "spec_day_entry.index"),
            _shape.date(s[1], "spec_day_entry.specialday_date"),
            _shape.integer(s[2], Unsigned, "spec_day_entry.day_id"),
        )
