"""Commands to meters (CMD-*): the table the head-end's queue is built on.

Only storage lives here: enqueue, status changes and the due list. Priorities, deadlines and
signing are the head-end's; the store keeps when each step happened so delivery KPIs (KPI-3) can be
computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, insert, or_, select, update

from metra.store.errors import NotFound
from metra.store.schema import command


class Priority(IntEnum):
    """Lower number first; high priority for connect and emergency limits (CMD-4)."""

    HIGH = 1
    NORMAL = 5


class Status(StrEnum):
    """Where a command is in its life."""

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
