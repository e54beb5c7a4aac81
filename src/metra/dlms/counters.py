"""Invocation counters: the outgoing counter that feeds the GCM IV, and replay protection for
incoming ones (Green Book: a receiver accepts a frame only when its counter is greater than the
last one it accepted from that sender).

Reusing an IV under the same key breaks both confidentiality and authenticity of AES-GCM, so the
outgoing counter refuses to wrap, and both objects can be persisted (``to_dict`` / ``from_dict``)
and restored across restarts by the caller, which owns storage.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import DecodeError, SecurityError
from .security import MAX_INVOCATION_COUNTER, SYSTEM_TITLE_LENGTH


class ReplayError(SecurityError):
    """An incoming invocation counter is not greater than the last accepted one: a replayed or
    reordered frame."""


def _counter(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_INVOCATION_COUNTER:
        raise DecodeError(f"{what}: invocation counter must be an integer in 0..2**32-1")
    return value


class InvocationCounter:
    """The counter for frames we send: each :meth:`next` returns a fresh value, never twice."""

    def __init__(self, value: int = 0) -> None:
        if not 0 <= value <= MAX_INVOCATION_COUNTER + 1:
            raise ValueError(f"invocation counter out of range: {value}")
        self._value = value

    @property
    def value(self) -> int:
        """The value the next call to :meth:`next` returns (``2**32`` once exhausted)."""
        return self._value

    def next(self) -> int:
        """Use up and return the next value; raises :class:`SecurityError` once all 2**32 values
        are spent, since the key must then be renewed rather than the counter wrapped."""
        if self._value > MAX_INVOCATION_COUNTER:
            raise SecurityError("invocation counter exhausted: renew the key")
        value = self._value
        self._value += 1
        return value

    def to_dict(self) -> dict[str, int]:
        """A JSON-friendly snapshot for persistence."""
        return {"value": self._value}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> InvocationCounter:
        """Restore a snapshot; malformed data raises :class:`DecodeError`."""
        value = data.get("value") if isinstance(data, Mapping) else None
        if type(value) is not int or not 0 <= value <= MAX_INVOCATION_COUNTER + 1:
            raise DecodeError("invocation counter snapshot is malformed")
        return cls(value)


class ReplayGuard:
    """The last accepted invocation counter per sender system title.

    Use :meth:`check` before deciphering and :meth:`commit` only after the tag verified (so a
    forged frame cannot advance the window), or :meth:`accept` for both at once.
    """

    def __init__(self) -> None:
        self._last: dict[bytes, int] = {}

    def last(self, system_title: bytes) -> int | None:
        """The last accepted counter from ``system_title``, or ``None`` if none yet."""
        return self._last.get(bytes(system_title))

    def next_expected(self) -> int:
        """The lowest counter any client may use next (0 before the first): what a meter
        publishes in its invocation-counter object 0-0:43.1.x.255 so that a head-end that lost
        its own count (restart, second head-end) can continue without being taken for a replay."""
        return max(self._last.values(), default=-1) + 1

    def check(self, system_title: bytes, invocation_counter: int) -> None:
        """Raise :class:`ReplayError` unless ``invocation_counter`` is new for this sender."""
        if len(system_title) != SYSTEM_TITLE_LENGTH:
            raise SecurityError("system title must be 8 octets")
        if not 0 <= invocation_counter <= MAX_INVOCATION_COUNTER:
            raise ReplayError("invocation counter out of range")
        last = self._last.get(bytes(system_title))
        if last is not None and invocation_counter <= last:
            raise ReplayError("invocation counter not greater than the last accepted one")

    def commit(self, system_title: bytes, invocation_counter: int) -> None:
        """Record ``invocation_counter`` as accepted (it must pass :meth:`check`)."""
        self.check(system_title, invocation_counter)
        self._last[bytes(system_title)] = invocation_counter

    def accept(self, system_title: bytes, invocation_counter: int) -> None:
        """Check and record in one step."""
        self.commit(system_title, invocation_counter)

    def to_dict(self) -> dict[str, int]:
        """A JSON-friendly snapshot: hex system title -> last accepted counter."""
        return {title.hex(): value for title, value in self._last.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ReplayGuard:
        """Restore a snapshot; malformed data raises :class:`DecodeError`."""
        if not isinstance(data, Mapping):
            raise DecodeError("replay guard snapshot must be a mapping")
        guard = cls()
        for key, value in data.items():
            try:
                title = bytes.fromhex(key) if isinstance(key, str) else b""
            except ValueError:
                title = b""
            if len(title) != SYSTEM_TITLE_LENGTH:
                raise DecodeError("replay guard snapshot has a malformed system title")
            guard._last[title] = _counter(value, "replay guard snapshot")
        return guard
