"""The market hub's prepayment interface (PRE-1, PRE-2, PRE-4): messages from retailers asking
to connect or disconnect a prepaid point (or to act on its balance), and the operator's answer
whether a point can use prepayment.

The hub calls with a machine account's token scoped to ``meters:command`` (SEC-1, ACC-6); the
command engine's safeguards apply to its requests as to any other (the hub's address must lie in
the controlled zone, ``METRA_CONTROLLED_ZONES``). A message is idempotent by its id. See
`metra.prepay.hub` for what each kind does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from metra.api.context import ApiContext, context
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.prepay import accounts, hub
from metra.prepay.errors import HubRefused
from metra.security.errors import SecurityLayerError
from metra.security.roles import Permission
from metra.security.safeguards import CommandPolicy, SafeguardRefused
from metra.store.masterdata import Entity, as_of

router = APIRouter(tags=["market hub"], responses=responses(401, 403, 404, 409, 422, 429))


class HubMessageIn(BaseModel):
    """A retailer's request relayed by the hub."""

    message_id: str = Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")
    kind: Literal["connect", "disconnect", "by_balance"]
    delivery_point_id: UUID
    retailer_id: UUID | None = None


class HubAnswerOut(BaseModel):
    """The action taken and the command request it became (deadline, earliest execution)."""

    message_id: str
    account_id: UUID
    action: Literal["connect", "disconnect", "none"]
    balance: int = Field(description="minor units of `unit` (1/100 of a currency, or Wh)")
    unit: str
    request_id: UUID | None
    command_ids: list[UUID]
    status: str | None
    not_before: datetime | None
    deadline: datetime | None
    replayed: bool
    cancelled: list[UUID]


class PointOut(BaseModel):
    """What the operator tells the hub about a point (S1 14.1)."""

    delivery_point_id: UUID
    eligible: bool
    reason: str | None
    account_id: UUID | None
    balance: int | None
    unit: str | None
    supply: str | None


def hub_policy() -> CommandPolicy:
    """The controlled zone the hub's breaker requests must come from (SEC-6)."""
    zones = os.environ.get("METRA_CONTROLLED_ZONES", "")
    try:
        return CommandPolicy.parse(zones.split(","))
    except SecurityLayerError:
        return CommandPolicy()


def hub_clock() -> datetime:
    """The time a message is received (a dependency, so a test can run on a fleet's clock)."""
    return datetime.now(UTC)


_STATUS = {"point": 404, "no_account": 409, "no_meter": 409, "retailer": 404, "replay": 409}


@router.post(
    "/hub/prepayment/messages",
    response_model=HubAnswerOut,
    status_code=202,
    operation_id="receive_hub_message",
)
def receive_hub_message(
    body: HubMessageIn,
    grant: Grant = Depends(Need(Permission.METERS_COMMAND)),
    ctx: ApiContext = Depends(context),
    policy: CommandPolicy = Depends(hub_policy),
    now: datetime = Depends(hub_clock),
) -> HubAnswerOut:
    """Act on a retailer's prepayment request: connect, disconnect or by balance (PRE-2)."""
    message = hub.HubMessage(body.message_id, body.kind, body.delivery_point_id, body.retailer_id)
    refused: SafeguardRefused | None = None
    with ctx.engine.begin() as conn:  # committed even when refused: the security event stays
        try:
            answer = hub.receive(
                conn,
                grant.caller.principal,
                ctx.profile,
                policy,
                message,
                source_address=grant.caller.source_address,
                now=now,
            )
        except SafeguardRefused as exc:
            refused = exc
        except HubRefused as exc:
            raise Problem(_STATUS.get(exc.rule, 409), str(exc), kind=f"hub-{exc.rule}") from None
    if refused is not None:
        raise Problem(403, str(refused), kind="safeguard")
    return HubAnswerOut(
        **{
            **answer.__dict__,
            "command_ids": list(answer.command_ids),
            "cancelled": list(answer.cancelled),
        }
    )


@router.get(
    "/hub/prepayment/points/{delivery_point_id}",
    response_model=PointOut,
    operation_id="get_prepayment_point",
)
def get_prepayment_point(
    delivery_point_id: UUID,
    grant: Grant = Depends(Need(Permission.METERS_COMMAND)),
    ctx: ApiContext = Depends(context),
    now: datetime = Depends(hub_clock),
) -> PointOut:
    """Whether the point can use prepayment, and its account's balance and supply state."""
    with ctx.engine.connect() as conn:
        point = as_of(conn, Entity.DELIVERY_POINT, delivery_point_id, now.date())
        party = grant.caller.principal.party_id
        if point is None or (party is not None and point.attributes["supplier_id"] != party):
            raise Problem(404, f"no delivery point {delivery_point_id}")
        found = accounts.eligibility(conn, ctx.profile, delivery_point_id, now.date())
        account = accounts.get(conn, found.account_id) if found.account_id else None
        balance = accounts.balance(conn, account.id) if account else None
    return PointOut(
        delivery_point_id=delivery_point_id,
        eligible=found.eligible,
        reason=found.reason,
        account_id=account.id if account else None,
        balance=balance,
        unit=account.unit if account else None,
        supply=account.supply if account else None,
    )
