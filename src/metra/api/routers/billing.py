"""Billing determinants of a meter for a local month (BAL-2), from the served VEE versions only:
energy and maximum demand per tariff zone per day and month, tan(phi) compliance, the maximum
hourly volume in peak hours, P / Q / S extremes and the losses to the delivery point.

`GET` computes them now (what a bill would use today); `POST` stores them as a versioned,
audited record with the input versions it used, and `GET .../history` lists the stored versions
and whether the newest has gone stale (late data or an edit since). Reads are scoped like every
reading: a consumer or retailer sees its own meters' months, and each such read is a release
logged in the audit trail (ACC-6).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from metra.api import scoping
from metra.api.auth import source_address
from metra.api.context import ApiContext, connection, context
from metra.api.paging import release
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.api.routers.balance import UNITS, Unit
from metra.mdm.billing.inputs import point_attributes
from metra.mdm.billing.month import MonthRun, compute_month
from metra.mdm.billing.records import history, latest, stale, store
from metra.mdm.billing.zones import UnknownTariff, tariff_named
from metra.profiles import Profile
from metra.security import audit
from metra.security.roles import Permission
from metra.store.masterdata import Entity, as_of

router = APIRouter(tags=["billing"], responses=responses(401, 403, 404, 422, 429))

MONTH = r"^[2-9]\d{3}-(0[1-9]|1[0-2])$"
TARIFF = r"^[A-Za-z0-9_.+-]{1,32}$"


class Extreme(BaseModel):
    value: float | None
    at: datetime | None = Field(description="UTC start of the interval")


class TanPhi(BaseModel):
    limit: float | None
    month: float | None = Field(description="sum R1 / sum A+ over the month")
    minutes_outside: float | None
    max_excess: Extreme


class PeakHours(BaseModel):
    mean_of_daily_max_kwh: float | None


class Power(BaseModel):
    p_max_kw: Extreme
    p_min_kw: Extreme
    q_max_kvar: Extreme
    q_min_kvar: Extreme
    s_max_kva: Extreme
    s_min_kva: Extreme


class DayOut(BaseModel):
    day: date
    day_type: str
    missing_intervals: int
    energy_kwh: dict[str, float | None]
    max_demand_kw: dict[str, float | None]
    tan_phi_minutes_outside: float | None
    peak_hour_max_kwh: float | None


class Determinants(BaseModel):
    """One meter's month (docs/mdm.md, "Billing determinants")."""

    tariff: str
    zones: list[str]
    interval_s: int
    first_day: date
    last_day: date
    missing_intervals: int
    energy_kwh: dict[str, float | None]
    energy_total_kwh: float | None
    max_demand_kw: dict[str, Extreme]
    tan_phi: TanPhi
    peak_hours: PeakHours
    power: Power
    days: list[DayOut]
    losses_to_delivery_point_kwh: float | None


class DeterminantsOut(BaseModel):
    meter_id: UUID
    month: str
    determinants: Determinants
    inputs: dict[str, dict[str, int]] = Field(description="served version per channel and day")


class StoredOut(BaseModel):
    meter_id: UUID
    month: str
    tariff: str
    version: int | None
    versions_added: int
    previous_stale: bool | None = Field(description="the previous record no longer matched")


class RecordOut(BaseModel):
    version: int
    computed_at: datetime
    computed_by: str
    determinants: Determinants
    inputs: dict[str, dict[str, int]]


class HistoryOut(BaseModel):
    meter_id: UUID
    month: str
    tariff: str
    stale: bool | None = Field(description="the newest version's inputs are no longer served")
    versions: list[RecordOut]


def _month(text: str) -> date:
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise Problem(422, f"month {text!r} is not YYYY-MM") from None
    if not 2000 <= first.year <= 9998:
        raise Problem(422, "the month is outside what can be billed", kind="invalid-range")
    return first


def _last_day(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def default_tariff(conn: Connection, meter_id: UUID, month: date, profile: Profile) -> str | None:
    """The delivery point's consumer group when it names one of the profile's tariffs, else
    None (the profile's default tariff), as `metra billing` chooses."""
    point = point_attributes(conn, meter_id, month)
    if not point:
        return None
    delivery = as_of(conn, Entity.DELIVERY_POINT, point["delivery_point_id"], month)
    group = None if delivery is None else delivery.attributes.get("consumer_group")
    return group if group in {t.name for t in profile.billing.tariffs} else None


def _run(
    conn: Connection,
    ctx: ApiContext,
    grant: Grant,
    meter_id: UUID,
    first: date,
    tariff: str | None,
    unit: Unit,
) -> MonthRun:
    scoping.check_meter(conn, grant, meter_id, first, _last_day(first))
    if as_of(conn, Entity.METER, meter_id, first) is None and (
        as_of(conn, Entity.METER, meter_id, _last_day(first)) is None
    ):
        raise Problem(404, f"no meter {meter_id} in {first:%Y-%m}")
    name = tariff or default_tariff(conn, meter_id, first, ctx.profile)
    try:
        return compute_month(conn, [meter_id], first, ctx.profile, tariff=name, to_kwh=UNITS[unit])
    except UnknownTariff as exc:
        raise Problem(422, str(exc), kind="unknown-tariff") from None


def _figures(run: MonthRun) -> dict[str, Any]:
    return {
        **run.determinants.record(0),
        "losses_to_delivery_point_kwh": float(run.losses_kwh[0]),
    }


MONTH_Q = Query(..., pattern=MONTH, description="local month YYYY-MM")
TARIFF_Q = Query(None, pattern=TARIFF, description="default: the point's group, else the profile's")
UNIT_Q = Query("Wh", description="unit of the stored channels")


@router.get(
    "/meters/{meter_id}/billing-determinants",
    response_model=DeterminantsOut,
    operation_id="get_billing_determinants",
)
def get_billing_determinants(
    meter_id: UUID,
    month: str = MONTH_Q,
    tariff: str | None = TARIFF_Q,
    unit: Unit = UNIT_Q,
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The month's determinants computed now from the served data (BAL-2)."""
    first = _month(month)
    run = _run(conn, ctx, grant, meter_id, first, tariff, unit)
    figures = _figures(run)
    release(conn, grant, "billing-determinants", str(meter_id), {"month": month})
    return DeterminantsOut.model_validate(
        {"meter_id": meter_id, "month": month, "determinants": figures, "inputs": run.inputs[0]}
    )


@router.post(
    "/meters/{meter_id}/billing-determinants",
    response_model=StoredOut,
    operation_id="store_billing_determinants",
)
def store_billing_determinants(
    meter_id: UUID,
    request: Request,
    month: str = MONTH_Q,
    tariff: str | None = TARIFF_Q,
    unit: Unit = UNIT_Q,
    grant: Grant = Depends(Need(Permission.DATA_EDIT)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> StoredOut:
    """Store the month's determinants as a new version when figures or inputs changed
    (idempotent; audited as `mdm.billing.determinants`)."""
    first = _month(month)
    run = _run(conn, ctx, grant, meter_id, first, tariff, unit)
    name = run.determinants.tariff.name
    before = latest(conn, meter_id, first, name)
    previous_stale = None if before is None else stale(conn, before)
    added = store(conn, run, at=datetime.now(UTC), by=grant.caller.username)
    now = latest(conn, meter_id, first, name)
    audit.record(
        conn,
        grant.caller.username,
        "api.billing.store",
        ("meter", str(meter_id)),
        None,
        {"month": month, "tariff": name, "added": added},
        source_address(request),
    )
    return StoredOut(
        meter_id=meter_id,
        month=month,
        tariff=name,
        version=None if now is None else now.version,
        versions_added=added,
        previous_stale=previous_stale,
    )


@router.get(
    "/meters/{meter_id}/billing-determinants/history",
    response_model=HistoryOut,
    operation_id="get_billing_determinants_history",
)
def get_billing_determinants_history(
    meter_id: UUID,
    month: str = MONTH_Q,
    tariff: str | None = TARIFF_Q,
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """Every stored version of the meter's month, oldest first, and whether the newest is stale."""
    first = _month(month)
    scoping.check_meter(conn, grant, meter_id, first, _last_day(first))
    name = tariff or default_tariff(conn, meter_id, first, ctx.profile)
    try:
        name = tariff_named(ctx.profile, name).name
    except UnknownTariff as exc:
        raise Problem(422, str(exc), kind="unknown-tariff") from None
    found = history(conn, meter_id, first, name)
    release(conn, grant, "billing-determinants", str(meter_id), {"month": month, "history": True})
    return HistoryOut.model_validate(
        {
            "meter_id": meter_id,
            "month": month,
            "tariff": name,
            "stale": stale(conn, found[-1]) if found else None,
            "versions": [
                {
                    "version": r.version,
                    "computed_at": r.computed_at,
                    "computed_by": r.computed_by,
                    "determinants": r.determinants,
                    "inputs": r.inputs,
                }
                for r in found
            ],
        }
    )
