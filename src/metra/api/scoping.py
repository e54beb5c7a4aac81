"""Narrowed scopes (SEC-4, GDPR): a consumer sees its own delivery points only, a retailer its
own customers' (the points it supplies), each for the dates the point was theirs.

Master data are effective-dated, so "whose is this meter" depends on the day: a consumer who
moved in on the 10th must not see the previous tenant's 1st to 9th. A range is allowed only when
every day in it belongs to the caller. The linkage of a meter changes only on the dates a version
of its metering point or delivery point takes effect, so checking the range's first and last day
and each such date inside it is exact without walking every day.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import Connection, select

from metra.api.permissions import Grant
from metra.security.errors import AccessDenied
from metra.security.roles import Scope
from metra.store.errors import NotFound
from metra.store.masterdata import Entity, Version, as_of, linkage
from metra.store.schema import delivery_point_version, metering_point_version


def _owner_field(scope: Scope) -> str:
    return "consumer_id" if scope is Scope.OWN_POINTS else "supplier_id"


def _denied(grant: Grant, what: str) -> AccessDenied:
    return AccessDenied(grant.permission.value, f"{what} is not among the caller's own points")


def owns_point(grant: Grant, point: Version | None) -> bool:
    """Whether a delivery point's version belongs to the caller (always, at scope ALL)."""
    if grant.scope is Scope.ALL:
        return True
    party = grant.caller.principal.party_id
    if point is None or party is None:
        return False
    owner: UUID | None = point.attributes[_owner_field(grant.scope)]
    return owner == party


def _point_days(conn: Connection, points: set[UUID], first: date, last: date) -> set[date]:
    if not points:
        return set()
    v = delivery_point_version.c
    query = select(v.valid_from).where(
        v.entity_id.in_(points), v.valid_from > first, v.valid_from <= last
    )
    return set(conn.execute(query).scalars())


def check_point(conn: Connection, grant: Grant, point_id: UUID, first: date, last: date) -> None:
    """Refuse unless the delivery point is the caller's on every day of [first, last]."""
    if grant.scope is Scope.ALL:
        return
    for day in {first, last} | _point_days(conn, {point_id}, first, last):
        if not owns_point(grant, as_of(conn, Entity.DELIVERY_POINT, point_id, day)):
            raise _denied(grant, f"delivery point {point_id}")


def check_metering_point(
    conn: Connection, grant: Grant, metering_point_id: UUID, first: date, last: date
) -> None:
    """Refuse unless the metering point's delivery point is the caller's over the range."""
    if grant.scope is Scope.ALL:
        return
    v = metering_point_version.c
    query = select(v.valid_from, v.delivery_point_id).where(v.entity_id == metering_point_id)
    rows = conn.execute(query).all()
    days = {first, last} | {d for d, _ in rows if first < d <= last}
    days |= _point_days(conn, {p for _, p in rows}, first, last)
    for day in days:
        point = as_of(conn, Entity.METERING_POINT, metering_point_id, day)
        if point is None:
            raise _denied(grant, f"metering point {metering_point_id}")
        delivery = as_of(conn, Entity.DELIVERY_POINT, point.attributes["delivery_point_id"], day)
        if not owns_point(grant, delivery):
            raise _denied(grant, f"metering point {metering_point_id}")


def check_meter(conn: Connection, grant: Grant, meter_id: UUID, first: date, last: date) -> None:
    """Refuse unless the meter served one of the caller's points on every day of the range."""
    if grant.scope is Scope.ALL:
        return
    v = metering_point_version.c
    holders = set(conn.execute(select(v.entity_id).where(v.meter_id == meter_id)).scalars())
    query = select(v.valid_from, v.delivery_point_id).where(v.entity_id.in_(holders))
    rows = [(row[0], row[1]) for row in conn.execute(query)] if holders else []
    days = {first, last} | {d for d, _ in rows if first < d <= last}
    days |= _point_days(conn, {p for _, p in rows}, first, last)
    for day in sorted(days):
        try:
            link = linkage(conn, meter_id, day)
        except NotFound:
            raise _denied(grant, f"meter {meter_id}") from None
        delivery = as_of(conn, Entity.DELIVERY_POINT, link.delivery_point_id, day)
        if not owns_point(grant, delivery):
            raise _denied(grant, f"meter {meter_id}")


def require_all(grant: Grant, what: str) -> None:
    """Refuse a narrowed caller an operation that spans everybody's data (a whole journal)."""
    if grant.scope is not Scope.ALL:
        raise AccessDenied(grant.permission.value, f"{what} needs the permission at scope all")
