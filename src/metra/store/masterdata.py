"""Master data with effective-dated history (STO-3, STO-4; GOST R 71331 Annex A.2-A.4).

Each entity (party, substation, feeder, delivery point, metering point, meter, instrument
transformer) has a stable UUID and a list of versions. A version is a full snapshot of the
attributes valid from `valid_from` until the next version's date; a correction for the same date
is a newer snapshot with a later `recorded_at`, so both "what was valid then" and "what did we
know when" stay answerable and nothing is ever overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, RowMapping, Table, insert, select

from metra.store import schema
from metra.store.errors import InvalidData, NotFound


class Entity(StrEnum):
    """The kinds of master data, named as their identity tables."""

    PARTY = "party"
    SUBSTATION = "substation"
    FEEDER = "feeder"
    DELIVERY_POINT = "delivery_point"
    METERING_POINT = "metering_point"
    METER = "meter"
    TRANSFORMER = "transformer"


_TABLES: dict[Entity, tuple[Table, Table]] = {
    Entity.PARTY: (schema.party, schema.party_version),
    Entity.SUBSTATION: (schema.substation, schema.substation_version),
    Entity.FEEDER: (schema.feeder, schema.feeder_version),
    Entity.DELIVERY_POINT: (schema.delivery_point, schema.delivery_point_version),
    Entity.METERING_POINT: (schema.metering_point, schema.metering_point_version),
    Entity.METER: (schema.meter, schema.meter_version),
    Entity.TRANSFORMER: (schema.transformer, schema.transformer_version),
}

_BOOKKEEPING = ("version_id", "entity_id", "valid_from", "recorded_at", "recorded_by")


@dataclass(frozen=True)
class Version:
    """One recorded set of attributes and the date from which it is valid."""

    entity_id: UUID
    valid_from: date
    recorded_at: datetime
    recorded_by: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Linkage:
    """What a meter's values belong to on a date (STO-4): place, points and market parties."""

    meter_id: UUID
    metering_point_id: UUID
    role: str
    installation_place: str | None
    delivery_point_id: UUID
    consumer_id: UUID | None
    supplier_id: UUID | None
    network_party_id: UUID | None
    feeder_id: UUID | None


def attribute_names(entity: Entity) -> tuple[str, ...]:
    """The attributes an entity carries (the Annex A columns of its version table)."""
    return tuple(c.name for c in _TABLES[entity][1].columns if c.name not in _BOOKKEEPING)


def _checked(entity: Entity, attrs: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(attrs) - set(attribute_names(entity))
    if unknown:
        raise InvalidData(f"{entity.value} has no attribute(s) {sorted(unknown)}")
    return dict(attrs)


def _now(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


def _version(entity: Entity, mapping: RowMapping) -> Version:
    return Version(
        entity_id=mapping["entity_id"],
        valid_from=mapping["valid_from"],
        recorded_at=mapping["recorded_at"],
        recorded_by=mapping["recorded_by"],
        attributes={name: mapping[name] for name in attribute_names(entity)},
    )


def create(
    conn: Connection,
    entity: Entity,
    attrs: Mapping[str, Any],
    *,
    effective: date,
    at: datetime | None = None,
    by: str | None = None,
    entity_id: UUID | None = None,
) -> UUID:
    """Register a new entity with its first attributes; returns its UUID."""
    identity, versions = _TABLES[entity]
    new_id = entity_id or uuid4()
    recorded = _now(at)
    conn.execute(insert(identity).values(id=new_id, created_at=recorded))
    conn.execute(
        insert(versions).values(
            entity_id=new_id,
            valid_from=effective,
            recorded_at=recorded,
            recorded_by=by,
            **_checked(entity, attrs),
        )
    )
    return new_id


def change(
    conn: Connection,
    entity: Entity,
    entity_id: UUID,
    changes: Mapping[str, Any],
    *,
    effective: date,
    at: datetime | None = None,
    by: str | None = None,
) -> None:
    """Record changed attributes taking effect on `effective`; other attributes carry over.

    The carried-over values are those valid on `effective`. A back-dated change does not rewrite
    versions that start later: they were recorded as they were and stay so.
    """
    current = as_of(conn, entity, entity_id, effective)
    if current is None:
        raise NotFound(f"{entity.value} {entity_id} has no attributes valid on {effective}")
    attrs = {**current.attributes, **_checked(entity, changes)}
    conn.execute(
        insert(_TABLES[entity][1]).values(
            entity_id=entity_id,
            valid_from=effective,
            recorded_at=_now(at),
            recorded_by=by,
            **attrs,
        )
    )


def as_of(conn: Connection, entity: Entity, entity_id: UUID, on: date) -> Version | None:
    """The attributes valid on `on` (latest correction wins), or None before the first version."""
    versions = _TABLES[entity][1]
    query = (
        select(versions)
        .where(versions.c.entity_id == entity_id, versions.c.valid_from <= on)
        .order_by(
            versions.c.valid_from.desc(),
            versions.c.recorded_at.desc(),
            versions.c.version_id.desc(),
        )
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _version(entity, row._mapping)


def history(conn: Connection, entity: Entity, entity_id: UUID) -> list[Version]:
    """Every recorded version, in effective-date then recording order (Annex A.2)."""
    versions = _TABLES[entity][1]
    query = (
        select(versions)
        .where(versions.c.entity_id == entity_id)
        .order_by(versions.c.valid_from, versions.c.recorded_at, versions.c.version_id)
    )
    return [_version(entity, row._mapping) for row in conn.execute(query)]


def find(conn: Connection, entity: Entity, on: date, **match: Any) -> list[UUID]:
    """Entities whose attributes valid on `on` equal every `match` value (e.g. serial=...)."""
    versions = _TABLES[entity][1]
    _checked(entity, match)
    query = select(versions.c.entity_id).distinct().where(versions.c.valid_from <= on)
    for name, value in match.items():
        query = query.where(versions.c[name] == value)
    found: list[UUID] = []
    for (candidate,) in conn.execute(query):
        current = as_of(conn, entity, candidate, on)
        if current and all(current.attributes[k] == v for k, v in match.items()):
            found.append(candidate)
    return sorted(found)


def linkage(conn: Connection, meter_id: UUID, on: date) -> Linkage:
    """Tie a meter to its metering point, delivery point and parties on a date (STO-4)."""
    points = find(conn, Entity.METERING_POINT, on, meter_id=meter_id)
    if not points:
        raise NotFound(f"meter {meter_id} is installed at no metering point on {on}")
    point = as_of(conn, Entity.METERING_POINT, points[0], on)
    assert point is not None
    delivery_id = point.attributes["delivery_point_id"]
    delivery = as_of(conn, Entity.DELIVERY_POINT, delivery_id, on)
    if delivery is None:
        raise NotFound(f"delivery point {delivery_id} has no attributes valid on {on}")
    return Linkage(
        meter_id=meter_id,
        metering_point_id=points[0],
        role=point.attributes["role"],
        installation_place=point.attributes["installation_place"],
        delivery_point_id=delivery_id,
        consumer_id=delivery.attributes["consumer_id"],
        supplier_id=delivery.attributes["supplier_id"],
        network_party_id=delivery.attributes["network_party_id"],
        feeder_id=delivery.attributes["feeder_id"],
    )
