"""Substations: the list, and one substation's energy balance for a day with its feeders, the
imbalance per interval as a chart and the customers suspected of causing it (BAL-1).

Balances span every customer of the substation, so they need `readings:read` at scope all; the
list of substations needs `masterdata:read` at scope all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from metra.api.permissions import Grant
from metra.console import charts
from metra.console.access import Need, Viewer, console, signed_in
from metra.console.pages.common import day_param, render, router
from metra.console.pages.meters import labels
from metra.mdm.balance.run import ElementReport, substation_balance
from metra.security.roles import Permission
from metra.store.schema import substation_version

P = Permission
pages = router()


@pages.get("/substations")
def substation_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.MASTERDATA_READ, all_scope=True)),
) -> Response:
    """Substations by code."""
    v = substation_version.c
    query = select(v.code).distinct().order_by(v.code).limit(1000)
    with console(request).ctx.engine.connect() as conn:
        codes = [c for c in conn.execute(query).scalars() if c]
    return render(request, who, "substations.html", codes=codes)


def _series(report: ElementReport, starts: list[str]) -> tuple[list[float | None], set[str]]:
    result = report.result
    assert result is not None
    values: list[float | None] = [float(v) for v in result.imbalance.tolist()]
    excess = {starts[int(i)] for i in result.excess_intervals.tolist() if int(i) < len(starts)}
    return values[: len(starts)], excess


@pages.get("/substations/{code}")
def substation_page(
    code: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ, all_scope=True)),
) -> Response:
    """The balance of substation `code` on a local day (default yesterday)."""
    app = console(request)
    profile = app.ctx.profile
    today = datetime.now(UTC).astimezone(ZoneInfo(profile.timezone)).date()
    day = day_param(request.query_params.get("day"), today - timedelta(days=1))
    with app.ctx.engine.connect() as conn:
        report = substation_balance(conn, code[:64], day, profile)
    doc = report.to_json()
    elements: list[tuple[str, list[str], list[float | None], set[str]]] = []
    for element in (report.substation, *report.feeders):
        if element.result is None:
            continue
        n = element.result.imbalance.size
        starts = [report.axis.utc_start(report.first + i).isoformat() for i in range(n)]
        values, excess = _series(element, starts)
        elements.append((element.element.code, starts, values, excess))
    figure = charts.balance_figure(elements, labels(request, who.lang))
    parts: list[dict[str, Any]] = [doc["substation"], *doc["feeders"]]
    return render(
        request,
        who,
        "substation.html",
        code=code,
        day=day,
        previous=(day - timedelta(days=1)).isoformat(),
        following=(day + timedelta(days=1)).isoformat(),
        parts=parts,
        figure=figure,
    )
