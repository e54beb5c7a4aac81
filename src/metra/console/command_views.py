"""What the command pages show, read from the command engine's store: requests with how far
their commands got, one request's commands, and a firmware campaign's waves (CMD-4, CMD-7).

Read-only: every change goes through `metra.security.command_requests` (submit, approve,
cancel), so the console applies exactly the safeguards of the command line and the API.

Waves: the queue's worker sends at most a firmware request's `wave_size` images per pass and
none while more of its commands have failed than `max_failures` (`metra.headend.command_runner`).
The store keeps when each command was first sent, not which pass sent it, so a campaign's waves
are its commands in the order they were first sent, `wave_size` at a time; commands never sent
yet are waiting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from metra.headend.command_runner import MAX_FAILURES, WAVE_SIZE
from metra.store import commands
from metra.store.command_schema import command_detail, command_request, command_transition
from metra.store.commands import Command, Request, Status
from metra.store.masterdata import Entity, as_of
from metra.store.schema import command

FIRMWARE = "firmware_update"
#: Progress buckets of a request: done well, ended otherwise, still under way.
SUCCESS = frozenset({Status.CONFIRMED.value})
ENDED = frozenset({Status.FAILED.value, Status.EXPIRED.value, Status.CANCELLED.value})


@dataclass(frozen=True)
class RequestRow:
    """A request with the number of its commands in each state."""

    request: Request
    states: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.states.values())

    @property
    def confirmed(self) -> int:
        return self.states.get(Status.CONFIRMED.value, 0)

    @property
    def failed(self) -> int:
        return self.states.get(Status.FAILED.value, 0)

    @property
    def percent(self) -> float:
        """Share of the commands confirmed, 0..100."""
        return 100.0 * self.confirmed / self.total if self.total else 0.0


@dataclass(frozen=True)
class MeterState:
    """One command of a request, as a row of its page."""

    command: Command
    serial: str
    attempts: int
    first_sent: datetime | None
    wave: int | None
    reason: str | None


@dataclass(frozen=True)
class Campaign:
    """A firmware request's rollout: waves of `wave_size`, paused once more than
    `max_failures` of its commands failed."""

    wave_size: int
    max_failures: int
    failed: int
    waves: list[list[MeterState]]
    waiting: list[MeterState]

    @property
    def paused(self) -> bool:
        return self.failed > self.max_failures


def _states(conn: Connection, ids: list[UUID]) -> dict[UUID, Counter[str]]:
    out: dict[UUID, Counter[str]] = {i: Counter() for i in ids}
    if not ids:
        return out
    d = command_detail.c
    query = (
        select(d.request_id, command.c.status, func.count())
        .join(command, command.c.id == d.command_id)
        .where(d.request_id.in_(ids))
        .group_by(d.request_id, command.c.status)
    )
    for request_id, status, count in conn.execute(query):
        out[request_id][status] = int(count)
    return out


def requests(
    conn: Connection, *, kind: str | None = None, status: str | None = None, limit: int = 100
) -> list[RequestRow]:
    """Requests newest first (optionally of one kind or request status), with progress."""
    r = command_request.c
    query = select(r.id).order_by(r.requested_at.desc(), r.id).limit(limit)
    if kind is not None:
        query = query.where(r.kind == kind)
    if status is not None:
        query = query.where(r.status == status)
    ids = list(conn.execute(query).scalars())
    states = _states(conn, ids)
    return [RequestRow(commands.get_request(conn, i), dict(states[i])) for i in ids]


def request_row(conn: Connection, request_id: UUID) -> RequestRow:
    """One request with progress; `NotFound` when there is none."""
    request = commands.get_request(conn, request_id)
    return RequestRow(request, dict(_states(conn, [request_id])[request_id]))


def serials(conn: Connection, meter_ids: set[UUID]) -> dict[UUID, str]:
    """Each meter's serial number today (its id where master data has none)."""
    today = datetime.now(UTC).date()
    out = {}
    for meter in meter_ids:
        found = as_of(conn, Entity.METER, meter, today)
        out[meter] = str(found.attributes.get("serial", meter)) if found else str(meter)
    return out


def _first_sent(conn: Connection, ids: list[UUID]) -> dict[UUID, datetime]:
    if not ids:
        return {}
    t = command_transition.c
    query = (
        select(t.command_id, func.min(t.at))
        .where(t.command_id.in_(ids), t.to_status == Status.SENT.value)
        .group_by(t.command_id)
    )
    return {cid: at for cid, at in conn.execute(query)}


def _reason(cmd: Command) -> str | None:
    result: dict[str, Any] = cmd.result or {}
    found = result.get("reason")
    return str(found) if found else None


def meter_states(
    conn: Connection, request: Request, *, wave_size: int | None = None
) -> list[MeterState]:
    """The request's commands in the order they were first sent (never sent last), each with
    its wave when `wave_size` is given."""
    cmds = commands.of_request(conn, request.id)
    sent = _first_sent(conn, [c.id for c in cmds])
    names = serials(conn, {c.meter_id for c in cmds})
    never = datetime.max.replace(tzinfo=UTC)
    ordered = sorted(cmds, key=lambda c: (sent.get(c.id, never), names[c.meter_id]))
    out = []
    for index, cmd in enumerate(ordered):
        first = sent.get(cmd.id)
        wave = index // wave_size + 1 if wave_size and first is not None else None
        out.append(
            MeterState(
                cmd, names[cmd.meter_id], commands.attempts(conn, cmd.id), first, wave, _reason(cmd)
            )
        )
    return out


def campaign(conn: Connection, request: Request) -> Campaign:
    """The waves of a firmware request (see the module docstring)."""
    params = request.params or {}
    size = max(1, int(params.get("wave_size", WAVE_SIZE)))
    limit = int(params.get("max_failures", MAX_FAILURES))
    states = meter_states(conn, request, wave_size=size)
    waves: list[list[MeterState]] = []
    for state in states:
        if state.wave is None:
            continue
        while len(waves) < state.wave:
            waves.append([])
        waves[state.wave - 1].append(state)
    failed = sum(1 for s in states if s.command.status == Status.FAILED.value)
    waiting = [s for s in states if s.wave is None]
    return Campaign(size, limit, failed, waves, waiting)
