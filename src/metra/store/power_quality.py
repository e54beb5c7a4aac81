"""Power-quality records read from meters and analysers (COL-6, PQ-1).

A record is either a periodic value (average, min, max of a quantity over the meter's period) or
an occurrence (sag, swell, interruption) with its duration; re-reads are skipped, not duplicated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from metra.store.schema import power_quality
from metra.store.upsert import insert_new, row_of


@dataclass(frozen=True)
class PowerQualityRecord:
    """One power-quality value or occurrence of quantity `obis` at `captured_at`."""

    meter_id: UUID
    obis: str
    kind: str
    captured_at: datetime
    raw_value: float | None
    scaler: int
    unit: int
    read_at: datetime
    duration_s: float | None = None
    details: dict[str, Any] | None = None


def add(conn: Connection, records: Iterable[PowerQualityRecord]) -> int:
    """Store records idempotently (key: meter, OBIS, kind, time); returns how many were new."""
    return insert_new(conn, power_quality, [row_of(r) for r in records])


def records(
    conn: Connection, meter_id: UUID, start: datetime, end: datetime
) -> list[PowerQualityRecord]:
    """A meter's records captured in [start, end), oldest first."""
    t = power_quality
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.captured_at >= start, t.c.captured_at < end)
        .order_by(t.c.captured_at, t.c.obis, t.c.kind)
    )
    return [PowerQualityRecord(**row._mapping) for row in conn.execute(query)]
