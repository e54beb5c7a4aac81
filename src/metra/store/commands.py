"""Commands to meters (CMD-*): the table the head-end's queue is built on.

Only storage lives here: enqueue, status changes and the due list, the lifecycle's allowed moves
(so no layer can send a confirmed command again), each move recorded with its time and actor in
`command_transition` and in the audit trail, and the requests and approvals behind commands.
Priorities, deadlines, safeguards and signing are the layers' above; the store keeps when each
step happened so the delivery KPI (KPI-3, `metra.mdm.kpi.commands`) can be computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, func, insert, or_, select, update

from metra.store import audit
from metra.store.command_schema import (
    command_approval,
    command_detail,
    command_request,
    command_transition,
)
from metra.store.errors import InvalidData, NotFound
from metra.store.schema import command


class Priority(IntEnum):
    """Lower number first; high priority for connect and emergency limits (CMD-4)."""

    HIGH = 1
    NORMAL = 5


class Status(StrEnum):
    """Where a command is in its life (see `TRANSITIONS` for the moves allowed)."""

    RECEIVED = "received"
    APPROVED = "approved"
    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Command:
    """A stored command."""

    id: UUID
    meter_id: UUID
    kind: str
    priority: int
    params: dict[str, Any] | None
    status: str
    created_at: datetime
    created_by: str | None
    not_before: datetime | None
    deadline: datetime | None
    updated_at: datetime
    result: dict[str, Any] | None


def enqueue(
    conn: Connection,
    meter_id: UUID,
    kind: str,
    *,
    at: datetime,
    priority: Priority = Priority.NORMAL,
    params: dict[str, Any] | None = None,
    by: str | None = None,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
) -> UUID:
    """Queue a command; returns its id."""
    new_id = uuid4()
    conn.execute(
        insert(command).values(
            id=new_id,
            meter_id=meter_id,
            kind=kind,
            priority=int(priority),
            params=params,
            status=Status.QUEUED.value,
            created_at=at,
            created_by=by,
            not_before=not_before,
            deadline=deadline,
            updated_at=at,
        )
    )
    return new_id


def set_status(
    conn: Connection,
    command_id: UUID,
    status: Status,
    *,
    at: datetime,
    result: dict[str, Any] | None = None,
) -> None:
    """Move a command to `status`, recording when and with what result."""
    values: dict[str, Any] = {"status": status.value, "updated_at": at}
    if result is not None:
        values["result"] = result
    done = conn.execute(update(command).where(command.c.id == command_id).values(**values))
    if done.rowcount != 1:
        raise NotFound(f"no command {command_id}")


def get(conn: Connection, command_id: UUID) -> Command:
    """One command by id."""
    row = conn.execute(select(command).where(command.c.id == command_id)).first()
    if row is None:
        raise NotFound(f"no command {command_id}")
    return Command(**row._mapping)


def due(conn: Connection, now: datetime, limit: int = 100) -> list[Command]:
    """Queued commands that may run now and are not past their deadline, by priority then age."""
    t = command
    query = (
        select(t)
        .where(t.c.status == Status.QUEUED.value)
        .where(or_(t.c.not_before.is_(None), t.c.not_before <= now))
        .where(or_(t.c.deadline.is_(None), t.c.deadline > now))
        .order_by(t.c.priority, t.c.created_at)
        .limit(limit)
    )
    return [Command(**row._mapping) for row in conn.execute(query)]


# ----------------------------------------------------------------------------- lifecycle

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.APPROVED, Status.CANCELLED, Status.EXPIRED}),
    Status.APPROVED: frozenset({Status.QUEUED, Status.CANCELLED, Status.EXPIRED}),
    Status.QUEUED: frozenset({Status.SENT, Status.CANCELLED, Status.EXPIRED}),
    # A command that never reached the meter goes back to the queue for another attempt.
    Status.SENT: frozenset({Status.CONFIRMED, Status.FAILED, Status.QUEUED, Status.EXPIRED}),
    Status.CONFIRMED: frozenset(),
    Status.FAILED: frozenset(),
    Status.EXPIRED: frozenset(),
    Status.CANCELLED: frozenset(),
}
"""The lifecycle: received -> approved -> queued -> sent -> confirmed (by read-back) or failed;
expired and cancelled end a command that did not run. Final states have no way out, so a
command confirmed once is never executed again (idempotence by command id)."""

FINAL = frozenset({Status.CONFIRMED, Status.FAILED, Status.EXPIRED, Status.CANCELLED})


class IllegalTransition(InvalidData):
    """A state change the lifecycle does not allow (e.g. a confirmed command sent again)."""


@dataclass(frozen=True)
class Transition:
    """One recorded state change of a command."""

    command_id: UUID
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    details: dict[str, Any] | None


def create(
    conn: Connection,
    command_id: UUID,
    meter_id: UUID,
    kind: str,
    *,
    request_id: UUID,
    at: datetime,
    by: str,
    priority: Priority,
    params: dict[str, Any] | None,
    deadline: datetime | None,
    not_before: datetime | None = None,
) -> None:
    """Store a command as received, with its first transition; the caller picks the id so a
    retried submission finds the row it made before (idempotence)."""
    conn.execute(
        insert(command).values(
            id=command_id,
            meter_id=meter_id,
            kind=kind,
            priority=int(priority),
            params=params,
            status=Status.RECEIVED.value,
            created_at=at,
            created_by=by,
            not_before=not_before,
            deadline=deadline,
            updated_at=at,
        )
    )
    conn.execute(
        insert(command_detail).values(command_id=command_id, request_id=request_id, attempts=0)
    )
    _record(conn, command_id, None, Status.RECEIVED, at=at, actor=by, details=None)


def transition(
    conn: Connection,
    command_id: UUID,
    to: Status,
    *,
    at: datetime,
    actor: str,
    details: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    expect: Status | None = None,
) -> Command:
    """Move a command to `to` if the lifecycle allows it, record the step and its audit entry.

    `expect` guards against two workers racing: the move happens only if the command is still
    in that state (compare-and-set), otherwise `IllegalTransition`. Returns the updated command.
    """
    current = get(conn, command_id)
    source = Status(current.status)
    if expect is not None and source is not expect:
        raise IllegalTransition(f"command {command_id} is {source.value}, not {expect.value}")
    if to not in TRANSITIONS[source]:
        raise IllegalTransition(f"command {command_id}: {source.value} -> {to.value} not allowed")
    values: dict[str, Any] = {"status": to.value, "updated_at": at}
    if result is not None:
        values["result"] = result
    if not_before is not None:
        values["not_before"] = not_before
    done = conn.execute(
        update(command)
        .where(command.c.id == command_id)
        .where(command.c.status == source.value)
        .values(**values)
    )
    if done.rowcount != 1:
        raise IllegalTransition(f"command {command_id} changed state meanwhile")
    if to is Status.SENT:
        conn.execute(
            update(command_detail)
            .where(command_detail.c.command_id == command_id)
            .values(attempts=command_detail.c.attempts + 1)
        )
    _record(conn, command_id, source, to, at=at, actor=actor, details=details)
    return get(conn, command_id)


def _record(
    conn: Connection,
    command_id: UUID,
    source: Status | None,
    to: Status,
    *,
    at: datetime,
    actor: str,
    details: dict[str, Any] | None,
) -> None:
    conn.execute(
        insert(command_transition).values(
            command_id=command_id,
            at=at,
            from_status=source.value if source is not None else None,
            to_status=to.value,
            actor=actor,
            details=details,
        )
    )
    audit.append(
        conn,
        at=at,
        actor=actor,
        action=f"command.{to.value}",
        target_kind="command",
        target_id=str(command_id),
        details={"from": source.value if source is not None else None, **(details or {})},
    )


def history(conn: Connection, command_id: UUID) -> list[Transition]:
    """Every state change of a command, oldest first."""
    t = command_transition
    rows = conn.execute(
        select(t.c.command_id, t.c.at, t.c.from_status, t.c.to_status, t.c.actor, t.c.details)
        .where(t.c.command_id == command_id)
        .order_by(t.c.id)
    )
    return [Transition(**row._mapping) for row in rows]


def attempts(conn: Connection, command_id: UUID) -> int:
    """How many times the command was sent."""
    value = conn.execute(
        select(command_detail.c.attempts).where(command_detail.c.command_id == command_id)
    ).scalar_one_or_none()
    return int(value or 0)


def of_request(conn: Connection, request_id: UUID) -> list[Command]:
    """The commands of one request, in meter order."""
    query = (
        select(command)
        .join(command_detail, command_detail.c.command_id == command.c.id)
        .where(command_detail.c.request_id == request_id)
        .order_by(command.c.meter_id)
    )
    return [Command(**row._mapping) for row in conn.execute(query)]


def request_of(conn: Connection, command_id: UUID) -> UUID:
    """The request a command belongs to."""
    value = conn.execute(
        select(command_detail.c.request_id).where(command_detail.c.command_id == command_id)
    ).scalar_one_or_none()
    if value is None:
        raise NotFound(f"command {command_id} belongs to no request")
    result: UUID = value
    return result


def listing(
    conn: Connection,
    *,
    status: Status | None = None,
    meter_id: UUID | None = None,
    limit: int = 100,
) -> list[Command]:
    """Commands newest first, optionally of one status or meter."""
    query = select(command).order_by(command.c.created_at.desc(), command.c.id).limit(limit)
    if status is not None:
        query = query.where(command.c.status == status.value)
    if meter_id is not None:
        query = query.where(command.c.meter_id == meter_id)
    return [Command(**row._mapping) for row in conn.execute(query)]


def expire_overdue(conn: Connection, now: datetime, *, actor: str) -> list[UUID]:
    """Expire every unfinished, unsent command whose deadline has passed (CMD-4: only commands
    still current are executed). Returns the ids expired."""
    open_states = [s.value for s in (Status.RECEIVED, Status.APPROVED, Status.QUEUED)]
    ids = list(
        conn.execute(
            select(command.c.id)
            .where(command.c.status.in_(open_states))
            .where(command.c.deadline.is_not(None))
            .where(command.c.deadline <= now)
        ).scalars()
    )
    for command_id in ids:
        transition(conn, command_id, Status.EXPIRED, at=now, actor=actor, details=None)
    return ids


# ------------------------------------------------------------------------------- requests


class RequestStatus(StrEnum):
    """Where a request (one submission over one or many meters) stands."""

    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Request:
    """A stored request with its approvers."""

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
    status: str
    approvers: tuple[str, ...]


def add_request(
    conn: Connection,
    request_id: UUID,
    kind: str,
    *,
    params: dict[str, Any] | None,
    meters: int,
    source: str,
    requested_by: str,
    requested_at: datetime,
    source_address: str | None,
    reason: str | None,
    emergency: bool,
    approvals_required: int,
) -> None:
    """Store a request; its commands are stored with `create`."""
    status = RequestStatus.AWAITING_APPROVAL if approvals_required else RequestStatus.APPROVED
    conn.execute(
        insert(command_request).values(
            id=request_id,
            kind=kind,
            params=params,
            meters=meters,
            source=source,
            requested_by=requested_by,
            requested_at=requested_at,
            source_address=source_address,
            reason=reason,
            emergency=emergency,
            approvals_required=approvals_required,
            status=status.value,
        )
    )


def find_request(conn: Connection, request_id: UUID) -> Request | None:
    """A request by id, or None."""
    row = conn.execute(select(command_request).where(command_request.c.id == request_id)).first()
    if row is None:
        return None
    approvers = conn.execute(
        select(command_approval.c.approver)
        .where(command_approval.c.request_id == request_id)
        .order_by(command_approval.c.at)
    ).scalars()
    return Request(**row._mapping, approvers=tuple(approvers))


def get_request(conn: Connection, request_id: UUID) -> Request:
    """A request by id; `NotFound` when there is none."""
    found = find_request(conn, request_id)
    if found is None:
        raise NotFound(f"no command request {request_id}")
    return found


def add_approval(
    conn: Connection, request_id: UUID, approver: str, *, at: datetime, source_address: str | None
) -> None:
    """Record one approval (the primary key refuses the same person twice)."""
    conn.execute(
        insert(command_approval).values(
            request_id=request_id, approver=approver, at=at, source_address=source_address
        )
    )


def set_request_status(conn: Connection, request_id: UUID, status: RequestStatus) -> None:
    """Mark a request approved or cancelled."""
    conn.execute(
        update(command_request)
        .where(command_request.c.id == request_id)
        .values(status=status.value)
    )


def requests_awaiting(conn: Connection, limit: int = 100) -> list[Request]:
    """Requests that wait for a second person (the approvals inbox)."""
    ids = conn.execute(
        select(command_request.c.id)
        .where(command_request.c.status == RequestStatus.AWAITING_APPROVAL.value)
        .order_by(command_request.c.requested_at)
        .limit(limit)
    ).scalars()
    return [get_request(conn, i) for i in list(ids)]


def disconnections_since(
    conn: Connection, kinds: tuple[str, ...], since: datetime, *, by: str | None = None
) -> int:
    """Meters ordered disconnected since `since` (by one user or by all), counting every request
    not cancelled: what the per-window limits of SEC-6 are checked against."""
    query = (
        select(func.coalesce(func.sum(command_request.c.meters), 0))
        .where(command_request.c.kind.in_(kinds))
        .where(command_request.c.requested_at >= since)
        .where(command_request.c.status != RequestStatus.CANCELLED.value)
        .where(command_request.c.emergency.is_(False))
    )
    if by is not None:
        query = query.where(command_request.c.requested_by == by)
    return int(conn.execute(query).scalar_one())
