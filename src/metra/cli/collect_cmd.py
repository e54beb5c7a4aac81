"""``metra collect run | dispatch | worker``: collection in one process or across many
(see :mod:`metra.cli.collect`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import nats.errors
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from metra.headend.collector import MeterTarget
from metra.headend.dispatch import JobError, JobQueue
from metra.headend.errors import HeadEndError
from metra.headend.keystore import KeyStore, MasterKey
from metra.headend.workers import WorkerSettings, default_worker_name
from metra.meter.inventory import KEK_LENGTHS
from metra.profiles import Profile, available_profiles, load_profile
from metra.store.engine import make_engine
from metra.store.errors import StoreError
from metra.store.migrate import migrate

from .collect import (
    EngineLimits,
    client_system_title,
    collect_here,
    dispatch_jobs,
    json_line,
    load_targets,
    status_counts,
    work,
)
from .common import fail, parse_hex

app = typer.Typer(
    help="Read meters: in this process (run) or through a NATS JetStream queue (dispatch, worker).",
    no_args_is_help=True,
)

_DB = typer.Option(..., "--db", help="SQLite file or PostgreSQL URL of the store.")
_PROFILE = typer.Option("pl", "--profile", help="Jurisdiction profile.")
_MASTER = typer.Option(
    None, "--master-key-file", help="Master key file (else METRA_MASTER_KEY[_FILE])."
)
_INVENTORY = typer.Option(..., "--inventory", help="Fleet inventory or vendor key file.")
_KEK = typer.Option(
    None, "--kek", envvar="METRA_KEK", help="Key-encryption key of the inventory (hex)."
)
_DAY = typer.Option(
    None, "--day", help="Read through the end of this UTC day (default: yesterday)."
)
_COMMISSIONED = typer.Option(
    None, "--commissioned", help="Day the meters were installed: nothing earlier is read."
)
_NATS = typer.Option("nats://127.0.0.1:4222", "--nats", envvar="METRA_NATS_URL")
_QUEUE = typer.Option("METRA_READS", "--queue", help="JetStream stream name of the job queue.")
_ACK_WAIT = typer.Option(60.0, "--ack-wait", min=0.1, help="Seconds a job stays leased.")
_MAX_DELIVER = typer.Option(5, "--max-deliver", min=1, help="Deliveries before giving up.")
_TITLE = typer.Option(None, "--system-title", help="Head-end system title (8 bytes hex).")
_SESSIONS = typer.Option(64, "--max-sessions", min=1, help="Sessions at once.")
_PER_CELL = typer.Option(16, "--max-per-substation", min=1, help="Sessions at once per cell.")
_DEADLINE = typer.Option(120.0, "--session-deadline", min=0.1, help="Seconds per session.")
_TIMEOUT = typer.Option(10.0, "--request-timeout", min=0.1, help="Seconds per request.")
_BACKOFF = typer.Option(
    1.0, "--backoff-scale", min=0.0, help="Multiplies the profile's retry back-off."
)


def _profile(name: str) -> Profile:
    if name.lower() not in available_profiles():
        fail(f"unknown profile {name!r}; available: {', '.join(available_profiles())}")
    return load_profile(name.lower())


def _day(text: str | None, what: str = "--day") -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{what} is not an ISO date (YYYY-MM-DD)")


def _keystore(path: Path | None) -> KeyStore:
    try:
        return KeyStore(MasterKey.load(path=path))
    except HeadEndError as exc:
        fail(str(exc))


def _kek(text: str | None) -> bytes:
    if not text:
        fail("the inventory's key-encryption key is required: --kek HEX or METRA_KEK")
    kek = parse_hex(text, "the key-encryption key")
    if len(kek) not in KEK_LENGTHS:
        fail(f"the key-encryption key must be 16, 24 or 32 bytes, not {len(kek)}")
    return kek


def _limits(
    title: str | None,
    sessions: int,
    per_cell: int,
    deadline: float,
    timeout: float,
    backoff: float,
) -> EngineLimits:
    own = parse_hex(title, "--system-title", length=8) if title else None
    return EngineLimits(client_system_title(own), sessions, per_cell, deadline, timeout, backoff)


def _queue(name: str, ack_wait: float, max_deliver: int) -> JobQueue:
    try:
        return JobQueue(name, ack_wait_s=ack_wait, max_deliver=max_deliver)
    except JobError as exc:
        fail(str(exc))


def _store(db: str, *, migrated: bool) -> Engine:
    """Open the store; ``run`` and ``dispatch`` bring its schema up to date, workers (many at
    once) only open it."""
    try:
        engine = make_engine(db)
        if migrated:
            migrate(engine)
        elif not inspect(engine).has_table("interval_day"):
            fail(f"the store {db} has no schema: run `metra collect dispatch` or `run` first")
    except (StoreError, OSError, SQLAlchemyError) as exc:
        fail(f"cannot open the store: {exc}")
    return engine


def _targets(
    db: str, inventory: Path, kek: str | None, master: Path | None, commissioned: str | None
) -> tuple[Engine, KeyStore, list[MeterTarget]]:
    engine = _store(db, migrated=True)
    keystore = _keystore(master)
    since = _day(commissioned, "--commissioned") if commissioned else None
    try:
        targets = load_targets(
            engine, keystore, inventory, _kek(kek), commissioned=since, at=dt.datetime.now(dt.UTC)
        )
    except HeadEndError as exc:
        fail(str(exc))
    if not targets:
        fail(f"{inventory} names no meter with an address to read")
    return engine, keystore, targets


@app.command("run")
def run_command(
    db: str = _DB,
    inventory: Path = _INVENTORY,
    kek: str | None = _KEK,
    master_key_file: Path | None = _MASTER,
    day: str | None = _DAY,
    commissioned: str | None = _COMMISSIONED,
    profile: str = _PROFILE,
    system_title: str | None = _TITLE,
    max_sessions: int = _SESSIONS,
    max_per_substation: int = _PER_CELL,
    session_deadline: float = _DEADLINE,
    request_timeout: float = _TIMEOUT,
    backoff_scale: float = _BACKOFF,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Read every meter of the inventory through DAY in this process (backfill included)."""
    chosen = _profile(profile)
    limits = _limits(
        system_title,
        max_sessions,
        max_per_substation,
        session_deadline,
        request_timeout,
        backoff_scale,
    )
    through = _day(day)
    engine, keystore, targets = _targets(db, inventory, kek, master_key_file, commissioned)
    console = Console(stderr=True)

    async def go() -> dict[str, Any]:
        with Progress(
            TextColumn("reading meters"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task("read", total=len(targets))
            return await collect_here(
                engine,
                keystore,
                chosen,
                limits,
                targets,
                through,
                on_progress=lambda done, _t: progress.update(task, completed=done),
            )

    summary = asyncio.run(go())
    engine.dispose()
    typer.echo(json.dumps(summary) if as_json else _text(summary))


def _text(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['ok']} of {summary['meters']} meters read through {summary['day']}, "
        f"{summary['intervals_new']:,} new interval values, {summary['events_new']:,} new events "
        f"in {summary['seconds']} s"
    ]
    lines += [f"  {serial}: {reason}" for serial, reason in sorted(summary["failed"].items())]
    return "\n".join(lines)


@app.command("dispatch")
def dispatch_command(
    db: str = _DB,
    inventory: Path = _INVENTORY,
    kek: str | None = _KEK,
    master_key_file: Path | None = _MASTER,
    day: str | None = _DAY,
    commissioned: str | None = _COMMISSIONED,
    nats_url: str = _NATS,
    queue: str = _QUEUE,
    ack_wait: float = _ACK_WAIT,
    max_deliver: int = _MAX_DELIVER,
    wait: float | None = typer.Option(
        None, "--wait", min=0.0, help="Wait up to this many seconds for every job's result."
    ),
) -> None:
    """Queue one read job per meter of the inventory on a NATS JetStream work queue."""
    through = _day(day)
    jobs = _queue(queue, ack_wait, max_deliver)
    engine, _keys, targets = _targets(db, inventory, kek, master_key_file, commissioned)
    try:
        out = asyncio.run(dispatch_jobs(nats_url, jobs, engine, targets, through, wait_s=wait))
    except (OSError, nats.errors.Error) as exc:
        fail(f"NATS at {nats_url}: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    typer.echo(json.dumps(out))
    if wait is not None and out["results"]["unfinished"]:
        raise typer.Exit(2)


@app.command("worker")
def worker_command(
    db: str = _DB,
    master_key_file: Path | None = _MASTER,
    profile: str = _PROFILE,
    nats_url: str = _NATS,
    queue: str = _QUEUE,
    ack_wait: float = _ACK_WAIT,
    max_deliver: int = _MAX_DELIVER,
    name: str | None = typer.Option(None, "--name", help="Worker name (default host-pid)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Jobs in flight at once."),
    idle_exit: float | None = typer.Option(
        None, "--idle-exit", min=0.1, help="Stop after this many seconds without a job."
    ),
    system_title: str | None = _TITLE,
    max_sessions: int = _SESSIONS,
    max_per_substation: int = _PER_CELL,
    session_deadline: float = _DEADLINE,
    request_timeout: float = _TIMEOUT,
    backoff_scale: float = _BACKOFF,
) -> None:
    """Pull read jobs from the queue, read the meters and store what they say.

    One JSON line per job event on stdout; SIGTERM or Ctrl-C finishes the jobs in flight, then
    stops.
    """
    chosen = _profile(profile)
    jobs = _queue(queue, ack_wait, max_deliver)
    limits = _limits(
        system_title,
        max_sessions,
        max_per_substation,
        session_deadline,
        request_timeout,
        backoff_scale,
    )
    keystore = _keystore(master_key_file)
    engine = _store(db, migrated=False)
    settings = WorkerSettings(
        name=name or default_worker_name(), concurrency=concurrency, idle_exit_s=idle_exit
    )

    def log(event: str, details: dict[str, Any]) -> None:
        typer.echo(json_line(event, details))

    try:
        report = asyncio.run(
            work(nats_url, jobs, engine, keystore, chosen, limits, settings, on_event=log)
        )
    except (OSError, nats.errors.Error) as exc:
        fail(f"NATS at {nats_url}: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    log("stopped", {"deliveries": report.deliveries, "status": status_counts(report)})
