"""Retention: delete (optionally after archiving) rows older than a horizon per class of data.

The horizons differ by jurisdiction (STO-1: measurements at least 5 years; STO-2: customer data
at most 3 years in Norway), so they come in as arguments from the profile; nothing here knows a
number. Deleting raw data after its retention is the one change DQ-5 allows. Master-data history
is trimmed only of versions that stopped being valid before the horizon, so what is valid at the
horizon and later is always answerable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, delete, exists, select

from metra.store import schema


class DataClass(StrEnum):
    """Classes of data that carry their own retention horizon."""

    INTERVALS = "intervals"
    REGISTERS = "registers"
    BILLING = "billing"
    POWER_QUALITY = "power_quality"
    METER_EVENTS = "meter_events"
    SYSTEM_EVENTS = "system_events"
    SECURITY_EVENTS = "security_events"
    AUDIT = "audit"
    COMMANDS = "commands"
    MASTER_DATA_HISTORY = "master_data_history"


# The table(s) of each class and the column that dates a row.
_DATED: dict[DataClass, list[tuple[Table, str]]] = {
    DataClass.INTERVALS: [(schema.interval_day, "day")],
    DataClass.REGISTERS: [(schema.register_reading, "captured_at")],
    DataClass.BILLING: [(schema.billing_snapshot, "captured_at")],
    DataClass.POWER_QUALITY: [(schema.power_quality, "captured_at")],
    DataClass.METER_EVENTS: [(schema.meter_event, "occurred_at")],
    DataClass.SYSTEM_EVENTS: [(schema.system_event, "occurred_at")],
    DataClass.SECURITY_EVENTS: [(schema.security_event, "occurred_at")],
    DataClass.AUDIT: [(schema.audit_record, "at")],
    DataClass.COMMANDS: [(schema.command, "created_at")],
    DataClass.MASTER_DATA_HISTORY: [
        (schema.party_version, "valid_from"),
        (schema.substation_version, "valid_from"),
        (schema.feeder_version, "valid_from"),
        (schema.delivery_point_version, "valid_from"),
        (schema.metering_point_version, "valid_from"),
        (schema.meter_version, "valid_from"),
        (schema.transformer_version, "valid_from"),
    ],
}

Archiver = Callable[[str, Sequence[Mapping[str, Any]]], None]


def _cutoff(column: Column[Any], now: datetime, horizon: timedelta) -> date | datetime:
    limit = now - horizon
    return limit.date() if column.type.python_type is date else limit


def _expired(table: Table, column_name: str, cutoff: date | datetime) -> Any:
    """Rows older than the cutoff; for master data, only versions superseded before it."""
    column = table.c[column_name]
    if column_name != "valid_from":
        return column < cutoff
    later = table.alias("later")
    superseded = exists(
        select(later.c.version_id).where(
            later.c.entity_id == table.c.entity_id,
            later.c.valid_from > column,
            later.c.valid_from <= cutoff,
        )
    )
    return and_(column < cutoff, superseded)


def purge(
    conn: Connection,
    horizons: Mapping[DataClass, timedelta],
    *,
    now: datetime,
    archive: Archiver | None = None,
) -> dict[str, int]:
    """Delete rows older than `now - horizon` for each class given; returns rows removed per table.

    With `archive`, the rows of each table are handed to it (table name, rows) before they are
    deleted, in the same transaction, so a failing archive keeps the data.
    """
    removed: dict[str, int] = {}
    for data_class, horizon in horizons.items():
        for table, column_name in _DATED[data_class]:
            condition = _expired(table, column_name, _cutoff(table.c[column_name], now, horizon))
            if archive is not None:
                rows = [dict(r._mapping) for r in conn.execute(select(table).where(condition))]
                if rows:
                    archive(table.name, rows)
            result = conn.execute(delete(table).where(condition))
            removed[table.name] = removed.get(table.name, 0) + result.rowcount
    return removed
