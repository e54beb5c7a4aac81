"""The control room's first page: today's collection progress, the KPI checkpoints of the day
being collected, unacknowledged alarms and recent security events.

Each section is shown only to those the API would answer for the same data: collection progress
and alarms need `events:read` at scope all (as ``/diagnostics/failing`` and ``/alarms``), the KPI
figures `readings:read` at scope all, security events `security-events:read`. A viewer allowed
none of them is refused the page (403 and a security event, as the API does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, and_, func, or_, select
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.api.permissions import Grant
from metra.console.access import PREFIX, Need, Viewer, console, posted, signed_in
from metra.console.pages.common import day_param, redirect, render, router
from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT_PERIOD
from metra.mdm.kpi.report import daily_report
from metra.profiles.model import Profile
from metra.security import audit, incidents
from metra.security.errors import AccessDenied
from metra.security.roles import Permission
from metra.store.events import acknowledge, security_events, unacknowledged
from metra.store.schema import comm_diagnostic, meter

P = Permission
pages = router()
KPI_CHANNEL = str(ACTIVE_ENERGY_IMPORT_PERIOD)
MAX_ROWS = 100


def local_midnight(profile: Profile, day: date) -> datetime:
    """The UTC instant the profile's local `day` begins."""
    return datetime.combine(day, time(), ZoneInfo(profile.timezone)).astimezone(UTC)


def collection_progress(conn: Connection, since: datetime) -> dict[str, float]:
    """Meters read successfully since `since`, meters whose last session since then failed,
    meters failing repeatedly, and meters never contacted."""
    d = comm_diagnostic.c
    total = conn.execute(select(func.count()).select_from(meter)).scalar_one()
    known = conn.execute(select(func.count()).select_from(comm_diagnostic)).scalar_one()
    read = conn.execute(
        select(func.count()).where(d.last_success_at >= since).select_from(comm_diagnostic)
    ).scalar_one()
    failed = conn.execute(
        select(func.count())
        .select_from(comm_diagnostic)
        .where(
            d.last_failure_at >= since,
            or_(d.last_success_at.is_(None), d.last_success_at < d.last_failure_at),
        )
    ).scalar_one()
    failing = conn.execute(
        select(func.count()).select_from(comm_diagnostic).where(and_(d.consecutive_failures >= 3))
    ).scalar_one()
    return {
        "meters": int(total),
        "read": int(read),
        "failed": int(failed),
        "failing": int(failing),
        "never": int(total - known),
        "percent": round(100.0 * read / total, 2) if total else 0,
    }


@pages.get("/dashboard")
def dashboard(request: Request, who: Viewer = Depends(signed_in)) -> Response:
    """The dashboard with the sections the viewer may see (at least one)."""
    app = console(request)
    profile = app.ctx.profile
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(profile.timezone)).date()
    kpi_day = day_param(request.query_params.get("day"), today - timedelta(days=1))
    sections: dict[str, Any] = {}
    with app.ctx.engine.connect() as conn:
        if who.can(P.EVENTS_READ, all_scope=True):
            sections["progress"] = collection_progress(conn, local_midnight(profile, today))
            sections["alarms"] = unacknowledged(conn)[:MAX_ROWS]
        if who.can(P.READINGS_READ, all_scope=True):
            report = daily_report(conn, profile, kpi_day, channel=KPI_CHANNEL, as_of=now)
            sections["kpi"] = report.summary()
        if who.can(P.SECURITY_EVENTS_READ):
            since = now - timedelta(days=1)
            sections["security"] = list(reversed(security_events(conn, since, now)))[:MAX_ROWS]
            sections["alerts"] = incidents.alerts(conn, since, now)
    if not sections:
        raise AccessDenied(P.EVENTS_READ.value, "no section of the dashboard is open to the role")
    return render(request, who, "dashboard.html", today=today, kpi_day=kpi_day, **sections)


@pages.post("/alarms/{event_id}/acknowledge")
def acknowledge_alarm(
    event_id: int,
    request: Request,
    grant: Grant = Depends(Need(P.EVENTS_READ, all_scope=True)),
    form: FormData = Depends(posted),
) -> Response:
    """Mark an alarm as seen (audited), as the API's ``/alarms/{id}/acknowledge``."""
    if not 0 < event_id < 2**62:
        return redirect(PREFIX + "/dashboard")
    with console(request).ctx.engine.begin() as conn:
        acknowledge(conn, event_id, by=grant.caller.username, at=datetime.now(UTC))
        audit.record(
            conn,
            grant.caller.username,
            "alarm.acknowledge",
            ("system_event", str(event_id)),
            None,
            "acknowledged",
            source_address(request),
        )
    return redirect(PREFIX + "/dashboard", "acknowledged")
