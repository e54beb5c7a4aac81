"""``metra kpi``: the daily or monthly KPI report of a store (KPI-1..KPI-4), as a table or JSON.

The report is computed from the store as it stood at ``--as-of`` (default: now), so yesterday's
figures can be reproduced later exactly; ``--alarms`` also journals missed checkpoints once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT_PERIOD
from metra.mdm.kpi.report import daily_report, monthly_report, parse_month, raise_alarms
from metra.store import make_engine

from .common import fail, profile_or_fail

DEFAULT_CHANNEL = str(ACTIVE_ENERGY_IMPORT_PERIOD)
"""The IDIS load-profile column the head-end stores and judges gaps on (as the collector does)."""


def _status(met: bool | None) -> str:
    return "running" if met is None else ("met" if met else "MISSED")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"


@contextmanager
def _store(db: str, write: bool) -> Iterator[Connection]:
    try:
        engine = make_engine(db)
        with engine.begin() if write else engine.connect() as conn:
            yield conn
        engine.dispose()
    except SQLAlchemyError as exc:
        fail(f"cannot read the KPIs from the store: {exc.__class__.__name__}: {exc.args[0]}")


def _print_daily(console: Console, report: dict[str, Any], limit: int) -> None:
    meters = report["meters"]
    title = (
        f"KPI {report['day']} ({report['profile']}, {report['timezone']}) as of {report['as_of']}"
    )
    table = Table(title=title)
    for name in ("checkpoint", "deadline", "target", "figure", "counted", "on time", "excluded"):
        table.add_column(name)
    table.add_column("status")
    for f in report["acquisition"]:
        table.add_row(
            f["checkpoint"],
            f["deadline"],
            f"{f['target_percent']:g} %",
            _pct(f["percent"]),
            str(f["counted"]),
            str(f["on_time"]),
            str(f["excluded"]),
            _status(f["met"]),
        )
    console.print(table)
    console.print(
        f"meters installed {meters['installed']}, counted {meters['counted']}, "
        f"not yet counted (KPI-4) {len(meters['not_yet_counted'])}"
    )
    rows: dict[str, list[str]] = {}
    for f in report["acquisition"]:
        for b in f["below"]:
            rows.setdefault(b["meter"], []).append(f"{f['checkpoint']}: {b['reason']}")
        for e in f["excluded_meters"]:
            rows.setdefault(e["meter"], []).append(
                f"{f['checkpoint']}: excluded ({e['reason']}, {e['document']})"
            )
    if rows:
        below = Table(title="meters that pulled the figures down")
        below.add_column("meter")
        below.add_column("why")
        for meter in sorted(rows)[:limit]:
            below.add_row(meter, "; ".join(rows[meter]))
        console.print(below)
        if len(rows) > limit:
            console.print(f"... {len(rows) - limit} more meters (--limit, or --json for all)")
    _print_commands(console, report["commands"]["groups"], limit)
    late = report["commands"]["deadlines"]["late"]
    if late:
        console.print(f"commands late for their deadline: {len(late)}")
        for c in late[:limit]:
            console.print(f"  {c['command']} {c['meter']} {c['kind']}: {c['deadline_state']}")


def _print_commands(console: Console, groups: list[dict[str, Any]], limit: int) -> None:
    if not groups:
        console.print("no commands received")
        return
    table = Table(title="command delivery (KPI-3)")
    for name in ("group", "commands", "delivered", "pending", "figure", "status"):
        table.add_column(name)
    for g in groups[:limit]:
        table.add_row(
            g["group"],
            str(g["commands"]),
            str(g["delivered"]),
            str(g["pending"]),
            _pct(g["percent"]),
            _status(g.get("met")),
        )
    console.print(table)


def _print_monthly(console: Console, report: dict[str, Any], limit: int) -> None:
    table = Table(title=f"KPI {report['month']} ({report['profile']}) as of {report['as_of']}")
    for name in ("checkpoint", "target", "meter-days", "on time", "figure", "days met / due"):
        table.add_column(name)
    table.add_column("days missed")
    for c in report["acquisition"]:
        table.add_row(
            c["checkpoint"],
            " / ".join(f"{t:g} %" for t in c["targets"]),
            str(c["meter_days"]),
            str(c["on_time"]),
            _pct(c["percent"]),
            f"{c['days_met']} / {c['days_due']}",
            ", ".join(d[-2:] for d in c["days_missed"]) or "-",
        )
    console.print(table)
    if report["below"]:
        worst = Table(title="meters below most often")
        for name in ("meter", "days below per checkpoint", "reasons"):
            worst.add_column(name)
        for b in report["below"][:limit]:
            worst.add_row(
                b["meter"],
                ", ".join(f"{k}: {v}" for k, v in b["days"].items()),
                ", ".join(f"{k}: {v}" for k, v in b["reasons"].items()),
            )
        console.print(worst)
    _print_commands(console, report["commands"]["groups"], limit)


def _when(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--as-of {text!r} is not an ISO date and time")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def kpi_command(
    day: str | None = typer.Option(None, "--day", help="Local day YYYY-MM-DD (daily report)."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (monthly report)."),
    db: str = typer.Option(..., "--db", envvar="METRA_DB", help="SQLite file or database URL."),
    profile: str = typer.Option("pl", "--profile", help="Jurisdiction profile."),
    channel: str = typer.Option(
        DEFAULT_CHANNEL, "--channel", help="Load-profile channel whose arrival is measured."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Judge the store as it stood then (ISO time, default now, UTC)."
    ),
    alarms: bool = typer.Option(
        False, "--alarms", help="Journal each missed checkpoint or command group once."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows of meters shown in the table."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Data acquisition and command delivery KPIs of a day or a month, with who pulled them down."""
    if (day is None) == (month is None):
        fail("give exactly one of --day YYYY-MM-DD or --month YYYY-MM")
    rules = profile_or_fail(profile)
    moment = _when(as_of)
    with _store(db, write=alarms) as conn:
        if day is not None:
            try:
                the_day = date.fromisoformat(day)
            except ValueError:
                fail(f"--day {day!r} is not YYYY-MM-DD")
            daily = daily_report(conn, rules, the_day, channel=channel, as_of=moment)
            if alarms:
                raise_alarms(conn, daily, at=datetime.now(UTC))
            report = daily.to_json()
        else:
            try:
                year, number = parse_month(month or "")
            except ValueError as exc:
                fail(str(exc))
            monthly = monthly_report(conn, rules, year, number, channel=channel, as_of=moment)
            if alarms:
                for each in monthly.days:
                    raise_alarms(conn, each, at=datetime.now(UTC))
            report = monthly.to_json()
    if as_json:
        typer.echo(json.dumps(report))
    elif day is not None:
        _print_daily(Console(), report, limit)
    else:
        _print_monthly(Console(), report, limit)
