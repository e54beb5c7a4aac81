"""Supply control objects: disconnect control (70), limiter (71), prepayment credit (112) and the
token gateway (115) credit transfers arrive through (:mod:`metra.meter.credit_transfer`).

The state they read and change (relay, thresholds, credit) is the meter's; what the objects add
is the COSEM face: attribute layouts, writers that validate, methods that may be refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.enums import ControlMode, DisconnectTrigger
from metra.dlms.cosem.monitoring import EmergencyProfile, LimiterActions
from metra.dlms.cosem.objects import DISCONNECT_CONTROL, DISCONNECT_CONTROL_SCRIPT_TABLE, LIMITER
from metra.dlms.cosem.references import ScriptAction, ValueDefinition
from metra.dlms.data import (
    Array,
    Data,
    DateTime,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
)
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult

from .credit_transfer import token_gateway
from .objects import Attr, CosemObject, Method, Setter, who
from .registers import DEMAND_IMPORT

if TYPE_CHECKING:
    from .meter import VirtualMeter


__all__ = ["CREDIT", "control_objects"]

CREDIT = Obis(0, 0, 19, 10, 0, 255)


def control_objects() -> list[CosemObject]:
    return [_disconnect(), _limiter(), _credit(), token_gateway()]


# ---------------------------------------------------------------------------- disconnect control


def _command(trigger: DisconnectTrigger) -> Method:
    def run(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
        if p is not None and _shape.integer(p, Integer, "data") != 0:
            return ActionResult.TYPE_UNMATCHED, None
        if m.needs_signature(ctx, trigger.name.lower()):
            return ActionResult.READ_WRITE_DENIED, None
        if not m.supply.move(trigger, m.now(), who(ctx)):
            return ActionResult.OTHER_REASON, None
        return ActionResult.SUCCESS, None

    return run


def _set_mode(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    if m.needs_signature(ctx, "control mode"):
        return DataAccessResult.READ_WRITE_DENIED
    m.supply.control_mode = ControlMode(_shape.enum(value, "control_mode"))
    return DataAccessResult.SUCCESS


def _disconnect() -> CosemObject:
    """Disconnect control (70): output_state (the contacts, as the load-side voltage shows
    them), control_state (what was commanded), control_mode; methods remote_disconnect (1) and
    remote_reconnect (2), each with ``data`` integer 0."""
    return CosemObject(
        70,
        0,
        DISCONNECT_CONTROL,
        {
            2: Attr(lambda m, _a: m.supply.contacts_closed),
            3: Attr(lambda m, _a: Enum(m.supply.relay)),
            4: Attr(lambda m, _a: Enum(m.supply.control_mode), _set_mode),
        },
        {
            1: _command(DisconnectTrigger.REMOTE_DISCONNECT),
            2: _command(DisconnectTrigger.REMOTE_RECONNECT),
        },
    )


# ---------------------------------------------------------------------------- limiter


def _watts(name: str) -> Setter:
    def run(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
        setattr(m.supply, name, _shape.integer(value, DoubleLongUnsigned, name))
        return DataAccessResult.SUCCESS

    return run


def _periods(name: str) -> Setter:
    """min_over / min_under_threshold_duration: whole 15-minute periods, at least one."""

    def run(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
        seconds = _shape.integer(value, DoubleLongUnsigned, name)
        if seconds < 900 or seconds % 900 or seconds > 86400:
            return DataAccessResult.OTHER_REASON
        setattr(m.supply, name, seconds)
        return DataAccessResult.SUCCESS

    return run


def _emergency_profile(m: VirtualMeter) -> Data:
    profile = m.supply.emergency_profile
    if profile is None:
        profile = EmergencyProfile(0, DateTime(), 0)
    return profile.to_data()


def _set_emergency_profile(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    profile = EmergencyProfile.from_data(value)
    profile.emergency_activation_time.to_datetime()  # a window needs a definite start
    m.supply.emergency_profile = profile
    return DataAccessResult.SUCCESS


def _set_group_ids(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    items = _shape.array(value, "emergency_profile_group_id_list")
    if len(items) > 16:
        return DataAccessResult.OTHER_REASON
    ids = tuple(_shape.integer(v, LongUnsigned, "emergency_profile_group_id") for v in items)
    m.supply.emergency_group_ids = ids
    return DataAccessResult.SUCCESS


def _limiter() -> CosemObject:
    """Limiter (71): monitors the last 15-minute average demand; thresholds in W."""
    monitored = ValueDefinition(5, DEMAND_IMPORT, 3).to_data()
    actions = LimiterActions(
        ScriptAction(DISCONNECT_CONTROL_SCRIPT_TABLE, 1),
        ScriptAction(DISCONNECT_CONTROL_SCRIPT_TABLE, 2),
    ).to_data()
    return CosemObject(
        71,
        0,
        LIMITER,
        {
            2: Attr(lambda _m, _a: monitored),
            3: Attr(lambda m, _a: DoubleLongUnsigned(m.supply.threshold(m.now()))),
            4: Attr(
                lambda m, _a: DoubleLongUnsigned(m.supply.threshold_normal),
                _watts("threshold_normal"),
            ),
            5: Attr(
                lambda m, _a: DoubleLongUnsigned(m.supply.threshold_emergency),
                _watts("threshold_emergency"),
            ),
            6: Attr(lambda m, _a: DoubleLongUnsigned(m.supply.min_over), _periods("min_over")),
            7: Attr(lambda m, _a: DoubleLongUnsigned(m.supply.min_under), _periods("min_under")),
            8: Attr(lambda m, _a: _emergency_profile(m), _set_emergency_profile),
            9: Attr(
                lambda m, _a: Array([LongUnsigned(i) for i in m.supply.emergency_group_ids]),
                _set_group_ids,
            ),
            10: Attr(lambda m, _a: m.supply.emergency_active(m.now())),
            11: Attr(lambda _m, _a: actions),
        },
    )


# ---------------------------------------------------------------------------- prepayment credit


def _add(m: VirtualMeter, ctx: RequestContext, params: Data | None) -> tuple[ActionResult, None]:
    m.supply.add_credit(_shape.integer(params, DoubleLong, "update_amount"), m.now())
    return ActionResult.SUCCESS, None


def _set_prepayment(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    m.supply.set_prepayment(_shape.boolean(value, "prepayment"), m.now())
    return DataAccessResult.SUCCESS


def _set_low(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    m.low_credit_threshold = _shape.integer(value, DoubleLong, "warning_threshold")
    return DataAccessResult.SUCCESS


def _balance(m: VirtualMeter) -> int:
    return m.supply.balance(m.now()) if m.supply.prepayment else 0


def _credit_status(m: VirtualMeter) -> int:
    if not m.supply.prepayment:
        return 0
    b = _balance(m)
    return 4 if b <= 0 else 2 if b < m.low_credit_threshold else 1


def _credit() -> CosemObject:
    """Prepayment credit (Credit, class 112, simplified): balance, low-credit threshold,
    disconnection at zero; method 1 adds credit (PRE-1, PRE-4)."""
    return CosemObject(
        112,
        0,
        CREDIT,
        {
            2: Attr(lambda m, _a: DoubleLong(_balance(m))),
            5: Attr(lambda m, _a: DoubleLong(m.low_credit_threshold), _set_low),
            6: Attr(lambda _m, _a: DoubleLong(0)),
            8: Attr(lambda m, _a: Enum(_credit_status(m))),
            10: Attr(lambda m, _a: m.supply.prepayment, _set_prepayment),
        },
        {1: _add},
    )
