"""Communication diagnostics per meter (KPI-5, COL-11): last success, last failure, counts.

One row per meter, updated in place with a single upsert per outcome: the counters are
operational state, not measurement data, so DQ-5's immutability does not apply. The increment
happens in SQL so two workers reporting on the same meter never lose a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from metra.store.schema import comm_diagnostic
from metra.store.upsert import dialect_insert


@dataclass(frozen=True)
class Diagnostic:
    """The communication record of one meter."""

    meter_id: UUID
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_failure_reason: str | None
    success_count: int
    failure_count: int
    consecutive_failures: int
    signal_dbm: int | None
    ip_address: str | None
    imei: str | None
    tcp_port: int | None


def _upsert(conn: Connection, meter_id: UUID, new: dict[str, Any], on_existing: Any) -> None:
    statement = dialect_insert(conn, comm_diagnostic).values(meter_id=meter_id, **new)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[comm_diagnostic.c.meter_id], set_=on_existing(statement.excluded)
        )
    )


def record_success(
    conn: Connection,
    meter_id: UUID,
    at: datetime,
    *,
    signal_dbm: int | None = None,
    ip_address: str | None = None,
    imei: str | None = None,
    tcp_port: int | None = None,
) -> None:
    """Count a successful session; module facts given (COL-11) replace the stored ones."""
    t = comm_diagnostic
    module = {
        "signal_dbm": signal_dbm,
        "ip_address": ip_address,
        "imei": imei,
        "tcp_port": tcp_port,
    }
    given = {k: v for k, v in module.items() if v is not None}
    _upsert(
        conn,
        meter_id,
        {
            "last_success_at": at,
            "success_count": 1,
            "failure_count": 0,
            "consecutive_failures": 0,
            **given,
        },
        lambda excluded: {
            "last_success_at": excluded.last_success_at,
            "success_count": t.c.success_count + 1,
            "consecutive_failures": 0,
            **{k: excluded[k] for k in given},
        },
    )


def record_failure(conn: Connection, meter_id: UUID, at: datetime, reason: str) -> None:
    """Count a failed session and keep why it failed (truncated to the column's 200 chars)."""
    t = comm_diagnostic
    _upsert(
        conn,
        meter_id,
        {
            "last_failure_at": at,
            "last_failure_reason": reason[:200],
            "success_count": 0,
            "failure_count": 1,
            "consecutive_failures": 1,
        },
        lambda excluded: {
            "last_failure_at": excluded.last_failure_at,
            "last_failure_reason": excluded.last_failure_reason,
            "failure_count": t.c.failure_count + 1,
            "consecutive_failures": t.c.consecutive_failures + 1,
        },
    )


def get(conn: Connection, meter_id: UUID) -> Diagnostic | None:
    """The meter's record, or None if it was never contacted."""
    row = conn.execute(
        select(comm_diagnostic).where(comm_diagnostic.c.meter_id == meter_id)
    ).first()
    return None if row is None else Diagnostic(**row._mapping)


def failing(conn: Connection, at_least: int = 1) -> list[Diagnostic]:
    """Meters with at least `at_least` consecutive failures, worst first (channel diagnostics)."""
    t = comm_diagnostic
    query = (
        select(t)
        .where(t.c.consecutive_failures >= at_least)
        .order_by(t.c.consecutive_failures.desc(), t.c.meter_id)
    )
    return [Diagnostic(**row._mapping) for row in conn.execute(query)]
