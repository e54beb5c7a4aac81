"""The parameters of the configuration commands, from the JSON a request stores to COSEM values
(CMD-2): activity calendar, special days and scope of data sent.

A request's parameters are stored as JSON (`command.params`) and read by the executor when the
command runs, possibly days later. Both ends use the parsers here: a face checks them before it
submits (a bad calendar is refused at once, nothing is stored), and the executor parses them again
(a stored row is not trusted), so what is checked is what is sent. Errors are `ParamsError` with
the path of the offending field, e.g. ``calendar.days[1].actions[0].start``.

Formats (docs/commands.md has examples):

- ``activity_calendar``: ``{"calendar": {"name", "seasons": [{"name", "start": "MM-DD" |
  "YYYY-MM-DD", "week"}], "weeks": [{"name", "days": [7 day ids, Monday first]}], "days": [{"id",
  "actions": [{"start": "HH:MM", "zone": 1..4}]}]}, "activate": "now" | ISO time with offset}``.
  The calendar is written as the passive one and activated now (method 1) or at the given time
  (``activate_passive_calendar_time``). A tariff group is such a calendar, named for the group.
- ``special_days``: ``{"insert": [{"index", "date": "MM-DD" | "YYYY-MM-DD", "day_id"}],
  "delete": [index, ...]}``.
- ``data_scope``: ``{"profile": OBIS, "capture_period_s": n, "capture_objects": [object], "push":
  [{"setup": OBIS, "objects": [object]}]}`` where an object is ``{"class_id", "obis",
  "attribute", "data_index"}``.
- ``parameterise``: a prepared parameter file's settings (`metra.headend.parameter_file`).
- ``measurement_method``: ``{"method": "vector" | "arithmetic"}`` (CMD-9), the value of the
  measurement-method object 1-0:0.11.6.255.
- ``credit_transfer``: ``{"amount": 1..2^31-1}`` in the credit's unit (minor currency unit or
  Wh); `submit` adds ``transfer_id`` (the request id) and ``issued`` (when the request was
  made), so every retry sends the same token (PRE-1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from metra.dlms.cosem.calendar import (
    DayProfile,
    DayProfileAction,
    SeasonProfile,
    SpecialDayEntry,
    WeekProfile,
)
from metra.dlms.cosem.objects import TARIFF_SCRIPT_TABLE
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.cosem.token import TOKEN_EPOCH, CreditToken
from metra.dlms.data import NOT_SPECIFIED, YEAR_NOT_SPECIFIED, Date, DateTime, Time
from metra.dlms.obis import Obis

from .param_fields import ParamsError, instant, integer, items, join, obis, required
from .parameter_file import command_settings

__all__ = [
    "PARSERS",
    "CalendarPlan",
    "ParamsError",
    "ScopePlan",
    "SpecialDaysPlan",
    "calendar_plan",
    "check",
    "credit_amount",
    "credit_token",
    "measurement_method",
    "scope_plan",
    "special_days_plan",
]

#: Tariff zones the meters register (A+ / A- per zone, 1-0:1.8.1..4 and 1-0:2.8.1..4).
TARIFF_ZONES = 4
#: Bounds a calendar table's size (Blue Book leaves it to the meter; ours keep 32).
MAX_PROFILES = 32
MAX_ACTIONS = 24
MAX_NAME = 32
#: Entries one command inserts or deletes, and capture objects one list holds.
MAX_ENTRIES = 128
#: The load profile, whose capture objects and period make the scope of data collected.
LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)


# ------------------------------------------------------------------------ small readers


def name(value: Any, path: str) -> bytes:
    """A table or profile name: text of 1..32 octets (UTF-8)."""
    if not isinstance(value, str) or not value:
        raise ParamsError(path, "expected a non-empty name")
    raw = value.encode()
    if len(raw) > MAX_NAME:
        raise ParamsError(path, f"{len(raw)} octets, at most {MAX_NAME}")
    return raw


def month_day(value: Any, path: str) -> tuple[int, int, int]:
    """``MM-DD`` (every year: year unspecified) or ``YYYY-MM-DD``."""
    if not isinstance(value, str):
        raise ParamsError(path, "expected MM-DD or YYYY-MM-DD")
    parts = value.split("-")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ParamsError(path, f"not a date: {value!r}") from None
    if len(numbers) == 2:
        year, (month, day) = YEAR_NOT_SPECIFIED, numbers
    elif len(numbers) == 3 and 1900 <= numbers[0] <= 9999:
        year, month, day = numbers
    else:
        raise ParamsError(path, f"not MM-DD or YYYY-MM-DD: {value!r}")
    try:  # a date of every year exists in a leap year
        date(2000 if year == YEAR_NOT_SPECIFIED else year, month, day)
    except ValueError:
        raise ParamsError(path, f"no such date: {value!r}") from None
    return year, month, day


def clock_time(value: Any, path: str) -> Time:
    """``HH:MM`` of a day's action."""
    if not isinstance(value, str) or len(value.split(":")) != 2:
        raise ParamsError(path, "expected HH:MM")
    hh, mm = value.split(":")
    if not (hh.isdigit() and mm.isdigit()):
        raise ParamsError(path, f"not a time: {value!r}")
    hour, minute = int(hh), int(mm)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ParamsError(path, f"no such time: {value!r}")
    return Time(hour, minute, 0, 0)


# ------------------------------------------------------------------------ activity calendar


@dataclass(frozen=True)
class CalendarPlan:
    """A calendar to write as the passive one, and when to activate it (None: now)."""

    name: bytes
    seasons: tuple[SeasonProfile, ...]
    weeks: tuple[WeekProfile, ...]
    days: tuple[DayProfile, ...]
    activate_at: datetime | None


def _season(value: Any, path: str) -> SeasonProfile:
    year, month, day = month_day(required(value, "start", path), join(path, "start"))
    start = DateTime(year, month, day, NOT_SPECIFIED, 0, 0, 0, 0)
    return SeasonProfile(
        name(required(value, "name", path), join(path, "name")),
        start,
        name(required(value, "week", path), join(path, "week")),
    )


def _week(value: Any, path: str) -> WeekProfile:
    raw = items(required(value, "days", path), join(path, "days"), 7)
    if len(raw) != 7:
        raise ParamsError(join(path, "days"), "seven day ids, Monday first")
    d = [integer(v, f"{path}.days[{i}]", 0, 255) for i, v in enumerate(raw)]
    return WeekProfile(
        name(required(value, "name", path), join(path, "name")),
        (d[0], d[1], d[2], d[3], d[4], d[5], d[6]),
    )


def _day(value: Any, path: str) -> DayProfile:
    day_id = integer(required(value, "id", path), join(path, "id"), 0, 255)
    raw = items(required(value, "actions", path), join(path, "actions"), MAX_ACTIONS)
    if not raw:
        raise ParamsError(join(path, "actions"), "a day needs at least one action")
    actions = []
    for i, a in enumerate(raw):
        at = f"{path}.actions[{i}]"
        start = clock_time(required(a, "start", at), join(at, "start"))
        zone = integer(required(a, "zone", at), join(at, "zone"), 1, TARIFF_ZONES)
        actions.append(DayProfileAction(start, TARIFF_SCRIPT_TABLE, zone))
    return DayProfile(day_id, tuple(actions))


def calendar_plan(params: Mapping[str, Any], *, path: str = "") -> CalendarPlan:
    """Parse and cross-check an ``activity_calendar`` command's parameters: every season names
    a week of the calendar and every week names its days."""
    cal = required(params, "calendar", path)
    base = join(path, "calendar")

    def table(key: str) -> Sequence[Any]:
        return items(required(cal, key, base), f"{base}.{key}", MAX_PROFILES)

    seasons = tuple(_season(v, f"{base}.seasons[{i}]") for i, v in enumerate(table("seasons")))
    weeks = tuple(_week(v, f"{base}.weeks[{i}]") for i, v in enumerate(table("weeks")))
    days = tuple(_day(v, f"{base}.days[{i}]") for i, v in enumerate(table("days")))
    if not seasons:
        raise ParamsError(f"{base}.seasons", "a calendar needs at least one season")
    week_names = {w.week_profile_name for w in weeks}
    day_ids = {d.day_id for d in days}
    if len(week_names) != len(weeks) or len(day_ids) != len(days):
        raise ParamsError(base, "week names and day ids must be unique")
    for i, s in enumerate(seasons):
        if s.week_name not in week_names:
            raise ParamsError(f"{base}.seasons[{i}].week", "no week of that name")
    for i, w in enumerate(weeks):
        for d in w.days:
            if d not in day_ids:
                raise ParamsError(f"{base}.weeks[{i}].days", f"no day {d}")
    when = params.get("activate", "now")
    activate_at = None if when == "now" else instant(when, join(path, "activate"))
    label = name(required(cal, "name", base), f"{base}.name")
    return CalendarPlan(label, seasons, weeks, days, activate_at)


# ------------------------------------------------------------------------ special days


@dataclass(frozen=True)
class SpecialDaysPlan:
    """Entries to insert (an entry replaces one of the same index or date) and to delete."""

    insert: tuple[SpecialDayEntry, ...]
    delete: tuple[int, ...]


def special_days_plan(params: Mapping[str, Any], *, path: str = "") -> SpecialDaysPlan:
    """Parse a ``special_days`` command's parameters."""
    if not isinstance(params, Mapping):
        raise ParamsError(path, "expected an object")
    entries = []
    for i, e in enumerate(items(params.get("insert", []), join(path, "insert"), MAX_ENTRIES)):
        at = f"{join(path, 'insert')}[{i}]"
        index = integer(required(e, "index", at), join(at, "index"), 0, 0xFFFF)
        year, month, day = month_day(required(e, "date", at), join(at, "date"))
        day_id = integer(required(e, "day_id", at), join(at, "day_id"), 0, 255)
        entries.append(SpecialDayEntry(index, Date(year, month, day, NOT_SPECIFIED), day_id))
    gone = tuple(
        integer(v, f"{join(path, 'delete')}[{i}]", 0, 0xFFFF)
        for i, v in enumerate(items(params.get("delete", []), join(path, "delete"), MAX_ENTRIES))
    )
    if not entries and not gone:
        raise ParamsError(path, "nothing to insert or delete")
    indices = {e.index for e in entries}
    if len(indices) != len(entries) or set(gone) & indices or len(set(gone)) != len(gone):
        raise ParamsError(path, "each index once")
    if len({e.specialday_date for e in entries}) != len(entries):
        raise ParamsError(path, "each date once (an entry replaces one of the same date)")
    return SpecialDaysPlan(tuple(entries), gone)


# ------------------------------------------------------------------------ scope of data sent


@dataclass(frozen=True)
class ScopePlan:
    """What a meter captures into a profile and pushes: a profile's capture period and capture
    objects, and the object lists of push setups (None / absent: unchanged)."""

    profile: Obis
    capture_period_s: int | None
    capture_objects: tuple[CaptureObjectDefinition, ...] | None
    push: tuple[tuple[Obis, tuple[CaptureObjectDefinition, ...]], ...]


def capture_objects(value: Any, path: str) -> tuple[CaptureObjectDefinition, ...]:
    """A list of ``{"class_id", "obis", "attribute", "data_index"}``."""
    out = []
    for i, o in enumerate(items(value, path, MAX_ENTRIES)):
        at = f"{path}[{i}]"
        out.append(
            CaptureObjectDefinition(
                integer(required(o, "class_id", at), join(at, "class_id"), 0, 0xFFFF),
                obis(required(o, "obis", at), join(at, "obis")),
                integer(required(o, "attribute", at), join(at, "attribute"), -128, 127),
                integer(o.get("data_index", 0), join(at, "data_index"), 0, 0xFFFF),
            )
        )
    return tuple(out)


def scope_plan(params: Mapping[str, Any], *, path: str = "") -> ScopePlan:
    """Parse a ``data_scope`` command's parameters."""
    if not isinstance(params, Mapping):
        raise ParamsError(path, "expected an object")
    profile = obis(params.get("profile", str(LOAD_PROFILE)), join(path, "profile"))
    period = params.get("capture_period_s")
    if period is not None:
        period = integer(period, join(path, "capture_period_s"), 1, 0xFFFFFFFF)
    captured = params.get("capture_objects")
    if captured is not None:
        captured = capture_objects(captured, join(path, "capture_objects"))
    push = []
    for i, p in enumerate(items(params.get("push", []), join(path, "push"), 8)):
        at = f"{join(path, 'push')}[{i}]"
        setup = obis(required(p, "setup", at), join(at, "setup"))
        push.append((setup, capture_objects(required(p, "objects", at), join(at, "objects"))))
    if period is None and captured is None and not push:
        raise ParamsError(path, "nothing to change: capture_period_s, capture_objects or push")
    return ScopePlan(profile, period, captured, tuple(push))


# ------------------------------------------------------------------------ measurement method

#: The measurement-method object (Data) the meters expose, "measurement algorithm for apparent
#: energy" of the OBIS general-purpose group, and its values (the enumeration is the meters').
MEASUREMENT_METHOD = Obis(1, 0, 0, 11, 6, 255)
METHODS = {"vector": 1, "arithmetic": 2}


def measurement_method(params: Mapping[str, Any], *, path: str = "") -> int:
    """Parse a ``measurement_method`` command's parameters: the enum value to write."""
    value = required(params, "method", path)
    if value not in METHODS:
        raise ParamsError(join(path, "method"), f"expected one of {sorted(METHODS)}, not {value!r}")
    return METHODS[value]


#: Largest credit transfer amount (a double-long on the meter).
MAX_CREDIT = 0x7FFFFFFF


def credit_amount(params: Mapping[str, Any], *, path: str = "") -> int:
    """The amount of a ``credit_transfer`` (what a face checks before submission)."""
    return integer(required(params, "amount", path), join(path, "amount"), 1, MAX_CREDIT)


def credit_token(params: Mapping[str, Any], *, path: str = "") -> CreditToken:
    """The token a stored ``credit_transfer`` sends: amount, transfer id (a UUID: the request
    id) and issue time (ISO 8601 with offset), the same for every retry."""
    amount = credit_amount(params, path=path)
    raw = required(params, "transfer_id", path)
    try:
        transfer = UUID(str(raw))
    except ValueError:
        raise ParamsError(join(path, "transfer_id"), f"not a UUID: {raw!r}") from None
    issued = instant(required(params, "issued", path), join(path, "issued"))
    if issued < TOKEN_EPOCH:
        raise ParamsError(join(path, "issued"), "before 2000-01-01")
    return CreditToken(transfer.bytes, issued, amount)


# ------------------------------------------------------------------------ faces

PARSERS: dict[str, Callable[[Mapping[str, Any]], object]] = {
    "activity_calendar": calendar_plan,
    "special_days": special_days_plan,
    "data_scope": scope_plan,
    "parameterise": command_settings,
    "measurement_method": measurement_method,
    "credit_transfer": credit_amount,
}
"""The kinds whose parameters are a structure checked here (the others are checked by the
executor: a limit's watts, a time, a HAN destination)."""


def check(kind: str, params: Mapping[str, Any] | None) -> None:
    """What a face calls before `submit`: `ParamsError` for parameters that make no command."""
    parse = PARSERS.get(kind)
    if parse is not None:
        parse(params or {})
