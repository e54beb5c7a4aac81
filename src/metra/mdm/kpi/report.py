"""Daily and monthly KPI reports and the alarm for a missed checkpoint (KPI-1..KPI-4).

A report is what an operator and the regulator read: each figure against its target, and for
each figure the meters (or commands) that pulled it down with the reason, plus the meters left
out and the documented exclusion that left them out. Reports are plain data (`to_json`) so the
CLI, the API and the demo show the same thing.

The alarm: every checkpoint that is due and missed, and every command group whose window has
closed below target, is written once to the system journal (`system_event`, severity ALARM,
codes `kpi.acquisition.missed` / `kpi.commands.missed`) where the console lists unacknowledged
abnormal situations. Raising again for the same day and checkpoint adds nothing.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, select

from metra.mdm.kpi.acquisition import (
    Acquisition,
    CheckpointFigure,
    Miss,
    acquisition,
    from_us,
    local_day,
)
from metra.mdm.kpi.commands import CommandDelivery, CommandOutcome, DeadlineState, command_delivery
from metra.mdm.kpi.population import Population, counted_from
from metra.profiles import Profile
from metra.store.events import Severity, record_system_event
from metra.store.schema import system_event

ACQUISITION_MISSED = "kpi.acquisition.missed"
COMMANDS_MISSED = "kpi.commands.missed"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class DailyReport:
    """KPI-1 and KPI-3 of one local day as the store stood at `as_of`."""

    profile: Profile
    acquisition: Acquisition
    commands: CommandDelivery

    @property
    def day(self) -> date:
        return self.acquisition.day

    def figure_json(self, figure: CheckpointFigure) -> dict[str, Any]:
        """One checkpoint with the meters below it and the meters excused from it."""
        pop = self.acquisition.population
        arrived = self.acquisition.arrived.complete_us
        below = [
            {
                "meter": pop.serials[i],
                "meter_id": str(pop.meter_ids[i]),
                "reason": Miss(w).text,
                "arrived_at": _iso(from_us(int(arrived[i]))),
            }
            for i, w in zip(figure.score.below.tolist(), figure.score.why.tolist(), strict=True)
        ]
        excluded = [
            {
                "meter": pop.serials[i],
                "meter_id": str(pop.meter_ids[i]),
                "reason": exc.reason.value,
                "document": exc.document,
                "exclusion": exc.id,
            }
            for i, exc in sorted(figure.excused_by.items())
        ]
        return {
            "checkpoint": figure.label,
            "deadline": _iso(figure.deadline),
            "target_percent": figure.point.percent,
            "due": figure.due,
            "met": figure.met,
            "percent": _pct(figure.score.percent),
            "counted": figure.score.counted,
            "on_time": figure.score.on_time,
            "excluded": len(excluded),
            "below": below,
            "excluded_meters": excluded,
        }

    def _serial(self, meter_id: UUID) -> str:
        pop = self.acquisition.population
        at = pop.index.get(meter_id)
        return pop.serials[at] if at is not None else str(meter_id)

    def _command_json(self, o: CommandOutcome) -> dict[str, Any]:
        return {
            "command": str(o.id),
            "meter": self._serial(o.meter_id),
            "kind": o.kind,
            "priority": "high" if o.high_priority else "normal",
            "status": o.status,
            "reason": o.delivery.value,
            "received_at": _iso(o.received_at),
            "delivered_at": _iso(o.delivered_at),
            "deadline": _iso(o.deadline),
            "deadline_state": o.deadline_state.value,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        acq, cmd, pop = self.acquisition, self.commands, self.acquisition.population
        months = self.profile.kpi.first_computed_after_months
        waiting: list[dict[str, str]] = []
        for i in np.flatnonzero(~pop.counted).tolist():
            installed = pop.installed_on[i]
            if installed is not None:  # a meter without a date is always counted
                waiting.append(
                    {
                        "meter": pop.serials[i],
                        "installed_on": installed.isoformat(),
                        "counted_from": counted_from(installed, months).isoformat(),
                    }
                )
        states = Counter(o.deadline_state for o in cmd.outcomes)
        return {
            "report": "daily",
            "profile": self.profile.code,
            "day": acq.day.isoformat(),
            "timezone": self.profile.timezone,
            "window": [_iso(acq.window[0]), _iso(acq.window[1])],
            "channel": acq.channel,
            "as_of": _iso(acq.as_of),
            "transitional": acq.transitional,
            "meters": {
                "installed": len(pop),
                "counted": int(pop.counted.sum()),
                "not_yet_counted": waiting,
            },
            "acquisition": [self.figure_json(f) for f in acq.figures],
            "commands": {
                "window_hours": cmd.hours,
                "target_percent": cmd.target_percent,
                "received": len(cmd.outcomes),
                "groups": [
                    {
                        "group": g.group.label,
                        "substation": g.group.substation,
                        "mv_lv": g.group.mv_lv,
                        "meters": len(g.group.meters),
                        "commands": g.commands,
                        "delivered": g.delivered,
                        "pending": g.pending,
                        "percent": _pct(g.percent),
                        "met": g.met,
                        "below": [self._command_json(o) for o in g.below],
                    }
                    for g in cmd.groups
                    if g.commands or g.pending
                ],
                "deadlines": {
                    "met": states[DeadlineState.MET],
                    "open": states[DeadlineState.OPEN],
                    "late": [self._command_json(o) for o in cmd.late_for_deadline()],
                },
            },
        }

    def summary(self) -> dict[str, Any]:
        """The figures only (no meter lists), for a dashboard or the demo."""
        return {
            "day": self.day.isoformat(),
            "as_of": _iso(self.acquisition.as_of),
            "meters_counted": int(self.acquisition.population.counted.sum()),
            "acquisition": [
                {
                    "checkpoint": f.label,
                    "target_percent": f.point.percent,
                    "percent": _pct(f.score.percent),
                    "due": f.due,
                    "met": f.met,
                    "below": int(f.score.below.size),
                    "excluded": len(f.excused_by),
                }
                for f in self.acquisition.figures
            ],
            "commands": {
                "received": len(self.commands.outcomes),
                "groups": sum(1 for g in self.commands.groups if g.commands),
                "groups_missed": sum(1 for g in self.commands.groups if g.met is False),
            },
        }


def daily_report(
    conn: Connection, profile: Profile, day: date, *, channel: str, as_of: datetime
) -> DailyReport:
    """KPI-1 (with KPI-2, KPI-4) and KPI-3 of local day `day`."""
    acq = acquisition(conn, profile, day, channel=channel, as_of=as_of)
    cmd = command_delivery(conn, profile, day, as_of=as_of, pop=acq.population)
    return DailyReport(profile, acq, cmd)


@dataclass(frozen=True)
class MonthlyReport:
    """The daily reports of a month's days that have begun by `as_of`, and their totals."""

    profile: Profile
    year: int
    month: int
    as_of: datetime
    days: tuple[DailyReport, ...]

    def to_json(self) -> dict[str, Any]:
        """Per checkpoint the month's meter-days and the days missed; the meters below most."""
        checkpoints: list[dict[str, Any]] = []
        below: dict[str, dict[str, Any]] = {}
        excluded: dict[str, Counter[str]] = {}
        for k, label in enumerate(self._labels()):
            counted = on_time = 0
            missed: list[str] = []
            due = met = 0
            for report in self.days:
                figure = report.acquisition.figures[k]
                pop = report.acquisition.population
                counted += figure.score.counted
                on_time += figure.score.on_time
                due += figure.due
                met += figure.met is True
                if figure.met is False:
                    missed.append(report.day.isoformat())
                for i, w in zip(
                    figure.score.below.tolist(), figure.score.why.tolist(), strict=True
                ):
                    entry = below.setdefault(
                        pop.serials[i],
                        {
                            "meter_id": str(pop.meter_ids[i]),
                            "days": Counter(),
                            "reasons": Counter(),
                        },
                    )
                    entry["days"][label] += 1
                    entry["reasons"][Miss(w).text] += 1
                for i, exc in figure.excused_by.items():
                    excluded.setdefault(pop.serials[i], Counter())[exc.reason.value] += 1
            checkpoints.append(
                {
                    "checkpoint": label,
                    "targets": sorted({r.acquisition.figures[k].point.percent for r in self.days}),
                    "meter_days": counted,
                    "on_time": on_time,
                    "percent": _pct(100.0 * on_time / counted if counted else None),
                    "days_due": due,
                    "days_met": met,
                    "days_missed": missed,
                }
            )
        worst = sorted(below.items(), key=lambda item: (-sum(item[1]["days"].values()), item[0]))
        return {
            "report": "monthly",
            "profile": self.profile.code,
            "month": f"{self.year:04d}-{self.month:02d}",
            "as_of": _iso(self.as_of),
            "acquisition": checkpoints,
            "days": [
                {
                    "day": r.day.isoformat(),
                    "percent": [_pct(f.score.percent) for f in r.acquisition.figures],
                    "met": [f.met for f in r.acquisition.figures],
                }
                for r in self.days
            ],
            "below": [
                {
                    "meter": serial,
                    "meter_id": entry["meter_id"],
                    "days": dict(entry["days"]),
                    "reasons": dict(entry["reasons"]),
                }
                for serial, entry in worst
            ],
            "excluded": [
                {"meter": serial, "reasons": dict(reasons)}
                for serial, reasons in sorted(excluded.items())
            ],
            "commands": self._commands_json(),
        }

    def _labels(self) -> list[str]:
        return [f.label for f in self.days[0].acquisition.figures] if self.days else []

    def _commands_json(self) -> dict[str, Any]:
        totals: dict[str, list[int]] = {}
        missed: list[dict[str, str]] = []
        late: list[dict[str, Any]] = []
        for report in self.days:
            for g in report.commands.groups:
                counts = totals.setdefault(g.group.label, [0, 0, 0])
                counts[0] += g.commands
                counts[1] += g.delivered
                counts[2] += g.pending
                if g.met is False:
                    missed.append({"day": report.day.isoformat(), "group": g.group.label})
            late += [report._command_json(o) for o in report.commands.late_for_deadline()]
        target = self.profile.kpi.command_delivery_percent
        return {
            "target_percent": target,
            "groups": [
                {
                    "group": label,
                    "commands": c,
                    "delivered": d,
                    "pending": p,
                    "percent": _pct(100.0 * d / c if c else None),
                }
                for label, (c, d, p) in totals.items()
                if c or p
            ],
            "group_days_missed": missed,
            "deadlines_late": late,
        }


def monthly_report(
    conn: Connection,
    profile: Profile,
    year: int,
    month: int,
    *,
    channel: str,
    as_of: datetime,
) -> MonthlyReport:
    """Daily reports for every day of the month whose local day began by `as_of`."""
    last = calendar.monthrange(year, month)[1]
    days: list[DailyReport] = []
    for d in range(1, last + 1):
        day = date(year, month, d)
        if local_day(profile, day)[0] > as_of:
            break
        days.append(daily_report(conn, profile, day, channel=channel, as_of=as_of))
    return MonthlyReport(profile, year, month, as_of, tuple(days))


def _already(conn: Connection, code: str, prefix: str) -> bool:
    t = system_event
    query = select(t.c.id).where(t.c.code == code, t.c.message.startswith(prefix, autoescape=True))
    return conn.execute(query.limit(1)).first() is not None


def raise_alarms(conn: Connection, report: DailyReport, *, at: datetime) -> list[int]:
    """Journal every due and missed checkpoint and closed group below target, once each."""
    new: list[int] = []
    day = report.day.isoformat()
    pop: Population = report.acquisition.population
    for figure in report.acquisition.figures:
        if figure.met is not False:
            continue
        prefix = f"KPI-1 {day} {figure.label}:"
        if _already(conn, ACQUISITION_MISSED, prefix):
            continue
        serials = [pop.serials[i] for i in figure.score.below.tolist()]
        message = (
            f"{prefix} {figure.score.percent:.2f} % < {figure.point.percent:g} % "
            f"({len(serials)} meters below)"
        )
        new.append(
            record_system_event(
                conn,
                occurred_at=at,
                severity=Severity.ALARM,
                source="kpi",
                code=ACQUISITION_MISSED,
                message=message,
                details={
                    "day": day,
                    "checkpoint": figure.label,
                    "deadline": _iso(figure.deadline),
                    "percent": _pct(figure.score.percent),
                    "target_percent": figure.point.percent,
                    "below": serials[:100],
                },
            )
        )
    for g in report.commands.groups:
        if g.met is not False:
            continue
        prefix = f"KPI-3 {day} {g.group.label}:"
        if _already(conn, COMMANDS_MISSED, prefix):
            continue
        new.append(
            record_system_event(
                conn,
                occurred_at=at,
                severity=Severity.ALARM,
                source="kpi",
                code=COMMANDS_MISSED,
                message=f"{prefix} {g.percent:.2f} % < {g.target_percent:g} % delivered in "
                f"{report.commands.hours} h",
                details={
                    "day": day,
                    "group": g.group.label,
                    "commands": g.commands,
                    "delivered": g.delivered,
                    "below": [str(o.id) for o in g.below[:100]],
                },
            )
        )
    return new


def parse_month(month: str) -> tuple[int, int]:
    """Parse ``YYYY-MM``; a clear ValueError otherwise."""
    try:
        parsed = datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValueError(f"month {month!r} is not YYYY-MM") from None
    return parsed.year, parsed.month
