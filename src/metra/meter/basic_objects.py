"""Identity, communication-module and clock objects of the virtual meter.

Each reader is a function of the meter it serves (see :mod:`metra.meter.objects`); values that
differ per meter (serial, SIM facts) come from the meter's identity and seed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.objects import CLOCK, LOGICAL_DEVICE_NAME, invocation_counter_object
from metra.dlms.data import (
    Data,
    DoubleLongUnsigned,
    Enum,
    Integer,
    Long,
    LongUnsigned,
    OctetString,
    Unsigned,
    VisibleString,
)
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult

from .buffers import to_time
from .objects import Attr, CosemObject, Setter

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["DEVICE_ID", "EVENT_CODE_OBJECT", "PROFILE_STATUS", "basic_objects", "clock_object"]

FIRMWARE_ID = Obis(1, 0, 0, 2, 0, 255)
DEVICE_ID = Obis(0, 0, 96, 1, 0, 255)
PROFILE_STATUS = Obis(0, 0, 96, 10, 1, 255)
EVENT_CODE_OBJECT = Obis(0, 0, 96, 11, 0, 255)
#: Communication module facts (COL-11), manufacturer-specific E >= 128 except the signal level.
SIGNAL_LEVEL = Obis(0, 0, 96, 12, 5, 255)
SIM_IP = Obis(0, 0, 96, 12, 128, 255)
IMEI = Obis(0, 0, 96, 12, 129, 255)
TCP_PORT = Obis(0, 0, 96, 12, 130, 255)
SIM_PROFILE = Obis(0, 0, 96, 12, 131, 255)


def data(
    ln: Obis,
    value: Callable[[VirtualMeter], Data],
    public: bool = False,
    setter: Setter | None = None,
) -> CosemObject:
    """A Data object (class 1) whose value attribute reads ``value(meter)``."""
    return CosemObject(1, 0, ln, {2: Attr(lambda m, _a: value(m), setter, public=public)})


def _sim_ip(m: VirtualMeter) -> Data:
    seed = m.identity.seed
    return OctetString(bytes((10, 64, 10 + seed % 200, 1 + seed % 250)))


def _imei(m: VirtualMeter) -> Data:
    """15 digits: 14 from the seed and the Luhn check digit of 3GPP TS 23.003 Annex B."""
    body = f"35{m.identity.seed % 10**12:012d}"
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(reversed(body)))
    return VisibleString(body + str(-total % 10))


def _counter(sap: int) -> Callable[[VirtualMeter], Data]:
    """0-0:43.1.<sap>.255: the next invocation counter the WAN association of ``sap`` accepts
    (public, as IDIS meters publish it, so a head-end can resume)."""
    return lambda m: DoubleLongUnsigned(m.expected_counter(sap))


def basic_objects() -> list[CosemObject]:
    return [
        data(LOGICAL_DEVICE_NAME, lambda m: OctetString(b"MTR" + m.identity.serial.encode()), True),
        data(DEVICE_ID, lambda m: VisibleString(m.identity.serial), True),
        data(FIRMWARE_ID, lambda m: OctetString(m.firmware_id), True),
        data(PROFILE_STATUS, lambda m: Unsigned(0)),
        data(EVENT_CODE_OBJECT, lambda m: LongUnsigned(0)),
        data(SIGNAL_LEVEL, lambda m: Integer(-60 - m.identity.seed % 40)),
        data(SIM_IP, _sim_ip),
        data(IMEI, _imei),
        data(TCP_PORT, lambda m: LongUnsigned(4059)),
        data(SIM_PROFILE, lambda m: Unsigned(1 + m.identity.seed % 2)),
        *(data(invocation_counter_object(sap), _counter(sap), True) for sap in (1, 2, 3)),
    ]


def _set_time(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    if m.needs_signature(ctx, "clock set"):
        return DataAccessResult.READ_WRITE_DENIED
    m.adjust_clock(to_time(m, value) - m.now(), ctx)
    return DataAccessResult.SUCCESS


def _shift(m: VirtualMeter, ctx: RequestContext, params: Data | None) -> tuple[ActionResult, None]:
    if m.needs_signature(ctx, "clock shift"):
        return ActionResult.READ_WRITE_DENIED, None
    seconds = _shape.integer(params, Long, "shift_time")
    if abs(seconds) > 900:
        return ActionResult.OTHER_REASON, None
    m.adjust_clock(timedelta(seconds=seconds), ctx)
    return ActionResult.SUCCESS, None


def _deviation(m: VirtualMeter) -> int:
    offset = m.now().astimezone(m.zone).utcoffset() or timedelta(0)
    return -int(offset.total_seconds() // 60)


def clock_object() -> CosemObject:
    """Clock (class 8): time settable (time sync), shift_time (method 6) within ±900 s."""
    return CosemObject(
        8,
        0,
        CLOCK,
        {
            2: Attr(lambda m, _a: m.local(m.now()), _set_time, public=True),
            3: Attr(lambda m, _a: Long(_deviation(m)), public=True),
            4: Attr(lambda m, _a: Unsigned(0x80 if m.now().astimezone(m.zone).dst() else 0)),
            8: Attr(lambda m, _a: True),
            9: Attr(lambda m, _a: Enum(1)),  # crystal
        },
        {6: _shift},
    )
