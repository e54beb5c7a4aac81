"""Master data: substations, delivery points, metering points and meters, as valid on a date,
with their full history (STO-3, STO-4), filterable by substation, narrowed to the caller's own
points for retailers and consumers. Representations carry ETags.

One router per entity is built from the same pieces, because the four differ only in how an
entity reaches a delivery point (which decides scope and the substation filter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, create_model
from sqlalchemy import JSON, Connection, LargeBinary, Select, Subquery, func, select

from metra.api import scoping
from metra.api.context import connection
from metra.api.paging import IsoDate, Page, Paging, link_header, paging, release, tagged
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.security.errors import AccessDenied
from metra.security.roles import Permission, Scope
from metra.store import schema
from metra.store.masterdata import Entity, Version, as_of, attribute_names, history, linkage

P = Permission
router = APIRouter(tags=["master data"], responses=responses(401, 403, 404, 422, 429))

VERSION_TABLES = {
    Entity.SUBSTATION: schema.substation_version,
    Entity.FEEDER: schema.feeder_version,
    Entity.DELIVERY_POINT: schema.delivery_point_version,
    Entity.METERING_POINT: schema.metering_point_version,
    Entity.METER: schema.meter_version,
}


def _python_type(entity: Entity, name: str) -> Any:
    column = VERSION_TABLES[entity].c[name]
    if isinstance(column.type, LargeBinary):
        return str  # hex
    if isinstance(column.type, JSON):
        return Any
    return column.type.python_type


def _attributes_model(entity: Entity) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (_python_type(entity, name) | None, None) for name in attribute_names(entity)
    }
    title = "".join(part.title() for part in entity.value.split("_")) + "Attributes"
    return create_model(title, **fields)


def _version_model(entity: Entity) -> type[BaseModel]:
    title = "".join(part.title() for part in entity.value.split("_")) + "Version"
    return create_model(
        title,
        id=(UUID, ...),
        valid_from=(date, ...),
        recorded_at=(datetime, ...),
        recorded_by=(str | None, None),
        attributes=(_attributes_model(entity), ...),
    )


def _jsonable(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.hex() if isinstance(v, bytes | memoryview) else v for k, v in attributes.items()}


def _version_out(model: type[BaseModel], version: Version) -> BaseModel:
    return model(
        id=version.entity_id,
        valid_from=version.valid_from,
        recorded_at=version.recorded_at,
        recorded_by=version.recorded_by,
        attributes=_jsonable(version.attributes),
    )


def current(entity: Entity, on: date) -> Subquery:
    """The versions valid on `on`, one per entity (latest correction wins), as a subquery."""
    v = VERSION_TABLES[entity]
    rank = (
        func.row_number()
        .over(
            partition_by=v.c.entity_id,
            order_by=(v.c.valid_from.desc(), v.c.recorded_at.desc(), v.c.version_id.desc()),
        )
        .label("rank")
    )
    ranked = select(v, rank).where(v.c.valid_from <= on).subquery()
    return select(ranked).where(ranked.c.rank == 1).subquery()


def _points(on: date, substation: UUID | None, grant: Grant) -> Select[Any] | None:
    """Ids of the delivery points a list may show, or None for no restriction."""
    if substation is None and grant.scope is Scope.ALL:
        return None
    dp = current(Entity.DELIVERY_POINT, on)
    query = select(dp.c.entity_id)
    if substation is not None:
        fd = current(Entity.FEEDER, on)
        query = query.where(
            dp.c.feeder_id.in_(select(fd.c.entity_id).where(fd.c.substation_id == substation))
        )
    if grant.scope is not Scope.ALL:
        owner = dp.c.consumer_id if grant.scope is Scope.OWN_POINTS else dp.c.supplier_id
        query = query.where(owner == grant.caller.principal.party_id)
    return query


def _restrict(
    entity: Entity, table: Subquery, on: date, substation: UUID | None, grant: Grant
) -> list[Any]:
    if entity is Entity.SUBSTATION:
        scoping.require_all(grant, "the substation list")
        return [] if substation is None else [table.c.entity_id == substation]
    points = _points(on, substation, grant)
    if points is None:
        return []
    if entity is Entity.DELIVERY_POINT:
        return [table.c.entity_id.in_(points)]
    if entity is Entity.METERING_POINT:
        return [table.c.delivery_point_id.in_(points)]
    mp = current(Entity.METERING_POINT, on)
    return [table.c.entity_id.in_(select(mp.c.meter_id).where(mp.c.delivery_point_id.in_(points)))]


Check = Callable[[Connection, Grant, UUID, date, date], None]


def _check_substation(conn: Connection, grant: Grant, _id: UUID, _f: date, _l: date) -> None:
    scoping.require_all(grant, "a substation")


CHECKS: dict[Entity, Check] = {
    Entity.SUBSTATION: _check_substation,
    Entity.DELIVERY_POINT: scoping.check_point,
    Entity.METERING_POINT: scoping.check_metering_point,
    Entity.METER: scoping.check_meter,
}


def _today() -> date:
    return datetime.now(UTC).date()


ON = Query(None, description="the date the attributes are valid on (default today, UTC)")
SUBSTATION = Query(None, description="only what hangs off this substation (by id)")


def add_entity(entity: Entity, plural: str, singular: str) -> None:
    """Add list, get and history operations for one kind of master data."""
    model = _version_model(entity)
    check = CHECKS[entity]
    name = singular.replace("-", "_")

    def list_entities(
        request: Request,
        response: Response,
        on: IsoDate | None = ON,
        substation: UUID | None = SUBSTATION,
        page: Paging = Depends(paging),
        grant: Grant = Depends(Need(P.MASTERDATA_READ)),
        conn: Connection = Depends(connection),
    ) -> Any:
        day = on or _today()
        table = current(entity, day)
        where = _restrict(entity, table, day, substation, grant)
        total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        rows = conn.execute(
            select(table)
            .where(*where)
            .order_by(table.c.entity_id)
            .limit(page.limit)
            .offset(page.offset)
        )
        items = []
        for row in rows:
            m = row._mapping
            version = Version(
                m["entity_id"],
                m["valid_from"],
                m["recorded_at"],
                m["recorded_by"],
                {a: m[a] for a in attribute_names(entity)},
            )
            items.append(_version_out(model, version))
        release(conn, grant, plural, "list", {"on": day.isoformat(), "count": len(items)})
        link_header(request, response, total, page)
        return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}

    def get_entity(
        entity_id: UUID,
        request: Request,
        on: IsoDate | None = ON,
        grant: Grant = Depends(Need(P.MASTERDATA_READ)),
        conn: Connection = Depends(connection),
    ) -> Response:
        day = on or _today()
        version = as_of(conn, entity, entity_id, day)
        if version is None:
            raise Problem(404, f"no {singular} {entity_id} valid on {day}")
        check(conn, grant, entity_id, day, day)
        answer = tagged(request, _version_out(model, version))
        if answer.status_code == 200:
            release(conn, grant, plural, str(entity_id), {"on": day.isoformat()})
        return answer

    def get_history(
        entity_id: UUID,
        request: Request,
        grant: Grant = Depends(Need(P.MASTERDATA_READ)),
        conn: Connection = Depends(connection),
    ) -> Response:
        versions = history(conn, entity, entity_id)
        if not versions:
            raise Problem(404, f"no {singular} {entity_id}")
        visible = []
        refusal: AccessDenied | None = None
        for version in versions:
            try:
                check(conn, grant, entity_id, version.valid_from, version.valid_from)
            except AccessDenied as exc:
                refusal = exc
                continue
            visible.append(_version_out(model, version))
        if not visible and refusal is not None:
            raise refusal
        answer = tagged(request, history_model(items=visible))
        if answer.status_code == 200:
            release(conn, grant, plural, f"{entity_id}/history", {"versions": len(visible)})
        return answer

    history_model = create_model(f"{model.__name__}History", items=(list[model], ...))  # type: ignore[valid-type]
    router.add_api_route(
        f"/{plural}",
        list_entities,
        methods=["GET"],
        response_model=Page[model],  # type: ignore[valid-type]
        operation_id=f"list_{name}s",
        summary=f"List {plural.replace('-', ' ')} valid on a date",
    )
    router.add_api_route(
        f"/{plural}/{{entity_id}}",
        get_entity,
        methods=["GET"],
        response_model=model,
        responses={304: {"description": "Not modified (If-None-Match)"}},
        operation_id=f"get_{name}",
        summary=f"One {singular.replace('-', ' ')} as valid on a date (ETag)",
    )
    router.add_api_route(
        f"/{plural}/{{entity_id}}/history",
        get_history,
        methods=["GET"],
        response_model=history_model,
        responses={304: {"description": "Not modified (If-None-Match)"}},
        operation_id=f"get_{name}_history",
        summary=f"Every recorded version of a {singular.replace('-', ' ')} (ETag)",
    )


add_entity(Entity.SUBSTATION, "substations", "substation")
add_entity(Entity.DELIVERY_POINT, "delivery-points", "delivery-point")
add_entity(Entity.METERING_POINT, "metering-points", "metering-point")
add_entity(Entity.METER, "meters", "meter")


class LinkageOut(BaseModel):
    meter_id: UUID
    on: date
    metering_point_id: UUID
    role: str
    installation_place: str | None
    delivery_point_id: UUID
    consumer_id: UUID | None
    supplier_id: UUID | None
    network_party_id: UUID | None
    feeder_id: UUID | None


@router.get(
    "/meters/{meter_id}/linkage", response_model=LinkageOut, operation_id="get_meter_linkage"
)
def get_linkage(
    meter_id: UUID,
    request: Request,
    on: IsoDate | None = ON,
    grant: Grant = Depends(Need(P.MASTERDATA_READ)),
    conn: Connection = Depends(connection),
) -> Response:
    """What a meter's values belong to on a date: place, points and market parties (STO-4)."""
    day = on or _today()
    link = linkage(conn, meter_id, day)
    scoping.check_meter(conn, grant, meter_id, day, day)
    answer = tagged(request, LinkageOut(on=day, **asdict(link)))
    if answer.status_code == 200:
        release(conn, grant, "meters", f"{meter_id}/linkage", {"on": day.isoformat()})
    return answer
