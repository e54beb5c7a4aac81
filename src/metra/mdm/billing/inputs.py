"""Served interval data and master data as the arrays the determinants and balances work on.

Only the VEE's served versions are billing-grade (DQ-5, DQ-9): raw rows are never read here.
Each array comes with the version of every (meter, day) it used, so a stored result can say
exactly what it was computed from and be recomputed when a newer version is served.
Instrument-transformer ratios of the metering point (CT x VT, valid on each day) turn the
meter's secondary values into primary energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, and_, func, select

from metra.mdm.batch import Floats
from metra.mdm.schema import vee_day
from metra.store.errors import InvalidData
from metra.store.intervals import intervals_per_day
from metra.store.masterdata import Entity, as_of, find

_CHUNK = 500

ACTIVE_IMPORT = "1-0:1.29.0.255"
ACTIVE_EXPORT = "1-0:2.29.0.255"
REACTIVE_QI = "1-0:5.29.0.255"
REACTIVE_QIV = "1-0:8.29.0.255"


@dataclass(frozen=True)
class Channels:
    """Which stored channels hold A+, A-, inductive (QI) and capacitive (QIV) reactive energy."""

    active_import: str = ACTIVE_IMPORT
    active_export: str | None = ACTIVE_EXPORT
    reactive_inductive: str | None = REACTIVE_QI
    reactive_capacitive: str | None = REACTIVE_QIV


Versions = dict[str, dict[str, int]]
"""Per channel, per ISO day: the served VEE version used."""


@dataclass(frozen=True)
class Served:
    """One channel of many meters over whole UTC days, NaN where nothing is served."""

    values: Floats
    interval_s: int | None
    versions: list[Versions]


def served(
    conn: Connection,
    meter_ids: Sequence[UUID],
    channel: str,
    first: date,
    n_days: int,
    interval_s: int | None = None,
) -> Served:
    """The latest VEE version of every (meter, day) of `channel` as an array (meters, intervals).

    The interval length comes from the stored days unless given; days stored with another
    length are refused (a mixed month cannot be summed interval by interval).
    """
    t = vee_day
    days = [first + timedelta(days=d) for d in range(n_days)]
    rows: list[Any] = []
    for i in range(0, len(meter_ids), _CHUNK):
        chunk = list(meter_ids[i : i + _CHUNK])
        newest = (
            select(t.c.meter_id, t.c.day, func.max(t.c.version).label("version"))
            .where(t.c.meter_id.in_(chunk), t.c.channel == channel)
            .where(t.c.day >= days[0], t.c.day <= days[-1])
            .group_by(t.c.meter_id, t.c.day)
            .subquery()
        )
        query = select(t.c.meter_id, t.c.day, t.c.version, t.c.interval_s, t.c["values"]).join(
            newest,
            and_(
                t.c.meter_id == newest.c.meter_id,
                t.c.channel == channel,
                t.c.day == newest.c.day,
                t.c.version == newest.c.version,
            ),
        )
        rows.extend(conn.execute(query).all())
    lengths = {r.interval_s for r in rows} | ({interval_s} if interval_s else set())
    if len(lengths) > 1:
        raise InvalidData(f"{channel}: served days mix interval lengths {sorted(lengths)}")
    step = lengths.pop() if lengths else interval_s
    versions: list[Versions] = [{} for _ in meter_ids]
    if step is None:
        return Served(np.full((len(meter_ids), 0), np.nan), None, versions)
    per_day = intervals_per_day(step)
    values = np.full((len(meter_ids), n_days * per_day), np.nan)
    row_of = {m: k for k, m in enumerate(meter_ids)}
    for r in rows:
        k, d = row_of[r.meter_id], (r.day - first).days
        values[k, d * per_day : (d + 1) * per_day] = np.frombuffer(r.values, "<f8")
        versions[k].setdefault(channel, {})[r.day.isoformat()] = r.version
    return Served(values, step, versions)


def ratio(conn: Connection, meter_id: UUID, on: date) -> float:
    """CT ratio x VT ratio of the meter's metering point on a day (1.0 when connected direct).

    Refuses a metering point whose current transformers disagree (a wrong CT on one phase is a
    fault to correct with the VEE's correction factors, not to average over).
    """
    points = find(conn, Entity.METERING_POINT, on, meter_id=meter_id)
    if not points:
        return 1.0
    factor = 1.0
    for kind in ("CT", "VT"):
        ratios = set()
        for tid in find(conn, Entity.TRANSFORMER, on, metering_point_id=points[0], kind=kind):
            version = as_of(conn, Entity.TRANSFORMER, tid, on)
            assert version is not None
            attrs = version.attributes
            removed = attrs["removed_on"]
            if removed is not None and removed <= on:
                continue
            if attrs["ratio_primary"] and attrs["ratio_secondary"]:
                ratios.add(attrs["ratio_primary"] / attrs["ratio_secondary"])
        if len(ratios) > 1:
            raise InvalidData(f"meter {meter_id}: {kind}s with different ratios {sorted(ratios)}")
        if ratios:
            factor *= ratios.pop()
    return factor


def day_ratios(conn: Connection, meter_ids: Sequence[UUID], first: date, n_days: int) -> Floats:
    """Transformer ratio per meter and UTC day, shape (meters, days).

    Looked up on the first and last day; only a meter whose ratio changed in between is looked
    up day by day.
    """
    out = np.ones((len(meter_ids), n_days))
    last = first + timedelta(days=n_days - 1)
    for k, meter in enumerate(meter_ids):
        start, end = ratio(conn, meter, first), ratio(conn, meter, last)
        if start == end:
            out[k] = start
        else:
            out[k] = [ratio(conn, meter, first + timedelta(days=d)) for d in range(n_days)]
    return out


def point_attributes(conn: Connection, meter_id: UUID, on: date) -> dict[str, Any]:
    """The attributes of the meter's metering point on a day ({} when it is not installed)."""
    points = find(conn, Entity.METERING_POINT, on, meter_id=meter_id)
    if not points:
        return {}
    point = as_of(conn, Entity.METERING_POINT, points[0], on)
    assert point is not None
    return point.attributes


def connection_kv(conn: Connection, meter_id: UUID, on: date) -> float | None:
    """The connection voltage of the meter's delivery point (chooses the tan(phi) limit)."""
    point = point_attributes(conn, meter_id, on)
    if not point:
        return None
    delivery = as_of(conn, Entity.DELIVERY_POINT, point["delivery_point_id"], on)
    if delivery is None:
        return None
    kv = delivery.attributes["connection_voltage_kv"] or delivery.attributes["tariff_voltage_kv"]
    return None if kv is None else float(kv)
