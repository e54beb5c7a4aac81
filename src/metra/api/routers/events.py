"""Meter events, the central system's journal and its alarms (EVT-3, S4 5.6), security events
and alerts (SEC-8), and communication diagnostics (KPI-5).

Acknowledging an alarm needs only `events:read`: it records who has seen an abnormal situation
and changes no data (the entry itself stays as it was); it is audited like every write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, func, select

from metra.api import scoping
from metra.api.auth import source_address
from metra.api.context import connection
from metra.api.paging import Page, Paging, TimeRange, link_header, paging, release, time_range
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.security import audit, incidents
from metra.security.roles import Permission
from metra.store import diagnostics
from metra.store.events import (
    SecurityCategory,
    Severity,
    acknowledge,
    meter_events,
    security_events,
    unacknowledged,
)
from metra.store.schema import system_event

P = Permission
router = APIRouter(tags=["events"], responses=responses(401, 403, 404, 422, 429))


class MeterEventOut(BaseModel):
    meter_id: UUID
    log_obis: str
    occurred_at: datetime
    raw_code: int
    code: str
    registered_at: datetime
    details: dict[str, Any] | None


class SystemEventOut(BaseModel):
    id: int
    occurred_at: datetime
    severity: Severity
    source: str
    code: str
    message: str
    meter_id: UUID | None
    details: dict[str, Any] | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class SecurityEventOut(BaseModel):
    id: int
    occurred_at: datetime
    category: SecurityCategory
    severity: Severity
    actor: str | None
    source_address: str | None
    description: str
    details: dict[str, Any] | None


class AlertOut(BaseModel):
    at: datetime
    category: SecurityCategory
    description: str
    source_address: str | None
    event_ids: list[int]


class DiagnosticOut(BaseModel):
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


@router.get(
    "/meters/{meter_id}/events", response_model=list[MeterEventOut], operation_id="get_meter_events"
)
def get_meter_events(
    meter_id: UUID,
    code: str | None = Query(None, max_length=64),
    span: TimeRange = Depends(time_range),
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> list[MeterEventOut]:
    """A meter's own events in [start, end) (COL-5)."""
    scoping.check_meter(conn, grant, meter_id, span.first_day, span.last_day)
    found = meter_events(conn, meter_id, span.start, span.end, code)
    release(conn, grant, "events", str(meter_id), {"count": len(found)})
    return [MeterEventOut(**e.__dict__) for e in found]


@router.get("/events", response_model=Page[SystemEventOut], operation_id="list_system_events")
def list_system_events(
    request: Request,
    response: Response,
    severity: Severity | None = None,
    source: str | None = Query(None, max_length=64),
    span: TimeRange = Depends(time_range),
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> Page[SystemEventOut]:
    """The central system's journal in [start, end), newest first (EVT-3)."""
    scoping.require_all(grant, "the system journal")
    t = system_event.c
    where = [t.occurred_at >= span.start, t.occurred_at < span.end]
    if severity is not None:
        where.append(t.severity == severity.value)
    if source is not None:
        where.append(t.source == source)
    total = conn.execute(select(func.count()).select_from(system_event).where(*where)).scalar_one()
    rows = conn.execute(
        select(system_event)
        .where(*where)
        .order_by(t.occurred_at.desc(), t.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    link_header(request, response, total, page)
    items = [SystemEventOut(**row._mapping) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/alarms", response_model=list[SystemEventOut], operation_id="list_alarms")
def list_alarms(
    at_least: Severity = Query(Severity.WARNING),
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> list[SystemEventOut]:
    """Abnormal situations not yet acknowledged, newest first (S4 5.6)."""
    scoping.require_all(grant, "the alarm list")
    return [SystemEventOut(**row) for row in unacknowledged(conn, at_least)[:1000]]


@router.post(
    "/alarms/{event_id}/acknowledge",
    response_model=SystemEventOut,
    operation_id="acknowledge_alarm",
)
def acknowledge_alarm(
    event_id: int,
    request: Request,
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> SystemEventOut:
    """Mark an alarm as seen by the caller (audited)."""
    scoping.require_all(grant, "acknowledging alarms")
    if not 0 < event_id < 2**62:
        raise Problem(404, f"no unacknowledged system event {event_id}")
    acknowledge(conn, event_id, by=grant.caller.username, at=datetime.now(UTC))
    audit.record(
        conn,
        grant.caller.username,
        "alarm.acknowledge",
        ("system_event", str(event_id)),
        None,
        "acknowledged",
        source_address(request),
    )
    row = conn.execute(select(system_event).where(system_event.c.id == event_id)).one()
    return SystemEventOut(**row._mapping)


@router.get(
    "/security-events", response_model=list[SecurityEventOut], operation_id="list_security_events"
)
def list_security_events(
    category: SecurityCategory | None = None,
    span: TimeRange = Depends(time_range),
    grant: Grant = Depends(Need(P.SECURITY_EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> list[SecurityEventOut]:
    """Security events in [start, end), oldest first (SEC-8)."""
    found = security_events(conn, span.start, span.end, category)[:10_000]
    return [SecurityEventOut(**e) for e in found]


@router.get("/security-alerts", response_model=list[AlertOut], operation_id="list_security_alerts")
def list_security_alerts(
    span: TimeRange = Depends(time_range),
    grant: Grant = Depends(Need(P.SECURITY_EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> list[AlertOut]:
    """Alarms and bursts of warnings from one source in [start, end) (SEC-8)."""
    return [
        AlertOut(
            at=a.at,
            category=a.category,
            description=a.description,
            source_address=a.source_address,
            event_ids=list(a.event_ids),
        )
        for a in incidents.alerts(conn, span.start, span.end)
    ]


@router.get(
    "/meters/{meter_id}/diagnostics", response_model=DiagnosticOut, operation_id="get_diagnostics"
)
def get_diagnostics(
    meter_id: UUID,
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> DiagnosticOut:
    """A meter's communication record: last success and failure, counts, module facts."""
    today = datetime.now(UTC).date()
    scoping.check_meter(conn, grant, meter_id, today, today)
    found = diagnostics.get(conn, meter_id)
    if found is None:
        raise Problem(404, f"meter {meter_id} was never contacted")
    release(conn, grant, "diagnostics", str(meter_id), {})
    return DiagnosticOut(**found.__dict__)


@router.get(
    "/diagnostics/failing", response_model=Page[DiagnosticOut], operation_id="list_failing_meters"
)
def list_failing(
    request: Request,
    response: Response,
    at_least: int = Query(1, ge=1, le=10**6),
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(P.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> Page[DiagnosticOut]:
    """Meters with at least `at_least` consecutive failed sessions, worst first."""
    scoping.require_all(grant, "the failing-meter list")
    found = diagnostics.failing(conn, at_least)
    link_header(request, response, len(found), page)
    items = [DiagnosticOut(**d.__dict__) for d in found[page.offset : page.offset + page.limit]]
    return Page(items=items, total=len(found), limit=page.limit, offset=page.offset)
