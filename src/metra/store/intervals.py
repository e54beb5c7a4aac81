"""Raw interval (load-profile) data: one row per meter, channel, UTC day and raw version.

A row holds the whole day: the values as packed little-endian float64 and one 16-bit status code
per interval (origin, quality, the meter's own status bits: DQ-2), plus when the data arrived
(`registered_at`, DQ-1). Raw rows are never updated (DQ-5): a re-read with the same values is a
no-op, a read that fills gaps or disagrees adds a new version, and the latest version is the
current raw picture while every earlier one stays readable. `docs/store.md` explains why.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum, StrEnum
from uuid import UUID

from sqlalchemy import Connection, Row, and_, func, insert, select

from metra.store.errors import InvalidData
from metra.store.schema import interval_day

SECONDS_PER_DAY = 86_400
_CHUNK = 500  # meters per look-up query: keeps bound parameters well under backend limits

_ORIGIN_MASK = 0x0007
_QUALITY_SHIFT = 3
_QUALITY_MASK = 0x0018
_METER_SHIFT = 8


class Origin(IntEnum):
    """How a value was obtained (S1 10.4); MISSING marks an interval with no value."""

    MISSING = 0
    REMOTE = 1
    LOCAL = 2
    CUSTOMER = 3
    SYSTEM = 4


class Quality(IntEnum):
    """Correctness of a value (S1 10.4-10.6); raw data arrive as NOT_VALIDATED."""

    NOT_VALIDATED = 0
    VALID = 1
    SUSPECT = 2
    INVALID = 3


def status_code(origin: Origin, quality: Quality = Quality.NOT_VALIDATED, meter: int = 0) -> int:
    """Pack origin (bits 0-2), quality (bits 3-4) and the meter's 8 status bits (bits 8-15)."""
    if not 0 <= meter <= 0xFF:
        raise InvalidData(f"meter status {meter} does not fit in 8 bits")
    return int(origin) | int(quality) << _QUALITY_SHIFT | meter << _METER_SHIFT


def origin_of(code: int) -> Origin:
    """The origin packed in a status code."""
    return Origin(code & _ORIGIN_MASK)


def quality_of(code: int) -> Quality:
    """The quality packed in a status code."""
    return Quality((code & _QUALITY_MASK) >> _QUALITY_SHIFT)


def meter_status_of(code: int) -> int:
    """The meter's own status byte packed in a status code."""
    return code >> _METER_SHIFT


class Outcome(StrEnum):
    """What writing a day did."""

    NEW = "new"
    UNCHANGED = "unchanged"
    NEW_VERSION = "new-version"


@dataclass(frozen=True)
class DayReading:
    """A read of one day: `values[i]` is None for an interval this read did not deliver."""

    meter_id: UUID
    channel: str
    day: date
    values: Sequence[float | None]
    status: Sequence[int]
    registered_at: datetime
    interval_s: int = 900
    source: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """The outcome for one day; `differs` are intervals whose value or meter status changed."""

    meter_id: UUID
    channel: str
    day: date
    outcome: Outcome
    version: int
    differs: tuple[int, ...] = ()
    filled: tuple[int, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when a later read disagreed with an earlier one (DQ-5: kept and flagged)."""
        return bool(self.differs)


@dataclass(frozen=True)
class StoredDay:
    """One stored raw version of a day."""

    meter_id: UUID
    channel: str
    day: date
    version: int
    interval_s: int
    values: tuple[float | None, ...]
    status: tuple[int, ...]
    changed: tuple[int, ...]
    registered_at: datetime
    source: str | None

    def start(self, index: int) -> datetime:
        """The UTC start of interval `index`."""
        return day_start(self.day) + timedelta(seconds=index * self.interval_s)


@dataclass(frozen=True)
class IntervalValue:
    """One interval read back: its start, value, status and the raw version it came from."""

    start: datetime
    value: float
    status: int
    version: int
    registered_at: datetime


_Key = tuple[UUID, str, date]


def day_start(day: date) -> datetime:
    """Interval days are UTC days; local-day views are the MDM's business."""
    return datetime.combine(day, time(), UTC)


def intervals_per_day(interval_s: int) -> int:
    """Number of intervals in a day, refusing periods that do not divide it."""
    if interval_s <= 0 or SECONDS_PER_DAY % interval_s:
        raise InvalidData(f"interval of {interval_s} s does not divide a day")
    return SECONDS_PER_DAY // interval_s


def pack(values: Sequence[float | None], status: Sequence[int]) -> tuple[bytes, bytes]:
    """Pack a day into the stored form: little-endian float64 values, uint16 status codes."""
    n = len(values)
    plain = [0.0 if v is None else v for v in values]
    codes = [0 if v is None else s for v, s in zip(values, status, strict=True)]
    return struct.pack(f"<{n}d", *plain), struct.pack(f"<{n}H", *codes)


def _bitmap(indices: Iterable[int], n: int) -> bytes:
    bits = bytearray((n + 7) // 8)
    for i in indices:
        bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


def _unbitmap(bits: bytes | None) -> tuple[int, ...]:
    if not bits:
        return ()
    return tuple(i for i in range(len(bits) * 8) if bits[i >> 3] >> (i & 7) & 1)


def _decode(row: Row[tuple[object, ...]]) -> StoredDay:
    m = row._mapping
    raw_values: bytes = m["values"]
    raw_status: bytes = m["status"]
    n = len(raw_status) // 2
    status = struct.unpack(f"<{n}H", raw_status)
    values = struct.unpack(f"<{n}d", raw_values)
    return StoredDay(
        meter_id=m["meter_id"],
        channel=m["channel"],
        day=m["day"],
        version=m["version"],
        interval_s=m["interval_s"],
        values=tuple(
            None if s & _ORIGIN_MASK == 0 else v for v, s in zip(values, status, strict=True)
        ),
        status=status,
        changed=_unbitmap(m["changed"]),
        registered_at=m["registered_at"],
        source=m["source"],
    )


def _check(reading: DayReading) -> int:
    n = intervals_per_day(reading.interval_s)
    if len(reading.values) != n or len(reading.status) != n:
        raise InvalidData(
            f"{reading.channel} {reading.day}: expected {n} values and status codes, "
            f"got {len(reading.values)} and {len(reading.status)}"
        )
    for v, s in zip(reading.values, reading.status, strict=True):
        if v is not None and s & _ORIGIN_MASK == 0:
            raise InvalidData("a delivered value needs a status with an origin")
        if not 0 <= s <= 0xFFFF:
            raise InvalidData(f"status code {s} does not fit in 16 bits")
    return n


def _chunks(items: Sequence[UUID], size: int) -> Iterator[Sequence[UUID]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _latest(conn: Connection, keys: set[_Key]) -> dict[_Key, StoredDay]:
    """Fetch the newest stored version of every key in a few set-based queries."""
    t = interval_day
    found: dict[_Key, StoredDay] = {}
    if not keys:
        return found
    meters = sorted({k[0] for k in keys})
    channels = sorted({k[1] for k in keys})
    days = sorted({k[2] for k in keys})
    for chunk in _chunks(meters, _CHUNK):
        newest = (
            select(t.c.meter_id, t.c.channel, t.c.day, func.max(t.c.version).label("version"))
            .where(t.c.meter_id.in_(chunk), t.c.channel.in_(channels), t.c.day.in_(days))
            .group_by(t.c.meter_id, t.c.channel, t.c.day)
            .subquery()
        )
        query = select(t).join(
            newest,
            and_(
                t.c.meter_id == newest.c.meter_id,
                t.c.channel == newest.c.channel,
                t.c.day == newest.c.day,
                t.c.version == newest.c.version,
            ),
        )
        for row in conn.execute(query):
            stored = _decode(row)
            key = (stored.meter_id, stored.channel, stored.day)
            if key in keys:
                found[key] = stored
    return found


def _row(
    reading: DayReading,
    version: int,
    values: Sequence[float | None],
    status: Sequence[int],
    differs: Sequence[int],
) -> dict[str, object]:
    packed_values, packed_status = pack(values, status)
    return {
        "meter_id": reading.meter_id,
        "channel": reading.channel,
        "day": reading.day,
        "version": version,
        "interval_s": reading.interval_s,
        "values": packed_values,
        "status": packed_status,
        "changed": _bitmap(differs, len(values)) if differs else None,
        "registered_at": reading.registered_at,
        "source": reading.source,
    }


def _merge(
    reading: DayReading, previous: StoredDay
) -> tuple[list[float | None], list[int], list[int], list[int]]:
    """Overlay a new read on the latest version; report intervals that differ or were filled."""
    values = list(previous.values)
    status = list(previous.status)
    differs: list[int] = []
    filled: list[int] = []
    for i, (v, s) in enumerate(zip(reading.values, reading.status, strict=True)):
        if v is None:
            continue
        if values[i] is None:
            filled.append(i)
        elif values[i] != v or meter_status_of(status[i]) != meter_status_of(s):
            differs.append(i)
        else:
            continue
        values[i] = v
        status[i] = s
    return values, status, differs, filled


def write_days(conn: Connection, readings: Iterable[DayReading]) -> list[WriteResult]:
    """Store a batch of day reads in the caller's transaction, with one executemany insert.

    Per day: nothing stored yet -> NEW (version 1); nothing new -> UNCHANGED (no row written);
    gaps filled or values changed -> NEW_VERSION holding the merged day, with the changed
    intervals flagged. Earlier versions are never touched.
    """
    batch = list(readings)
    for reading in batch:
        _check(reading)
    latest = _latest(conn, {(r.meter_id, r.channel, r.day) for r in batch})
    rows: list[dict[str, object]] = []
    results: list[WriteResult] = []
    for reading in batch:
        key = (reading.meter_id, reading.channel, reading.day)
        previous = latest.get(key)
        if previous is None:
            version, values, status = 1, list(reading.values), list(reading.status)
            differs: list[int] = []
            filled: list[int] = []
            outcome = Outcome.NEW
        else:
            if previous.interval_s != reading.interval_s:
                raise InvalidData(
                    f"{reading.channel} {reading.day}: interval {reading.interval_s} s "
                    f"differs from the stored {previous.interval_s} s"
                )
            values, status, differs, filled = _merge(reading, previous)
            if not differs and not filled:
                results.append(WriteResult(*key, Outcome.UNCHANGED, previous.version))
                continue
            version, outcome = previous.version + 1, Outcome.NEW_VERSION
        row = _row(reading, version, values, status, differs)
        rows.append(row)
        latest[key] = StoredDay(
            *key,
            version=version,
            interval_s=reading.interval_s,
            values=tuple(values),
            status=tuple(0 if v is None else s for v, s in zip(values, status, strict=True)),
            changed=tuple(differs),
            registered_at=reading.registered_at,
            source=reading.source,
        )
        results.append(WriteResult(*key, outcome, version, tuple(differs), tuple(filled)))
    if rows:
        conn.execute(insert(interval_day), rows)
    return results


def write_day(conn: Connection, reading: DayReading) -> WriteResult:
    """Store one day's read; see `write_days`."""
    return write_days(conn, [reading])[0]


def versions(conn: Connection, meter_id: UUID, channel: str, day: date) -> list[StoredDay]:
    """Every stored raw version of a day, oldest first."""
    t = interval_day
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.channel == channel, t.c.day == day)
        .order_by(t.c.version)
    )
    return [_decode(row) for row in conn.execute(query)]


def read_day(
    conn: Connection, meter_id: UUID, channel: str, day: date, version: int | None = None
) -> StoredDay | None:
    """The latest version of a day, or the given `version`; None when not stored."""
    stored = versions(conn, meter_id, channel, day)
    if version is None:
        return stored[-1] if stored else None
    return next((s for s in stored if s.version == version), None)


def _days(
    conn: Connection,
    meter_id: UUID,
    channel: str,
    start: datetime,
    end: datetime,
    known_at: datetime | None,
) -> dict[date, StoredDay]:
    """Per UTC day touching [start, end): the newest version registered by `known_at`."""
    t = interval_day
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    query = select(t).where(
        t.c.meter_id == meter_id,
        t.c.channel == channel,
        t.c.day >= start.astimezone(UTC).date(),
        t.c.day <= last,
    )
    if known_at is not None:
        query = query.where(t.c.registered_at <= known_at)
    chosen: dict[date, StoredDay] = {}
    for row in conn.execute(query.order_by(t.c.day, t.c.version)):
        stored = _decode(row)
        chosen[stored.day] = stored
    return chosen


def read(
    conn: Connection,
    meter_id: UUID,
    channel: str,
    start: datetime,
    end: datetime,
    *,
    known_at: datetime | None = None,
) -> list[IntervalValue]:
    """Values and status of the intervals starting in [start, end), oldest first.

    By default the latest raw version of each day; with `known_at`, the data as they stood at that
    moment (the newest version registered by then), which reproduces any earlier version.
    """
    out: list[IntervalValue] = []
    for stored in _days(conn, meter_id, channel, start, end, known_at).values():
        for i, value in enumerate(stored.values):
            begins = stored.start(i)
            if value is not None and start <= begins < end:
                out.append(
                    IntervalValue(
                        begins, value, stored.status[i], stored.version, stored.registered_at
                    )
                )
    return out


def missing(
    conn: Connection,
    meter_id: UUID,
    channel: str,
    start: datetime,
    end: datetime,
    interval_s: int = 900,
) -> list[datetime]:
    """Starts of the intervals in [start, end) that no stored read has delivered (COL-8 backfill).

    Days with no row at all count with `interval_s`; stored days use their own interval length.
    """
    stored_days = _days(conn, meter_id, channel, start, end, None)
    gaps: list[datetime] = []
    day = start.astimezone(UTC).date()
    while day_start(day) < end:
        stored = stored_days.get(day)
        step = stored.interval_s if stored else interval_s
        for i in range(intervals_per_day(step)):
            begins = day_start(day) + timedelta(seconds=i * step)
            if start <= begins < end and (stored is None or stored.values[i] is None):
                gaps.append(begins)
        day += timedelta(days=1)
    return gaps


def first_registered(
    conn: Connection, meter_id: UUID, channel: str, day: date
) -> list[datetime | None]:
    """When each interval of a day first arrived (DQ-1), for acquisition KPIs such as KPI-1."""
    arrived: list[datetime | None] = []
    for stored in versions(conn, meter_id, channel, day):
        if not arrived:
            arrived = [None] * len(stored.values)
        for i, value in enumerate(stored.values):
            if value is not None and arrived[i] is None:
                arrived[i] = stored.registered_at
    return arrived
