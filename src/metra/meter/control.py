"""Supply control objects: disconnect control (70), limiter (71) and prepayment credit (112).

The state they read and change (relay, thresholds, credit) is the meter's; what the objects add
is the COSEM face: attribute layouts, writers that validate, methods that may be refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.enums import ControlMode, ControlState, DisconnectTrigger
from metra.dlms.cosem.objects import DISCONNECT_CONTROL, LIMITER
from metra.dlms.cosem.references import ValueDefinition
from metra.dlms.data import (
    Data,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    LongUnsigned,
    OctetString,
    Structure,
)
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult

from .objects import Attr, CosemObject, Method, Setter

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["CREDIT", "control_objects"]

CREDIT = Obis(0, 0, 19, 10, 0, 255)


def control_objects() -> list[CosemObject]:
    return [_disconnect(), _limiter(), _credit()]


# ---------------------------------------------------------------------------- disconnect control


def _command(trigger: DisconnectTrigger) -> Method:
    def run(m: VirtualMeter, ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, None]:
        if m.needs_signature(ctx, trigger.name.lower()):
            return ActionResult.READ_WRITE_DENIED, None
        if not m.move_relay(trigger, m.now()):
            return ActionResult.OTHER_REASON, None
        return ActionResult.SUCCESS, None

    return run


def _set_mode(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    if m.needs_signature(ctx, "control mode"):
        return DataAccessResult.READ_WRITE_DENIED
    m.control_mode = ControlMode(_shape.enum(value, "control_mode"))
    return DataAccessResult.SUCCESS


def _disconnect() -> CosemObject:
    return CosemObject(
        70,
        0,
        DISCONNECT_CONTROL,
        {
            2: Attr(lambda m, _a: m.relay is ControlState.CONNECTED),
            3: Attr(lambda m, _a: Enum(m.relay)),
            4: Attr(lambda m, _a: Enum(m.control_mode), _set_mode),
        },
        {
            1: _command(DisconnectTrigger.REMOTE_DISCONNECT),
            2: _command(DisconnectTrigger.REMOTE_RECONNECT),
        },
    )


# ---------------------------------------------------------------------------- limiter


def _threshold(name: str) -> Setter:
    def run(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
        setattr(m, name, _shape.integer(value, DoubleLongUnsigned, name))
        return DataAccessResult.SUCCESS

    return run


def _set_emergency(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    m.emergency_active = _shape.boolean(value, "emergency_profile_active")
    return DataAccessResult.SUCCESS


def _limiter() -> CosemObject:
    monitored = ValueDefinition(3, Obis(1, 0, 1, 29, 0, 255), 2).to_data()
    actions = Structure(
        [
            Structure([OctetString(DISCONNECT_CONTROL.to_bytes()), LongUnsigned(1)]),
            Structure([OctetString(DISCONNECT_CONTROL.to_bytes()), LongUnsigned(2)]),
        ]
    )
    return CosemObject(
        71,
        0,
        LIMITER,
        {
            2: Attr(lambda _m, _a: monitored),
            3: Attr(
                lambda m, _a: DoubleLongUnsigned(
                    m.limiter_emergency if m.emergency_active else m.limiter_normal
                )
            ),
            4: Attr(
                lambda m, _a: DoubleLongUnsigned(m.limiter_normal), _threshold("limiter_normal")
            ),
            5: Attr(
                lambda m, _a: DoubleLongUnsigned(m.limiter_emergency),
                _threshold("limiter_emergency"),
            ),
            6: Attr(lambda _m, _a: DoubleLongUnsigned(900)),
            10: Attr(lambda m, _a: m.emergency_active, _set_emergency),
            11: Attr(lambda _m, _a: actions),
        },
    )


# ---------------------------------------------------------------------------- prepayment credit


def _add(m: VirtualMeter, ctx: RequestContext, params: Data | None) -> tuple[ActionResult, None]:
    m.add_credit(_shape.integer(params, DoubleLong, "update_amount"))
    return ActionResult.SUCCESS, None


def _set_prepayment(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    m.set_prepayment(_shape.boolean(value, "prepayment"))
    return DataAccessResult.SUCCESS


def _set_low(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    m.low_credit_threshold = _shape.integer(value, DoubleLong, "warning_threshold")
    return DataAccessResult.SUCCESS


def _credit_status(m: VirtualMeter) -> int:
    if not m.prepayment:
        return 0
    b = m.balance()
    return 4 if b <= 0 else 2 if b < m.low_credit_threshold else 1


def _credit() -> CosemObject:
    """Prepayment credit (Credit, class 112, simplified): balance, low-credit threshold,
    disconnection at zero; method 1 adds credit (PRE-1, PRE-4)."""
    return CosemObject(
        112,
        0,
        CREDIT,
        {
            2: Attr(lambda m, _a: DoubleLong(m.balance() if m.prepayment else 0)),
            5: Attr(lambda m, _a: DoubleLong(m.low_credit_threshold), _set_low),
            6: Attr(lambda _m, _a: DoubleLong(0)),
            8: Attr(lambda m, _a: Enum(_credit_status(m))),
            10: Attr(lambda m, _a: m.prepayment, _set_prepayment),
        },
        {1: _add},
    )
