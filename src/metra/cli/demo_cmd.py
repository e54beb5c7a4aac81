"""``metra demo``: the README's main command (see :mod:`metra.cli.demo`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from metra.profiles import available_profiles

from .common import fail
from .demo import DemoOptions, default_db, keep_reading, read_history, summarise
from .demo_console import serve_and_read


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="metra demo: collection summary", show_header=False)
    table.add_row("meters", str(summary["meters"]))
    table.add_row("days", str(summary["days"]))
    table.add_row("intervals expected", f"{summary['intervals_expected']:,}")
    table.add_row("intervals stored", f"{summary['intervals_stored']:,}")
    missing = summary["intervals_missing"]
    table.add_row(
        "intervals missing",
        ", ".join(f"{reason}: {count:,}" for reason, count in missing.items()) or "none",
    )
    table.add_row("meter events", f"{summary['events']:,}")
    table.add_row("alarms", f"{summary['alarms']:,}")
    for day, rate in summary["collection_rate_percent_per_day"].items():
        table.add_row(f"collected {day}", f"{rate:.2f} %")
    kpi = summary.get("kpi")
    if kpi:
        for f in kpi["acquisition"]:
            figure = "-" if f["percent"] is None else f"{f['percent']:.2f} %"
            state = "running" if f["met"] is None else ("met" if f["met"] else "MISSED")
            table.add_row(
                f"KPI {kpi['day']} {f['checkpoint']}",
                f"{figure} (target {f['target_percent']:g} %, {state})",
            )
    vee = summary.get("vee")
    if vee:
        table.add_row("VEE intervals validated", f"{vee['intervals_validated']:,}")
        found = ", ".join(f"{rule}: {n:,}" for rule, n in vee["findings"].items())
        table.add_row("VEE findings per rule", found or "none")
        filled = ", ".join(f"{method}: {n:,}" for method, n in vee["estimated"].items())
        table.add_row("VEE estimated per method", filled or "none")
        table.add_row("VEE left without estimate", f"{vee['not_estimated']:,}")
    table.add_row("seconds", str(summary["seconds"]))
    console.print(table)


def demo_command(
    meters: int = typer.Option(200, "--meters", min=1, help="Virtual meters in the fleet."),
    days: int = typer.Option(7, "--days", min=1, max=60, help="Days of history to read."),
    profile: str = typer.Option("pl", "--profile", help="Jurisdiction profile."),
    db: str | None = typer.Option(
        None, "--db", help="SQLite file or PostgreSQL URL (default ./metra-demo.sqlite)."
    ),
    seed: int = typer.Option(1, "--seed", help="Fleet seed (same seed, same fleet)."),
    faults: bool = typer.Option(True, "--faults/--no-faults", help="Inject meter faults."),
    once: bool = typer.Option(
        False, "--once", help="Stop after the history read (no console, no schedule)."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Open the web console while reading on schedule."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Console address (with --serve)."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Console port."),
    every: float = typer.Option(
        900.0, "--every", min=1.0, help="Seconds between scheduled reads after the history."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Start virtual meters, read their history into a store, and keep reading on schedule."""
    if profile.lower() not in available_profiles():
        fail(f"unknown profile {profile!r}; available: {', '.join(available_profiles())}")
    options = DemoOptions(meters, days, profile.lower(), db, seed, faults)
    console = Console(stderr=True)

    def report(summary: dict[str, Any]) -> None:
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            _print_summary(Console(), summary)

    async def run() -> None:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=as_json,
        ) as progress:
            task = progress.add_task("starting", total=None)
            run, fleet, collector = await read_history(
                options,
                on_stage=lambda text: progress.update(task, description=text),
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        try:
            report(summarise(run))
            if run.master_key_file is not None and not as_json:
                store = options.db or "metra-demo.sqlite"
                console.print(f"store: {store}  (master key: {run.master_key_file})")
            if not once:
                console.print(f"reading on schedule every {every:g} s; Ctrl-C stops")
                if serve:
                    url = options.db or default_db()
                    await serve_and_read(
                        run,
                        collector,
                        url,
                        host=host,
                        port=port,
                        every_s=every,
                        report=report,
                        say=lambda text: typer.echo(text, err=True),
                    )
                else:
                    await keep_reading(run, collector, every, report)
        finally:
            collector.close()
            await fleet.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        console.print("stopped")
