"""Meters: the search list, a meter's page (load profile chart, registers, events, communication
history), the on-demand read (an API job) and a manual edit of an interval with a reason.

The meter page needs `readings:read` and `events:read`, checked over the shown range with the
API's scope rules, so a retailer sees its own customers' meters and nobody else's; a consumer
(no `events:read`) uses the consumer view. A third party's view is a release of data, logged as
the API logs it (ACC-6).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from metra.api import scoping
from metra.api.jobs import JobFailed, read_job
from metra.api.paging import release
from metra.api.permissions import Grant
from metra.console import charts
from metra.console.access import PREFIX, Need, PageNotFound, Viewer, console, posted, signed_in
from metra.console.i18n import N_
from metra.console.pages.common import (
    FormError,
    day_param,
    number,
    redirect,
    render,
    router,
    text,
)
from metra.dlms.obis import Obis
from metra.mdm import versions
from metra.security import audit
from metra.security.roles import Permission
from metra.store import diagnostics
from metra.store.errors import NotFound
from metra.store.events import meter_events
from metra.store.masterdata import Entity, as_of, linkage
from metra.store.schema import audit_record, meter_version, register_reading

P = Permission
pages = router()
MAX_DAYS = 62
COMM_ACTIONS = ("session.read", "clock.sync", "read.on_demand")
READS = {
    "energy-import": (3, "1-0:1.8.0.255", 2),
    "energy-export": (3, "1-0:2.8.0.255", 2),
    "clock": (8, "0-0:1.0.0.255", 2),
}
"""What the on-demand read button may ask for: COSEM class, logical name, attribute."""
CHART_LABELS = {
    "import": N_("Import (A+)"),
    "export": N_("Export (A−)"),
    "estimated": N_("estimated"),
    "edited": N_("edited"),
    "time": N_("Time"),
    "energy": N_("Energy per interval (Wh)"),
    "day": N_("Day"),
    "imbalance": N_("Imbalance (kWh)"),
}


def labels(request: Request, lang: str) -> dict[str, str]:
    """The chart labels in `lang`."""
    pages_ = console(request).pages
    return {k: pages_.text(lang, v) for k, v in CHART_LABELS.items()}


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise PageNotFound from None


def _range(request: Request) -> tuple[date, int]:
    today = datetime.now(UTC).date()
    days = request.query_params.get("days", "7")
    count = int(days) if days.isdigit() else 7
    count = min(max(count, 1), MAX_DAYS)
    first = day_param(request.query_params.get("start"), today - timedelta(days=count))
    return first, count


@pages.get("/meters")
def meter_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.MASTERDATA_READ, all_scope=True)),
) -> Response:
    """Meters by serial number (prefix search)."""
    query = request.query_params.get("q", "")[:64]
    v = meter_version.c
    statement = select(v.entity_id, v.serial).distinct().order_by(v.serial).limit(200)
    if query:
        statement = statement.where(v.serial.startswith(query, autoescape=True))
    with console(request).ctx.engine.connect() as conn:
        found = [(str(m), s) for m, s in conn.execute(statement)]
    return render(request, who, "meters.html", meters=found, q=query)


def _master(conn: Connection, meter_id: UUID, on: date) -> dict[str, Any]:
    found = as_of(conn, Entity.METER, meter_id, on)
    if found is None:
        raise PageNotFound
    out: dict[str, Any] = {"meter": found.attributes, "place": None, "address": None}
    try:
        link = linkage(conn, meter_id, on)
    except NotFound:
        return out
    out["place"] = link.installation_place
    point = as_of(conn, Entity.DELIVERY_POINT, link.delivery_point_id, on)
    out["address"] = None if point is None else point.attributes.get("address")
    return out


def _registers(conn: Connection, meter_id: UUID, start: datetime, end: datetime) -> list[Any]:
    t = register_reading.c
    query = (
        select(register_reading)
        .where(t.meter_id == meter_id, t.captured_at >= start, t.captured_at < end)
        .order_by(t.captured_at.desc(), t.obis)
        .limit(200)
    )
    return [row._mapping for row in conn.execute(query)]


def _communication(conn: Connection, meter_id: UUID) -> list[Any]:
    """The head-end's sessions with the meter, newest first (its entries in the trail)."""
    t = audit_record.c
    query = (
        select(t.at, t.action, t.details)
        .where(t.target_kind == "meter", t.target_id == str(meter_id), t.action.in_(COMM_ACTIONS))
        .order_by(t.seq.desc())
        .limit(50)
    )
    return [row._mapping for row in conn.execute(query)]


@pages.get("/meters/{meter_id}")
def meter_page(
    meter_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    readings: Grant = Depends(Need(P.READINGS_READ)),
    events: Grant = Depends(Need(P.EVENTS_READ)),
) -> Response:
    """A meter over a range of days: chart, registers, events, communication."""
    meter = _uuid(meter_id)
    first, days = _range(request)
    last = first + timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = start + timedelta(days=days)
    with console(request).ctx.engine.begin() as conn:
        master = _master(conn, meter, last)
        scoping.check_meter(conn, readings, meter, first, last)
        scoping.check_meter(conn, events, meter, first, last)
        imported = charts.load_series(conn, meter, charts.IMPORT, first, days)
        exported = charts.load_series(conn, meter, charts.EXPORT, first, days)
        registers = _registers(conn, meter, start, end)
        found_events = meter_events(conn, meter, start, end)
        diagnostic = diagnostics.get(conn, meter)
        sessions = _communication(conn, meter)
        subject = str(meter)
        span = {"start": start.isoformat(), "end": end.isoformat()}
        release(conn, readings, "console.intervals", subject, {**span, "channels": 2})
        release(conn, readings, "console.registers", subject, {"count": len(registers)})
        release(conn, events, "console.events", subject, {"count": len(found_events)})
    figure = charts.load_profile_figure(imported, exported, labels(request, who.lang))
    counts = {
        kind: imported.count(kind) + exported.count(kind)
        for kind in ("measured", "estimated", "corrected", "edited", "missing")
    }
    zone = ZoneInfo(console(request).ctx.profile.timezone)
    return render(
        request,
        who,
        "meter.html",
        meter_id=subject,
        master=master,
        first=first,
        days=days,
        previous=(first - timedelta(days=days)).isoformat(),
        following=(first + timedelta(days=days)).isoformat(),
        figure=figure,
        counts=counts,
        registers=registers,
        events=found_events,
        diagnostic=diagnostic,
        sessions=sessions,
        reads=READS,
        edit_default=start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        can_read=who.can(P.READINGS_READ, all_scope=True),
        can_edit=who.can(P.DATA_EDIT),
        error=request.query_params.get("error"),
    )


def _meter_known(request: Request, meter_id: UUID) -> bool:
    with console(request).ctx.engine.connect() as conn:
        return as_of(conn, Entity.METER, meter_id, datetime.now(UTC).date()) is not None


@pages.post("/meters/{meter_id}/read")
async def read_now(
    meter_id: str,
    request: Request,
    grant: Grant = Depends(Need(P.READINGS_READ, all_scope=True)),
    form: FormData = Depends(posted),
) -> Response:
    """Start an on-demand read (COL-7) as the API's job and show the job's page."""
    meter = _uuid(meter_id)
    what = READS.get(form.get("what") if isinstance(form.get("what"), str) else "")  # type: ignore[arg-type]
    if what is None:
        raise PageNotFound
    if not await run_in_threadpool(_meter_known, request, meter):
        raise PageNotFound
    class_id, obis, attribute = what
    ctx = console(request).ctx
    try:
        job = ctx.jobs.start(
            "read",
            grant.caller.principal.user_id,
            f"meter/{meter}",
            read_job(ctx.reader, meter, class_id, Obis.parse(obis), attribute),
        )
    except JobFailed:
        return redirect(f"{PREFIX}/meters/{meter}?error=jobs")
    return redirect(f"{PREFIX}/jobs/{job.id}")


@pages.get("/jobs/{job_id}")
def job_page(job_id: str, request: Request, who: Viewer = Depends(signed_in)) -> Response:
    """A job's state (refreshing itself while it runs); only its owner sees it, as in the API."""
    assert who.caller is not None
    job = console(request).ctx.jobs.get(_uuid(job_id))
    if job is None or job.owner != who.caller.principal.user_id:
        raise PageNotFound
    return render(request, who, "job.html", job=job, meter_id=job.subject.removeprefix("meter/"))


EDIT_ERRORS = {
    "time": N_("The time must be the start of an interval."),
    "refused": N_("The edit was refused: there are no validated data for that day."),
}


def _interval(moment: str, zone: ZoneInfo, interval_s: int) -> tuple[date, int]:
    try:
        local = datetime.fromisoformat(moment)
    except ValueError:
        raise FormError(EDIT_ERRORS["time"]) from None
    at = (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(UTC)
    day = at.date()
    offset = (at - datetime.combine(day, datetime.min.time(), UTC)).total_seconds()
    if offset % interval_s:
        raise FormError(EDIT_ERRORS["time"])
    return day, int(offset // interval_s)


@pages.post("/meters/{meter_id}/edit")
def edit_value(
    meter_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.DATA_EDIT)),
    form: FormData = Depends(posted),
) -> Response:
    """Set one interval's value by hand with a reason: a new served version, audited (DQ-11)."""
    meter = _uuid(meter_id)
    app = console(request)
    zone = ZoneInfo(app.ctx.profile.timezone)
    channel = charts.EXPORT if form.get("channel") == "export" else charts.IMPORT
    try:
        value = number(form, "value")
        reason = text(form, "reason", max_length=1000)
        moment = text(form, "at", max_length=32)
        with app.ctx.engine.begin() as conn:
            interval_s = app.ctx.profile.metering.interval_minutes * 60
            day, index = _interval(moment, zone, interval_s)
            served = versions.served(conn, meter, channel, day)
            if served is None:
                raise FormError(EDIT_ERRORS["refused"])
            day, index = _interval(moment, zone, served.interval_s)
            scoping.check_meter(conn, grant, meter, day, day)
            versions.edit(
                conn,
                meter,
                channel,
                day,
                {index: value},
                actor=grant.caller.username,
                reason=reason,
                at=datetime.now(UTC),
            )
            audit.seal(conn)
    except FormError as exc:
        return _meter_error(request, who, meter, str(exc))
    except versions.EditRefused:
        return _meter_error(request, who, meter, EDIT_ERRORS["refused"])
    first = day - timedelta(days=1)
    return redirect(f"{PREFIX}/meters/{meter}?start={first.isoformat()}&days=3", "edited")


def _meter_error(request: Request, who: Viewer, meter: UUID, message: str) -> Response:
    return render(
        request, who, "message.html", status=400, error=message, back=f"{PREFIX}/meters/{meter}"
    )
