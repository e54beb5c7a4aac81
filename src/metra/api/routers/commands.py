"""Commands to meters (CMD-1..CMD-10) with their safeguards (SEC-4, SEC-6, SEC-10): submit a
request, approve it as a second person, cancel it, list and show requests and commands with their
state history, and follow a firmware campaign.

Everything that decides goes through the command engine's own functions, as ``metra command``
does (`metra.security.command_requests.submit` / `approve` / `cancel`): permission per kind,
two-person rule, limits per window, emergency mode, controlled zone and deactivated functions.
The zone is judged on the request's peer address (`metra.api.auth.source_address`) against
`ApiSettings.controlled_zones` (``METRA_CONTROLLED_ZONES`` for `metra serve`). A refusal is a
problem document whose type names the rule (``urn:metra:problem:safeguard-zone``, ...); the
engine records the security-relevant ones as security events, so that transaction is committed
even though the request fails. Parameters are checked before submission as the CLI checks them.

Idempotence: a client names the request id (``id``); sending the same request again answers 200
with the stored request and acts on nothing, a first submission answers 201.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Connection, func, select

from metra.api.auth import Caller, source_address
from metra.api.context import ApiContext, connection, context
from metra.api.paging import IsoDateTime, Page, Paging, link_header, paging
from metra.api.permissions import Grant, Need, command_caller
from metra.api.problems import Problem, responses
from metra.api.scoping import require_all
from metra.headend import command_params
from metra.headend.command_params import ParamsError
from metra.headend.command_runner import MAX_FAILURES, WAVE_SIZE
from metra.security import command_requests
from metra.security.roles import Permission
from metra.security.safeguards import KIND_PERMISSIONS, SafeguardRefused
from metra.store import commands
from metra.store.command_schema import command_detail, command_request
from metra.store.commands import RequestStatus, Status
from metra.store.schema import command, meter

router = APIRouter(tags=["commands"], responses=responses(401, 403, 404, 409, 422, 429))

KINDS = tuple(sorted(KIND_PERMISSIONS))
MAX_METERS = 10_000
#: Refusals that are a matter of state rather than of input or of permission.
_CONFLICTS = frozenset({"request_id", "already_approved", "state"})
#: Refusals by a safeguard (the engine records a security event for them).
_FORBIDDEN = frozenset(
    {"permission", "self_approval", "zone", "disabled", "user_limit", "total_limit"}
)


def _known_kind(kind: str) -> str:
    if kind not in KIND_PERMISSIONS:
        raise ValueError(f"unknown command kind; one of {', '.join(KINDS)}")
    return kind


Kind = Annotated[
    str,
    AfterValidator(_known_kind),
    Field(json_schema_extra={"enum": list(KINDS)}, description="what the meters are to do"),
]


class RequestIn(BaseModel):
    """One kind over one or many meters (docs/commands.md for each kind's parameters)."""

    id: UUID | None = Field(default=None, description="request id; a retry with it acts once")
    kind: Kind
    meter_ids: list[UUID] = Field(min_length=1, max_length=MAX_METERS)
    params: dict[str, Any] | None = None
    execute_at: IsoDateTime | None = Field(default=None, description="not before; with offset")
    emergency: bool = Field(default=False, description="rationing: lifts limits, two approvals")
    prepayment: bool = Field(default=False, description="waits for an allowed time (PRE-4)")
    reason: str | None = Field(default=None, max_length=1000)


class CommandOut(BaseModel):
    id: UUID
    request_id: UUID | None
    meter_id: UUID
    kind: str
    status: Status
    priority: str
    params: dict[str, Any] | None
    created_at: datetime
    created_by: str | None
    not_before: datetime | None
    deadline: datetime | None
    updated_at: datetime
    attempts: int
    result: dict[str, Any] | None


class TransitionOut(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    details: dict[str, Any] | None


class CommandDetailOut(CommandOut):
    history: list[TransitionOut] = Field(description="every state change, oldest first")


class RequestOut(BaseModel):
    id: UUID
    kind: str
    params: dict[str, Any] | None
    meters: int
    source: str
    requested_by: str
    requested_at: datetime
    source_address: str | None
    reason: str | None
    emergency: bool
    approvals_required: int
    status: RequestStatus
    approvers: list[str]


class RequestDetailOut(RequestOut):
    commands: list[CommandOut]


class SubmittedOut(RequestDetailOut):
    created: bool = Field(description="false when the id was submitted before (nothing done)")


class CancelIn(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)


class CancelledOut(BaseModel):
    request_id: UUID
    cancelled: list[UUID]


class FailureOut(BaseModel):
    command_id: UUID
    meter_id: UUID
    result: dict[str, Any] | None


class CampaignOut(BaseModel):
    """A firmware request's rollout: how far its waves have got and whether it is paused."""

    request_id: UUID
    status: RequestStatus
    meters: int
    by_status: dict[str, int]
    done: int = Field(description="confirmed, failed, expired or cancelled")
    percent_done: float
    wave_size: int
    max_failures: int
    paused: bool = Field(description="more failures than allowed: nothing more is sent")
    failures: list[FailureOut]


def _command(conn: Connection, cmd: commands.Command, request_id: UUID | None) -> CommandOut:
    return CommandOut(
        **{k: v for k, v in cmd.__dict__.items() if k not in ("priority", "status")},
        request_id=request_id,
        status=Status(cmd.status),
        priority="high" if cmd.priority == commands.Priority.HIGH else "normal",
        attempts=commands.attempts(conn, cmd.id),
    )


def _request(conn: Connection, request_id: UUID) -> RequestDetailOut:
    found = commands.get_request(conn, request_id)
    return RequestDetailOut(
        **{k: v for k, v in found.__dict__.items() if k not in ("approvers", "status")},
        status=RequestStatus(found.status),
        approvers=list(found.approvers),
        commands=[_command(conn, c, request_id) for c in commands.of_request(conn, request_id)],
    )


def refused(exc: SafeguardRefused) -> Problem:
    """A safeguard's refusal as a problem whose type names the rule."""
    status = 403 if exc.rule in _FORBIDDEN else 409 if exc.rule in _CONFLICTS else 422
    kind = "safeguard-" + exc.rule.replace("_", "-")
    return Problem(status, str(exc), kind=kind, title="Command refused")


def _unknown_meters(conn: Connection, meter_ids: list[UUID]) -> list[UUID]:
    wanted = set(meter_ids)
    known: set[UUID] = set()
    ids = sorted(wanted, key=str)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        known |= set(conn.execute(select(meter.c.id).where(meter.c.id.in_(chunk))).scalars())
    return sorted(wanted - known, key=str)


@router.post(
    "/command-requests",
    response_model=SubmittedOut,
    status_code=201,
    operation_id="submit_command_request",
    responses={
        200: {"description": "the same request was submitted before", "model": SubmittedOut}
    },
)
def submit_command_request(
    body: RequestIn,
    request: Request,
    response: Response,
    caller: Caller = Depends(command_caller),
    ctx: ApiContext = Depends(context),
) -> SubmittedOut:
    """Submit a request; it is queued at once, or waits for a second person's approval (a bulk
    disconnection, an emergency). The kind's permission and every safeguard apply."""
    try:
        command_params.check(body.kind, body.params)
    except ParamsError as exc:
        raise Problem(
            422, f"parameters refused, nothing submitted: {exc}", kind="invalid-params"
        ) from None
    if body.execute_at is not None and body.execute_at.utcoffset() is None:
        raise Problem(422, "execute_at needs its UTC offset", kind="safeguard-execute-at")
    failure: SafeguardRefused | None = None
    with ctx.engine.begin() as conn:  # committed even when refused: the security event stays
        unknown = _unknown_meters(conn, body.meter_ids)
        if unknown:
            raise Problem(422, f"unknown meters: {', '.join(map(str, unknown[:10]))}")
        try:
            done = command_requests.submit(
                conn,
                caller.principal,
                ctx.profile,
                ctx.policy,
                body.kind,
                body.meter_ids,
                source_address=source_address(request),
                params=body.params,
                request_id=body.id,
                reason=body.reason,
                emergency=body.emergency,
                prepayment=body.prepayment,
                execute_at=body.execute_at,
            )
        except SafeguardRefused as exc:
            failure = exc
        else:
            stored = _request(conn, done.request_id)
    if failure is not None:
        raise refused(failure)
    response.status_code = 201 if done.created else 200
    response.headers["Location"] = f"/api/v1/command-requests/{done.request_id}"
    return SubmittedOut(**stored.model_dump(), created=done.created)


@router.post(
    "/command-requests/{request_id}/approve",
    response_model=RequestDetailOut,
    operation_id="approve_command_request",
)
def approve_command_request(
    request_id: UUID,
    request: Request,
    caller: Caller = Depends(command_caller),
    ctx: ApiContext = Depends(context),
) -> RequestDetailOut:
    """Approve another person's request (never one's own, SEC-4); with enough approvals its
    commands are queued."""
    failure: SafeguardRefused | None = None
    with ctx.engine.begin() as conn:
        try:
            command_requests.approve(
                conn,
                caller.principal,
                ctx.policy,
                request_id,
                source_address=source_address(request),
            )
        except SafeguardRefused as exc:
            failure = exc
        else:
            stored = _request(conn, request_id)
    if failure is not None:
        raise refused(failure)
    return stored


@router.post(
    "/command-requests/{request_id}/cancel",
    response_model=CancelledOut,
    operation_id="cancel_command_request",
)
def cancel_command_request(
    request_id: UUID,
    body: CancelIn,
    request: Request,
    caller: Caller = Depends(command_caller),
    conn: Connection = Depends(connection),
) -> CancelledOut:
    """Cancel every command of the request not yet sent (needs the kind's permission)."""
    gone = command_requests.cancel(
        conn,
        caller.principal,
        request_id,
        source_address=source_address(request),
        reason=body.reason,
    )
    return CancelledOut(request_id=request_id, cancelled=gone)


@router.get(
    "/command-requests", response_model=Page[RequestOut], operation_id="list_command_requests"
)
def list_command_requests(
    request: Request,
    response: Response,
    status: RequestStatus | None = Query(None, description="awaiting_approval: the inbox"),
    kind: str | None = Query(None, max_length=32),
    requested_by: str | None = Query(None, max_length=64),
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> Page[RequestOut]:
    """Requests newest first; `status=awaiting_approval` is the second person's inbox."""
    require_all(grant, "the command requests")
    t = command_request.c
    where = []
    if status is not None:
        where.append(t.status == status.value)
    if kind is not None:
        where.append(t.kind == kind)
    if requested_by is not None:
        where.append(t.requested_by == requested_by)
    total = conn.execute(
        select(func.count()).select_from(command_request).where(*where)
    ).scalar_one()
    ids = conn.execute(
        select(t.id)
        .where(*where)
        .order_by(t.requested_at.desc(), t.id)
        .limit(page.limit)
        .offset(page.offset)
    ).scalars()
    items = []
    for rid in list(ids):
        found = commands.get_request(conn, rid)
        items.append(
            RequestOut(
                **{k: v for k, v in found.__dict__.items() if k not in ("approvers", "status")},
                status=RequestStatus(found.status),
                approvers=list(found.approvers),
            )
        )
    link_header(request, response, total, page)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/command-requests/{request_id}",
    response_model=RequestDetailOut,
    operation_id="get_command_request",
)
def get_command_request(
    request_id: UUID,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> RequestDetailOut:
    """A request with its approvers and its commands."""
    require_all(grant, "the command requests")
    return _request(conn, request_id)


@router.get(
    "/command-requests/{request_id}/campaign",
    response_model=CampaignOut,
    operation_id="get_firmware_campaign",
)
def get_firmware_campaign(
    request_id: UUID,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> CampaignOut:
    """A firmware request's progress: commands per state, its wave size and failure allowance,
    and whether the runner has paused it (CMD-7)."""
    require_all(grant, "the command requests")
    found = commands.get_request(conn, request_id)
    if found.kind != "firmware_update":
        raise Problem(404, f"request {request_id} is a {found.kind}, not a firmware campaign")
    cmds = commands.of_request(conn, request_id)
    by_status = {s.value: 0 for s in Status}
    for cmd in cmds:
        by_status[cmd.status] += 1
    final = {s.value for s in commands.FINAL}
    done = sum(n for s, n in by_status.items() if s in final)
    params = found.params or {}
    allowed = int(params.get("max_failures", MAX_FAILURES))
    return CampaignOut(
        request_id=request_id,
        status=RequestStatus(found.status),
        meters=len(cmds),
        by_status=by_status,
        done=done,
        percent_done=round(100.0 * done / len(cmds), 2) if cmds else 0.0,
        wave_size=int(params.get("wave_size", WAVE_SIZE)),
        max_failures=allowed,
        paused=by_status[Status.FAILED.value] > allowed,
        failures=[
            FailureOut(command_id=c.id, meter_id=c.meter_id, result=c.result)
            for c in cmds
            if c.status == Status.FAILED.value
        ],
    )


@router.get("/commands", response_model=Page[CommandOut], operation_id="list_commands")
def list_commands(
    request: Request,
    response: Response,
    status: Status | None = None,
    kind: str | None = Query(None, max_length=32),
    meter_id: UUID | None = None,
    request_id: UUID | None = None,
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> Page[CommandOut]:
    """Commands newest first, filtered by state, kind, meter or request."""
    require_all(grant, "the commands")
    t, d = command.c, command_detail.c
    where = []
    if status is not None:
        where.append(t.status == status.value)
    if kind is not None:
        where.append(t.kind == kind)
    if meter_id is not None:
        where.append(t.meter_id == meter_id)
    if request_id is not None:
        where.append(d.request_id == request_id)
    joined = command.outerjoin(command_detail, d.command_id == t.id)
    total = conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one()
    rows = conn.execute(
        select(command, d.request_id.label("request_id_"))
        .select_from(joined)
        .where(*where)
        .order_by(t.created_at.desc(), t.id)
        .limit(page.limit)
        .offset(page.offset)
    )
    items = []
    for row in rows:
        values = dict(row._mapping)
        parent = values.pop("request_id_")
        items.append(_command(conn, commands.Command(**values), parent))
    link_header(request, response, total, page)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/commands/{command_id}", response_model=CommandDetailOut, operation_id="get_command")
def get_command(
    command_id: UUID,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> CommandDetailOut:
    """A command with every state change it went through (CMD-4)."""
    require_all(grant, "the commands")
    cmd = commands.get(conn, command_id)
    parent = conn.execute(
        select(command_detail.c.request_id).where(command_detail.c.command_id == command_id)
    ).scalar_one_or_none()
    history = [
        TransitionOut(
            at=t.at,
            from_status=t.from_status,
            to_status=t.to_status,
            actor=t.actor,
            details=t.details,
        )
        for t in commands.history(conn, command_id)
    ]
    return CommandDetailOut(**_command(conn, cmd, parent).model_dump(), history=history)
