"""The rows an export streams: intervals with their status, register and billing values, events.

Rows are produced meter by meter, channel by channel and at most `CHUNK_DAYS` days at a time,
so an export of a substation over a year never holds more than one chunk in memory. Every
source is read in a fixed order (meter serial, channel, time), which makes the files
deterministic: the same request over the same data gives the same bytes.

Served data are the MDM's newest validated / estimated versions (`metra.mdm.versions`); raw
data are the latest raw versions of the store (`metra.store.intervals`). Interval values are
converted from the stored unit to kilo units with `unit_kwh` (the fleet stores Wh: 0.001).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, select

from metra.mdm import versions
from metra.mdm.estimation.methods import Method
from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.selection import MeterRef, Period
from metra.mdm.schema import vee_day
from metra.store import intervals, registers
from metra.store.events import meter_events
from metra.store.schema import interval_day, register_reading

CHUNK_DAYS = 31


class Source(StrEnum):
    """Which interval data an export carries."""

    SERVED = "served"  # validated / estimated / edited: what billing uses
    RAW = "raw"  # as read from the meter, never modified (DQ-5)


@dataclass(frozen=True)
class IntervalRow:
    """One interval: start (UTC), length, value in kilo units (None: no value), status, method."""

    meter: MeterRef
    channel: str
    start: datetime
    interval_s: int
    value: float | None
    status: int
    method: int | None  # None for raw data
    version: int


@dataclass(frozen=True)
class RegisterRow:
    """A register reading or billing snapshot; `value` is exact, in `unit` (kWh etc. for energy)."""

    meter: MeterRef
    record: str  # register / billing_daily / billing_monthly
    obis: str
    tariff_zone: int | None
    captured_at: datetime
    value: Decimal
    unit: str
    status: int


@dataclass(frozen=True)
class EventRow:
    """One entry of a meter's event log."""

    meter: MeterRef
    log_obis: str
    occurred_at: datetime
    raw_code: int
    code: str
    details: dict[str, Any] | None


# COSEM unit codes (IEC 62056-6-2 enumeration) of the registers a meter reports, and the
# factor to the unit exported: energy goes out in kilo units like the interval data.
_COSEM_UNITS: dict[int, tuple[str, int]] = {
    27: ("W", 0),
    28: ("VA", 0),
    29: ("var", 0),
    30: ("kWh", -3),
    31: ("kVAh", -3),
    32: ("kvarh", -3),
    33: ("A", 0),
    35: ("V", 0),
    44: ("Hz", 0),
    255: ("", 0),
}


def register_unit(code: int, value: Decimal) -> tuple[Decimal, str]:
    """The exported value and unit of a COSEM register value (energy in kilo units)."""
    name, shift = _COSEM_UNITS.get(code, (f"cosem-unit-{code}", 0))
    return value.scaleb(shift), name


def channel_unit(channel: str) -> str:
    """The kilo unit of an interval channel from its OBIS group C (active or reactive energy)."""
    try:
        c = int(channel.split(":", 1)[1].split(".", 1)[0])
    except (IndexError, ValueError):
        raise ExportError(f"channel {channel!r} is not an OBIS code A-B:C.D.E[.F]") from None
    if c in (1, 2, 15, 16):
        return "kWh"
    if c in (3, 4, 5, 6, 7, 8):
        return "kvarh"
    if c in (9, 10):
        return "kVAh"
    raise ExportError(f"channel {channel!r} is not an energy channel (OBIS C={c})")


def utc_range(period: Period, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the period's whole days in `zone` (DST days are 23 / 25 h)."""
    start = datetime.combine(period.first, time(), zone).astimezone(UTC)
    end = datetime.combine(period.end, time(), zone).astimezone(UTC)
    return start, end


def _utc_days(start: datetime, end: datetime) -> list[date]:
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def channels(
    conn: Connection, meter_id: UUID, start: datetime, end: datetime, source: Source
) -> list[str]:
    """The channels a meter has interval data for in the range, in OBIS order."""
    table = vee_day if source is Source.SERVED else interval_day
    days = _utc_days(start, end)
    query = (
        select(table.c.channel)
        .distinct()
        .where(table.c.meter_id == meter_id, table.c.day >= days[0], table.c.day <= days[-1])
        .order_by(table.c.channel)
    )
    return [str(c) for (c,) in conn.execute(query)]


def _served(
    conn: Connection,
    meter: MeterRef,
    channel: str,
    start: datetime,
    end: datetime,
    unit_kwh: float,
) -> Iterator[IntervalRow]:
    days = _utc_days(start, end)
    for i in range(0, len(days), CHUNK_DAYS):
        chunk = days[i : i + CHUNK_DAYS]
        found = versions.latest(conn, [meter.meter_id], channel, chunk)
        for day in chunk:
            served = found.get((meter.meter_id, day))
            if served is None:
                continue
            step = served.interval_s
            base = intervals.day_start(day)
            values = (served.values * unit_kwh).tolist()
            status = served.status.tolist()
            method = served.method.tolist()
            for n, value in enumerate(values):
                begins = base + timedelta(seconds=n * step)
                if not start <= begins < end:
                    continue
                yield IntervalRow(
                    meter,
                    channel,
                    begins,
                    step,
                    None if np.isnan(value) else value,
                    status[n],
                    method[n],
                    served.version,
                )


def _raw(
    conn: Connection,
    meter: MeterRef,
    channel: str,
    start: datetime,
    end: datetime,
    unit_kwh: float,
) -> Iterator[IntervalRow]:
    days = _utc_days(start, end)
    t = interval_day.c
    lengths = {
        (day, version): step
        for day, version, step in conn.execute(
            select(t.day, t.version, t.interval_s).where(
                t.meter_id == meter.meter_id,
                t.channel == channel,
                t.day >= days[0],
                t.day <= days[-1],
            )
        )
    }
    cursor = start
    while cursor < end:
        upto = min(end, cursor + timedelta(days=CHUNK_DAYS))
        for value in intervals.read(conn, meter.meter_id, channel, cursor, upto):
            yield IntervalRow(
                meter,
                channel,
                value.start,
                lengths[(value.start.date(), value.version)],
                value.value * unit_kwh,
                value.status,
                None,
                value.version,
            )
        cursor = upto


def interval_rows(
    conn: Connection,
    meters: Sequence[MeterRef],
    start: datetime,
    end: datetime,
    *,
    source: Source = Source.SERVED,
    only: Sequence[str] | None = None,
    unit_kwh: float = 0.001,
) -> Iterator[IntervalRow]:
    """Interval rows of every meter (serial order) and channel (OBIS order) in [start, end)."""
    read = _served if source is Source.SERVED else _raw
    for meter in meters:
        names = channels(conn, meter.meter_id, start, end, source)
        for channel in names if only is None else [c for c in only if c in names]:
            channel_unit(channel)
            yield from read(conn, meter, channel, start, end, unit_kwh)


def register_rows(
    conn: Connection, meters: Sequence[MeterRef], start: datetime, end: datetime
) -> Iterator[RegisterRow]:
    """Billing snapshots (daily, then monthly) and register readings captured in [start, end)."""
    kinds = (
        (registers.Period.DAILY, "billing_daily"),
        (registers.Period.MONTHLY, "billing_monthly"),
    )
    for meter in meters:
        for period, record in kinds:
            for snap in registers.snapshots(conn, meter.meter_id, period, start, end):
                value, unit = register_unit(
                    snap.unit, registers.scaled(snap.raw_value, snap.scaler)
                )
                yield RegisterRow(
                    meter, record, snap.obis, snap.tariff_zone, snap.captured_at, value, unit,
                    snap.status,
                )  # fmt: skip
        t = register_reading.c
        obis_codes = conn.execute(
            select(t.obis).distinct().where(t.meter_id == meter.meter_id).order_by(t.obis)
        ).scalars()
        for obis in list(obis_codes):
            for reading in registers.readings(conn, meter.meter_id, obis, start, end):
                value, unit = register_unit(
                    reading.unit, registers.scaled(reading.raw_value, reading.scaler)
                )
                yield RegisterRow(
                    meter, "register", obis, None, reading.captured_at, value, unit, reading.status
                )


def event_rows(
    conn: Connection, meters: Sequence[MeterRef], start: datetime, end: datetime
) -> Iterator[EventRow]:
    """Every meter's events in [start, end), oldest first per meter."""
    for meter in meters:
        for event in meter_events(conn, meter.meter_id, start, end):
            yield EventRow(
                meter, event.log_obis, event.occurred_at, event.raw_code, event.code, event.details
            )


def method_name(method: int | None) -> str:
    """The VEE method of a served value (DQ-9); empty for raw data."""
    if method is None:
        return ""
    try:
        return Method(method).name.lower()
    except ValueError:
        return f"method-{method}"


def readings(
    conn: Connection,
    meters: Sequence[MeterRef],
    start: datetime,
    end: datetime,
    *,
    source: Source = Source.SERVED,
    only: Sequence[str] | None = None,
    unit_kwh: float = 0.001,
    with_registers: bool = True,
) -> Iterator[IntervalRow | RegisterRow]:
    """Per meter (serial order): its interval rows, then its register and billing values."""
    for meter in meters:
        yield from interval_rows(
            conn, [meter], start, end, source=source, only=only, unit_kwh=unit_kwh
        )
        if with_registers:
            yield from register_rows(conn, [meter], start, end)
