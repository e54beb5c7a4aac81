"""Pushes a meter sends on its own: Push setup (40) objects driven by push action schedules (22).

Each push setup names what to send (``push_object_list``), where (``send_destination_and_method``),
when it may (``communication_window``: empty = any time) and how far to spread the start
(``randomisation_start_interval``). Its push action scheduler 0-b:15.0.4.255 lists the times it
runs (wildcards make them recur) and names the push script table 0-0:10.0.108.255, whose script
*b* calls method ``push`` of 0-b:25.9.0.255.

Setups of this meter:

* 0-0:25.9.0.255, the WAN push to the head-end (COL-9): sent when its ``push`` method is called,
  ciphered with the management association's WAN keys and invocation counter.
* 0-7:25.9.0.255, HAN instantaneous values every ``han.instantaneous_push_seconds``, and
  0-6:25.9.0.255, HAN registers every ``han.register_push_minutes`` (ACC-1): ciphered with the
  HAN key. Their destination is empty when the meter leaves the factory, so the HAN port sends
  nothing until the management client writes one (ACC-2: closed by default).

This module is sans-IO: :meth:`Pushes.due` returns the ciphered DataNotification APDUs and their
destinations; the fleet delivers them (:mod:`metra.meter.fleet_push`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem.enums import PushMessageType, TransportService
from metra.dlms.cosem.push import SendDestinationAndMethod, WindowElement
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.cosem.scripts import ExecutionTime
from metra.dlms.counters import InvocationCounter
from metra.dlms.data import NOT_SPECIFIED, YEAR_NOT_SPECIFIED, Data, Date, DateTime, Structure, Time
from metra.dlms.obis import Obis
from metra.dlms.security import CipheringKind, SecurityControl, cipher_apdu
from metra.dlms.xdlms.codec import encode_apdu
from metra.dlms.xdlms.common import AttributeDescriptor, DataAccessResult
from metra.dlms.xdlms.notification import DataNotification
from metra.profiles.model import Han

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["HAN_INSTANT", "HAN_REGISTERS", "WAN_PUSH", "OutgoingPush", "PushSetup", "Pushes"]

WAN_PUSH = Obis(0, 0, 25, 9, 0, 255)
HAN_REGISTERS = Obis(0, 6, 25, 9, 0, 255)
HAN_INSTANT = Obis(0, 7, 25, 9, 0, 255)
PUSH_SCRIPT_TABLE = Obis(0, 0, 10, 0, 108, 255)
#: Longest stretch of missed schedule a meter catches up on (a fast-forwarded fleet clock must
#: not make a meter send a year of HAN pushes at once).
CATCH_UP = timedelta(hours=1)
#: Most execution times and push objects one setup holds.
MAX_ENTRIES = 64


def scheduler(setup: Obis) -> Obis:
    """The push action scheduler (Single action schedule) of ``setup``: 0-b:15.0.4.255."""
    return Obis(0, setup.b, 15, 0, 4, 255)


def _column(class_id: int, ln: Obis, attr: int) -> CaptureObjectDefinition:
    return CaptureObjectDefinition(class_id, ln, attr)


def _registers(*lns: Obis) -> tuple[CaptureObjectDefinition, ...]:
    return tuple(_column(3, ln, 2) for ln in lns)


_CLOCK = Obis(0, 0, 1, 0, 0, 255)
_DEVICE_ID = Obis(0, 0, 96, 1, 0, 255)


def _instant_objects(phases: int) -> tuple[CaptureObjectDefinition, ...]:
    lns = [Obis(1, 0, 1, 7, 0, 255), Obis(1, 0, 2, 7, 0, 255)]
    for u, i in ((32, 31), (52, 51), (72, 71))[:phases]:
        lns += [Obis(1, 0, u, 7, 0, 255), Obis(1, 0, i, 7, 0, 255)]
    return (_column(40, HAN_INSTANT, 1), _column(8, _CLOCK, 2), *_registers(*lns))


def _register_objects() -> tuple[CaptureObjectDefinition, ...]:
    lns = [Obis(1, 0, c, 8, 0, 255) for c in (1, 2, 3, 4)]
    lns += [Obis(1, 0, 1, 8, z, 255) for z in (1, 2, 3, 4)]
    return (_column(40, HAN_REGISTERS, 1), _column(8, _CLOCK, 2), *_registers(*lns))


def _every(seconds: int) -> tuple[ExecutionTime, ...]:
    """Execution times (wildcard date) that recur every ``seconds`` (a divisor of a minute, of
    an hour or of a day)."""
    any_day = Date(YEAR_NOT_SPECIFIED, NOT_SPECIFIED, NOT_SPECIFIED, NOT_SPECIFIED)
    w = NOT_SPECIFIED
    if seconds < 60 and 60 % seconds == 0:
        times = [Time(w, w, s, 0) for s in range(0, 60, seconds)]
    elif seconds % 60 == 0 and seconds < 3600 and 3600 % seconds == 0:
        times = [Time(w, m, 0, 0) for m in range(0, 60, seconds // 60)]
    elif seconds % 3600 == 0 and 86400 % seconds == 0:
        times = [Time(h, 0, 0, 0) for h in range(0, 24, seconds // 3600)]
    else:
        raise ValueError(f"a push every {seconds} s cannot be scheduled by wildcards")
    return tuple(ExecutionTime(t, any_day) for t in times)


@dataclass
class PushSetup:
    """One push setup's attributes and its scheduler's execution times."""

    objects: tuple[CaptureObjectDefinition, ...]
    destination: SendDestinationAndMethod
    windows: tuple[WindowElement, ...] = ()
    randomisation: int = 0
    retries: int = 3
    repetition_delay: int = 10
    times: tuple[ExecutionTime, ...] = ()
    han: bool = False

    @property
    def enabled(self) -> bool:
        """A setup sends only once it has somewhere to send to."""
        return bool(self.destination.destination)


def factory_setups(han: Han, phases: int) -> dict[Obis, PushSetup]:
    """The push setups a meter leaves the factory with (every destination empty)."""
    nowhere = SendDestinationAndMethod(TransportService.TCP, b"", PushMessageType.AXDR_APDU)
    return {
        WAN_PUSH: PushSetup((_column(40, WAN_PUSH, 1), _column(1, _DEVICE_ID, 2)), nowhere),
        HAN_INSTANT: PushSetup(
            _instant_objects(phases),
            nowhere,
            times=_every(han.instantaneous_push_seconds),
            han=True,
        ),
        HAN_REGISTERS: PushSetup(
            _register_objects(), nowhere, times=_every(han.register_push_minutes * 60), han=True
        ),
    }


@dataclass(frozen=True)
class OutgoingPush:
    """A ciphered push ready to go: where, what, and how to retry (number, seconds apart)."""

    setup: Obis
    destination: SendDestinationAndMethod
    apdu: bytes
    when: datetime
    retries: int
    repetition_delay: int


def _fits(pattern: int, value: int) -> bool:
    return pattern in (NOT_SPECIFIED, YEAR_NOT_SPECIFIED) or pattern == value


def _fires(entry: ExecutionTime, local: datetime) -> bool:
    t, d = entry.time, entry.date
    return (
        _fits(t.hour, local.hour)
        and _fits(t.minute, local.minute)
        and _fits(t.second if t.second != NOT_SPECIFIED else 0, local.second)
        and _fits(d.year, local.year)
        and _fits(d.month, local.month)
        and _fits(d.day, local.day)
        and _fits(d.weekday, local.isoweekday())
    )


def _fill(pattern: DateTime, local: datetime) -> datetime:
    """``pattern`` with its wildcards taken from ``local`` (a recurring window's bound)."""

    def pick(value: int, default: int) -> int:
        return default if value in (NOT_SPECIFIED, YEAR_NOT_SPECIFIED) else value

    return local.replace(
        year=pick(pattern.year, local.year),
        month=pick(pattern.month, local.month),
        day=pick(pattern.day, local.day),
        hour=pick(pattern.hour, local.hour),
        minute=pick(pattern.minute, local.minute),
        second=pick(pattern.second, 0),
        microsecond=0,
    )


def in_window(windows: tuple[WindowElement, ...], local: datetime) -> bool:
    """Is ``local`` inside a communication window? (None configured: always.)"""
    if not windows:
        return True
    for w in windows:
        try:
            start, end = _fill(w.start_time, local), _fill(w.end_time, local)
        except ValueError:
            continue
        if start <= local < end if start < end else local >= start or local < end:
            return True
    return False


@dataclass
class Pushes:
    """The push setups of one meter and what they still have to send."""

    meter: VirtualMeter
    setups: dict[Obis, PushSetup]
    han_counter: InvocationCounter = field(default_factory=InvocationCounter)
    _cursor: datetime | None = None
    _outbox: list[tuple[Obis, datetime]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any(s.enabled for s in self.setups.values())

    def update(self, ln: Obis, **changes: object) -> None:
        self.setups[ln] = replace(self.setups[ln], **changes)  # type: ignore[arg-type]

    def trigger(self, ln: Obis, when: datetime) -> bool:
        """Method ``push``: send ``ln`` now (if it has a destination)."""
        if not self.setups[ln].enabled:
            return False
        self._outbox.append((ln, when))
        return True

    def due(self, until: datetime) -> list[OutgoingPush]:
        """Every push due up to ``until`` (meter time) since the last call, ciphered, oldest
        first; schedules missed for longer than :data:`CATCH_UP` are not caught up."""
        since = self._cursor if self._cursor is not None else until
        since = max(since, until - CATCH_UP)
        self._cursor = until
        moments = list(self._outbox)
        self._outbox.clear()
        if self.active:
            moments += self._scheduled(since, until)
        out = []
        for ln, when in sorted(moments, key=lambda m: m[1]):
            setup = self.setups[ln]
            local = when.astimezone(self.meter.zone)
            if not setup.enabled or not in_window(setup.windows, local):
                continue
            start = when + timedelta(seconds=self._delay(ln, when, setup.randomisation))
            out.append(
                OutgoingPush(
                    ln,
                    setup.destination,
                    self._apdu(setup, start),
                    start,
                    setup.retries,
                    setup.repetition_delay,
                )
            )
        return out

    def _scheduled(self, since: datetime, until: datetime) -> list[tuple[Obis, datetime]]:
        out = []
        first = since.replace(microsecond=0) + timedelta(seconds=1)
        steps = int((until - first).total_seconds()) + 1
        zone = self.meter.zone
        enabled = [(ln, s) for ln, s in self.setups.items() if s.enabled and s.times]
        for k in range(max(0, steps)):
            t = first + timedelta(seconds=k)
            local = t.astimezone(zone)
            for ln, setup in enabled:
                if any(_fires(e, local) for e in setup.times):
                    out.append((ln, t))
        return out

    def _delay(self, ln: Obis, when: datetime, spread: int) -> int:
        """Randomised start, fixed by (meter, setup, time) so a run repeats exactly."""
        if spread <= 0:
            return 0
        rng = random.Random(f"{self.meter.identity.seed}-{ln}-{int(when.timestamp())}")
        return rng.randint(0, spread)

    def _apdu(self, setup: PushSetup, when: datetime) -> bytes:
        meter = self.meter
        body: list[Data] = []
        for obj in setup.objects:
            ln = obj.logical_name.to_bytes()
            value = meter.read(AttributeDescriptor(obj.class_id, ln, obj.attribute_index))
            body.append(None if isinstance(value, DataAccessResult) else value)
        if setup.han:
            counter = self.han_counter
            ek = ak = meter.secrets.han_key
        else:
            counter = meter.wan_counter(1)
            ek, ak = meter.wan_keys(1)
        plain = encode_apdu(
            DataNotification(
                counter.value & 0xFFFFFF,
                DateTime.from_datetime(when.astimezone(meter.zone)),
                Structure(body),
            )
        )
        return cipher_apdu(
            plain,
            CipheringKind.GENERAL_GLO,
            SecurityControl(suite=0, authenticated=True, encrypted=True),
            meter.identity.system_title,
            counter.next(),
            ek,
            ak,
        )
