"""Which meters balance which network element on a day, from effective-dated master data.

A substation's or feeder's balancing meter is an attribute of the element (`balancing_meter_id`);
its customers are the main meters of the delivery points on its feeders valid on that day
(STO-3, STO-4). A balancing meter that also sits on a delivery point is never counted as its own
customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from metra.store.errors import NotFound
from metra.store.masterdata import Entity, as_of, find


@dataclass(frozen=True)
class Point:
    """A meter taking part in a balance, with its metering point's attributes (for losses)."""

    meter_id: UUID
    serial: str
    metering_point: dict[str, Any]


@dataclass(frozen=True)
class Element:
    """A network element: its balancing meter (None if it has none) and its customers."""

    kind: str
    code: str
    balancing: Point | None
    customers: tuple[Point, ...]


def _attributes(conn: Connection, entity: Entity, entity_id: UUID, on: date) -> dict[str, Any]:
    version = as_of(conn, entity, entity_id, on)
    if version is None:
        raise NotFound(f"{entity.value} {entity_id} has no attributes valid on {on}")
    return version.attributes


def _point(conn: Connection, meter_id: UUID, on: date) -> Point:
    serial = _attributes(conn, Entity.METER, meter_id, on)["serial"]
    points = find(conn, Entity.METERING_POINT, on, meter_id=meter_id)
    attrs = _attributes(conn, Entity.METERING_POINT, points[0], on) if points else {}
    return Point(meter_id, serial, attrs)


def _customers(conn: Connection, feeder_id: UUID, on: date, exclude: set[UUID]) -> list[Point]:
    found: list[Point] = []
    for delivery in find(conn, Entity.DELIVERY_POINT, on, feeder_id=feeder_id):
        for point_id in find(conn, Entity.METERING_POINT, on, delivery_point_id=delivery):
            attrs = _attributes(conn, Entity.METERING_POINT, point_id, on)
            meter = attrs["meter_id"]
            if attrs["role"] == "main" and meter is not None and meter not in exclude:
                serial = _attributes(conn, Entity.METER, meter, on)["serial"]
                found.append(Point(meter, serial, attrs))
    return sorted(found, key=lambda p: p.serial)


def substation_elements(conn: Connection, code: str, on: date) -> tuple[Element, list[Element]]:
    """The substation with all its customers, and each of its feeders, as valid on `on`."""
    ids = find(conn, Entity.SUBSTATION, on, code=code)
    if not ids:
        raise NotFound(f"no substation with code {code!r} on {on}")
    station = _attributes(conn, Entity.SUBSTATION, ids[0], on)
    feeder_ids = find(conn, Entity.FEEDER, on, substation_id=ids[0])
    feeders_attrs = [(f, _attributes(conn, Entity.FEEDER, f, on)) for f in feeder_ids]
    meters = [station["balancing_meter_id"], *(a["balancing_meter_id"] for _, a in feeders_attrs)]
    balancing = {m for m in meters if m is not None}
    feeders: list[Element] = []
    everyone: list[Point] = []
    for feeder_id, attrs in sorted(feeders_attrs, key=lambda fa: str(fa[1]["code"])):
        customers = _customers(conn, feeder_id, on, balancing)
        everyone.extend(customers)
        meter = attrs["balancing_meter_id"]
        feeders.append(
            Element(
                "feeder",
                attrs["code"],
                None if meter is None else _point(conn, meter, on),
                tuple(customers),
            )
        )
    meter = station["balancing_meter_id"]
    whole = Element(
        "substation", code, None if meter is None else _point(conn, meter, on), tuple(everyone)
    )
    return whole, feeders
