"""``metra import``: readings that did not come over the network (COL-12).

`metra import local FILE --as USER` stores a portable device's read session (``metra-local-read``
v1) with origin `local`; `metra import customer` stores a register reading the customer gave,
with origin `customer`, after plausibility checks. Both act as a user holding `data:edit` who
logs in first, and both go to the audit trail; a refused file or reading stores nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import typer

from metra.headend.errors import HeadEndError
from metra.headend.local_reads import enter_customer_reading, import_local, load
from metra.security import audit
from metra.security.roles import Permission
from metra.store import make_engine
from metra.store.errors import StoreError
from metra.store.masterdata import Entity, find

from .common import DB, fail, print_json, profile_or_fail
from .session import ACTOR, act_with

app = typer.Typer(help="Import readings taken locally or given by the customer (COL-12).")

PROFILE = typer.Option("pl", "--profile", envvar="METRA_PROFILE", help="Jurisdiction profile.")


@app.command("local")
def local_command(
    file: Path = typer.Argument(..., help="A metra-local-read v1 JSON file."),
    user: str = ACTOR,
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Store a portable device's read session as raw data with origin `local`."""
    try:
        session = load(file)
    except HeadEndError as exc:
        fail(f"{file}: {exc}")
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            principal = act_with(conn, user, rules, Permission.DATA_EDIT, "import readings")
            with conn.begin():
                result = import_local(conn, session, actor=principal.username, now=_now())
                audit.seal(conn)
    except (HeadEndError, StoreError) as exc:
        fail(f"{file}: {exc}")
    finally:
        engine.dispose()
    print_json(
        {
            "meter": session.serial,
            "device_id": session.device_id,
            "intervals": result.intervals,
            "days": dict(Counter(d.outcome.value for d in result.days)),
            "flagged_days": [f"{d.channel} {d.day}" for d in result.flagged],
            "registers_new": result.registers_new,
            "register_conflicts": list(result.conflicts),
        }
    )


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("customer")
def customer_command(
    meter: str = typer.Option(..., "--meter", help="Meter serial."),
    obis: str = typer.Option(..., "--obis", help="Register, e.g. 1.0.1.8.0.255."),
    value: float = typer.Option(..., "--value", help="The reading in kWh."),
    at: str = typer.Option(..., "--at", help="When it was read, ISO 8601 with UTC offset."),
    user: str = ACTOR,
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Store a register reading given by the customer (origin `customer`), checked first."""
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        fail(f"--at must be an ISO 8601 time, not {at!r}")
    if when.tzinfo is None:
        fail("--at needs a UTC offset (e.g. 2024-03-05T08:00:00+01:00)")
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            principal = act_with(conn, user, rules, Permission.DATA_EDIT, "enter readings")
            with conn.begin():
                found = find(conn, Entity.METER, _day(when), serial=meter)
                if len(found) != 1:
                    fail(f"meter {meter!r} is not one known meter")
                reading = enter_customer_reading(
                    conn, found[0], obis, value, when, actor=principal.username, now=_now()
                )
                audit.seal(conn)
    except (HeadEndError, StoreError, ValueError) as exc:
        fail(f"reading refused: {exc}")
    finally:
        engine.dispose()
    typer.echo(f"{meter} {reading.obis} {value} kWh at {reading.captured_at.isoformat()}: stored")


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()
