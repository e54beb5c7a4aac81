"""The fleet clock: real time, or a chosen start date running at a chosen speed.

A head-end test wants weeks of history at once, so the fleet can start in the past and run
faster than real time. Every meter's own clock is this clock plus the meter's drift
(:mod:`metra.meter.faults`) plus any correction a time sync applied.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["FleetClock"]


class FleetClock:
    """Aware-UTC time for a whole fleet; ``start=None`` with ``speed=1`` is plain real time."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        if start is not None and start.tzinfo is None:
            raise ValueError("the start time must be timezone-aware")
        self._origin = start.astimezone(UTC) if start is not None else datetime.now(UTC)
        self._mono = time.monotonic()
        self.speed = speed
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The fleet's current time (aware UTC)."""
        elapsed = (time.monotonic() - self._mono) * self.speed
        return self._origin + timedelta(seconds=elapsed) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Jump forward (or back), for tests and for fast-forwarding a fleet."""
        self._offset += delta

    def set(self, when: datetime) -> None:
        """Make :meth:`now` return ``when`` from here on (then keep running)."""
        if when.tzinfo is None:
            raise ValueError("the time must be timezone-aware")
        self._offset += when - self.now()
