"""Event journals: meters' own events (COL-5), the central system's journal (EVT-3) and security
events (SEC-8, SEC-9).

Meter events keep the meter's raw code next to the normalised code string, so a mapping error in
normalisation can be corrected later from what the meter really said. Re-reading a journal adds
nothing twice (key: meter, log, time, raw code).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from metra.store.errors import NotFound
from metra.store.schema import meter_event, security_event, system_event
from metra.store.upsert import insert_new, row_of


@dataclass(frozen=True)
class MeterEvent:
    """One entry of a meter's event log `log_obis`."""

    meter_id: UUID
    log_obis: str
    occurred_at: datetime
    raw_code: int
    code: str
    registered_at: datetime
    details: dict[str, Any] | None = None


def add_meter_events(conn: Connection, events: Iterable[MeterEvent]) -> int:
    """Store meter events idempotently; returns how many were new."""
    return insert_new(conn, meter_event, [row_of(e) for e in events])


def meter_events(
    conn: Connection, meter_id: UUID, start: datetime, end: datetime, code: str | None = None
) -> list[MeterEvent]:
    """A meter's events in [start, end), oldest first, optionally of one normalised code."""
    t = meter_event
    query = select(t).where(
        t.c.meter_id == meter_id, t.c.occurred_at >= start, t.c.occurred_at < end
    )
    if code is not None:
        query = query.where(t.c.code == code)
    query = query.order_by(t.c.occurred_at, t.c.log_obis, t.c.raw_code)
    return [MeterEvent(**row._mapping) for row in conn.execute(query)]


class Severity(StrEnum):
    """How urgent a journal entry is; abnormal situations are WARNING or worse (S4 5.6)."""

    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


def record_system_event(
    conn: Connection,
    *,
    occurred_at: datetime,
    severity: Severity,
    source: str,
    code: str,
    message: str,
    meter_id: UUID | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append an entry to the central system's own journal (EVT-3); returns its id."""
    statement = insert(system_event).values(
        occurred_at=occurred_at,
        severity=severity.value,
        source=source,
        code=code,
        message=message,
        meter_id=meter_id,
        details=details,
    )
    new_id: int = conn.execute(statement.returning(system_event.c.id)).scalar_one()
    return new_id


def unacknowledged(conn: Connection, at_least: Severity = Severity.WARNING) -> list[dict[str, Any]]:
    """Abnormal situations not yet acknowledged, newest first (what the console shows, S4 5.6)."""
    levels = [s.value for s in Severity][list(Severity).index(at_least) :]
    t = system_event
    query = (
        select(t)
        .where(t.c.acknowledged_at.is_(None), t.c.severity.in_(levels))
        .order_by(t.c.occurred_at.desc(), t.c.id.desc())
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def acknowledge(conn: Connection, event_id: int, *, by: str, at: datetime) -> None:
    """Mark a journal entry as seen by `by`; the entry itself stays as it was."""
    t = system_event
    result = conn.execute(
        update(t)
        .where(t.c.id == event_id, t.c.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by=by)
    )
    if result.rowcount != 1:
        raise NotFound(f"no unacknowledged system event {event_id}")


class SecurityCategory(StrEnum):
    """Incident categories of the Norwegian security guide (S3 B.10.2, SEC-9)."""

    UNAUTHORISED_ACCESS = "unauthorised_access"
    COMPROMISE = "compromise"
    ATTEMPTED_COMPROMISE = "attempted_compromise"
    DENIAL_OF_SERVICE = "denial_of_service"
    RECONNAISSANCE = "reconnaissance"
    OTHER = "other"


def record_security_event(
    conn: Connection,
    *,
    occurred_at: datetime,
    category: SecurityCategory,
    severity: Severity,
    description: str,
    actor: str | None = None,
    source_address: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append a security event (SEC-8, SEC-9); returns its id. Callers never pass key material."""
    statement = insert(security_event).values(
        occurred_at=occurred_at,
        category=category.value,
        severity=severity.value,
        description=description,
        actor=actor,
        source_address=source_address,
        details=details,
    )
    new_id: int = conn.execute(statement.returning(security_event.c.id)).scalar_one()
    return new_id


def security_events(
    conn: Connection, start: datetime, end: datetime, category: SecurityCategory | None = None
) -> list[dict[str, Any]]:
    """Security events in [start, end), oldest first, optionally of one category."""
    t = security_event
    query = select(t).where(t.c.occurred_at >= start, t.c.occurred_at < end)
    if category is not None:
        query = query.where(t.c.category == category.value)
    return [dict(row._mapping) for row in conn.execute(query.order_by(t.c.occurred_at, t.c.id))]
