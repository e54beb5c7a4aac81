"""Load jurisdiction profiles from TOML and refuse any that would mislead the system (JUR-1).

A profile steers deadlines, KPIs and security rules, so a typo must stop the load with a
message naming the file, the field and the problem instead of silently becoming a default.
Built-in profiles are cached because every scheduler tick and request may ask for them; an
operator's own file is read fresh each time so that edits take effect on the next load.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
import types
import typing
from datetime import date, datetime, time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from metra.profiles.errors import ProfileError
from metra.profiles.model import (
    KPI_EXCLUSION_REASONS,
    Checkpoint,
    HolidayRule,
    Profile,
)

_DATA_PACKAGE = "metra.profiles"
_CODE_RE = re.compile(r"^[A-Z]{2}$")
_CONTACT_RE = re.compile(r"^([^@\s]+@[^@\s]+\.[^@\s]+|https://\S+)$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_FIXED_DAY_RE = re.compile(r"^(\d\d)-(\d\d)$")


def available_profiles() -> tuple[str, ...]:
    """Codes of the built-in profiles, lower case and sorted (e.g. ``("no", "pl", "ru", "ua")``)."""
    data = resources.files(_DATA_PACKAGE).joinpath("data")
    return tuple(sorted(p.name[:-5] for p in data.iterdir() if p.name.endswith(".toml")))


def load_profile(code: str) -> Profile:
    """The built-in profile for a jurisdiction code, case-insensitive (``"pl"`` or ``"PL"``)."""
    key = code.strip().lower()
    if key not in available_profiles():
        raise ProfileError(
            code, "code", f"no built-in profile; available: {', '.join(available_profiles())}"
        )
    return _load_builtin(key)


@functools.cache
def _load_builtin(key: str) -> Profile:
    resource = resources.files(_DATA_PACKAGE).joinpath("data", f"{key}.toml")
    profile: Profile = _parse(resource.read_bytes(), f"{key}.toml")
    if profile.code.lower() != key:
        raise ProfileError(f"{key}.toml", "code", f"{profile.code!r} does not match the file name")
    return profile


def load_profile_file(path: str | os.PathLike[str]) -> Profile:
    """An operator's own profile file, validated exactly like the built-in ones."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ProfileError(source, "<file>", f"cannot be read: {exc.strerror}") from exc
    return _parse(raw, source)


def _parse(raw: bytes, source: str) -> Profile:
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ProfileError(source, "<file>", "is not UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "<file>", f"is not valid TOML: {exc}") from exc
    profile: Profile = _build(Profile, data, "", source)
    _check_consistency(profile, source)
    return profile


def _build(cls: type[Any], data: object, path: str, source: str) -> Any:
    """Turn a TOML table into dataclass ``cls``, refusing unknown, missing or mistyped keys."""
    if not isinstance(data, dict):
        raise ProfileError(source, path or "<root>", f"must be a table, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ProfileError(source, _join(path, key), "unknown key")
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        where = _join(path, name)
        if name not in data:
            if fld.default is dataclasses.MISSING:
                raise ProfileError(source, where, "missing")
            continue
        value = _convert(hints[name], data[name], where, source)
        _check_bounds(fld.metadata, value, where, source)
        values[name] = value
    return cls(**values)


def _convert(hint: Any, value: object, where: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ProfileError(source, where, f"must be an array, got {_kind(value)}")
        return tuple(
            _convert(item_hint, item, f"{where}[{i}]", source) for i, item in enumerate(value)
        )
    if origin is types.UnionType:
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(present[0], value, where, source)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), value, where, source)
    return _scalar(hint, value, where, source)


def _scalar(hint: Any, value: object, where: str, source: str) -> Any:
    ok: bool
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            return float(typing.cast(float, value))
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is date:
        ok = isinstance(value, date) and not isinstance(value, datetime)
    elif hint is time:
        ok = isinstance(value, time)
    else:  # pragma: no cover - the model uses only the types above
        raise TypeError(f"unsupported profile field type {hint!r}")
    if not ok:
        raise ProfileError(source, where, f"must be {_hint_name(hint)}, got {_kind(value)}")
    return value


def _check_bounds(meta: typing.Mapping[str, Any], value: object, where: str, source: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            continue
        choices = meta.get("choices")
        if choices is not None and item not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise ProfileError(source, where, f"{item!r} is not one of {{{allowed}}}")
        lo, hi = meta.get("lo"), meta.get("hi")
        if isinstance(item, str):
            continue
        if (lo is not None and item < lo) or (hi is not None and item > hi):
            raise ProfileError(source, where, f"{item} is out of range {lo}..{hi}")


def _check_consistency(p: Profile, source: str) -> None:
    """Rules that span fields; each names the field an operator should change."""

    def fail(where: str, problem: str) -> typing.NoReturn:
        raise ProfileError(source, where, problem)

    if not _CODE_RE.match(p.code):
        fail("code", "must be two upper-case letters (ISO 3166-1)")
    if not _LANGUAGE_RE.match(p.language):
        fail("language", "must be a two-letter lower-case ISO 639-1 code")
    try:
        ZoneInfo(p.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("timezone", f"unknown IANA time zone {p.timezone!r}")
    if p.operator.contact and not _CONTACT_RE.match(p.operator.contact):
        fail("operator.contact", "must be an e-mail address or an https:// URL")

    m = p.metering
    if not m.allowed_intervals or len(set(m.allowed_intervals)) != len(m.allowed_intervals):
        fail("metering.allowed_intervals", "must be a non-empty list without repeats")
    if m.interval_minutes not in m.allowed_intervals:
        fail("metering.interval_minutes", "must be one of metering.allowed_intervals")

    c = p.collection
    if not c.cycles_minutes:
        fail("collection.cycles_minutes", "must not be empty")
    if not c.delivery:
        fail("collection.delivery", "must name at least one point class")
    classes = [rule.point_class for rule in c.delivery]
    if len(set(classes)) != len(classes) or not all(classes):
        fail("collection.delivery", "point classes must be non-empty and unique")
    if c.read_plan.daily_window_start == c.read_plan.daily_window_end:
        fail("collection.read_plan.daily_window_end", "must differ from daily_window_start")
    if not c.read_plan.daily_contents:
        fail("collection.read_plan.daily_contents", "must not be empty")
    if c.backfill_horizon_days > m.profile_depth_days:
        fail(
            "collection.backfill_horizon_days",
            "must not exceed metering.profile_depth_days (the meter no longer holds older data)",
        )
    if c.retry.max_backoff_s < c.retry.initial_backoff_s:
        fail("collection.retry.max_backoff_s", "must be at least initial_backoff_s")

    _check_checkpoints(p.kpi.acquisition, "kpi.acquisition", source)
    _check_checkpoints(p.kpi.acquisition_transitional, "kpi.acquisition_transitional", source)
    _check_exclusions(p, source)

    if not p.commands.high_priority_kinds or not all(p.commands.high_priority_kinds):
        fail("commands.high_priority_kinds", "must name at least one command kind")

    unit = p.prepayment.balance_unit
    if unit != "kWh" and not _CURRENCY_RE.match(unit):
        fail("prepayment.balance_unit", "must be 'kWh' or an ISO 4217 currency code")
    for i, window in enumerate(p.prepayment.no_disconnect_windows):
        if window.start == window.end:
            fail(f"prepayment.no_disconnect_windows[{i}]", "start and end must differ")

    d = p.disconnection
    if d.max_points_per_command > d.max_per_user_per_window:
        fail("disconnection.max_points_per_command", "must not exceed max_per_user_per_window")
    if d.max_per_user_per_window > d.max_total_per_window:
        fail("disconnection.max_per_user_per_window", "must not exceed max_total_per_window")

    pw = p.passwords
    if pw.max_age_days and pw.min_age_days >= pw.max_age_days:
        fail("passwords.min_age_days", "must be below max_age_days")
    if not all(pw.totp_roles):
        fail("passwords.totp_roles", "role names must not be empty")

    r = p.retention
    if r.user_archive_years > r.measurements_years:
        fail("retention.user_archive_years", "must not exceed measurements_years")

    _check_calendar(p, source)
    _check_billing(p, source)
    q = p.power_quality
    if -q.voltage_always_low_percent < q.voltage_band_percent:
        fail("power_quality.voltage_always_low_percent", "must not be inside voltage_band_percent")
    if q.voltage_always_high_percent < q.voltage_band_percent:
        fail("power_quality.voltage_always_high_percent", "must not be inside voltage_band_percent")
    if -q.frequency_always_low_percent < q.frequency_band_percent:
        fail(
            "power_quality.frequency_always_low_percent",
            "must not be inside frequency_band_percent",
        )
    if q.frequency_always_high_percent < q.frequency_band_percent:
        fail(
            "power_quality.frequency_always_high_percent",
            "must not be inside frequency_band_percent",
        )


def _check_billing(p: Profile, source: str) -> None:
    """Tariffs must be named once, rules must name their own zones, limits rise with voltage."""
    b = p.billing
    names = [t.name for t in b.tariffs]
    if not names or len(set(names)) != len(names) or not all(names):
        raise ProfileError(source, "billing.tariffs", "names must be non-empty and unique")
    if b.default_tariff not in names:
        raise ProfileError(source, "billing.default_tariff", "must name one of billing.tariffs")
    for i, tariff in enumerate(b.tariffs):
        where = f"billing.tariffs[{i}]"
        if not tariff.zones or len(set(tariff.zones)) != len(tariff.zones):
            raise ProfileError(source, f"{where}.zones", "must be non-empty without repeats")
        for k, rule in enumerate(tariff.rules):
            if rule.zone not in tariff.zones:
                raise ProfileError(source, f"{where}.rules[{k}].zone", "is not in zones")
            if not rule.day_types or not rule.months:
                raise ProfileError(source, f"{where}.rules[{k}]", "needs day_types and months")
    kv = [limit.up_to_kv for limit in b.tan_phi_limits]
    if not kv or kv != sorted(set(kv)):
        raise ProfileError(
            source, "billing.tan_phi_limits", "must be non-empty with up_to_kv increasing"
        )
    for i, window in enumerate(b.peak_hours):
        if window.start == window.end or not window.months:
            raise ProfileError(source, f"billing.peak_hours[{i}]", "needs months and start != end")


def _check_checkpoints(points: tuple[Checkpoint, ...], where: str, source: str) -> None:
    """KPI checkpoints must come later and demand no less as they go (KPI-1)."""
    if not points:
        raise ProfileError(source, where, "must have at least one checkpoint")
    for i in range(1, len(points)):
        before, now = points[i - 1], points[i]
        if now.day_offset * 24 + now.hour <= before.day_offset * 24 + before.hour:
            raise ProfileError(source, f"{where}[{i}]", "deadlines must be increasing")
        if now.percent < before.percent:
            raise ProfileError(source, f"{where}[{i}].percent", "must not decrease")


def _check_exclusions(p: Profile, source: str) -> None:
    """One list of known exclusion reasons per acquisition checkpoint (KPI-2, S1 16.11)."""
    where = "kpi.checkpoint_exclusions"
    rows = p.kpi.checkpoint_exclusions
    if len(rows) != len(p.kpi.acquisition) or len(rows) != len(p.kpi.acquisition_transitional):
        raise ProfileError(source, where, "needs one list per kpi.acquisition checkpoint")
    for i, reasons in enumerate(rows):
        for reason in reasons:
            if reason not in KPI_EXCLUSION_REASONS:
                allowed = ", ".join(KPI_EXCLUSION_REASONS)
                raise ProfileError(
                    source, f"{where}[{i}]", f"{reason!r} is not one of {{{allowed}}}"
                )
        if len(set(reasons)) != len(reasons):
            raise ProfileError(source, f"{where}[{i}]", "must not repeat a reason")


def _check_calendar(p: Profile, source: str) -> None:
    cal = p.calendar
    if len(set(cal.weekend_days)) != len(cal.weekend_days):
        raise ProfileError(source, "calendar.weekend_days", "must not repeat a day")
    names: set[str] = set()
    for i, rule in enumerate(cal.holidays):
        where = f"calendar.holidays[{i}]"
        _check_holiday(rule, cal.easter, where, source)
        if rule.name in names:
            raise ProfileError(source, f"{where}.name", f"duplicate holiday {rule.name!r}")
        names.add(rule.name)
    clash = set(cal.extra_days_off) & set(cal.extra_working_days)
    if clash:
        first = min(clash).isoformat()
        raise ProfileError(source, "calendar.extra_working_days", f"{first} is also a day off")


def _check_holiday(rule: HolidayRule, easter: str, where: str, source: str) -> None:
    if not rule.name:
        raise ProfileError(source, f"{where}.name", "must not be empty")
    if bool(rule.fixed) == (rule.easter_offset is not None):
        raise ProfileError(source, where, "needs exactly one of 'fixed' or 'easter_offset'")
    if rule.fixed:
        match = _FIXED_DAY_RE.match(rule.fixed)
        try:
            if match is None:
                raise ValueError
            date(2001, int(match[1]), int(match[2]))  # a common year: 02-29 is refused
        except ValueError:
            raise ProfileError(
                source, f"{where}.fixed", f"{rule.fixed!r} is not a valid MM-DD date"
            ) from None
    elif easter == "none":
        raise ProfileError(source, f"{where}.easter_offset", "calendar.easter is 'none'")
    if rule.from_year > rule.until_year:
        raise ProfileError(source, f"{where}.until_year", "must not be before from_year")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


def _hint_name(hint: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        hint, f"a TOML {getattr(hint, '__name__', hint)}"
    )
