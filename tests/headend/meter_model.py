"""A small meter behind a real DLMS server, for head-end tests until the virtual fleet lands.

The object model holds a clock (with drift), four energy registers, a 15-minute load profile and
a daily billing profile that honour range access (selector 1) on their clock column, and a
standard event log. Values are a pure function of the interval, so a test knows exactly what the
meter "measured". Faults: a connection dropped after a number of bytes (mid-transfer), and
"offline" (connections refused by closing them at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from support.dlms_model import rights

from metra.dlms import axdr
from metra.dlms.acse import Mechanism
from metra.dlms.cosem import objects
from metra.dlms.data import (
    Array,
    Data,
    DateTime,
    DoubleLongUnsigned,
    Enum,
    Integer,
    OctetString,
    Structure,
    Unsigned,
)
from metra.dlms.protection import SecurityContext
from metra.dlms.server import AssociationConfig, RequestContext
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    CaptureObject,
    DataAccessResult,
    MethodDescriptor,
    RangeDescriptor,
    SelectiveAccess,
)
from metra.headend.decode import to_datetime
from metra.headend.keystore import AssociationKeys
from metra.net.server import ServedDevice, handle_connection

PERIOD = 900
STATUS = bytes((0, 0, 96, 10, 1, 255))
CLOCK = objects.CLOCK.to_bytes()
LP = objects.LOAD_PROFILE_1.to_bytes()
DAILY = objects.BILLING_PROFILE_DAILY.to_bytes()
EVENTS = objects.STANDARD_EVENT_LOG.to_bytes()
REGISTERS = [
    r.to_bytes()
    for r in (
        objects.ACTIVE_ENERGY_IMPORT,
        objects.ACTIVE_ENERGY_EXPORT,
        objects.REACTIVE_ENERGY_IMPORT,
        objects.REACTIVE_ENERGY_EXPORT,
    )
]
A_PLUS = objects.ACTIVE_ENERGY_IMPORT.to_bytes()
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def energy_at(at: datetime) -> int:
    """The A+ register (Wh) at an instant on the interval grid: a deterministic load."""
    n = int((at - EPOCH).total_seconds()) // PERIOD
    return 1_000_000 + n * 25 + (n % 7) * (n // 7 % 3)


def _stamp(at: datetime) -> OctetString:
    return OctetString(axdr.datetime_to_bytes(DateTime.from_datetime(at.astimezone(UTC))))


def _capture(class_id: int, ln: bytes, attribute: int = 2) -> Structure:
    return CaptureObject(class_id, ln, attribute, 0).to_data()


@dataclass
class ModelMeter:
    """A meter's objects; `now` is the fleet clock, the meter's clock adds `drift`."""

    system_title: bytes
    now: Any
    keys: dict[int, AssociationKeys] = field(
        default_factory=lambda: {
            sap: AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16)) for sap in (1, 2)
        }
    )
    drift: timedelta = timedelta()
    installed: datetime = EPOCH
    events: list[tuple[datetime, int]] = field(default_factory=list)
    drop_after_bytes: int | None = None
    offline: bool = False
    sessions: int = 0
    clock_sets: list[datetime] = field(default_factory=list)

    # -------------------------------------------------------------------------- DLMS side

    def associations(self) -> dict[int, AssociationConfig]:
        return {16: AssociationConfig(16, "public")} | {
            sap: AssociationConfig(
                sap,
                "management" if sap == 1 else "reading",
                Mechanism.HLS_GMAC,
                security=SecurityContext(self.system_title, k.encryption_key, k.authentication_key),
            )
            for sap, k in self.keys.items()
        }

    def meter_time(self) -> datetime:
        return self.now() + self.drift

    def rights(self, ctx: RequestContext, class_id: int, instance: bytes) -> Any:
        known = {(8, CLOCK), (7, LP), (7, DAILY), (7, EVENTS), (1, STATUS)}
        # Invocation counters 0-0:43.1.<sap>.255: this model keeps no replay state between
        # sessions, so they read 0 (any counter is accepted).
        known |= {(1, bytes((0, 0, 43, 1, sap, 255))) for sap in (1, 2, 3)}
        known |= {(3, r) for r in REGISTERS}
        if (class_id, instance) not in known:
            return None
        if class_id == 8 and ctx.association == "management":
            return rights([1, 2, 3], write=[2])
        return rights([1, 2, 3, 4, 7, 8])

    def _rows(self, ln: bytes, first: datetime, last: datetime) -> list[Data]:
        now = self.meter_time()
        if ln == LP:
            start = max(first, self.installed)
            t = EPOCH + timedelta(
                seconds=-(-int((start - EPOCH).total_seconds()) // PERIOD) * PERIOD
            )
            out: list[Data] = []
            while t <= min(last, now):
                out.append(Structure([_stamp(t), Unsigned(0), DoubleLongUnsigned(energy_at(t))]))
                t += timedelta(seconds=PERIOD)
            return out
        if ln == DAILY:
            day = datetime.combine(max(first, self.installed).date(), datetime.min.time(), UTC)
            out = []
            while day <= min(last, now):
                if day >= first:
                    out.append(Structure([_stamp(day), DoubleLongUnsigned(energy_at(day))]))
                day += timedelta(days=1)
            return out
        return [
            Structure([_stamp(at), Unsigned(code)])
            for at, code in self.events
            if first <= at <= last and at <= now
        ]

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        ln, attr = bytes(attribute.instance_id), attribute.attribute_id
        if attribute.class_id == 8:
            return _stamp(self.meter_time()) if attr == 2 else DataAccessResult.OBJECT_UNAVAILABLE
        if attribute.class_id == 3:
            if attr == 2:
                value = energy_at(self.meter_time().replace(minute=0, second=0, microsecond=0))
                return DoubleLongUnsigned(value if ln == A_PLUS else value // 10)
            return Structure([Integer(0), Enum(30 if ln in REGISTERS[:2] else 32)])
        if attribute.class_id == 1:
            return Unsigned(0)
        if attr == 3:
            if ln == LP:
                return Array([_capture(8, CLOCK), _capture(1, STATUS), _capture(3, A_PLUS)])
            if ln == DAILY:
                return Array([_capture(8, CLOCK), _capture(3, A_PLUS)])
            return Array([_capture(8, CLOCK), _capture(1, bytes((0, 0, 96, 11, 0, 255)))])
        if attr == 4:
            return DoubleLongUnsigned(PERIOD if ln == LP else 86400 if ln == DAILY else 0)
        if attr != 2:
            return DataAccessResult.OBJECT_UNAVAILABLE
        if access is None:
            return Array(self._rows(ln, EPOCH, self.meter_time()))
        if access.selector != 1:
            return DataAccessResult.OTHER_REASON
        rd = RangeDescriptor.from_data(access.parameters)
        first = _to_dt(rd.from_value)
        last = _to_dt(rd.to_value)
        return Array(self._rows(ln, first, last))

    def set(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult:
        new = _to_dt(value)
        self.drift = new - self.now()
        self.clock_sets.append(new)
        return DataAccessResult.SUCCESS

    def action(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]:
        return ActionResult.OBJECT_UNAVAILABLE, None

    # -------------------------------------------------------------------------- network side

    async def serve(self) -> asyncio.Server:
        device = ServedDevice(self.associations(), self)

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.sessions += 1
            if self.offline:
                writer.close()
                return
            # The fault stays armed until it cuts a connection: it hits one session, the first
            # long enough (not the head-end's short Public read of the invocation counter).
            await handle_connection(device, reader, _Dropping(writer, self))  # type: ignore[arg-type]

        return await asyncio.start_server(on_connect, "127.0.0.1", 0)


def _to_dt(value: Data) -> datetime:
    return to_datetime(value)


class _Dropping:
    """A StreamWriter that cuts the connection after `limit` bytes (a drop mid-transfer)."""

    def __init__(self, writer: asyncio.StreamWriter, meter: ModelMeter) -> None:
        self.writer = writer
        self.meter = meter
        self.left = meter.drop_after_bytes

    def write(self, data: bytes) -> None:
        if self.left is not None:
            if len(data) > self.left:
                self.meter.drop_after_bytes = None  # spent
                self.writer.transport.abort()
                raise ConnectionResetError("dropped mid-transfer")
            self.left -= len(data)
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.writer.get_extra_info(name, default)
