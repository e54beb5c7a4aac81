"""``metra vee``: validate and estimate stored raw data, edit a day by hand, show a day's versions.

`metra vee --day D` (or `--from D --to D`) runs the MDM's validation and estimation over every
meter with raw data of the channel in the range (plus the like-day window before it) and prints
how many intervals each rule found and each method filled (DQ-4..DQ-9). `metra vee edit` sets
interval values by hand as a user holding `data:edit` who logs in first; the reason is
mandatory and the change goes to the audit trail with the values before and after (DQ-11).
`metra vee show` lists a day's versions with status and method.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, select

from metra.mdm import run_vee, versions
from metra.mdm.estimation.methods import Method
from metra.profiles import Profile
from metra.security import audit
from metra.security.roles import Permission
from metra.store import make_engine
from metra.store.errors import StoreError
from metra.store.intervals import quality_of
from metra.store.masterdata import Entity, find
from metra.store.schema import interval_day

from .common import DB, fail, profile_or_fail
from .session import act_with

app = typer.Typer(
    help="Validation, estimation and editing of stored interval data (VEE).",
    invoke_without_command=True,
)

PROFILE = typer.Option("pl", "--profile", envvar="METRA_PROFILE", help="Jurisdiction profile.")
CHANNEL = typer.Option("1-0:1.29.0.255", "--channel", help="Interval channel (OBIS).")
METER = typer.Option(..., "--meter", help="Meter serial or id.")
DAY = typer.Option(..., "--day", help="UTC day, YYYY-MM-DD.")
_CHUNK = 2000  # meters per run: bounds memory; fellow customers come along as context


def _date(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{what} must be a date YYYY-MM-DD, not {text!r}")


def _range(day: str | None, first: str | None, last: str | None) -> tuple[date, date]:
    """[start, end) from --day or --from/--to (both inclusive); yesterday by default."""
    one, lo, hi = _date(day, "--day"), _date(first, "--from"), _date(last, "--to")
    if one is not None and (lo or hi):
        fail("give --day or --from/--to, not both")
    if one is None and lo is None and hi is None:
        one = datetime.now(UTC).date() - timedelta(days=1)
    if one is not None:
        return one, one + timedelta(days=1)
    if lo is None or hi is None:
        fail("--from and --to go together")
    if hi < lo:
        fail("--to is before --from")
    return lo, hi + timedelta(days=1)


def _meters(conn: Connection, channel: str, first: date, end: date) -> list[UUID]:
    t = interval_day.c
    query = (
        select(t.meter_id)
        .distinct()
        .where(t.channel == channel, t.day >= first, t.day < end)
        .order_by(t.meter_id)
    )
    return [m for (m,) in conn.execute(query)]


def vee_run(
    engine: Engine,
    profile: Profile,
    start: date,
    end: date,
    *,
    channel: str = "1-0:1.29.0.255",
    register_obis: str | None = "1-0:1.8.0.255",
    energy_unit_kwh: float = 0.001,
    actor: str = "metra vee",
) -> dict[str, Any]:
    """Run VEE over every meter with raw data in [start, end) (and the like-day window before)
    in chunks of meters; returns the merged summary."""
    window = start - timedelta(days=profile.vee.like_day_window_days)
    with engine.connect() as conn:
        meters = _meters(conn, channel, window, end)
    findings: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for i in range(0, len(meters), _CHUNK):
        with engine.begin() as conn:
            run = run_vee(
                conn,
                meters[i : i + _CHUNK],
                start,
                end,
                profile,
                channel=channel,
                register_obis=register_obis,
                energy_unit_kwh=energy_unit_kwh,
                actor=actor,
            )
            audit.seal(conn)
        part = run.summary()
        findings.update(part["findings"])
        methods.update(part["estimated"])
        for key in ("intervals_validated", "intervals_measured", "not_estimated"):
            totals[key] += part[key]
        totals["versions_written"] += part["versions_written"]
    return {
        "channel": channel,
        "from": start.isoformat(),
        "to": (end - timedelta(days=1)).isoformat(),
        "meters": len(meters),
        "intervals_validated": totals["intervals_validated"],
        "intervals_measured": totals["intervals_measured"],
        "findings": dict(sorted(findings.items())),
        "estimated": dict(sorted(methods.items())),
        "not_estimated": totals["not_estimated"],
        "versions_written": totals["versions_written"],
    }


def _print_run(summary: dict[str, Any]) -> None:
    console = Console()
    head = Table(title=f"metra vee {summary['from']} .. {summary['to']}", show_header=False)
    head.add_row("channel", summary["channel"])
    head.add_row("meters", f"{summary['meters']:,}")
    head.add_row("intervals validated", f"{summary['intervals_validated']:,}")
    head.add_row("intervals measured (served as read)", f"{summary['intervals_measured']:,}")
    head.add_row("intervals left without estimate", f"{summary['not_estimated']:,}")
    head.add_row("day versions written", f"{summary['versions_written']:,}")
    console.print(head)
    rules = Table(title="findings per rule")
    rules.add_column("rule")
    rules.add_column("findings", justify="right")
    for rule, count in summary["findings"].items():
        rules.add_row(rule, f"{count:,}")
    console.print(rules)
    methods = Table(title="intervals estimated per method")
    methods.add_column("method")
    methods.add_column("intervals", justify="right")
    for method, count in summary["estimated"].items():
        methods.add_row(method, f"{count:,}")
    console.print(methods)


@app.callback()
def vee_command(
    ctx: typer.Context,
    day: str | None = typer.Option(None, "--day", help="One UTC day (default: yesterday)."),
    first: str | None = typer.Option(None, "--from", help="First UTC day of a range."),
    last: str | None = typer.Option(None, "--to", help="Last UTC day of a range (inclusive)."),
    db: str | None = typer.Option(
        None, "--db", envvar="METRA_DB", help="Database URL or SQLite file path."
    ),
    profile: str = PROFILE,
    channel: str = CHANNEL,
    register_obis: str = typer.Option(
        "1-0:1.8.0.255", "--register", help="Daily billing register for the sum check."
    ),
    unit_kwh: float = typer.Option(
        0.001, "--unit-kwh", min=1e-9, help="kWh per stored unit (the fleet stores Wh)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate and estimate stored raw data; results per rule and per method."""
    if ctx.invoked_subcommand is not None:
        return
    if db is None:
        fail("--db (or METRA_DB) is required")
    start, end = _range(day, first, last)
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        summary = vee_run(
            engine,
            rules,
            start,
            end,
            channel=channel,
            register_obis=register_obis,
            energy_unit_kwh=unit_kwh,
        )
    except StoreError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _print_run(summary)


def _meter_id(conn: Connection, text: str, on: date) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        pass
    found = find(conn, Entity.METER, on, serial=text) or find(
        conn, Entity.METER, datetime.now(UTC).date(), serial=text
    )
    if not found:
        fail(f"no meter {text!r} on {on}")
    return found[0]


@app.command("edit")
def edit_command(
    meter: str = METER,
    day: str = DAY,
    interval: list[int] = typer.Option(..., "--interval", help="Interval index in the day."),
    value: list[float] = typer.Option(..., "--value", help="New value, one per --interval."),
    reason: str = typer.Option(..., "--reason", help="Why (mandatory, kept with the version)."),
    user: str = typer.Option(..., "--user", help="The user making the edit (logs in)."),
    db: str = DB,
    profile: str = PROFILE,
    channel: str = CHANNEL,
) -> None:
    """Set interval values of a served day by hand: a new version, audited (DQ-11)."""
    when = _date(day, "--day")
    assert when is not None
    if len(interval) != len(value):
        fail("give one --value per --interval")
    if not reason.strip():
        fail("--reason must say why the data are changed")
    if any(not np.isfinite(v) for v in value):
        fail("values must be finite numbers")
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            principal = act_with(conn, user, rules, Permission.DATA_EDIT, "edit data")
            with conn.begin():
                meter_id = _meter_id(conn, meter, when)
                version = versions.edit(
                    conn,
                    meter_id,
                    channel,
                    when,
                    dict(zip(interval, value, strict=True)),
                    actor=principal.username,
                    reason=reason,
                    at=datetime.now(UTC),
                )
                audit.seal(conn)
    except versions.EditRefused as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"{meter} {channel} {when}: version {version} by {user} ({reason})")


def _methods(codes: np.ndarray) -> dict[str, int]:
    counts = Counter(int(c) for c in codes.tolist())
    return {
        (Method(c).name.lower() if c in Method._value2member_map_ else str(c)): n
        for c, n in sorted(counts.items())
    }


def _qualities(status: np.ndarray) -> dict[str, int]:
    counts = Counter(quality_of(int(s)).name.lower() for s in status.tolist() if s)
    counts["missing"] = int((status == 0).sum())
    return {k: v for k, v in sorted(counts.items()) if v}


@app.command("show")
def show_command(
    meter: str = METER,
    day: str = DAY,
    db: str = DB,
    channel: str = CHANNEL,
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """Every version of a meter's day: who made it, why, status and method per interval."""
    when = _date(day, "--day")
    assert when is not None
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            meter_id = _meter_id(conn, meter, when)
            every = versions.history(conn, meter_id, channel, when)
    finally:
        engine.dispose()
    if not every:
        fail(f"no validated data for {meter} {channel} {when}")
    out: list[dict[str, Any]] = [
        {
            "version": v.version,
            "kind": v.kind,
            "served": v is every[-1],
            "created_at": v.created_at.isoformat(),
            "created_by": v.created_by,
            "reason": v.reason,
            "raw_version": v.raw_version,
            "total": float(np.nansum(v.values)),
            "quality": _qualities(v.status),
            "method": _methods(v.method),
            "provenance": v.provenance,
        }
        for v in every
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "meter_id": str(meter_id),
                    "channel": channel,
                    "day": when.isoformat(),
                    "versions": out,
                }
            )
        )
        return
    table = Table(title=f"{meter} {channel} {when}")
    for column in ("version", "kind", "created", "by", "reason", "total", "quality", "method"):
        table.add_column(column)
    for v in out:
        table.add_row(
            f"{v['version']}{' (served)' if v['served'] else ''}",
            v["kind"],
            v["created_at"],
            v["created_by"],
            v["reason"] or "",
            f"{v['total']:.3f}",
            ", ".join(f"{k} {n}" for k, n in v["quality"].items()),
            ", ".join(f"{k} {n}" for k, n in v["method"].items()),
        )
    Console().print(table)
    for entry in out[-1]["provenance"]:
        typer.echo(json.dumps(entry, default=str))
