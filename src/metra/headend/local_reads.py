"""Readings that did not come over the network: a portable device's read session, imported later,
and a register reading given by the customer (COL-12).

Both land in the raw store with their origin in the status code (DQ-2: `local` for the device,
`customer` for the customer) and the moment they were registered (DQ-1), under the store's raw
rules (DQ-5): a re-import of the same session writes nothing, a value that differs from the stored
one becomes a new raw version of the day with the interval flagged, and earlier versions stay.

A device file (``metra-local-read`` v1, ``docs/headend.md``) is parsed and checked completely
before the first write, so a bad file stores nothing and its error names the field at fault.
Customer readings pass plausibility checks first: an energy register never runs backwards, and it
cannot have advanced more than the connection capacity allows in the time since the last reading.
Every import and entry goes to the audit trail as the acting user.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from metra.dlms.obis import Obis, ObisError
from metra.store import registers
from metra.store.errors import InvalidData, NotFound
from metra.store.intervals import (
    SECONDS_PER_DAY,
    DayReading,
    Origin,
    Outcome,
    WriteResult,
    intervals_per_day,
    status_code,
    write_days,
)
from metra.store.masterdata import Entity, as_of, find, linkage
from metra.store.registers import RegisterReading
from metra.store.schema import register_reading

from . import trail
from .errors import HeadEndError, ImportFailed

FORMAT = "metra-local-read"
VERSION = 1
MAX_FILE_BYTES = 16 * 1024 * 1024
"""A read session of one meter is a few hundred kilobytes; the bound keeps a wrong file from
filling memory before it is refused."""
MAX_ROWS = 100_000
WH = 30  # COSEM unit code of active energy; customer readings are entered in kWh (scaler 3)


class LocalReadInvalid(ImportFailed):
    """A device file is malformed; `field` names where (``load_profile.rows[3].at``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ImplausibleReading(HeadEndError):
    """A customer reading contradicts the register's history or the connection capacity."""


@dataclass(frozen=True)
class ProfileRow:
    """One load-profile row of a device file: the interval's end, the meter status, values."""

    at: datetime
    status: int
    values: tuple[float, ...]


@dataclass(frozen=True)
class RegisterValue:
    """One register value of a device file as the meter gave it (value = raw * 10**scaler)."""

    obis: str
    captured_at: datetime
    raw_value: float
    scaler: int
    unit: int
    status: int


@dataclass(frozen=True)
class LocalRead:
    """A checked read session of one meter made with a portable device."""

    device_id: str
    operator: str
    read_at: datetime
    serial: str
    system_title: bytes | None
    interval_s: int
    channels: tuple[str, ...]
    rows: tuple[ProfileRow, ...]
    registers: tuple[RegisterValue, ...]


@dataclass(frozen=True)
class ImportResult:
    """What an import stored; `conflicts` are register captures already stored with another
    value (kept as first stored, DQ-5), `flagged` the days that got a new, flagged version."""

    meter_id: UUID
    intervals: int
    days: tuple[WriteResult, ...]
    registers_new: int
    conflicts: tuple[str, ...]

    @property
    def flagged(self) -> tuple[WriteResult, ...]:
        """Days whose new version disagrees with an earlier read."""
        return tuple(d for d in self.days if d.flagged)

    @property
    def unchanged(self) -> bool:
        """True when the import added nothing (a re-import of the same session)."""
        return self.registers_new == 0 and all(d.outcome is Outcome.UNCHANGED for d in self.days)


# --- parsing: every check names the field -------------------------------------------------


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise LocalReadInvalid(f"{where}{key}", "missing")
    return obj[key]


def _text(obj: Mapping[str, Any], key: str, where: str, max_len: int = 64) -> str:
    value = _get(obj, key, where)
    if not isinstance(value, str) or not value.strip():
        raise LocalReadInvalid(f"{where}{key}", "must be non-empty text")
    if len(value) > max_len:
        raise LocalReadInvalid(f"{where}{key}", f"longer than {max_len} characters")
    return value.strip()


def _int(obj: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = _get(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LocalReadInvalid(f"{where}{key}", f"must be an integer in {low}..{high}")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LocalReadInvalid(field, "must be a finite number")
    return float(value)


def _time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    value = _get(obj, key, where)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise LocalReadInvalid(f"{where}{key}", "must be an ISO 8601 time with a UTC offset")
    return moment.astimezone(UTC)


def _obis(value: Any, field: str) -> str:
    try:
        return str(Obis.parse(value))
    except ObisError as exc:
        raise LocalReadInvalid(field, str(exc)) from None


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key, where)
    if not isinstance(value, list):
        raise LocalReadInvalid(f"{where}{key}", "must be a list")
    if len(value) > MAX_ROWS:
        raise LocalReadInvalid(f"{where}{key}", f"more than {MAX_ROWS} entries")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise LocalReadInvalid(field, "must be an object")
    return value


def _rows(
    profile: Mapping[str, Any], period: int, width: int, read_at: datetime
) -> list[ProfileRow]:
    rows: list[ProfileRow] = []
    seen: set[datetime] = set()
    for i, raw in enumerate(_list(profile, "rows", "load_profile.")):
        where = f"load_profile.rows[{i}]."
        row = _object(raw, where[:-1])
        at = _time(row, "at", where)
        if at.timestamp() % period:
            raise LocalReadInvalid(f"{where}at", f"not on the {period} s interval grid")
        if at > read_at:
            raise LocalReadInvalid(f"{where}at", "after the session's read_at")
        if at in seen:
            raise LocalReadInvalid(f"{where}at", "a second row for the same interval")
        seen.add(at)
        status = _int(row, "status", where, 0, 0xFF)
        values = _list(row, "values", where)
        if len(values) != width:
            raise LocalReadInvalid(f"{where}values", f"needs {width} values, one per channel")
        numbers = tuple(_number(v, f"{where}values[{j}]") for j, v in enumerate(values))
        rows.append(ProfileRow(at, status, numbers))
    return rows


def _registers(document: Mapping[str, Any], read_at: datetime) -> list[RegisterValue]:
    out: list[RegisterValue] = []
    for i, raw in enumerate(_list(document, "registers", "")):
        where = f"registers[{i}]."
        item = _object(raw, where[:-1])
        captured = _time(item, "captured_at", where)
        if captured > read_at:
            raise LocalReadInvalid(f"{where}captured_at", "after the session's read_at")
        out.append(
            RegisterValue(
                obis=_obis(_get(item, "obis", where), f"{where}obis"),
                captured_at=captured,
                raw_value=_number(_get(item, "value", where), f"{where}value"),
                scaler=_int(item, "scaler", where, -128, 127),
                unit=_int(item, "unit", where, 0, 255),
                status=_int(item, "status", where, 0, 0xFF),
            )
        )
    return out


def parse(document: Any) -> LocalRead:
    """Check a decoded device file and return the read session; `LocalReadInvalid` otherwise."""
    doc = _object(document, "(file)")
    if doc.get("format") != FORMAT:
        raise LocalReadInvalid("format", f"must be {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise LocalReadInvalid("version", f"must be {VERSION}")
    read_at = _time(doc, "read_at", "")
    meter = _object(_get(doc, "meter", ""), "meter")
    title: bytes | None = None
    if meter.get("system_title") is not None:
        try:
            title = bytes.fromhex(meter["system_title"])
        except (TypeError, ValueError):
            title = None
        if title is None or len(title) != 8:
            raise LocalReadInvalid("meter.system_title", "must be 16 hexadecimal digits")
    profile = _object(_get(doc, "load_profile", ""), "load_profile")
    period = _int(profile, "interval_s", "load_profile.", 60, SECONDS_PER_DAY)
    try:
        intervals_per_day(period)
    except InvalidData:
        raise LocalReadInvalid("load_profile.interval_s", "does not divide a day") from None
    channels = tuple(
        _obis(c, f"load_profile.channels[{i}]")
        for i, c in enumerate(_list(profile, "channels", "load_profile."))
    )
    if len(set(channels)) != len(channels):
        raise LocalReadInvalid("load_profile.channels", "a channel is listed twice")
    return LocalRead(
        device_id=_text(doc, "device_id", ""),
        operator=_text(doc, "operator", ""),
        read_at=read_at,
        serial=_text(meter, "serial", "meter.", 40),
        system_title=title,
        interval_s=period,
        channels=channels,
        rows=tuple(_rows(profile, period, len(channels), read_at)),
        registers=tuple(_registers(doc, read_at)),
    )


def load(path: Path) -> LocalRead:
    """Read and check a device file; size-bounded, refused with the field at fault."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LocalReadInvalid("(file)", f"{size} bytes, more than {MAX_FILE_BYTES}")
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise LocalReadInvalid("(file)", f"cannot be read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalReadInvalid("(file)", f"not JSON: {exc}") from None
    return parse(document)


# --- storing -------------------------------------------------------------------------------


def _meter(conn: Connection, read: LocalRead) -> UUID:
    on = read.read_at.date()
    found = find(conn, Entity.METER, on, serial=read.serial)
    if len(found) != 1:
        raise LocalReadInvalid("meter.serial", f"{read.serial!r} is not one known meter on {on}")
    if read.system_title is not None:
        current = as_of(conn, Entity.METER, found[0], on)
        stored = current.attributes.get("system_title") if current else None
        if stored is not None and bytes(stored) != read.system_title:
            raise LocalReadInvalid("meter.system_title", "differs from the meter's master data")
    return found[0]


def _days(
    meter_id: UUID, read: LocalRead, registered_at: datetime, source: str
) -> list[DayReading]:
    """Rows stamped with the interval's end, as a meter's load profile is, into day rows."""
    period = read.interval_s
    n = intervals_per_day(period)
    days: dict[tuple[str, date], tuple[list[float | None], list[int]]] = defaultdict(
        lambda: ([None] * n, [0] * n)
    )
    for row in read.rows:
        begins = row.at - timedelta(seconds=period)
        index = (begins.hour * 3600 + begins.minute * 60 + begins.second) // period
        code = status_code(Origin.LOCAL, meter=row.status)
        for channel, value in zip(read.channels, row.values, strict=True):
            values, status = days[(channel, begins.date())]
            values[index] = value
            status[index] = code
    return [
        DayReading(meter_id, channel, day, values, status, registered_at, period, source)
        for (channel, day), (values, status) in sorted(days.items())
    ]


def _conflicts(conn: Connection, meter_id: UUID, values: list[RegisterReading]) -> list[str]:
    """Captures already stored with a different value: kept as stored, reported."""
    out: list[str] = []
    t = register_reading
    for r in values:
        stored = conn.execute(
            select(t.c.raw_value, t.c.scaler).where(
                t.c.meter_id == meter_id, t.c.obis == r.obis, t.c.captured_at == r.captured_at
            )
        ).first()
        if stored is not None and (stored.raw_value, stored.scaler) != (r.raw_value, r.scaler):
            out.append(f"{r.obis}@{r.captured_at.isoformat()}")
    return out


def import_local(conn: Connection, read: LocalRead, *, actor: str, now: datetime) -> ImportResult:
    """Store a checked read session in the caller's transaction with origin `local`, audited."""
    meter_id = _meter(conn, read)
    source = f"local:{read.device_id}"[:64]
    results = write_days(conn, _days(meter_id, read, now, source))
    values = [
        RegisterReading(
            meter_id,
            v.obis,
            v.captured_at,
            v.raw_value,
            v.scaler,
            v.unit,
            status_code(Origin.LOCAL, meter=v.status),
            read.read_at,
        )
        for v in read.registers
    ]
    conflicts = _conflicts(conn, meter_id, values)
    new = registers.add_readings(conn, values)
    result = ImportResult(
        meter_id, len(read.rows) * len(read.channels), tuple(results), new, tuple(conflicts)
    )
    trail.record(
        conn,
        "local-read.import",
        at=now,
        meter_id=meter_id,
        actor=actor,
        details={
            "device_id": read.device_id,
            "operator": read.operator,
            "serial": read.serial,
            "read_at": read.read_at.isoformat(),
            "intervals": result.intervals,
            "days": {o.value: sum(d.outcome is o for d in results) for o in Outcome},
            "flagged_days": [f"{d.channel} {d.day}" for d in result.flagged],
            "registers": len(values),
            "registers_new": new,
            "register_conflicts": list(conflicts),
        },
    )
    return result


# --- customer readings ---------------------------------------------------------------------


def _neighbours(
    conn: Connection, meter_id: UUID, obis: str, at: datetime
) -> tuple[RegisterReading | None, RegisterReading | None]:
    t = register_reading
    base = select(t).where(t.c.meter_id == meter_id, t.c.obis == obis)
    before = conn.execute(
        base.where(t.c.captured_at < at).order_by(t.c.captured_at.desc()).limit(1)
    ).first()
    after = conn.execute(
        base.where(t.c.captured_at > at).order_by(t.c.captured_at).limit(1)
    ).first()
    return (
        RegisterReading(**before._mapping) if before else None,
        RegisterReading(**after._mapping) if after else None,
    )


def _capacity_kw(conn: Connection, meter_id: UUID, on: date) -> float | None:
    """The delivery point's connection capacity (max_power_kw), None when not recorded."""
    try:
        point = linkage(conn, meter_id, on)
    except NotFound:  # installed at no metering point: nothing to check against
        return None
    attrs = as_of(conn, Entity.DELIVERY_POINT, point.delivery_point_id, on)
    value = attrs.attributes.get("max_power_kw") if attrs else None
    return float(value) if value else None


def _wh(reading: RegisterReading) -> float:
    return float(registers.scaled(reading.raw_value, reading.scaler))


def enter_customer_reading(
    conn: Connection,
    meter_id: UUID,
    obis: str,
    kwh: float,
    at: datetime,
    *,
    actor: str,
    now: datetime,
) -> RegisterReading:
    """Store a reading the customer gave (origin `customer`) after plausibility checks, audited.

    Refused with `ImplausibleReading` when it is below the last earlier reading, above the next
    later one, or further above the last reading than the connection capacity (kW) could have
    consumed in the hours between; the capacity check applies where the delivery point records it.
    """
    name = str(Obis.parse(obis))
    if at.tzinfo is None:
        raise ImplausibleReading("the reading time needs a UTC offset")
    at = at.astimezone(UTC)
    if not math.isfinite(kwh) or kwh < 0:
        raise ImplausibleReading(f"{kwh} kWh is not a meter reading")
    if at > now:
        raise ImplausibleReading(f"{at.isoformat()} is in the future")
    previous, following = _neighbours(conn, meter_id, name, at)
    wh = kwh * 1000
    if previous is not None:
        last = _wh(previous)
        if wh < last:
            raise ImplausibleReading(
                f"{kwh} kWh is below the last reading {last / 1000} kWh "
                f"of {previous.captured_at.isoformat()}"
            )
        capacity = _capacity_kw(conn, meter_id, at.date())
        if capacity is not None:
            hours = (at - previous.captured_at).total_seconds() / 3600
            most = last + capacity * 1000 * hours
            if wh > most:
                raise ImplausibleReading(
                    f"{kwh} kWh is more than the {capacity} kW connection allows since the "
                    f"last reading ({last / 1000} kWh, {hours:.1f} h earlier: at most "
                    f"{most / 1000:.3f} kWh)"
                )
    if following is not None and wh > _wh(following):
        raise ImplausibleReading(
            f"{kwh} kWh is above the later reading {_wh(following) / 1000} kWh "
            f"of {following.captured_at.isoformat()}"
        )
    reading = RegisterReading(meter_id, name, at, kwh, 3, WH, status_code(Origin.CUSTOMER), now)
    if registers.add_readings(conn, [reading]) == 0:
        raise ImplausibleReading(f"a reading of {name} at {at.isoformat()} is already stored")
    trail.record(
        conn,
        "customer-reading.enter",
        at=now,
        meter_id=meter_id,
        actor=actor,
        details={"obis": name, "captured_at": at.isoformat(), "kwh": kwh},
    )
    return reading
