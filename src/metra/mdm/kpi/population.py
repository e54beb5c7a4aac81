"""Which meters a day's KPIs count, read from master data in a few set-based queries (KPI-4).

A meter belongs to day n when it is installed that day: not removed by then, and neither its
commissioning nor the date its metering point joined the system lies after the day. It is
*counted* only from the last day of the `first_computed_after_months`-th calendar month after the
month it was installed (S1 16.4: the indicator is computed "not later than the last day of the
third calendar month following the month in which the meter was installed"); until then it is
listed as not yet counted. A meter with neither date known is counted: nothing shows it is new.

Attributes are those valid on the day; an entity whose first version was recorded with a later
effective date (master data entered after the fact, as an import does) contributes that first
version, because nothing else is known about it. The substation of a meter (for KPI-3 groups and
area exclusions) is found through metering point, delivery point and feeder.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Table, select

from metra.profiles import Profile
from metra.store import schema


def counted_from(installed: date, months: int) -> date:
    """The first day a meter installed on `installed` enters the acquisition figures (KPI-4)."""
    index = installed.year * 12 + installed.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, calendar.monthrange(year, month + 1)[1])


@dataclass(frozen=True)
class Population:
    """The meters installed on `day`, sorted by serial, with what the KPIs need about each."""

    day: date
    meter_ids: tuple[UUID, ...]
    serials: tuple[str, ...]
    installed_on: tuple[date | None, ...]
    counted: NDArray[np.bool_]
    feeder_ids: tuple[UUID | None, ...]
    substation_ids: tuple[UUID | None, ...]
    substation_codes: tuple[str | None, ...]
    index: dict[UUID, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {m: i for i, m in enumerate(self.meter_ids)})

    def __len__(self) -> int:
        return len(self.meter_ids)


def _current(
    conn: Connection, versions: Table, columns: tuple[str, ...], day: date
) -> dict[UUID, dict[str, Any]]:
    """Per entity the attributes valid on `day`, else its first recorded version."""
    t = versions
    query = select(t.c.entity_id, t.c.valid_from, *(t.c[name] for name in columns)).order_by(
        t.c.entity_id, t.c.valid_from, t.c.recorded_at, t.c.version_id
    )
    found: dict[UUID, dict[str, Any]] = {}
    for row in conn.execute(query):
        m = row._mapping
        entity = m["entity_id"]
        if entity not in found or m["valid_from"] <= day:
            found[entity] = {name: m[name] for name in columns}
    return found


def _attrs(table: dict[UUID, dict[str, Any]], key: UUID | None) -> dict[str, Any]:
    return table.get(key, {}) if key is not None else {}


def population(conn: Connection, profile: Profile, day: date) -> Population:
    """The meters the KPIs of `day` are about (see the module docstring for the rules)."""
    meters = _current(conn, schema.meter_version, ("serial", "commissioned_on", "removed_on"), day)
    points = _current(
        conn, schema.metering_point_version, ("meter_id", "delivery_point_id", "joined_on"), day
    )
    deliveries = _current(conn, schema.delivery_point_version, ("feeder_id",), day)
    feeders = _current(conn, schema.feeder_version, ("substation_id",), day)
    substations = _current(conn, schema.substation_version, ("code",), day)
    point_of: dict[UUID, dict[str, Any]] = {}
    for point_id in sorted(points):
        attrs = points[point_id]
        if attrs["meter_id"] is not None:
            point_of.setdefault(attrs["meter_id"], attrs)
    chosen: list[tuple[str, UUID, date | None, UUID | None, UUID | None, str | None]] = []
    for meter_id, attrs in meters.items():
        removed = attrs["removed_on"]
        if removed is not None and removed <= day:
            continue
        point = point_of.get(meter_id, {})
        known = [d for d in (attrs["commissioned_on"], point.get("joined_on")) if d is not None]
        installed = max(known) if known else None
        if installed is not None and installed > day:
            continue
        delivery = _attrs(deliveries, point.get("delivery_point_id"))
        feeder_id = delivery.get("feeder_id")
        substation_id = _attrs(feeders, feeder_id).get("substation_id")
        code = _attrs(substations, substation_id).get("code")
        chosen.append((attrs["serial"], meter_id, installed, feeder_id, substation_id, code))
    chosen.sort(key=lambda item: (item[0], str(item[1])))
    months = profile.kpi.first_computed_after_months
    counted = np.array(
        [c[2] is None or counted_from(c[2], months) <= day for c in chosen], dtype=np.bool_
    )
    return Population(
        day=day,
        meter_ids=tuple(c[1] for c in chosen),
        serials=tuple(c[0] for c in chosen),
        installed_on=tuple(c[2] for c in chosen),
        counted=counted,
        feeder_ids=tuple(c[3] for c in chosen),
        substation_ids=tuple(c[4] for c in chosen),
        substation_codes=tuple(c[5] for c in chosen),
    )
