"""The retailer's prepayment requests through the market hub (PRE-2, PRE-4).

The seller decides from the balance whether a point is connected or disconnected and asks
through the hub; the operator executes within the profile's deadline (PL: one working day, S1
14.2-14.4). A hub message names the delivery point and one of:

- ``disconnect`` / ``connect``: the retailer's decision, executed as asked;
- ``by_balance``: the retailer delegates the decision to the balance kept here: disconnect when
  it is zero or below, connect when it is positive and the point is disconnected, otherwise
  nothing. A pending request that the balance no longer supports (a disconnection waiting for
  Monday morning when the customer tops up on Friday night) is cancelled.

Each message becomes a request to the command engine with ``source="hub"`` and
``prepayment=True``: the engine applies its safeguards (permission of the hub's machine
account, controlled zone, disconnection limits), sets the deadline from
``prepayment.hub_request_deadline_working_days`` and holds a disconnection until the profile
allows one (PRE-4: no evenings, nights, weekends, public holidays where the profile says so).

Messages are idempotent by the hub's message id: the same message again is answered as the
first time and acts no more; the same id with other content is refused. A message may only
name a point the retailer supplies (`retailer_id`, and the machine account's own party).
`settle` later follows each request to its end and records the supply state it left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from sqlalchemy import Connection, insert, select, update

from metra.profiles.model import Profile
from metra.security import audit, command_requests
from metra.security.roles import Principal
from metra.security.safeguards import CommandPolicy
from metra.store import commands
from metra.store.commands import Status
from metra.store.masterdata import Entity, as_of

from . import accounts
from .errors import HubRefused
from .schema import prepay_hub_message

KINDS = ("connect", "disconnect", "by_balance")
_NAMESPACE = uuid5(NAMESPACE_URL, "metra:prepay-hub")
_DONE = {Status.CONFIRMED, Status.FAILED, Status.EXPIRED, Status.CANCELLED}


@dataclass(frozen=True)
class HubMessage:
    """One message from the market hub."""

    message_id: str
    kind: str
    delivery_point_id: UUID
    retailer_id: UUID | None = None


@dataclass(frozen=True)
class HubAnswer:
    """What became of a message: the action taken and the command request it became."""

    message_id: str
    account_id: UUID
    action: str  # connect / disconnect / none
    balance: int
    unit: str
    request_id: UUID | None
    command_ids: tuple[UUID, ...]
    status: str | None
    not_before: datetime | None
    deadline: datetime | None
    replayed: bool
    cancelled: tuple[UUID, ...] = field(default=())


@dataclass(frozen=True)
class Settled:
    """A hub request that reached its end since the last `settle`."""

    message_id: str
    account_id: UUID
    action: str
    outcome: str
    result: dict[str, Any] | None
    at: datetime


def request_id_of(message_id: str) -> UUID:
    """The command request id of a hub message (stable, so a retry never acts twice)."""
    return uuid5(_NAMESPACE, message_id)


def _check(message: HubMessage) -> None:
    mid = message.message_id
    if not mid or len(mid) > 64 or not mid.isprintable():
        raise HubRefused("message_id", "a message id is 1..64 printable characters")
    if message.kind not in KINDS:
        raise HubRefused("kind", f"kind must be one of {KINDS}")


def _answer(conn: Connection, row: Any, unit: str, *, replayed: bool) -> HubAnswer:
    m = row._mapping
    cmds = commands.of_request(conn, m["request_id"]) if m["request_id"] else []
    return HubAnswer(
        message_id=m["message_id"],
        account_id=m["account_id"],
        action=m["action"],
        balance=m["balance"],
        unit=unit,
        request_id=m["request_id"],
        command_ids=tuple(c.id for c in cmds),
        status=cmds[0].status if cmds else None,
        not_before=cmds[0].not_before if cmds else None,
        deadline=cmds[0].deadline if cmds else None,
        replayed=replayed,
        cancelled=tuple(UUID(c) for c in (m["details"] or {}).get("cancelled", [])),
    )


def _pending(conn: Connection, account_id: UUID) -> list[tuple[str, UUID]]:
    """(action, request id) of the account's hub requests not yet at their end."""
    c = prepay_hub_message.c
    rows = conn.execute(
        select(c.action, c.request_id).where(
            c.account_id == account_id, c.request_id.is_not(None), c.outcome.is_(None)
        )
    ).all()
    out = []
    for action, request_id in rows:
        cmds = commands.of_request(conn, request_id)
        if any(Status(cmd.status) not in _DONE for cmd in cmds):
            out.append((action, request_id))
    return out


def _decide(kind: str, balance: int, supply: str) -> str:
    if kind != "by_balance":
        return kind
    if balance <= 0:
        return "disconnect" if supply != "disconnected" else "none"
    return "connect" if supply == "disconnected" else "none"


def receive(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    policy: CommandPolicy,
    message: HubMessage,
    *,
    source_address: str | None,
    now: datetime | None = None,
) -> HubAnswer:
    """Act on a hub message (see the module docstring).

    Raises `HubRefused` for a message that cannot be acted on, and the command engine's
    `SafeguardRefused` (already recorded as a security event: commit anyway).
    """
    at = now or datetime.now(UTC)
    _check(message)
    c = prepay_hub_message.c
    known = conn.execute(select(prepay_hub_message).where(c.message_id == message.message_id))
    row = known.first()
    if row is not None:
        m = row._mapping
        same = (m["kind"], m["delivery_point_id"], m["retailer_id"]) == (
            message.kind,
            message.delivery_point_id,
            message.retailer_id,
        )
        if not same or m["actor"] != actor.username:
            raise HubRefused("replay", f"message {message.message_id} exists with other content")
        return _answer(conn, row, accounts.get(conn, m["account_id"]).unit, replayed=True)
    point = as_of(conn, Entity.DELIVERY_POINT, message.delivery_point_id, at.date())
    if point is None:
        raise HubRefused("point", f"no delivery point {message.delivery_point_id}")
    supplier = point.attributes["supplier_id"]
    for claimed in (message.retailer_id, actor.party_id):
        if claimed is not None and claimed != supplier:
            raise HubRefused("retailer", "the point is not supplied by this retailer")
    account = accounts.open_account_of(conn, message.delivery_point_id)
    if account is None:
        raise HubRefused("no_account", "the point has no open prepayment account")
    meter = accounts.main_meter(conn, message.delivery_point_id, at.date())
    if meter is None:
        raise HubRefused("no_meter", "no main meter is installed at the point")
    balance = accounts.balance(conn, account.id)
    action = _decide(message.kind, balance, account.supply)
    cancelled: list[UUID] = []
    for pending_action, pending_id in _pending(conn, account.id):
        if message.kind == "by_balance" and pending_action == action:
            action = "none"  # already on its way
        elif pending_action != action:
            cancelled += command_requests.cancel(
                conn,
                actor,
                pending_id,
                source_address=source_address,
                reason=f"superseded by hub message {message.message_id}",
                now=at,
            )
    request_id = None
    if action != "none":
        done = command_requests.submit(
            conn,
            actor,
            profile,
            policy,
            action,
            [meter],
            source_address=source_address,
            request_id=request_id_of(message.message_id),
            source="hub",
            reason=f"market hub message {message.message_id} ({message.kind})",
            prepayment=True,
            now=at,
        )
        request_id = done.request_id
    conn.execute(
        insert(prepay_hub_message).values(
            message_id=message.message_id,
            received_at=at,
            kind=message.kind,
            delivery_point_id=message.delivery_point_id,
            retailer_id=message.retailer_id,
            account_id=account.id,
            actor=actor.username,
            source_address=source_address,
            action=action,
            balance=balance,
            request_id=request_id,
            outcome=None if request_id else "none",
            settled_at=None if request_id else at,
            details={"cancelled": [str(i) for i in cancelled]},
        )
    )
    audit.record(
        conn,
        actor.username,
        "prepay.hub_message",
        ("prepay_account", str(account.id)),
        None,
        {
            "message_id": message.message_id,
            "kind": message.kind,
            "action": action,
            "balance": balance,
            "request_id": str(request_id) if request_id else None,
            "cancelled": len(cancelled),
        },
        source_address,
        at=at,
    )
    row = conn.execute(select(prepay_hub_message).where(c.message_id == message.message_id)).one()
    return _answer(conn, row, account.unit, replayed=False)


def settle(conn: Connection, *, now: datetime | None = None) -> list[Settled]:
    """Follow every open hub request to its end: a confirmed connect / disconnect sets the
    account's supply state; failed, expired and cancelled ones are recorded as such."""
    at = now or datetime.now(UTC)
    c = prepay_hub_message.c
    rows = conn.execute(
        select(prepay_hub_message)
        .where(c.request_id.is_not(None), c.outcome.is_(None))
        .order_by(c.received_at)
    ).all()
    done = []
    for row in rows:
        m = row._mapping
        cmds = commands.of_request(conn, m["request_id"])
        if not cmds or any(Status(cmd.status) not in _DONE for cmd in cmds):
            continue
        outcome = cmds[0].status
        if outcome == Status.CONFIRMED.value:
            supply = "connected" if m["action"] == "connect" else "disconnected"
            accounts.set_state(conn, m["account_id"], supply=supply)
        conn.execute(
            update(prepay_hub_message)
            .where(c.message_id == m["message_id"])
            .values(outcome=outcome, settled_at=at)
        )
        done.append(
            Settled(m["message_id"], m["account_id"], m["action"], outcome, cmds[0].result, at)
        )
    return done
