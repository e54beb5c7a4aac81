"""Validation and estimation results, and manual edits with a reason (DQ-4..DQ-11).

A day's served version and its history show how each value was obtained and by whom; an edit
adds a version through `metra.mdm.versions.edit` (the earlier one stays) and is sealed into the
audit trail at once with the editor, the values before and after, and the reason (DQ-11).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select

from metra.api import scoping
from metra.api.context import connection
from metra.api.paging import (
    IsoDate,
    Page,
    Paging,
    TimeRange,
    link_header,
    paging,
    release,
    time_range,
)
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.mdm import versions
from metra.mdm.estimation.methods import Method
from metra.mdm.schema import vee_finding
from metra.security import audit
from metra.security.roles import Permission

P = Permission
router = APIRouter(tags=["vee"], responses=responses(401, 403, 404, 422, 429))


class VeeVersionOut(BaseModel):
    version: int
    kind: str
    raw_version: int | None
    created_at: datetime
    created_by: str
    reason: str | None
    provenance: list[dict[str, Any]]


class VeeDayOut(BaseModel):
    meter_id: UUID
    channel: str
    day: date
    interval_s: int
    version: int
    values: list[float | None]
    status: list[int]
    method: list[str]
    history: list[VeeVersionOut]


class Change(BaseModel):
    index: int = Field(ge=0, le=1439, description="interval index within the day")
    value: float = Field(allow_inf_nan=False)


class EditIn(BaseModel):
    changes: list[Change] = Field(min_length=1, max_length=1440)
    reason: str = Field(min_length=1, max_length=1000)


class EditOut(BaseModel):
    meter_id: UUID
    channel: str
    day: date
    version: int


class FindingOut(BaseModel):
    id: int
    meter_id: UUID
    channel: str
    rule: str
    severity: str
    first_at: datetime
    last_at: datetime
    evidence: Any
    found_at: datetime


def _method(code: int) -> str:
    return Method(code).name.lower() if code in Method._value2member_map_ else str(code)


@router.get(
    "/meters/{meter_id}/vee/{channel}/{day}", response_model=VeeDayOut, operation_id="get_vee_day"
)
def get_vee_day(
    meter_id: UUID,
    channel: str,
    day: IsoDate,
    grant: Grant = Depends(Need(P.READINGS_READ)),
    conn: Connection = Depends(connection),
) -> VeeDayOut:
    """The served version of a day (values, status, method per interval) and its history."""
    scoping.check_meter(conn, grant, meter_id, day, day)
    every = versions.history(conn, meter_id, channel, day)
    if not every:
        raise Problem(404, f"no validated data for {meter_id} {channel} {day}")
    served = every[-1]
    release(conn, grant, "vee", str(meter_id), {"channel": channel, "day": day.isoformat()})
    return VeeDayOut(
        meter_id=meter_id,
        channel=channel,
        day=day,
        interval_s=served.interval_s,
        version=served.version,
        values=[None if math.isnan(v) else v for v in served.values.tolist()],
        status=served.status.tolist(),
        method=[_method(m) for m in served.method.tolist()],
        history=[
            VeeVersionOut(
                version=v.version,
                kind=v.kind,
                raw_version=v.raw_version,
                created_at=v.created_at,
                created_by=v.created_by,
                reason=v.reason,
                provenance=v.provenance,
            )
            for v in every
        ],
    )


@router.post(
    "/meters/{meter_id}/vee/{channel}/{day}/edits",
    response_model=EditOut,
    status_code=201,
    operation_id="edit_vee_day",
)
def edit_vee_day(
    meter_id: UUID,
    channel: str,
    day: IsoDate,
    body: EditIn,
    request: Request,
    grant: Grant = Depends(Need(P.DATA_EDIT)),
    conn: Connection = Depends(connection),
) -> EditOut:
    """Set interval values by hand with a reason: a new version, audited (DQ-11)."""
    scoping.check_meter(conn, grant, meter_id, day, day)
    version = versions.edit(
        conn,
        meter_id,
        channel,
        day,
        {c.index: c.value for c in body.changes},
        actor=grant.caller.username,
        reason=body.reason,
        at=datetime.now(UTC),
    )
    audit.seal(conn)  # chain the MDM's entry now, not at the next audited action
    return EditOut(meter_id=meter_id, channel=channel, day=day, version=version)


@router.get("/vee/findings", response_model=Page[FindingOut], operation_id="list_vee_findings")
def list_findings(
    request: Request,
    response: Response,
    meter_id: UUID | None = None,
    rule: str | None = Query(None, max_length=32),
    span: TimeRange = Depends(time_range),
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(P.READINGS_READ)),
    conn: Connection = Depends(connection),
) -> Page[FindingOut]:
    """Validation findings whose span starts in [start, end): the VEE worklist."""
    if meter_id is None:
        scoping.require_all(grant, "the findings of all meters")
    else:
        scoping.check_meter(conn, grant, meter_id, span.first_day, span.last_day)
    t = vee_finding.c
    where = [t.first_at >= span.start, t.first_at < span.end]
    if meter_id is not None:
        where.append(t.meter_id == meter_id)
    if rule is not None:
        where.append(t.rule == rule)
    total = conn.execute(select(func.count()).select_from(vee_finding).where(*where)).scalar_one()
    rows = conn.execute(
        select(vee_finding)
        .where(*where)
        .order_by(t.first_at, t.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    items = [FindingOut(**row._mapping) for row in rows]
    if meter_id is not None:
        release(conn, grant, "vee-findings", str(meter_id), {"count": len(items)})
    link_header(request, response, total, page)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
