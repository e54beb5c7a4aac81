"""Long jobs: an on-demand read of a meter (COL-7) answers 202 with a job to poll.

Starting a read needs `readings:read` at scope all (it talks to a meter, so retailers and
consumers cannot start one); a job is visible to the account that started it only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from metra.api import scoping
from metra.api.auth import Caller, current_caller
from metra.api.context import ApiContext, context
from metra.api.jobs import Job, JobFailed, read_job
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.dlms.obis import Obis
from metra.security.roles import Permission
from metra.store.masterdata import Entity, as_of

P = Permission
router = APIRouter(tags=["jobs"], responses=responses(401, 403, 404, 422, 429))


class ReadIn(BaseModel):
    class_id: int = Field(ge=1, le=0xFFFF, description="COSEM interface class")
    obis: str = Field(
        pattern=r"^\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(\.\d{1,3})?$|^\d{1,3}(\.\d{1,3}){5}$",
        max_length=32,
        description="logical name, e.g. 1-0:1.8.0.255",
    )
    attribute: int = Field(default=2, ge=1, le=127)


class JobOut(BaseModel):
    id: UUID
    kind: str
    subject: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: datetime
    finished_at: datetime | None
    result: Any = None
    error: str | None = None


def _out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        subject=job.subject,
        status=job.status,  # type: ignore[arg-type]
        created_at=job.created_at,
        finished_at=job.finished_at,
        result=job.result,
        error=job.error,
    )


def _meter_known(ctx: ApiContext, meter_id: UUID) -> bool:
    with ctx.engine.connect() as conn:
        return as_of(conn, Entity.METER, meter_id, datetime.now(UTC).date()) is not None


@router.post(
    "/meters/{meter_id}/reads",
    response_model=JobOut,
    status_code=202,
    responses=responses(503),
    operation_id="read_meter_now",
)
async def read_meter_now(
    meter_id: UUID,
    body: ReadIn,
    request: Request,
    response: Response,
    grant: Grant = Depends(Need(P.READINGS_READ)),
    ctx: ApiContext = Depends(context),
) -> JobOut:
    """Start an on-demand read of one attribute; poll the job at the `Location` given."""
    scoping.require_all(grant, "an on-demand read")
    try:
        obis = Obis.parse(body.obis)
    except ValueError as exc:
        raise Problem(422, f"bad OBIS code: {exc}", kind="invalid-request") from None
    if not await run_in_threadpool(_meter_known, ctx, meter_id):
        raise Problem(404, f"no meter {meter_id} valid today")
    try:
        job = ctx.jobs.start(
            "read",
            grant.caller.principal.user_id,
            f"meter/{meter_id}",
            read_job(ctx.reader, meter_id, body.class_id, obis, body.attribute),
        )
    except JobFailed as exc:
        raise Problem(503, str(exc)) from None
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id))
    return _out(job)


@router.get("/jobs/{job_id}", response_model=JobOut, operation_id="get_job")
def get_job(
    job_id: UUID, caller: Caller = Depends(current_caller), ctx: ApiContext = Depends(context)
) -> JobOut:
    """A job's state and, once done, its result or why it failed."""
    job = ctx.jobs.get(job_id)
    if job is None or job.owner != caller.principal.user_id:
        raise Problem(404, f"no job {job_id}")
    return _out(job)
