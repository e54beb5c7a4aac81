"""Credit transfer: prepayment top-ups that reach the meter exactly once (PRE-1, PRE-4).

A top-up is money: a head-end that lost the answer and sends again must not double the
customer's credit. The meter therefore takes credit through the Token gateway (class 115,
0-0:19.40.0.255, method 1 ``enter``) as a credit transfer token
(:class:`metra.dlms.cosem.token.CreditToken`) and remembers the transfer ids it applied.

* A token whose transfer id was applied before changes nothing; ``enter`` still answers
  ``success`` (the credit *is* on the meter) and ``token_status`` says
  ``validation-result-failure`` with the ``already applied`` bit, so a retry is safe.
* The memory is bounded (:data:`KEPT` ids, as a real meter's). A forgotten id must not become
  applicable again, so the meter also refuses every token issued at or before the newest issue
  time it has forgotten (``too old``): the head-end issues a new token (new id, new time) instead.
* A token that cannot be read, carries no amount, or arrives while prepayment is off is refused
  (``other-reason``) and nothing changes. Every outcome is journaled (standard log: 208 credit
  added with the amount and transfer id, 211 credit token refused with the reason).

The Credit object's ``update_amount`` (class 112, method 1) stays as the service adjustment it is
in the Blue Book: it adds what it is given, every time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.token import (
    TOKEN_GATEWAY,
    TOKEN_GATEWAY_CLASS,
    CreditToken,
    TokenDelivery,
    TokenRefusal,
    TokenStatus,
    TokenStatusCode,
)
from metra.dlms.data import Array, Data, DateTime, Enum, OctetString
from metra.dlms.errors import DecodeError
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult

from .journal import EventCode, Log
from .objects import Attr, CosemObject, who

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["KEPT", "CreditTransfers", "token_gateway"]

#: Transfer ids a meter remembers.
KEPT = 64


@dataclass(slots=True)
class CreditTransfers:
    """The token gateway's state: the last token, its outcome, and the applied transfer ids."""

    last_token: bytes = b""
    last_time: datetime | None = None
    status: TokenStatus = field(default_factory=lambda: TokenStatus(TokenStatusCode.FORMAT_OK))
    applied: OrderedDict[bytes, datetime] = field(default_factory=OrderedDict)
    #: The newest issue time among forgotten transfers: tokens issued at or before it are refused.
    floor: datetime | None = None

    def enter(self, meter: VirtualMeter, raw: bytes, by: str) -> bool:
        """Process one token entered remotely; True when its credit is on the meter (applied
        now or before)."""
        when = meter.now()
        self.last_token, self.last_time = raw, when
        try:
            token = CreditToken.decode(raw)
        except DecodeError as exc:
            return self._refuse(meter, TokenStatusCode.TOKEN_FORMAT_FAILURE, (), str(exc), by)
        name = token.transfer_id.hex()
        if token.transfer_id in self.applied:
            self.status = TokenStatus(
                TokenStatusCode.VALIDATION_RESULT_FAILURE,
                frozenset({TokenRefusal.ALREADY_APPLIED}),
            )
            meter.journals.add(
                Log.STANDARD, when, EventCode.CREDIT_TOKEN_REFUSED, f"{name} already applied"
            )
            return True
        refusals = []
        if self.floor is not None and token.issued <= self.floor:
            refusals.append(TokenRefusal.TOO_OLD)
        if token.amount <= 0:
            refusals.append(TokenRefusal.AMOUNT_NOT_POSITIVE)
        if not meter.supply.prepayment:
            refusals.append(TokenRefusal.PREPAYMENT_OFF)
        if refusals:
            reason = ", ".join(r.name.lower().replace("_", " ") for r in refusals)
            code = TokenStatusCode.VALIDATION_RESULT_FAILURE
            return self._refuse(meter, code, refusals, f"{name} {reason}", by)
        self.applied[token.transfer_id] = token.issued
        while len(self.applied) > KEPT:
            _, issued = self.applied.popitem(last=False)
            self.floor = issued if self.floor is None else max(self.floor, issued)
        meter.supply.add_credit(token.amount, when, f"{token.amount} transfer {name} by {by}")
        self.status = TokenStatus(TokenStatusCode.TOKEN_EXECUTION_OK)
        return True

    def _refuse(
        self,
        meter: VirtualMeter,
        code: TokenStatusCode,
        refusals: list[TokenRefusal] | tuple[()],
        detail: str,
        by: str,
    ) -> bool:
        self.status = TokenStatus(code, frozenset(refusals))
        meter.journals.add(
            Log.STANDARD, meter.now(), EventCode.CREDIT_TOKEN_REFUSED, f"{detail} by {by}"
        )
        return False


def _enter(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    if m.needs_signature(ctx, "credit transfer"):
        return ActionResult.READ_WRITE_DENIED, None
    if p is None:
        return ActionResult.TYPE_UNMATCHED, None
    raw = _shape.octets(p, "token")
    if not m.transfers.enter(m, raw, who(ctx)):
        return ActionResult.OTHER_REASON, None
    return ActionResult.SUCCESS, None


def _token_time(m: VirtualMeter) -> Data:
    when = m.transfers.last_time
    return m.local(when) if when is not None else _shape.date_time_data(DateTime())


def token_gateway() -> CosemObject:
    """Token gateway (115): 2 token (the last one entered), 3 token_time, 4 token_description
    (none: a credit transfer token describes itself), 5 token_delivery_method (remote),
    6 token_status; method 1 enter (token: octet-string)."""
    return CosemObject(
        TOKEN_GATEWAY_CLASS,
        0,
        TOKEN_GATEWAY,
        {
            2: Attr(lambda m, _a: OctetString(m.transfers.last_token)),
            3: Attr(lambda m, _a: _token_time(m)),
            4: Attr(lambda _m, _a: Array([])),
            5: Attr(lambda _m, _a: Enum(TokenDelivery.REMOTE)),
            6: Attr(lambda m, _a: m.transfers.status.to_data()),
        },
        {1: _enter},
    )
