"""Faults on purpose: per-fleet rates, and each meter's own faults drawn from its seed.

Collection, backfill and KPIs can only be exercised against meters that misbehave, and a test can
only rely on that when the misbehaviour repeats: :meth:`MeterFaults.generate` draws every fault
from ``random.Random(seed)`` so the same seed gives the same faults in every run.

The transport-level faults (offline windows, dropped sessions, slow answers, corrupted frames)
are applied by the fleet; the measurement-level ones (clock drift, power outages, tamper and
magnetic events, a register jump, watchdog resets) by the meter's model.
"""

from __future__ import annotations

import json
import random
import tomllib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

__all__ = ["FaultRates", "MeterFaults", "Outage", "RegisterJump", "TamperEvent", "TamperKind"]


@dataclass(frozen=True)
class FaultRates:
    """How often each fault happens across a fleet (all zero: a perfect fleet).

    Probabilities are per meter (``*_probability``) or per meter and day (``*_per_day``);
    ``*_per_year`` are expected counts per meter and year.
    """

    offline_per_day: float = 0.0
    offline_minutes: float = 60.0
    drop_probability: float = 0.0
    slow_probability: float = 0.0
    slow_seconds: float = 5.0
    corrupt_probability: float = 0.0
    corrupt_frame_probability: float = 0.01
    clock_drift_ppm: float = 0.0
    outages_per_year: float = 0.0
    long_outage_fraction: float = 0.2
    tamper_per_year: float = 0.0
    register_jump_probability: float = 0.0
    watchdog_resets_per_year: float = 0.0
    #: Share of meters whose disconnector contacts are welded shut (they never open).
    stuck_relay_probability: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"fault rate {f.name} must be a non-negative number")
        probabilities = ("drop_probability", "slow_probability", "corrupt_probability")
        for name in (*probabilities, "stuck_relay_probability"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} is a probability (0..1)")

    @classmethod
    def load(cls, path: str | Path) -> FaultRates:
        """Read rates from a ``.json`` or ``.toml`` file; unknown keys are an error."""
        p = Path(path)
        raw = p.read_bytes()
        data = tomllib.loads(raw.decode()) if p.suffix == ".toml" else json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"{p}: fault rates must be a table")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{p}: unknown fault rates {sorted(unknown)}")
        return cls(**{k: float(v) for k, v in data.items()})


@dataclass(frozen=True, slots=True)
class Outage:
    """A power outage: no energy is measured in ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def long(self) -> bool:
        """Long power failure by the usual three-minute threshold (EN 50160)."""
        return self.seconds >= 180


class TamperKind(Enum):
    COVER_OPENED = "cover-opened"
    TERMINAL_COVER_OPENED = "terminal-cover-opened"
    MAGNETIC_FIELD = "magnetic-field"


@dataclass(frozen=True, slots=True)
class TamperEvent:
    when: datetime
    kind: TamperKind


@dataclass(frozen=True, slots=True)
class RegisterJump:
    """From ``when`` on, the active-energy import register reads ``wh`` more than it measured."""

    when: datetime
    wh: int


@dataclass(frozen=True)
class MeterFaults:
    """The faults of one meter over a horizon, fixed by the seed."""

    offline_windows: tuple[tuple[datetime, datetime], ...] = ()
    drop_after_bytes: int | None = None
    slow_answer_seconds: float = 0.0
    corrupt_frame_probability: float = 0.0
    clock_drift_ppm: float = 0.0
    outages: tuple[Outage, ...] = ()
    tamper_events: tuple[TamperEvent, ...] = ()
    register_jump: RegisterJump | None = None
    #: Instants the firmware watchdog restarted the meter (journaled; the interval is flagged).
    watchdog_resets: tuple[datetime, ...] = ()
    #: The disconnector's contacts are welded shut from the start: commands are accepted and
    #: move control_state, but the supply stays on (output_state true, energy measured).
    stuck_relay: bool = False

    @classmethod
    def generate(cls, rates: FaultRates, seed: int, start: datetime, end: datetime) -> MeterFaults:
        """Draw this meter's faults in ``[start, end)`` from ``rates`` and ``seed`` alone."""
        rng = random.Random(f"metra-faults-{seed}")
        days = max(1, int((end - start).total_seconds() // 86400))
        span = (end - start).total_seconds()

        def moment() -> datetime:
            return start + timedelta(seconds=int(rng.random() * span))

        def count(per_year: float) -> int:
            expected = per_year * days / 365.0
            n = int(expected)
            return n + (1 if rng.random() < expected - n else 0)

        offline = []
        for _ in range(count(rates.offline_per_day * 365.0)):
            begin = moment()
            length = timedelta(minutes=rates.offline_minutes * (0.5 + rng.random()))
            offline.append((begin, begin + length))
        outages = []
        for _ in range(count(rates.outages_per_year)):
            begin = moment()
            if rng.random() < rates.long_outage_fraction:
                seconds = rng.randint(180, 6 * 3600)
            else:
                seconds = rng.randint(1, 179)
            outages.append(Outage(begin, begin + timedelta(seconds=seconds)))
        tamper = [
            TamperEvent(moment(), rng.choice(list(TamperKind)))
            for _ in range(count(rates.tamper_per_year))
        ]
        jump = None
        if rng.random() < rates.register_jump_probability:
            jump = RegisterJump(moment(), rng.choice((10_000, 100_000, 1_000_000)))
        drift = rng.gauss(0.0, rates.clock_drift_ppm) if rates.clock_drift_ppm else 0.0
        drop = rng.randint(200, 4000) if rng.random() < rates.drop_probability else None
        slow = rates.slow_seconds if rng.random() < rates.slow_probability else 0.0
        corrupt = (
            rates.corrupt_frame_probability if rng.random() < rates.corrupt_probability else 0.0
        )
        # Drawn last and only when asked for (watchdog resets, then a stuck relay), so every
        # other fault of a seed stays as it was.
        resets = (
            sorted(moment() for _ in range(count(rates.watchdog_resets_per_year)))
            if rates.watchdog_resets_per_year
            else []
        )
        stuck = bool(rates.stuck_relay_probability) and rng.random() < rates.stuck_relay_probability
        return cls(
            offline_windows=tuple(sorted(offline)),
            drop_after_bytes=drop,
            slow_answer_seconds=slow,
            corrupt_frame_probability=corrupt,
            clock_drift_ppm=drift,
            outages=_merge(sorted(outages, key=lambda o: o.start)),
            tamper_events=tuple(sorted(tamper, key=lambda t: t.when)),
            register_jump=jump,
            watchdog_resets=tuple(resets),
            stuck_relay=stuck,
        )

    def offline_at(self, when: datetime) -> bool:
        """Is the communication module unreachable at ``when``?"""
        return any(a <= when < b for a, b in self.offline_windows)

    def outages_between(self, start: datetime, end: datetime) -> list[Outage]:
        """Outages that overlap ``[start, end)``."""
        return [o for o in self.outages if o.start < end and o.end > start]


def _merge(outages: list[Outage]) -> tuple[Outage, ...]:
    """Overlapping outages are one outage (the supply cannot fail twice at once)."""
    merged: list[Outage] = []
    for o in outages:
        if merged and o.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Outage(last.start, max(last.end, o.end))
        else:
            merged.append(o)
    return tuple(merged)
