"""Command requests: what an operator or the market hub asks meters to do, before the head-end
does it (CMD-3, CMD-4, SEC-4, SEC-6, PRE-2, PRE-4).

A request is one kind over one or many meters. `submit` checks the safeguards, then stores the
request and one command per meter as *received*; one that needs no second person is approved and
queued at once, others wait in the approvals inbox until `approve` has enough people. Each command
gets its priority (high for the profile's `high_priority_kinds`: connect and emergency limits)
and its deadline (24 h for high priority, 3 working days otherwise by the profile's calendar; a
hub's prepayment request within the profile's working days, PRE-2), counted from when it may run.

Idempotence: the caller may name the request id (a hub message id, a retried form). Submitting the
same id again returns the stored request and creates nothing, so a retried submission never acts
twice; command ids are derived from (request id, meter id) for the same reason.

A prepayment disconnection (`prepayment=True`) never runs inside the profile's no-disconnection
windows (UA: evenings, nights, weekends, holidays): its execution time moves to the next allowed
moment (PRE-4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from metra.profiles.calendar import is_disconnection_allowed, working_deadline
from metra.profiles.model import Profile
from metra.security import audit
from metra.security.roles import Principal, require
from metra.security.safeguards import (
    TOU_KINDS,
    CommandPolicy,
    SafeguardRefused,
    check_approval,
    check_submission,
    permission_for,
)
from metra.store import commands
from metra.store.commands import Priority, RequestStatus, Status
from metra.store.masterdata import Entity, as_of

SOURCES = ("operator", "hub")
#: How far ahead the next allowed disconnection moment is looked for.
_WINDOW_SEARCH_DAYS = 62
_NAMESPACE = uuid5(NAMESPACE_URL, "metra:command")
#: The prepayment top-up sent to a meter's credit (PRE-1); its transfer id is the request id.
CREDIT_TRANSFER = "credit_transfer"


@dataclass(frozen=True)
class Submission:
    """The outcome of `submit`: the request, its commands and whether this call created them."""

    request_id: UUID
    command_ids: tuple[UUID, ...]
    status: str
    approvals_required: int
    created: bool


def command_id(request_id: UUID, meter_id: UUID) -> UUID:
    """The id of a request's command for one meter (stable across retried submissions)."""
    return uuid5(_NAMESPACE, f"{request_id}/{meter_id}")


def priority_of(profile: Profile, kind: str, *, restores_supply: bool = False) -> Priority:
    """High for the profile's high-priority kinds (CMD-4), and for a credit transfer that
    restores the supply of an account disconnected by its balance (the customer is without
    power until the credit is on the meter); normal otherwise."""
    if kind in profile.commands.high_priority_kinds:
        return Priority.HIGH
    if kind == CREDIT_TRANSFER and restores_supply:
        return Priority.HIGH
    return Priority.NORMAL


def deadline_of(
    profile: Profile,
    kind: str,
    start: datetime,
    *,
    hub_prepayment: bool,
    restores_supply: bool = False,
) -> datetime:
    """When an undelivered command stops being current (CMD-4, PRE-2)."""
    rules = profile.commands
    if priority_of(profile, kind, restores_supply=restores_supply) is Priority.HIGH:
        deadline = start + timedelta(hours=rules.high_priority_deadline_hours)
    else:
        deadline = working_deadline(profile, start, rules.normal_deadline_working_days)
    if hub_prepayment:
        days = profile.prepayment.hub_request_deadline_working_days
        deadline = min(deadline, working_deadline(profile, start, days))
    return deadline.astimezone(UTC)


def next_disconnection_time(profile: Profile, start: datetime) -> datetime:
    """The first moment at or after `start` when a prepayment disconnection is allowed (PRE-4).

    Allowed periods can only begin at `start`, at a local midnight (after a blocked weekend or
    holiday) or where a no-disconnection window ends, so only those moments are tried.
    """
    if is_disconnection_allowed(profile, start):
        return start
    zone = ZoneInfo(profile.timezone)
    day = start.astimezone(zone).date()
    ends = [w.end for w in profile.prepayment.no_disconnect_windows]
    for offset in range(_WINDOW_SEARCH_DAYS):
        current = day + timedelta(days=offset)
        moments = sorted(datetime.combine(current, t, tzinfo=zone) for t in {time(0), *ends})
        for moment in moments:
            if moment >= start and is_disconnection_allowed(profile, moment):
                return moment.astimezone(UTC)
    raise SafeguardRefused(
        "prepayment_window", f"no allowed disconnection time within {_WINDOW_SEARCH_DAYS} days"
    )


def submit(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    policy: CommandPolicy,
    kind: str,
    meter_ids: Sequence[UUID],
    *,
    source_address: str | None,
    params: Mapping[str, Any] | None = None,
    request_id: UUID | None = None,
    source: str = "operator",
    reason: str | None = None,
    emergency: bool = False,
    prepayment: bool = False,
    execute_at: datetime | None = None,
    now: datetime | None = None,
) -> Submission:
    """Check the safeguards and store a request with its commands (see the module docstring).

    A refusal raises `SafeguardRefused` after recording a security event: commit anyway.

    A ``credit_transfer`` goes to one meter; its parameters get ``transfer_id`` (the request
    id, so resubmitting the same top-up returns the stored request) and ``issued`` (now), which
    fix the token every retry sends. ``restores_supply: true`` in its parameters (the account
    is disconnected by its balance) makes it high priority.
    """
    at = now or datetime.now(UTC)
    if source not in SOURCES:
        raise SafeguardRefused("source", f"source must be one of {SOURCES}")
    meters = sorted(set(meter_ids))
    if request_id is not None:
        known = commands.find_request(conn, request_id)
        if known is not None:
            return _replayed(conn, known, actor, kind, meters, params)
    rid = request_id or uuid4()
    stored_params = dict(params or {})
    restores_supply = False
    if kind == CREDIT_TRANSFER:
        if len(meters) != 1:
            raise SafeguardRefused("credit_transfer", "a credit transfer goes to one meter")
        restores_supply = stored_params.get("restores_supply") is True
        stored_params["transfer_id"] = str(rid)
        stored_params["issued"] = at.astimezone(UTC).replace(microsecond=0).isoformat()
    if execute_at is not None and (execute_at.tzinfo is None or execute_at.utcoffset() is None):
        raise SafeguardRefused("execute_at", "an execution time needs its UTC offset")
    if emergency and kind not in ("disconnect", "emergency_power_limit"):
        raise SafeguardRefused("emergency", "the emergency mode applies to disconnections")
    tou = [_tou_capable(conn, m, at) for m in meters] if kind in TOU_KINDS else []
    approvals = check_submission(
        conn,
        actor,
        profile,
        policy,
        kind,
        len(meters),
        source_address=source_address,
        emergency=emergency,
        reason=reason,
        tou_capable=tou,
        now=at,
    )
    not_before = execute_at
    if prepayment and kind == "disconnect":
        not_before = next_disconnection_time(profile, max(at, execute_at or at))
    start = max(at, not_before) if not_before is not None else at
    deadline = deadline_of(
        profile,
        kind,
        start,
        hub_prepayment=prepayment and source == "hub",
        restores_supply=restores_supply,
    )
    commands.add_request(
        conn,
        rid,
        kind,
        params=stored_params or None,
        meters=len(meters),
        source=source,
        requested_by=actor.username,
        requested_at=at,
        source_address=source_address,
        reason=reason,
        emergency=emergency,
        approvals_required=approvals,
    )
    ids = []
    for meter_id in meters:
        cid = command_id(rid, meter_id)
        commands.create(
            conn,
            cid,
            meter_id,
            kind,
            request_id=rid,
            at=at,
            by=actor.username,
            priority=priority_of(profile, kind, restores_supply=restores_supply),
            params=stored_params or None,
            deadline=deadline,
            not_before=not_before,
        )
        ids.append(cid)
    audit.record(
        conn,
        actor.username,
        "command.submit",
        ("command_request", str(rid)),
        None,
        {
            "kind": kind,
            "meters": len(meters),
            "source": source,
            "emergency": emergency,
            "prepayment": prepayment,
            "approvals_required": approvals,
            "not_before": not_before.isoformat() if not_before else None,
            "deadline": deadline.isoformat(),
        },
        source_address,
        reason=reason,
        at=at,
    )
    if approvals == 0:
        _release(conn, rid, actor.username, at)
    status = RequestStatus.APPROVED if approvals == 0 else RequestStatus.AWAITING_APPROVAL
    return Submission(rid, tuple(ids), status.value, approvals, True)


def _replayed(
    conn: Connection,
    known: commands.Request,
    actor: Principal,
    kind: str,
    meters: list[UUID],
    params: Mapping[str, Any] | None,
) -> Submission:
    """A submission with an id already used: the same request again is answered, not redone
    (a credit transfer also with the same amount: another amount under one transfer id is
    another top-up, refused)."""
    stored = commands.of_request(conn, known.id)
    same = (
        known.kind == kind
        and known.requested_by == actor.username
        and sorted(c.meter_id for c in stored) == meters
    )
    if kind == CREDIT_TRANSFER:
        same = same and (known.params or {}).get("amount") == (params or {}).get("amount")
    if not same:
        raise SafeguardRefused("request_id", f"request {known.id} exists with other content")
    return Submission(
        known.id,
        tuple(c.id for c in stored),
        known.status,
        known.approvals_required,
        False,
    )


def _tou_capable(conn: Connection, meter_id: UUID, at: datetime) -> bool | None:
    version = as_of(conn, Entity.METER, meter_id, at.date())
    if version is None:
        return None
    flag = version.attributes.get("tou_capable")
    return None if flag is None else bool(flag)


def _release(conn: Connection, request_id: UUID, actor: str, at: datetime) -> None:
    """Approved: every received command of the request moves to approved, then queued."""
    commands.set_request_status(conn, request_id, RequestStatus.APPROVED)
    for cmd in commands.of_request(conn, request_id):
        if cmd.status == Status.RECEIVED.value:
            commands.transition(conn, cmd.id, Status.APPROVED, at=at, actor=actor)
            commands.transition(conn, cmd.id, Status.QUEUED, at=at, actor=actor)


def approve(
    conn: Connection,
    approver: Principal,
    policy: CommandPolicy,
    request_id: UUID,
    *,
    source_address: str | None,
    now: datetime | None = None,
) -> commands.Request:
    """A second person approves; with enough approvals the commands are queued (SEC-4).

    A refusal raises `SafeguardRefused`, recorded as a security event where it matters: commit.
    """
    at = now or datetime.now(UTC)
    request = commands.get_request(conn, request_id)
    check_approval(conn, approver, policy, request, source_address=source_address, now=at)
    commands.add_approval(conn, request_id, approver.username, at=at, source_address=source_address)
    audit.record(
        conn,
        approver.username,
        "command.approve",
        ("command_request", str(request_id)),
        None,
        {"approvers": [*request.approvers, approver.username]},
        source_address,
        at=at,
    )
    if len(request.approvers) + 1 >= request.approvals_required:
        _release(conn, request_id, approver.username, at)
    return commands.get_request(conn, request_id)


def cancel(
    conn: Connection,
    actor: Principal,
    request_id: UUID,
    *,
    source_address: str | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> list[UUID]:
    """Cancel every command of a request not yet sent; returns the ids cancelled.

    Needs the kind's permission (the requester or a colleague; stopping is never dangerous).
    """
    at = now or datetime.now(UTC)
    request = commands.get_request(conn, request_id)
    require(actor, permission_for(request.kind))
    cancelled = []
    for cmd in commands.of_request(conn, request_id):
        if Status(cmd.status) in (Status.RECEIVED, Status.APPROVED, Status.QUEUED):
            commands.transition(
                conn,
                cmd.id,
                Status.CANCELLED,
                at=at,
                actor=actor.username,
                details={"reason": reason},
            )
            cancelled.append(cmd.id)
    if request.status == RequestStatus.AWAITING_APPROVAL.value:
        commands.set_request_status(conn, request_id, RequestStatus.CANCELLED)
    audit.record(
        conn,
        actor.username,
        "command.cancel",
        ("command_request", str(request_id)),
        None,
        {"cancelled": len(cancelled)},
        source_address,
        reason=reason,
        at=at,
    )
    return cancelled
