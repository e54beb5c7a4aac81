"""``metra pq report``: a meter's power-quality compliance with its profile's limits (PQ-1).

Computed from the store's power-quality records (what the head-end read from the meter or
analyser); ``--alarms`` also journals every crossing once in the system journal, audited.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from metra.mdm.power_quality import power_quality_report, raise_alarms
from metra.store import make_engine, masterdata
from metra.store.masterdata import Entity

from .common import fail, profile_or_fail

app = typer.Typer(help="Power-quality reports against the profile's limits (PQ-1).")


def _day(text: str, what: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        fail(f"{what} must be a date YYYY-MM-DD, got {text!r}")


@app.command("report")
def report_command(
    meter: str = typer.Option(..., "--meter", help="Serial number of the meter or analyser."),
    start: str = typer.Option(..., "--from", help="First day (UTC), YYYY-MM-DD."),
    end: str = typer.Option(..., "--to", help="Day after the last (UTC), YYYY-MM-DD."),
    db: str = typer.Option("metra.db", "--db", help="Store: SQLite path or database URL."),
    profile_code: str = typer.Option("PL", "--profile", help="Jurisdiction profile code."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    alarms: bool = typer.Option(
        False, "--alarms", help="Journal each crossing once (system journal, audited)."
    ),
    actor: str = typer.Option("metra-cli", "--actor", help="Who raises the alarms (audit)."),
) -> None:
    """Share of 10-minute values inside the limits, worst values and crossings per quantity."""
    profile = profile_or_fail(profile_code)
    first, stop = _day(start, "--from"), _day(end, "--to")
    if stop <= first:
        fail("--to must be after --from")
    try:
        engine = make_engine(db)
        with engine.begin() as conn:
            found = masterdata.find(conn, Entity.METER, stop.date(), serial=meter)
            if len(found) != 1:
                fail(f"no single meter with serial {meter!r} ({len(found)} found)")
            report = power_quality_report(conn, profile, found[0], meter, first, stop)
            raised = raise_alarms(conn, report, at=datetime.now(UTC), actor=actor) if alarms else []
        engine.dispose()
    except SQLAlchemyError as exc:
        fail(f"cannot read power quality from the store: {exc.__class__.__name__}: {exc.args[0]}")
    data = report.as_json()
    if as_json:
        typer.echo(json.dumps({**data, "alarms_raised": len(raised)}, indent=2))
        return
    console = Console()
    table = Table(title=f"power quality {meter} {data['from']} .. {data['to']} ({profile.code})")
    for name in ("quantity", "values", "inside band", "required", "worst", "outside", "crossings"):
        table.add_column(name)
    table.add_column("status")
    for q in data["quantities"]:
        table.add_row(
            f"{q['parameter']} {q['obis']}",
            str(q["samples"]),
            f"{q['share_percent']:.2f} %",
            f"{q['required_percent']:g} % of {q['assessment_days']} d",
            f"{q['worst']:g} {q['unit']}",
            f"{q['outside_band_s'] / 60:g} min",
            str(len(q["crossings"])),
            "met" if q["met"] else "NOT MET",
        )
    console.print(table)
    if not data["quantities"]:
        console.print("no power-quality values stored for this meter and period")
    occurrences = ", ".join(f"{k} {v}" for k, v in data["occurrences"].items()) or "none"
    console.print(f"occurrences in the power-quality log: {occurrences}")
    if alarms:
        console.print(f"alarms raised: {len(raised)}")
