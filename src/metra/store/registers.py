"""Register readings and billing snapshots (COL-2, COL-4), kept as read (DQ-5).

Values are stored as the meter sent them: the raw number plus the COSEM scaler and unit
(value = raw * 10**scaler), so nothing is rounded on the way in. A double holds every integer
register exactly up to 2**53 and also the float registers some meters use. A re-read of the same
capture is skipped, never duplicated nor overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Connection, select

from metra.store.schema import billing_snapshot, register_reading
from metra.store.upsert import insert_new, row_of


def scaled(raw_value: float, scaler: int) -> Decimal:
    """The physical value of a raw COSEM register value, exact in decimal."""
    return Decimal(repr(raw_value)).scaleb(scaler)


@dataclass(frozen=True)
class RegisterReading:
    """One register value captured by the meter at `captured_at` and read at `read_at` (DQ-1)."""

    meter_id: UUID
    obis: str
    captured_at: datetime
    raw_value: float
    scaler: int
    unit: int
    status: int
    read_at: datetime


class Period(StrEnum):
    """Billing period of a snapshot: start of day or start of month (COL-4)."""

    DAILY = "D"
    MONTHLY = "M"


@dataclass(frozen=True)
class BillingSnapshot:
    """A register frozen at the start of a billing period, per tariff zone (0 = total)."""

    meter_id: UUID
    period: Period
    captured_at: datetime
    obis: str
    tariff_zone: int
    raw_value: float
    scaler: int
    unit: int
    status: int
    read_at: datetime


def add_readings(conn: Connection, readings: Iterable[RegisterReading]) -> int:
    """Store readings idempotently (key: meter, OBIS, capture time); returns how many were new."""
    return insert_new(conn, register_reading, [row_of(r) for r in readings])


def readings(
    conn: Connection, meter_id: UUID, obis: str, start: datetime, end: datetime
) -> list[RegisterReading]:
    """Readings of one register captured in [start, end), oldest first."""
    t = register_reading
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.obis == obis)
        .where(t.c.captured_at >= start, t.c.captured_at < end)
        .order_by(t.c.captured_at)
    )
    return [RegisterReading(**row._mapping) for row in conn.execute(query)]


def add_snapshots(conn: Connection, snapshots: Iterable[BillingSnapshot]) -> int:
    """Store billing snapshots idempotently; returns how many were new."""
    rows = [{**row_of(s), "period": s.period.value} for s in snapshots]
    return insert_new(conn, billing_snapshot, rows)


def snapshots(
    conn: Connection, meter_id: UUID, period: Period, start: datetime, end: datetime
) -> list[BillingSnapshot]:
    """Snapshots of one period kind captured in [start, end), by time, OBIS and zone."""
    t = billing_snapshot
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.period == period.value)
        .where(t.c.captured_at >= start, t.c.captured_at < end)
        .order_by(t.c.captured_at, t.c.obis, t.c.tariff_zone)
    )
    out = []
    for row in conn.execute(query):
        values = dict(row._mapping)
        values["period"] = Period(values["period"])
        out.append(BillingSnapshot(**values))
    return out
