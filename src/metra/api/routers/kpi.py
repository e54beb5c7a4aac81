"""Communication KPIs (KPI-1..KPI-4) as the MDM computes them (`metra.mdm.kpi`): data acquisition
effectiveness at the profile's checkpoints and command delivery per substation group, for a local
day or a month, with the meters and commands that pulled each figure down and why.

A report is computed from the store as it stood at `as_of` (default: now), so a figure can be
reproduced later exactly; the same `to_json` the CLI prints is validated against the models here,
so the API, `metra kpi --json` and the console never disagree. The figures span the whole fleet:
`events:read` at scope *all* (they are communication facts, like the failing-meter list).

Exclusions (KPI-2) are recorded here too: one meter, feeder or substation without remote and
local access for a documented reason. Recording one changes a regulatory figure, so it needs
`data:edit` (the permission of the VEE's manual edits) and is sealed into the audit trail at
once; the author is the caller, never a field of the request.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection

from metra.api import scoping
from metra.api.context import ApiContext, connection, context
from metra.api.paging import IsoDate, IsoDateTime, TimeRange, time_range, utc
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT_PERIOD
from metra.mdm.kpi.exclusions import (
    Exclusion,
    ExclusionReason,
    ExclusionRefused,
    exclusions,
    record_exclusion,
)
from metra.mdm.kpi.report import DailyReport, daily_report, monthly_report, parse_month
from metra.security import audit
from metra.security.roles import Permission
from metra.store.masterdata import Entity, history

router = APIRouter(tags=["KPIs"], responses=responses(401, 403, 422, 429))

DEFAULT_CHANNEL = str(ACTIVE_ENERGY_IMPORT_PERIOD)
OBIS = r"^\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"
MONTH = r"^[2-9]\d{3}-(0[1-9]|1[0-2])$"


class MeterBelow(BaseModel):
    """A meter that pulled a checkpoint down: `late`, `incomplete` or `no data`."""

    meter: str
    meter_id: str
    reason: str
    arrived_at: datetime | None


class MeterExcluded(BaseModel):
    """A meter left out of a checkpoint by a documented exclusion (KPI-2)."""

    meter: str
    meter_id: str
    reason: str
    document: str
    exclusion: int


class CheckpointOut(BaseModel):
    """Day n's figure at one checkpoint against its target."""

    checkpoint: str
    deadline: datetime | None
    target_percent: float
    due: bool = Field(description="the deadline has passed; before that the figure is running")
    met: bool | None
    percent: float | None
    counted: int
    on_time: int
    excluded: int
    below: list[MeterBelow]
    excluded_meters: list[MeterExcluded]


class NotYetCounted(BaseModel):
    meter: str
    installed_on: date
    counted_from: date = Field(description="first day the meter counts (KPI-4)")


class MetersOut(BaseModel):
    installed: int
    counted: int
    not_yet_counted: list[NotYetCounted]


class CommandOut(BaseModel):
    """A command judged for delivery (KPI-3) or for its deadline (CMD-4)."""

    command: str
    meter: str
    kind: str
    priority: str
    status: str
    reason: str
    received_at: datetime | None
    delivered_at: datetime | None
    deadline: datetime | None
    deadline_state: str


class GroupOut(BaseModel):
    """A group of at most the profile's meters of one substation (S1 16.5)."""

    group: str
    substation: str | None
    mv_lv: bool = Field(description="KPI-3 is defined for MV/LV substations only")
    meters: int
    commands: int
    delivered: int
    pending: int
    percent: float | None
    met: bool | None
    below: list[CommandOut]


class DeadlinesOut(BaseModel):
    met: int
    open: int
    late: list[CommandOut]


class CommandDeliveryOut(BaseModel):
    window_hours: float
    target_percent: float
    received: int
    groups: list[GroupOut]
    deadlines: DeadlinesOut


class DailyKpiOut(BaseModel):
    """KPI-1 (with KPI-2, KPI-4) and KPI-3 of one local day."""

    report: str
    profile: str
    day: date
    timezone: str
    window: list[datetime | None]
    channel: str
    as_of: datetime | None
    transitional: bool
    meters: MetersOut
    acquisition: list[CheckpointOut]
    commands: CommandDeliveryOut


class AcquisitionOut(BaseModel):
    """KPI-1 of one local day: each checkpoint with the meters below it."""

    day: date
    as_of: datetime | None
    channel: str
    transitional: bool
    meters: MetersOut
    acquisition: list[CheckpointOut]


class DeliveryOut(BaseModel):
    """KPI-3 and the command deadlines of the commands received on one local day."""

    day: date
    as_of: datetime | None
    commands: CommandDeliveryOut


class SummaryCheckpoint(BaseModel):
    checkpoint: str
    target_percent: float
    percent: float | None
    due: bool
    met: bool | None
    below: int
    excluded: int


class SummaryCommands(BaseModel):
    received: int
    groups: int
    groups_missed: int


class SummaryOut(BaseModel):
    """The day's figures without meter lists (a dashboard's tile)."""

    day: date
    as_of: datetime | None
    meters_counted: int
    acquisition: list[SummaryCheckpoint]
    commands: SummaryCommands


class MonthCheckpoint(BaseModel):
    checkpoint: str
    targets: list[float]
    meter_days: int
    on_time: int
    percent: float | None
    days_due: int
    days_met: int
    days_missed: list[date]


class MonthDay(BaseModel):
    day: date
    percent: list[float | None]
    met: list[bool | None]


class MonthBelow(BaseModel):
    meter: str
    meter_id: str
    days: dict[str, int] = Field(description="days below, per checkpoint")
    reasons: dict[str, int]


class MonthExcluded(BaseModel):
    meter: str
    reasons: dict[str, int]


class MonthGroup(BaseModel):
    group: str
    commands: int
    delivered: int
    pending: int
    percent: float | None


class GroupDayMissed(BaseModel):
    day: date
    group: str


class MonthCommands(BaseModel):
    target_percent: float
    groups: list[MonthGroup]
    group_days_missed: list[GroupDayMissed]
    deadlines_late: list[CommandOut]


class MonthlyKpiOut(BaseModel):
    """The month's days that have begun by `as_of`, totalled; meters below most often first."""

    report: str
    profile: str
    month: str
    as_of: datetime | None
    acquisition: list[MonthCheckpoint]
    days: list[MonthDay]
    below: list[MonthBelow]
    excluded: list[MonthExcluded]
    commands: MonthCommands


def _moment(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    try:
        return utc(as_of)
    except (OverflowError, ValueError):
        raise Problem(422, "as_of is outside what can be represented") from None


AS_OF = Query(None, description="judge the store as it stood then (ISO 8601, default now)")
CHANNEL = Query(DEFAULT_CHANNEL, pattern=OBIS, description="load-profile channel measured")


def _daily(
    conn: Connection, ctx: ApiContext, grant: Grant, day: date, channel: str, as_of: datetime | None
) -> DailyReport:
    scoping.require_all(grant, "the KPIs")
    if not date(2000, 1, 1) <= day <= date(9999, 1, 1):
        raise Problem(422, "the day is outside what can be judged", kind="invalid-range")
    return daily_report(conn, ctx.profile, day, channel=channel, as_of=_moment(as_of))


@router.get("/kpi/daily", response_model=DailyKpiOut, operation_id="get_daily_kpi")
def get_daily_kpi(
    day: IsoDate = Query(..., description="local day YYYY-MM-DD (the profile's time zone)"),
    channel: str = CHANNEL,
    as_of: IsoDateTime | None = AS_OF,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The daily KPI report: acquisition at each checkpoint and command delivery per group,
    with the meters and commands below target and why (KPI-1..KPI-4)."""
    return DailyKpiOut.model_validate(_daily(conn, ctx, grant, day, channel, as_of).to_json())


@router.get("/kpi/daily/summary", response_model=SummaryOut, operation_id="get_daily_kpi_summary")
def get_daily_kpi_summary(
    day: IsoDate = Query(..., description="local day YYYY-MM-DD"),
    channel: str = CHANNEL,
    as_of: IsoDateTime | None = AS_OF,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The day's figures only (no meter lists)."""
    return SummaryOut.model_validate(_daily(conn, ctx, grant, day, channel, as_of).summary())


@router.get("/kpi/acquisition", response_model=AcquisitionOut, operation_id="get_acquisition_kpi")
def get_acquisition_kpi(
    day: IsoDate = Query(..., description="local day YYYY-MM-DD"),
    channel: str = CHANNEL,
    as_of: IsoDateTime | None = AS_OF,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """Data acquisition effectiveness of day n at each checkpoint (KPI-1, KPI-2, KPI-4)."""
    doc = _daily(conn, ctx, grant, day, channel, as_of).to_json()
    return AcquisitionOut.model_validate(doc)


@router.get(
    "/kpi/command-delivery", response_model=DeliveryOut, operation_id="get_command_delivery_kpi"
)
def get_command_delivery_kpi(
    day: IsoDate = Query(..., description="local day YYYY-MM-DD the commands were received"),
    as_of: IsoDateTime | None = AS_OF,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """Command delivery within the window per substation group, and deadlines (KPI-3, CMD-4)."""
    doc = _daily(conn, ctx, grant, day, DEFAULT_CHANNEL, as_of).to_json()
    return DeliveryOut.model_validate(doc)


@router.get("/kpi/monthly", response_model=MonthlyKpiOut, operation_id="get_monthly_kpi")
def get_monthly_kpi(
    month: str = Query(..., pattern=MONTH, description="YYYY-MM"),
    channel: str = CHANNEL,
    as_of: IsoDateTime | None = AS_OF,
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Any:
    """The monthly KPI report: each checkpoint's meter-days, days met and missed; the meters
    below most often; command groups' totals (KPI-1..KPI-4)."""
    scoping.require_all(grant, "the KPIs")
    try:
        year, number = parse_month(month)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    if year < 2000:
        raise Problem(422, "the month is outside what can be judged", kind="invalid-range")
    report = monthly_report(conn, ctx.profile, year, number, channel=channel, as_of=_moment(as_of))
    return MonthlyKpiOut.model_validate(report.to_json())


class ExclusionIn(BaseModel):
    """A documented circumstance: exactly one of meter, feeder, substation (KPI-2, S1 16.10)."""

    reason: ExclusionReason
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None = None
    document: str = Field(min_length=1, max_length=256, description="reference of the evidence")
    meter_id: UUID | None = None
    feeder_id: UUID | None = None
    substation_id: UUID | None = None

    @model_validator(mode="after")
    def one_target(self) -> ExclusionIn:
        targets = [self.meter_id, self.feeder_id, self.substation_id]
        if sum(t is not None for t in targets) != 1:
            raise ValueError("name exactly one of meter_id, feeder_id, substation_id")
        return self


class ExclusionOut(BaseModel):
    id: int
    reason: str
    target: Literal["meter", "feeder", "substation"]
    target_id: UUID
    starts_at: datetime
    ends_at: datetime | None
    document: str
    recorded_at: datetime
    recorded_by: str


def _out(found: Exclusion) -> ExclusionOut:
    targets: list[tuple[Literal["meter", "feeder", "substation"], UUID | None]] = [
        ("meter", found.meter_id),
        ("feeder", found.feeder_id),
        ("substation", found.substation_id),
    ]
    kind, ident = next((k, i) for k, i in targets if i is not None)
    assert ident is not None
    return ExclusionOut(
        id=found.id,
        reason=found.reason.value,
        target=kind,
        target_id=ident,
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        document=found.document,
        recorded_at=found.recorded_at,
        recorded_by=found.recorded_by,
    )


_ENTITIES = {
    "meter_id": Entity.METER,
    "feeder_id": Entity.FEEDER,
    "substation_id": Entity.SUBSTATION,
}


@router.post(
    "/kpi/exclusions",
    response_model=ExclusionOut,
    status_code=201,
    responses=responses(404),
    operation_id="record_kpi_exclusion",
)
def post_exclusion(
    body: ExclusionIn,
    grant: Grant = Depends(Need(Permission.DATA_EDIT)),
    conn: Connection = Depends(connection),
) -> ExclusionOut:
    """Record a documented exclusion from the acquisition figures, audited (KPI-2)."""
    scoping.require_all(grant, "a KPI exclusion")
    for field, entity in _ENTITIES.items():
        ident = getattr(body, field)
        if ident is not None and not history(conn, entity, ident):
            raise Problem(404, f"no {entity.value} {ident}")
    try:
        starts = utc(body.starts_at)
        ends = None if body.ends_at is None else utc(body.ends_at)
        new_id = record_exclusion(
            conn,
            body.reason,
            starts_at=starts,
            ends_at=ends,
            document=body.document,
            actor=grant.caller.username,
            at=datetime.now(UTC),
            meter_id=body.meter_id,
            feeder_id=body.feeder_id,
            substation_id=body.substation_id,
        )
    except (OverflowError, ExclusionRefused) as exc:
        raise Problem(422, str(exc), kind="exclusion-refused") from None
    audit.seal(conn)  # chain the MDM's entry now, not at the next audited action
    window = exclusions(conn, starts, (ends or starts) + timedelta(microseconds=1))
    return _out(next(e for e in window if e.id == new_id))


@router.get(
    "/kpi/exclusions", response_model=list[ExclusionOut], operation_id="list_kpi_exclusions"
)
def list_exclusions(
    span: TimeRange = Depends(time_range),
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
) -> list[ExclusionOut]:
    """Exclusions that lasted at some moment of [start, end), oldest first (KPI-2)."""
    scoping.require_all(grant, "the KPI exclusions")
    return [_out(e) for e in exclusions(conn, span.start, span.end)]
