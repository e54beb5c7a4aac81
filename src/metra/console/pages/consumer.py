"""The consumer view (GDPR): one's own delivery points, their consumption as charts and as CSV,
and nothing else.

It needs `readings:read` at any scope; which points are "own" comes from the account's party:
a consumer's points are those it consumes at, a retailer's those it supplies, each checked for
every day shown with the API's scope rules (`metra.api.scoping.check_meter`), so a point that
changed hands shows each party only its own days. Every view and download is a release of data,
logged as the API logs one (ACC-6).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select

from metra.api import scoping
from metra.api.paging import release
from metra.api.permissions import Grant
from metra.console import charts
from metra.console.access import Need, PageNotFound, Viewer, console, signed_in
from metra.console.pages.common import render, router
from metra.console.pages.meters import labels
from metra.security.roles import Permission, Scope
from metra.store.masterdata import Entity, as_of, find
from metra.store.schema import delivery_point_version

P = Permission
pages = router()


def _month(request: Request) -> tuple[date, int]:
    text = request.query_params.get("month", "")
    try:
        first = date.fromisoformat(text + "-01") if len(text) == 7 else None
    except ValueError:
        first = None
    if first is None:
        today = datetime.now(UTC).date()
        first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, (following - first).days


def own_points(conn: Connection, grant: Grant, on: date) -> list[dict[str, Any]]:
    """The caller's delivery points valid on `on`, with the meters installed there."""
    party = grant.caller.principal.party_id
    if party is None or grant.scope is Scope.ALL:
        return []
    field = "consumer_id" if grant.scope is Scope.OWN_POINTS else "supplier_id"
    v = delivery_point_version.c
    candidates = conn.execute(select(v.entity_id).distinct().where(v[field] == party)).scalars()
    out = []
    for point_id in sorted(set(candidates)):
        point = as_of(conn, Entity.DELIVERY_POINT, point_id, on)
        if point is None or point.attributes[field] != party:
            continue
        meters = []
        for mp in find(conn, Entity.METERING_POINT, on, delivery_point_id=point_id):
            link = as_of(conn, Entity.METERING_POINT, mp, on)
            meter_id = None if link is None else link.attributes["meter_id"]
            if meter_id is None:
                continue
            meter = as_of(conn, Entity.METER, meter_id, on)
            serial = meter.attributes["serial"] if meter else str(meter_id)
            meters.append({"id": str(meter_id), "serial": serial})
        out.append({"id": str(point_id), "address": point.attributes["address"], "meters": meters})
    return out


@pages.get("/my")
def my_points(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ)),
) -> Response:
    """The caller's own delivery points and meters."""
    first, days = _month(request)
    with console(request).ctx.engine.connect() as conn:
        points = own_points(conn, grant, first + timedelta(days=days - 1))
    return render(request, who, "my.html", points=points, month=first)


def _meter_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise PageNotFound from None


def _series(request: Request, grant: Grant, meter: UUID, first: date, days: int) -> charts.Series:
    with console(request).ctx.engine.begin() as conn:
        scoping.check_meter(conn, grant, meter, first, first + timedelta(days=days - 1))
        series = charts.load_series(conn, meter, charts.IMPORT, first, days)
        release(
            conn,
            grant,
            "console.consumption",
            str(meter),
            {"month": first.isoformat()[:7], "count": len(series.values)},
        )
    return series


@pages.get("/my/meters/{meter_id}")
def my_meter(
    meter_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ)),
) -> Response:
    """A month of one's own consumption: daily totals and the load profile."""
    meter = _meter_id(meter_id)
    first, days = _month(request)
    series = _series(request, grant, meter, first, days)
    words = labels(request, who.lang)
    x, y = charts.daily_totals(series)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = first + timedelta(days=days)
    return render(
        request,
        who,
        "my_meter.html",
        meter_id=str(meter),
        month=first,
        previous=previous.isoformat()[:7],
        following=following.isoformat()[:7],
        daily=charts.bar_figure(x, y, words),
        profile=charts.load_profile_figure(series, None, words),
        total=sum(y),
        estimated=series.count("estimated") + series.count("edited"),
    )


@pages.get("/my/meters/{meter_id}/consumption.csv")
def my_csv(
    meter_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ)),
) -> Response:
    """The month's intervals as CSV: start (UTC), value in Wh and how it was obtained."""
    meter = _meter_id(meter_id)
    first, days = _month(request)
    series = _series(request, grant, meter, first, days)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["interval_start_utc", "energy_wh", "kind"])
    for start, value, kind in zip(series.starts, series.values, series.kinds, strict=True):
        writer.writerow([start.isoformat(), "" if value is None else repr(value), kind])
    name = f"consumption-{first.isoformat()[:7]}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
