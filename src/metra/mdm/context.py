"""What the master data say about each meter on each day of a VEE run (STO-3, STO-4).

The rules need facts that are not in the interval data: is the meter installed (commissioned,
not removed), how much can its connection carry, which reserve meter measures the same point
(DQ-8), which balancing meter and which other customers share its feeder or substation (DQ-6).
Those are effective-dated, so they are looked up *as of each day*. A run loads the versions
of the few master-data tables once and resolves them in memory: the state changes only on the
`valid_from` dates inside the range, so each distinct state is resolved once, not per day.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, Table, select

from metra.mdm.batch import Bools
from metra.store import schema

_BOOKKEEPING = ("version_id", "entity_id", "valid_from", "recorded_at", "recorded_by")


class History:
    """Every version of one kind of entity, answerable as of any day (latest record wins)."""

    def __init__(self, table: Table, rows: Iterable[Any]) -> None:
        names = [c.name for c in table.columns if c.name not in _BOOKKEEPING]
        found: dict[UUID, list[tuple[date, Any, int, dict[str, Any]]]] = defaultdict(list)
        for row in rows:
            m = row._mapping
            attrs = {n: m[n] for n in names}
            found[m["entity_id"]].append(
                (m["valid_from"], m["recorded_at"], m["version_id"], attrs)
            )
        self._versions: dict[UUID, list[dict[str, Any]]] = {}
        self._starts: dict[UUID, list[date]] = {}
        for entity, versions in found.items():
            versions.sort(key=lambda v: (v[0], v[1], v[2]))
            self._versions[entity] = [v[3] for v in versions]
            self._starts[entity] = [v[0] for v in versions]

    @staticmethod
    def load(conn: Connection, table: Table) -> History:
        """All versions of a master-data table."""
        return History(table, conn.execute(select(table)))

    def as_of(self, entity: UUID, day: date) -> dict[str, Any] | None:
        """The attributes valid on `day`, or None before the first version."""
        starts = self._starts.get(entity)
        if not starts:
            return None
        k = bisect_right(starts, day)
        return None if k == 0 else self._versions[entity][k - 1]

    def first(self, entity: UUID) -> dict[str, Any] | None:
        """The earliest attributes of an entity (None if it has no version)."""
        versions = self._versions.get(entity)
        return versions[0] if versions else None

    def ids(self) -> list[UUID]:
        """Every entity with a version."""
        return list(self._versions)

    def change_days(self) -> set[date]:
        """Every date on which some entity's attributes change."""
        return {d for starts in self._starts.values() for d in starts}


@dataclass(frozen=True)
class Group:
    """A balancing meter and the main meters of the customers it feeds on some days."""

    name: str
    balancing: UUID
    customers: tuple[UUID, ...]


@dataclass(frozen=True)
class State:
    """The master data resolved on one day."""

    capacity_kw: dict[UUID, float]
    ratio: dict[UUID, float]
    reserve: dict[UUID, UUID]
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class MasterData:
    """The versions of meters, points, grid elements and transformers, loaded once per run."""

    meter: History
    metering_point: History
    delivery_point: History
    feeder: History
    substation: History
    transformer: History
    _states: dict[date, State] = field(default_factory=dict, compare=False)

    @staticmethod
    def load(conn: Connection) -> MasterData:
        """Read the master-data version tables the VEE needs."""
        return MasterData(
            History.load(conn, schema.meter_version),
            History.load(conn, schema.metering_point_version),
            History.load(conn, schema.delivery_point_version),
            History.load(conn, schema.feeder_version),
            History.load(conn, schema.substation_version),
            History.load(conn, schema.transformer_version),
        )

    def epochs(self, days: Sequence[date]) -> list[tuple[date, list[int]]]:
        """The days grouped by master-data state: (first day of the state, day indices)."""
        changes = sorted(
            set().union(
                *(
                    h.change_days()
                    for h in (
                        self.metering_point,
                        self.delivery_point,
                        self.feeder,
                        self.substation,
                        self.transformer,
                    )
                )
            )
        )
        out: list[tuple[date, list[int]]] = []
        previous = -1
        for i, day in enumerate(days):
            key = bisect_right(changes, day)
            if out and key == previous:
                out[-1][1].append(i)
            else:
                out.append((day, [i]))
            previous = key
        return out

    def state(self, day: date) -> State:
        """Capacities, transformer ratios, reserve meters and balance groups valid on `day`."""
        cached = self._states.get(day)
        if cached is None:
            cached = self._resolve(day)
            self._states[day] = cached
        return cached

    def _resolve(self, day: date) -> State:
        points = [
            (pid, a)
            for pid in self.metering_point.ids()
            if (a := self.metering_point.as_of(pid, day))
        ]
        main_of: dict[UUID, UUID] = {}  # delivery point -> main meter
        reserve_of: dict[UUID, UUID] = {}  # delivery point -> reserve meter
        point_of: dict[UUID, UUID] = {}  # main meter -> metering point
        for pid, a in points:
            if a["meter_id"] is None:
                continue
            if a["role"] == "main":
                main_of[a["delivery_point_id"]] = a["meter_id"]
                point_of[a["meter_id"]] = pid
            elif a["role"] == "reserve":
                reserve_of[a["delivery_point_id"]] = a["meter_id"]
        capacity: dict[UUID, float] = {}
        feeder_customers: dict[UUID, list[UUID]] = defaultdict(list)
        for dp, meter in main_of.items():
            attrs = self.delivery_point.as_of(dp, day) or {}
            if attrs.get("max_power_kw"):
                capacity[meter] = float(attrs["max_power_kw"])
            if attrs.get("feeder_id") is not None:
                feeder_customers[attrs["feeder_id"]].append(meter)
        reserve = {main_of[dp]: r for dp, r in reserve_of.items() if dp in main_of}
        return State(
            capacity, self._ratios(day, point_of), reserve, self._groups(day, feeder_customers)
        )

    def _ratios(self, day: date, point_of: dict[UUID, UUID]) -> dict[UUID, float]:
        """CT x VT ratio per main meter (transformers in service; the largest if they differ)."""
        best: dict[tuple[UUID, str], float] = {}
        for tid in self.transformer.ids():
            a = self.transformer.as_of(tid, day)
            if a is None or (a["removed_on"] is not None and a["removed_on"] <= day):
                continue
            if a["ratio_primary"] and a["ratio_secondary"]:
                key = (a["metering_point_id"], a["kind"])
                best[key] = max(best.get(key, 0.0), a["ratio_primary"] / a["ratio_secondary"])
        return {
            meter: best.get((point, "CT"), 1.0) * best.get((point, "VT"), 1.0)
            for meter, point in point_of.items()
            if (point, "CT") in best or (point, "VT") in best
        }

    def _groups(self, day: date, feeder_customers: dict[UUID, list[UUID]]) -> tuple[Group, ...]:
        """Feeders with a balancing meter first (smaller, so more precise), then substations."""
        stations: dict[UUID, list[UUID]] = defaultdict(list)
        feeders: list[Group] = []
        codes: dict[UUID, str] = {}
        for sid in self.substation.ids():
            a = self.substation.as_of(sid, day)
            if a is not None:
                codes[sid] = str(a["code"])
        for fid in self.feeder.ids():
            a = self.feeder.as_of(fid, day)
            if a is None:
                continue
            customers = feeder_customers.get(fid, [])
            stations[a["substation_id"]].extend(customers)
            meter = a["balancing_meter_id"]
            if meter is not None and customers:
                name = f"{codes.get(a['substation_id'], '?')}/{a['code']}"
                feeders.append(_group(name, meter, customers))
        whole = []
        for sid, customers in stations.items():
            a = self.substation.as_of(sid, day)
            if a is not None and a["balancing_meter_id"] is not None and customers:
                whole.append(_group(codes[sid], a["balancing_meter_id"], customers))
        return tuple(sorted(feeders, key=lambda g: g.name) + sorted(whole, key=lambda g: g.name))

    def installed(self, meters: Sequence[UUID], days: Sequence[date]) -> Bools:
        """(meters, days): commissioned and not removed on that day.

        Only the meter's own dates decide: a meter registered in the master data after the
        days it has data for is judged by its first record's dates, not taken as absent.
        """
        out = np.ones((len(meters), len(days)), np.bool_)
        for r, meter in enumerate(meters):
            for d, day in enumerate(days):
                a = self.meter.as_of(meter, day) or self.meter.first(meter)
                if a is None:
                    continue
                commissioned, removed = a["commissioned_on"], a["removed_on"]
                out[r, d] = (commissioned is None or commissioned <= day) and (
                    removed is None or day < removed
                )
        return out


def _group(name: str, balancing: UUID, customers: list[UUID]) -> Group:
    return Group(name, balancing, tuple(sorted(set(customers) - {balancing}, key=str)))


DISCONNECTOR_LOG = "0-0:99.98.2.255"
"""The IDIS disconnector control log; its entries say when the relay opened and closed."""

RELAY_OPENED = frozenset({60, 62, 64})
"""Manual, remote and local disconnection."""

RELAY_CLOSED = frozenset({61, 63, 69})
"""Manual, remote and local (re)connection."""


def relay_closed(
    changes: dict[int, list[tuple[float, bool]]], rows: int, width: int, interval_s: int
) -> Bools:
    """(rows, intervals) mask of intervals the relay was closed for all of.

    `changes[row]` are (seconds from the batch start, closed?) in time order, including the
    last change before the batch (negative seconds). An interval counts as disconnected only
    if the relay was open from its start to its end, so the energy of the part before a
    disconnection or after a reconnection is not held against the meter.
    """
    closed = np.ones((rows, width), np.bool_)
    for row, moves in changes.items():
        opened_at: float | None = None
        for at, is_closed in moves:
            if not is_closed and opened_at is None:
                opened_at = at
            elif is_closed and opened_at is not None:
                _open(closed[row], opened_at, at, interval_s)
                opened_at = None
        if opened_at is not None:
            _open(closed[row], opened_at, float(width * interval_s), interval_s)
    return closed


def _open(row: np.ndarray, start: float, end: float, interval_s: int) -> None:
    first = max(0, math.ceil(start / interval_s))
    last = math.floor(end / interval_s) - 1
    if last >= first:
        row[first : last + 1] = False


def day_span(first: date, n_days: int) -> list[date]:
    """The days of a batch."""
    return [first + timedelta(days=d) for d in range(n_days)]
