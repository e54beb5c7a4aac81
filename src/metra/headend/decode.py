"""Decode what a meter answers into the store's records: profile rows, registers, journals.

Profile generic buffers are arrays of structures whose columns the object's capture_objects
name. The clock column gives each row's time (a null clock means "previous row plus the capture
period", the usual compression of IDIS meters); the status column (class 1, 0-0:96.10.*) is the
meter's status byte of the row; every other column is a channel, scaled with the scaler of the
register it captures. Load-profile rows are stamped at the *end* of their interval (IDIS), so the
interval they describe starts one capture period earlier. Anything malformed raises
`DecodeError`, never a bare exception, so one bad meter cannot stop a collection run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from uuid import UUID

from metra.dlms import axdr
from metra.dlms.data import Data, DateTime, Structure
from metra.dlms.errors import DecodeError
from metra.dlms.obis import Obis
from metra.dlms.xdlms.common import CaptureObject
from metra.store.events import MeterEvent
from metra.store.intervals import (
    SECONDS_PER_DAY,
    DayReading,
    Origin,
    intervals_per_day,
    status_code,
)
from metra.store.power_quality import PowerQualityRecord
from metra.store.registers import BillingSnapshot, Period, RegisterReading

CLOCK_CLASS = 8
_EPOCH_DAY = date(1970, 1, 1)
DATA_CLASS = 1
#: Group C of the status objects (0-0:96.10.x.255, "status register" in the OBIS list).
_STATUS_C, _STATUS_D = 96, 10

#: Normalised codes of the IDIS standard event log (0-0:99.98.0) and fraud detection log
#: (0-0:99.98.1) codes the fleet uses; anything else keeps ``<log>.<code>``.
EVENT_CODES: Mapping[int, str] = {
    1: "power.down",
    2: "power.up",
    3: "clock.dst_changed",
    4: "clock.adjusted_old_time",
    5: "clock.adjusted_new_time",
    6: "clock.invalid",
    40: "tamper.terminal_cover_opened",
    41: "tamper.terminal_cover_closed",
    42: "tamper.magnetic_field",
    43: "tamper.magnetic_field_gone",
    44: "tamper.meter_cover_opened",
    45: "tamper.meter_cover_closed",
    46: "security.authentication_failure",
    76: "pq.voltage_sag",
    77: "pq.voltage_swell",
}

#: Power-quality log codes that are occurrences in the power-quality repository. 76 and 77 are
#: the codes the project's virtual meters write (a decision shared with metra.meter.journal).
PQ_OCCURRENCES: Mapping[int, str] = {76: "sag", 77: "swell"}

#: Kind of a power-quality value by group D of its OBIS code (IEC 62056-6-1 processing of
#: electricity quantities): minimum, maximum, current / last average, instantaneous.
_PQ_KINDS: Mapping[int, str] = {
    **dict.fromkeys((3, 13, 23), "min"),
    **dict.fromkeys((6, 16, 26), "max"),
    **dict.fromkeys((4, 5, 14, 15, 24, 25, 27, 28), "average"),
    7: "instantaneous",
}


def to_datetime(value: Data) -> datetime:
    """A COSEM date-time (native or as 12 octets) as an aware UTC datetime.

    A time without deviation is taken as UTC: the fleet's meters keep UTC, and a local meter
    without deviation cannot be placed on the time line anyway.
    """
    if isinstance(value, bytes) and len(value) == 12:
        return _from_octets(bytes(value))
    if not isinstance(value, DateTime):
        raise DecodeError(f"not a date-time: {type(value).__name__}")
    return _instant(value)


@lru_cache(maxsize=65536)
def _from_octets(raw: bytes) -> datetime:
    """A 12-octet date-time, cached: every meter of a fleet stamps its rows with the same
    instants, so a daily run decodes each distinct stamp once, not once per meter and row."""
    return _instant(axdr.datetime_from_bytes(raw))


def _instant(stamp: DateTime) -> datetime:
    try:
        moment = stamp.to_datetime()
    except ValueError as exc:
        raise DecodeError(f"date-time with wildcards or out of range: {exc}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _number(value: Data, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{what} is not a number: {type(value).__name__}")
    return float(value)


@dataclass(frozen=True)
class ScalerUnit:
    """COSEM scaler_unit of a register: value = raw * 10**scaler, unit as the Blue Book enum."""

    scaler: int = 0
    unit: int = 255

    @classmethod
    def from_data(cls, value: Data) -> ScalerUnit:
        if not isinstance(value, Structure) or len(value) != 2:
            raise DecodeError("scaler_unit must be a structure of two")
        scaler, unit = value
        if isinstance(scaler, bool) or not isinstance(scaler, int):
            raise DecodeError("scaler must be an integer")
        if isinstance(unit, bool) or not isinstance(unit, int):
            raise DecodeError("unit must be an enum")
        return cls(int(scaler), int(unit))


@dataclass(frozen=True)
class Column:
    """One capture object of a profile, its role and, for value columns, its scaling.

    The OBIS text and the scale factor are worked out once per layout, not once per cell.
    """

    capture: CaptureObject
    role: str  # "clock", "status" or "value"
    scaling: ScalerUnit = ScalerUnit()
    obis: str = field(init=False, compare=False)
    factor: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "obis", _obis_text(bytes(self.capture.logical_name)))
        object.__setattr__(self, "factor", 10.0**self.scaling.scaler)


@lru_cache(maxsize=4096)
def _obis_text(logical_name: bytes) -> str:
    """The OBIS text of a logical name; cached because every cell of a profile asks it."""
    return str(Obis.from_bytes(logical_name))


def column_role(capture: CaptureObject) -> str:
    """Which part of a row a capture object is."""
    if capture.class_id == CLOCK_CLASS:
        return "clock"
    ln = capture.logical_name
    if capture.class_id == DATA_CLASS and ln[2] == _STATUS_C and ln[3] == _STATUS_D:
        return "status"
    return "value"


def capture_objects(value: Data) -> list[CaptureObject]:
    """The capture_objects attribute (3) of a profile."""
    if not isinstance(value, list):
        raise DecodeError("capture_objects must be an array")
    return [CaptureObject.from_data(item) for item in value]


@dataclass(frozen=True)
class ProfileRow:
    """One decoded row: its time, the meter's status byte and the scaled value per channel."""

    at: datetime
    status: int
    values: dict[str, float]


def rows(buffer: Data, columns: Sequence[Column], period_s: int) -> list[ProfileRow]:
    """Decode a profile buffer; null clocks continue from the previous row by `period_s`.

    The roles, names and factors of the columns are looked up once, so each cell costs a type
    check and a multiplication: a daily read of a 10,000-meter fleet is millions of cells.
    """
    if not isinstance(buffer, list):
        raise DecodeError("a profile buffer must be an array")
    width = len(columns)
    plan = [(c.role, c.obis, c.factor) for c in columns]
    step = timedelta(seconds=period_s)
    out: list[ProfileRow] = []
    previous: datetime | None = None
    for entry in buffer:
        if not isinstance(entry, list) or len(entry) != width:
            raise DecodeError("a profile row does not match its capture objects")
        at: datetime | None = None
        status = 0
        values: dict[str, float] = {}
        for (role, obis, factor), cell in zip(plan, entry, strict=True):
            if role == "value":
                if cell is None:
                    continue
                if type(cell) is bool or not isinstance(cell, int | float):
                    raise DecodeError(f"{obis} is not a number: {type(cell).__name__}")
                values[obis] = cell * factor
            elif role == "clock":
                if cell is None or (isinstance(cell, bytes) and not cell):
                    if previous is None or period_s <= 0:
                        raise DecodeError("first profile row has no time")
                    at = previous + step
                else:
                    at = to_datetime(cell)
            else:
                status = int(_number(cell, "status")) & 0xFF
        if at is None:
            raise DecodeError("a profile has no clock column")
        out.append(ProfileRow(at, status, values))
        previous = at
    return out


#: Status codes of remote values by the meter's status byte (one look-up per row, not a call).
_REMOTE_CODES = [status_code(Origin.REMOTE, meter=bits) for bits in range(256)]


def interval_days(
    meter_id: UUID,
    profile_rows: Sequence[ProfileRow],
    period_s: int,
    *,
    registered_at: datetime,
    source: str,
) -> list[DayReading]:
    """Group load-profile rows into the store's day rows (one per channel and UTC day).

    Rows not on the interval grid are dropped (a meter writes an extra row on a clock change;
    its energy lands in the next regular row anyway).
    """
    n = intervals_per_day(period_s)
    days: dict[tuple[str, date], tuple[list[float | None], list[int]]] = defaultdict(
        lambda: ([None] * n, [0] * n)
    )
    for row in profile_rows:
        stamp = row.at.timestamp()
        begins = int(stamp) - period_s  # seconds since the epoch (UTC) the interval starts
        second_of_day = begins % SECONDS_PER_DAY
        if second_of_day % period_s or stamp != int(stamp):
            continue
        index = second_of_day // period_s
        day = _EPOCH_DAY + timedelta(days=begins // SECONDS_PER_DAY)
        code = _REMOTE_CODES[row.status]
        for channel, value in row.values.items():
            values, status = days[(channel, day)]
            values[index] = value
            status[index] = code
    return [
        DayReading(
            meter_id=meter_id,
            channel=channel,
            day=day,
            values=values,
            status=status,
            registered_at=registered_at,
            interval_s=period_s,
            source=source,
        )
        for (channel, day), (values, status) in sorted(days.items())
    ]


def billing_snapshots(
    meter_id: UUID,
    profile_rows: Sequence[ProfileRow],
    columns: Sequence[Column],
    period: Period,
    *,
    read_at: datetime,
) -> list[BillingSnapshot]:
    """Billing-profile rows as snapshots per register and tariff zone (E of the OBIS; 0 total)."""
    scaling = {c.obis: c for c in columns if c.role == "value"}
    out: list[BillingSnapshot] = []
    for row in profile_rows:
        for obis, value in row.values.items():
            column = scaling[obis]
            out.append(
                BillingSnapshot(
                    meter_id=meter_id,
                    period=period,
                    captured_at=row.at,
                    obis=obis,
                    tariff_zone=column.capture.logical_name[4],
                    raw_value=value / 10.0**column.scaling.scaler,
                    scaler=column.scaling.scaler,
                    unit=column.scaling.unit,
                    status=row.status,
                    read_at=read_at,
                )
            )
    return out


def journal(
    meter_id: UUID, log: Obis, buffer: Data, *, registered_at: datetime
) -> list[MeterEvent]:
    """An event log buffer (rows of clock and event code) as meter events."""
    if not isinstance(buffer, list):
        raise DecodeError("an event log buffer must be an array")
    out: list[MeterEvent] = []
    for entry in buffer:
        if not isinstance(entry, list) or len(entry) < 2:
            raise DecodeError("an event log row needs a time and a code")
        raw = int(_number(entry[1], "event code"))
        out.append(
            MeterEvent(
                meter_id=meter_id,
                log_obis=str(log),
                occurred_at=to_datetime(entry[0]),
                raw_code=raw,
                code=EVENT_CODES.get(raw, f"{log.e}.{raw}"),
                registered_at=registered_at,
            )
        )
    return out


def register(
    meter_id: UUID,
    obis: Obis,
    value: Data,
    scaling: Data,
    *,
    captured_at: datetime,
    read_at: datetime,
) -> RegisterReading:
    """A register's value attribute (2) and scaler_unit (3) as a reading."""
    su = ScalerUnit.from_data(scaling)
    return RegisterReading(
        meter_id=meter_id,
        obis=str(obis),
        captured_at=captured_at,
        raw_value=_number(value, str(obis)),
        scaler=su.scaler,
        unit=su.unit,
        status=0,
        read_at=read_at,
    )


def power_quality_values(
    meter_id: UUID,
    profile_rows: Sequence[ProfileRow],
    columns: Sequence[Column],
    *,
    read_at: datetime,
) -> list[PowerQualityRecord]:
    """Power-quality profile rows as records: one per quantity and row, its kind named by the
    OBIS group D (min / max / average / instantaneous; anything else `value`)."""
    scaling = {c.obis: c for c in columns if c.role == "value"}
    out: list[PowerQualityRecord] = []
    for row in profile_rows:
        for obis, value in row.values.items():
            column = scaling[obis]
            out.append(
                PowerQualityRecord(
                    meter_id=meter_id,
                    obis=obis,
                    kind=_PQ_KINDS.get(column.capture.logical_name[3], "value"),
                    captured_at=row.at,
                    raw_value=value / column.factor,
                    scaler=column.scaling.scaler,
                    unit=column.scaling.unit,
                    read_at=read_at,
                    details={"status": row.status} if row.status else None,
                )
            )
    return out


def power_quality_events(events: Sequence[MeterEvent]) -> list[PowerQualityRecord]:
    """The occurrences (sags, swells) among power-quality log entries, as records."""
    return [
        PowerQualityRecord(
            meter_id=e.meter_id,
            obis=e.log_obis,
            kind=PQ_OCCURRENCES[e.raw_code],
            captured_at=e.occurred_at,
            raw_value=None,
            scaler=0,
            unit=255,
            read_at=e.registered_at,
            details={"code": e.raw_code},
        )
        for e in events
        if e.raw_code in PQ_OCCURRENCES
    ]


@lru_cache(maxsize=65536)
def _octets_seconds(raw: bytes) -> float:
    return _from_octets(raw).timestamp()


def load_profile_days(
    meter_id: UUID,
    buffer: Data,
    columns: Sequence[Column],
    period_s: int,
    span: tuple[datetime, datetime],
    *,
    registered_at: datetime,
    source: str,
) -> list[DayReading]:
    """A load-profile buffer straight into day rows: `rows`, the span filter (rows stamped in
    (start, end]) and `interval_days` in one pass, without a per-row object or dict.

    Same results and errors as the three steps; this is the path a daily read of every meter
    takes, so its per-cell cost is a type check, a multiplication and a list store.
    """
    if not isinstance(buffer, list):
        raise DecodeError("a profile buffer must be an array")
    n = intervals_per_day(period_s)
    width = len(columns)
    clock = next((j for j, c in enumerate(columns) if c.role == "clock"), None)
    if clock is None:
        if buffer:
            raise DecodeError("a profile has no clock column")
        return []
    status_at = [j for j, c in enumerate(columns) if c.role == "status"]
    values = [(j, c.obis, c.factor) for j, c in enumerate(columns) if c.role == "value"]
    low, high = span[0].timestamp(), span[1].timestamp()
    # per UTC day: per value column its values and status codes, and whether any value came
    days: dict[date, tuple[list[list[float | None]], list[list[int]], list[bool]]] = {}
    previous: float | None = None
    for entry in buffer:
        if not isinstance(entry, list) or len(entry) != width:
            raise DecodeError("a profile row does not match its capture objects")
        cell = entry[clock]
        if cell is None or (isinstance(cell, bytes) and not cell):
            if previous is None or period_s <= 0:
                raise DecodeError("first profile row has no time")
            stamp = previous + period_s
        elif isinstance(cell, bytes) and len(cell) == 12:
            stamp = _octets_seconds(bytes(cell))
        else:
            stamp = to_datetime(cell).timestamp()
        previous = stamp
        status = 0
        for j in status_at:
            status = int(_number(entry[j], "status")) & 0xFF
        if not low < stamp <= high or stamp != int(stamp):
            for j, obis, _ in values:  # still refuse malformed cells outside the span
                if entry[j] is not None and (
                    type(entry[j]) is bool or not isinstance(entry[j], int | float)
                ):
                    raise DecodeError(f"{obis} is not a number: {type(entry[j]).__name__}")
            continue
        begins = int(stamp) - period_s
        second_of_day = begins % SECONDS_PER_DAY
        day = _EPOCH_DAY + timedelta(days=begins // SECONDS_PER_DAY)
        slot = days.get(day)
        if slot is None:
            slot = days[day] = (
                [[None] * n for _ in values],
                [[0] * n for _ in values],
                [False] * len(values),
            )
        index = second_of_day // period_s
        code = _REMOTE_CODES[status]
        on_grid = second_of_day % period_s == 0
        for k, (j, obis, factor) in enumerate(values):
            cell = entry[j]
            if cell is None:
                continue
            if type(cell) is bool or not isinstance(cell, int | float):
                raise DecodeError(f"{obis} is not a number: {type(cell).__name__}")
            if on_grid:  # a row off the interval grid (clock change) is dropped
                slot[0][k][index] = cell * factor
                slot[1][k][index] = code
                slot[2][k] = True
    out = [
        DayReading(
            meter_id=meter_id,
            channel=obis,
            day=day,
            values=slot[0][k],
            status=slot[1][k],
            registered_at=registered_at,
            interval_s=period_s,
            source=source,
        )
        for day, slot in days.items()
        for k, (_, obis, _) in enumerate(values)
        if slot[2][k]
    ]
    return sorted(out, key=lambda d: (d.channel, d.day))
