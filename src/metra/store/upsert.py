"""Insert rows that may already exist, without duplicating them (idempotent re-reads).

A meter's journal or register is often read twice (a retry, a backfill overlapping a scheduled
read). Both backends support `INSERT ... ON CONFLICT DO NOTHING` on the natural key, which keeps
the first stored row untouched (DQ-5) and needs no read-before-write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The backend's INSERT construct, which carries `on_conflict_do_nothing/update`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert `rows` in one executemany, skipping existing keys; returns how many went in."""
    if not rows:
        return 0
    key = list(table.primary_key.columns)
    statement = dialect_insert(conn, table).on_conflict_do_nothing().returning(*key)
    return len(conn.execute(statement, list(rows)).all())


def row_of(record: Any) -> dict[str, Any]:
    """A dataclass record as a row, shallow: `dataclasses.asdict` deep-copies every value, which
    costs more than the insert itself when a collection run stores thousands of records."""
    return {f.name: getattr(record, f.name) for f in fields(record)}
