"""The incident and deviation register (SEC-9) with the six categories of the Norwegian guide."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from metra.api.context import connection
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.security import incidents
from metra.security.roles import Permission
from metra.security.schema import incident
from metra.store.events import SecurityCategory, Severity

P = Permission
router = APIRouter(tags=["incidents"], responses=responses(401, 403, 404, 409, 422, 429))


class IncidentOut(BaseModel):
    id: int
    opened_at: datetime
    opened_by: str
    category: SecurityCategory
    severity: Severity
    title: str
    description: str
    security_event_ids: list[int] | None
    status: str
    closed_at: datetime | None
    closed_by: str | None
    resolution: str | None


class IncidentIn(BaseModel):
    category: SecurityCategory
    severity: Severity
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=10_000)
    security_event_ids: list[Annotated[int, Field(strict=True, ge=1, le=2**62)]] = Field(
        default=[], max_length=1000
    )


class CloseIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=10_000)


def _get(conn: Connection, incident_id: int) -> IncidentOut:
    if not 0 < incident_id < 2**62:
        raise Problem(404, f"no incident {incident_id}")
    row = conn.execute(select(incident).where(incident.c.id == incident_id)).first()
    if row is None:
        raise Problem(404, f"no incident {incident_id}")
    return IncidentOut(**row._mapping)


@router.get("/incidents", response_model=list[IncidentOut], operation_id="list_incidents")
def list_incidents(
    category: SecurityCategory | None = None,
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
    conn: Connection = Depends(connection),
) -> list[IncidentOut]:
    """The register, newest first."""
    return [IncidentOut(**row) for row in incidents.register(conn, category)]


@router.post(
    "/incidents", response_model=IncidentOut, status_code=201, operation_id="open_incident"
)
def open_incident(
    body: IncidentIn,
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
    conn: Connection = Depends(connection),
) -> IncidentOut:
    """Register an incident or deviation (audited)."""
    incident_id = incidents.open_incident(
        conn,
        grant.caller.principal,
        body.category,
        body.severity,
        body.title,
        body.description,
        security_event_ids=tuple(body.security_event_ids),
    )
    return _get(conn, incident_id)


@router.post(
    "/incidents/{incident_id}/close", response_model=IncidentOut, operation_id="close_incident"
)
def close_incident(
    incident_id: int,
    body: CloseIn,
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
    conn: Connection = Depends(connection),
) -> IncidentOut:
    """Close an open incident with what was done (the record stays)."""
    _get(conn, incident_id)
    incidents.close_incident(conn, grant.caller.principal, incident_id, body.resolution)
    return _get(conn, incident_id)
