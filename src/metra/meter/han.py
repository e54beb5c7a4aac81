"""HAN push (ACC-1): DataNotifications to the customer's equipment, ciphered with the HAN key.

Instantaneous values every ``profile.han.instantaneous_push_seconds`` and every energy register
every ``profile.han.register_push_minutes``; nothing while the HAN port is closed (ACC-2: closed
by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from metra.dlms.counters import InvocationCounter
from metra.dlms.data import Data, DateTime, DoubleLongUnsigned, LongUnsigned, OctetString, Structure
from metra.dlms.security import CipheringKind, SecurityControl, cipher_apdu
from metra.dlms.xdlms.codec import encode_apdu
from metra.dlms.xdlms.notification import DataNotification

from .measurement import Quantity

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["HanPush"]


class HanPush:
    """The HAN port of one meter: whether it is open, and its own invocation counter."""

    __slots__ = ("counter", "enabled", "meter")

    def __init__(self, meter: VirtualMeter, *, enabled: bool) -> None:
        self.meter = meter
        self.enabled = enabled
        self.counter = InvocationCounter()

    def due(self, since: datetime, until: datetime) -> list[bytes]:
        """The ciphered DataNotifications due in ``(since, until]`` (meter time)."""
        if not self.enabled:
            return []
        meter = self.meter
        han = meter.profile.han
        out: list[bytes] = []
        step = han.instantaneous_push_seconds
        first = int(since.timestamp()) // step * step + step
        for t in range(first, int(until.timestamp()) + 1, step):
            when = datetime.fromtimestamp(t, since.tzinfo)
            body: list[Data] = [OctetString(meter.identity.serial.encode())]
            inst = meter.model.instantaneous(when)
            body += [
                DoubleLongUnsigned(round(inst.p_import)),
                DoubleLongUnsigned(round(inst.p_export)),
            ]
            body += [LongUnsigned(round(u * 10)) for u in inst.voltage]
            body += [LongUnsigned(round(i * 100)) for i in inst.current]
            if t % (han.register_push_minutes * 60) == 0:
                body += [DoubleLongUnsigned(meter.model.register(q, when)) for q in Quantity]
            out.append(self._apdu(when, Structure(body)))
        return out

    def _apdu(self, when: datetime, body: Data) -> bytes:
        meter = self.meter
        plain = encode_apdu(
            DataNotification(
                self.counter.value & 0xFFFFFF,
                DateTime.from_datetime(when.astimezone(meter.zone)),
                body,
            )
        )
        key = meter.secrets.han_key
        return cipher_apdu(
            plain,
            CipheringKind.GENERAL_GLO,
            SecurityControl(suite=0, authenticated=True, encrypted=True),
            meter.identity.system_title,
            self.counter.next(),
            key,
            key,
        )
