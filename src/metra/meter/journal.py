"""Event journals: what a meter remembers happened, bounded, newest last.

Runtime happenings (clock corrections, relay operations, security alarms, key changes, firmware)
are appended as they occur; what the fault model decided happened in the past (power failures,
tamper) is produced on demand from :class:`~metra.meter.faults.MeterFaults`, so a fleet of
100,000 meters stores only the few entries its commands caused.

Event codes follow the IDIS standard event codes where IDIS assigns one; the others are numbered
from 200 up (manufacturer range) and listed in ``docs/meter.md``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum

from .faults import MeterFaults, TamperKind

__all__ = ["EventCode", "Journal", "JournalEntry", "Journals", "Log"]


class Log(Enum):
    """The meter's event logs; value = E of 0-0:99.98.E.255 (IDIS numbering for 0..5)."""

    STANDARD = 0
    FRAUD = 1
    DISCONNECTOR = 2
    POWER_QUALITY = 4
    COMMUNICATION = 5
    FIRMWARE = 6
    CLOCK_CORRECTION = 7
    PARAMETER_CHANGE = 8
    WATCHDOG = 9
    POWER_FAILURE = 97  # 1-0:99.97.0.255, the long power failure log


class EventCode(IntEnum):
    POWER_DOWN = 1
    POWER_UP = 2
    CLOCK_ADJUSTED_OLD = 4
    CLOCK_ADJUSTED_NEW = 5
    PARAMETER_CHANGED = 47
    FIRMWARE_READY = 17
    FIRMWARE_ACTIVATED = 18
    TERMINAL_COVER_REMOVED = 40
    STRONG_DC_FIELD = 42
    METER_COVER_REMOVED = 44
    MANUAL_DISCONNECTION = 60
    MANUAL_CONNECTION = 61
    REMOTE_DISCONNECTION = 62
    REMOTE_CONNECTION = 63
    LOCAL_DISCONNECTION = 64
    LIMITER_THRESHOLD_EXCEEDED = 65
    LIMITER_THRESHOLD_OK = 66
    DISCONNECT_RECONNECT_FAILURE = 68
    LOCAL_RECONNECTION = 69
    AUTHENTICATION_FAILURE = 200
    REPLAY_ATTACK = 201
    DECIPHERING_FAILURE = 202
    INVALID_COMMAND = 203
    KEY_CHANGED = 204
    UNSIGNED_COMMAND_REFUSED = 205
    FIRMWARE_VERIFICATION_FAILED = 206
    LOW_CREDIT = 207
    CREDIT_ADDED = 208
    CREDIT_EXHAUSTED = 209
    WATCHDOG_RESET = 210
    CREDIT_TOKEN_REFUSED = 211
    VOLTAGE_SAG = 76
    VOLTAGE_SWELL = 77


_TAMPER_CODES = {
    TamperKind.COVER_OPENED: EventCode.METER_COVER_REMOVED,
    TamperKind.TERMINAL_COVER_OPENED: EventCode.TERMINAL_COVER_REMOVED,
    TamperKind.MAGNETIC_FIELD: EventCode.STRONG_DC_FIELD,
}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One entry: when, the event code, and a detail (duration in seconds, user id, value)."""

    when: datetime
    code: int
    detail: int | str = 0


class Journal:
    """One bounded log; the oldest entries fall out as a real meter's ring buffer does."""

    __slots__ = ("_entries", "depth")

    def __init__(self, depth: int = 100) -> None:
        self.depth = depth
        self._entries: deque[JournalEntry] | None = None

    def add(self, entry: JournalEntry) -> None:
        if self._entries is None:
            self._entries = deque(maxlen=self.depth)
        self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        return list(self._entries or ())


class Journals:
    """All logs of one meter; empty logs cost nothing until their first entry."""

    def __init__(self, faults: MeterFaults | None = None) -> None:
        self.faults = faults
        self._logs: dict[Log, Journal] = {}

    def add(self, log: Log, when: datetime, code: int, detail: int | str = 0) -> None:
        self._logs.setdefault(log, Journal()).add(JournalEntry(when, code, detail))

    def entries(self, log: Log, until: datetime) -> list[JournalEntry]:
        """Entries of ``log`` up to ``until`` (fault-made history merged in), oldest first."""
        made = self._from_faults(log, until)
        stored = self._logs[log].entries() if log in self._logs else []
        merged = sorted(made + [e for e in stored if e.when <= until], key=lambda e: e.when)
        return merged[-(self._logs[log].depth if log in self._logs else 100) :]

    def _from_faults(self, log: Log, until: datetime) -> list[JournalEntry]:
        faults = self.faults
        if faults is None:
            return []
        out: list[JournalEntry] = []
        if log in (Log.STANDARD, Log.POWER_FAILURE):
            for outage in faults.outages:
                if outage.start > until:
                    break
                if log is Log.POWER_FAILURE:
                    if outage.end <= until:
                        out.append(JournalEntry(outage.end, EventCode.POWER_UP, outage.seconds))
                    continue
                out.append(JournalEntry(outage.start, EventCode.POWER_DOWN, 0))
                if outage.end <= until:
                    out.append(JournalEntry(outage.end, EventCode.POWER_UP, outage.seconds))
        elif log is Log.FRAUD:
            out = [
                JournalEntry(t.when, _TAMPER_CODES[t.kind])
                for t in faults.tamper_events
                if t.when <= until
            ]
        elif log is Log.WATCHDOG:
            out = [
                JournalEntry(w, EventCode.WATCHDOG_RESET)
                for w in faults.watchdog_resets
                if w <= until
            ]
        elif log is Log.POWER_QUALITY:
            # A supply interruption starts as a voltage sag below the limit.
            out = [
                JournalEntry(o.start, EventCode.VOLTAGE_SAG, 0)
                for o in faults.outages
                if o.start <= until
            ]
        return out
