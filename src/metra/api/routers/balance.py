"""Energy balances of a substation and its feeders for a local day, and the customers whose
pattern most likely explains an imbalance (BAL-1), as `metra.mdm.balance` computes them from the
served VEE versions.

A balance spans every customer of the element, so it needs `readings:read` at scope *all*. The
report is evidence for a field inspection, not a verdict (docs/mdm.md, "Who explains it").
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from metra.api import scoping
from metra.api.context import ApiContext, connection, context
from metra.api.paging import IsoDate
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.mdm.balance.run import substation_balance
from metra.security.roles import Permission
from metra.store.masterdata import Entity, as_of

router = APIRouter(tags=["balances"], responses=responses(401, 403, 404, 422, 429))

#: The stored channels' unit -> kWh (the virtual and IDIS meters store Wh).
UNITS = {"Wh": 1e-3, "kWh": 1.0}
Unit = Literal["Wh", "kWh"]


class SuspectOut(BaseModel):
    """A customer whose shortfall against its own like-day pattern may explain the imbalance."""

    meter: str
    meter_id: UUID
    score: float | None = Field(description="0..1: correlation, share explained, flags")
    correlation: float | None
    explained: float | None = Field(description="share of the excess imbalance it could explain")
    shortfall_kwh: float | None
    flags: list[str] = Field(description="zero, flat, reverse")


class ElementOut(BaseModel):
    """A substation's or feeder's day; the balance fields are absent without a balancing meter."""

    kind: str
    code: str
    balancing_meter: str | None
    customers: int
    no_data: list[str] = Field(description="meters without served data on the day")
    input_kwh: float | None = None
    customers_kwh: float | None = None
    imbalance_kwh: float | None = None
    imbalance_percent: float | None = None
    permissible_percent: float | None = None
    exceeded: bool | None = None
    complete_intervals: int | None = None
    intervals: int | None = None
    excess_intervals: list[datetime] | None = Field(
        default=None, description="UTC starts of intervals above the permissible imbalance"
    )
    suspects: list[SuspectOut] | None = None


class BalanceOut(BaseModel):
    """The substation and each of its feeders on one local day."""

    day: date
    substation_id: UUID
    substation: ElementOut
    feeders: list[ElementOut]
    losses_to_boundary_kwh: dict[str, float | None]
    inputs: dict[str, dict[str, dict[str, int]]] = Field(
        description="served VEE version per meter, channel and UTC day used"
    )


class RankedSuspect(SuspectOut):
    element_kind: str
    element: str
    rank: int


class SuspectsOut(BaseModel):
    """Customers to inspect, per element, best explanation first."""

    day: date
    substation_id: UUID
    items: list[RankedSuspect]


def finite(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _report(
    conn: Connection, ctx: ApiContext, grant: Grant, substation_id: UUID, day: date, unit: Unit
) -> dict[str, Any]:
    scoping.require_all(grant, "an energy balance")
    if not date(2000, 1, 1) <= day <= date(9999, 1, 1):
        raise Problem(422, "the day is outside what can be balanced", kind="invalid-range")
    station = as_of(conn, Entity.SUBSTATION, substation_id, day)
    if station is None:
        raise Problem(404, f"no substation {substation_id} on {day}")
    report = substation_balance(
        conn, station.attributes["code"], day, ctx.profile, to_kwh=UNITS[unit]
    )
    doc: dict[str, Any] = finite(report.to_json())
    doc["substation_id"] = substation_id
    return doc


DAY = Query(..., description="local day YYYY-MM-DD (the profile's time zone)")
UNIT = Query("Wh", description="unit of the stored channels")


@router.get(
    "/substations/{substation_id}/balance",
    response_model=BalanceOut,
    operation_id="get_substation_balance",
)
def get_substation_balance(
    substation_id: UUID,
    day: IsoDate = DAY,
    unit: Unit = UNIT,
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """Balancing meter against the sum of its customers per interval, for the substation and
    each feeder, against the profile's permissible imbalance (BAL-1)."""
    return BalanceOut.model_validate(_report(conn, ctx, grant, substation_id, day, unit))


@router.get(
    "/substations/{substation_id}/suspects",
    response_model=SuspectsOut,
    operation_id="list_balance_suspects",
)
def list_balance_suspects(
    substation_id: UUID,
    day: IsoDate = DAY,
    unit: Unit = UNIT,
    feeder: str | None = Query(None, max_length=64, description="one feeder's code only"),
    limit: int = Query(20, ge=1, le=1000, description="suspects per element"),
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The points whose pattern most likely explains the day's imbalance, for inspection."""
    doc = _report(conn, ctx, grant, substation_id, day, unit)
    elements = [doc["substation"], *doc["feeders"]]
    if feeder is not None:
        elements = [e for e in doc["feeders"] if e["code"] == feeder]
        if not elements:
            raise Problem(404, f"the substation has no feeder {feeder!r} on {day}")
    items = [
        {**s, "element_kind": e["kind"], "element": e["code"], "rank": rank}
        for e in elements
        for rank, s in enumerate((e.get("suspects") or [])[:limit], 1)
    ]
    return SuspectsOut.model_validate({"day": day, "substation_id": substation_id, "items": items})
