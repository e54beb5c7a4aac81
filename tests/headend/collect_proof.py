"""What the collection proofs share: the fleet's own truth, a store check, and the CLI as a process.

The truth is the virtual meter's measurement model (what its load profile buffer serves), not
what the head-end stored, so a test fails when an interval is lost, stored twice with a different
value, or stored wrong.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from metra.dlms.cosem.objects import ACTIVE_ENERGY_IMPORT_PERIOD
from metra.meter.fleet import Fleet, FleetMeter
from metra.meter.meter import VirtualMeter
from metra.store import intervals

CHANNEL = str(ACTIVE_ENERGY_IMPORT_PERIOD)
#: A ``metra collect`` process: the command group's own Typer app (what ``metra collect`` runs),
#: started without the other command groups so that a process is up in about a second.
CLI = (sys.executable, "-c", "from metra.cli.collect_cmd import app; app()")


def history_days(count: int) -> tuple[list[date], date]:
    """The ``count`` complete UTC days before today, and the day the meters were installed."""
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=k) for k in range(count, 0, -1)]
    return days, days[0]


def produced(fleet: Fleet, slot: FleetMeter, day: date) -> list[tuple[float, int]]:
    """(A+ energy, meter status) of each 15-minute interval of ``day`` as the meter serves it."""
    meter = fleet.meter(slot)
    assert isinstance(meter, VirtualMeter)
    start = intervals.day_start(day)
    rows = meter.model.intervals(start, start + timedelta(days=1), 15)
    assert len(rows) == 96
    return [(float(r.energy[0]), r.status) for r in rows]


@dataclass(frozen=True)
class StoredCheck:
    """How a meter's stored days compare with what it produced."""

    complete_days: int
    versions: int
    missing: int


def check_stored_once(
    conn: Connection,
    meter_id: Any,
    truth: Callable[[date], list[tuple[float, int]]],
    days: Sequence[date],
) -> StoredCheck:
    """Every stored interval equals the meter's and was stored once.

    Raw data are versioned per day (DQ-5): a later version may only fill gaps. A version that
    changed a stored value (the ``changed`` bitmap), one that added nothing (a duplicate write)
    or a value unlike the meter's fails the check. Returns how complete the days are.
    """
    complete = versions_total = missing = 0
    for day in days:
        stored = intervals.versions(conn, meter_id, CHANNEL, day)
        expected = truth(day)
        if not stored:
            missing += len(expected)
            continue
        versions_total += len(stored)
        previous: tuple[float | None, ...] = (None,) * len(expected)
        for version in stored:
            assert not version.changed, f"{day} v{version.version} changed {version.changed}"
            filled = [
                i for i, v in enumerate(version.values) if v is not None and previous[i] is None
            ]
            assert filled or version.version == 1, f"{day} v{version.version} added nothing"
            for i, v in enumerate(previous):
                assert v is None or version.values[i] == v, f"{day}[{i}] rewritten"
            previous = version.values
        latest = stored[-1]
        for i, value in enumerate(latest.values):
            if value is None:
                missing += 1
                continue
            energy, status = expected[i]
            assert value == energy, f"{day}[{i}] stored {value}, meter produced {energy}"
            assert intervals.meter_status_of(latest.status[i]) == status, f"{day}[{i}] status"
        if all(v is not None for v in latest.values):
            complete += 1
    return StoredCheck(complete, versions_total, missing)


def cli_env(master_key: str, kek: bytes) -> dict[str, str]:
    """Environment of a CLI process: secrets travel in the environment, never in argv."""
    env = dict(os.environ)
    env["METRA_MASTER_KEY"] = master_key
    env["METRA_KEK"] = kek.hex()
    env.pop("METRA_MASTER_KEY_FILE", None)
    return env


def new_secrets() -> tuple[str, bytes]:
    """A fresh master key (hex) and inventory KEK per test: there are no default keys."""
    return secrets.token_hex(32), secrets.token_bytes(16)


async def start_cli(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def run_cli(*args: str, env: dict[str, str], timeout: float = 60.0) -> tuple[int, str, str]:
    """Run a CLI command to its end; returns exit code, stdout, stderr."""
    process = await start_cli(*args, env=env)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def sqlite_path(url: Any) -> Path:
    """The file behind a SQLite engine's URL (what a CLI process is given as ``--db``)."""
    database = url.database
    assert database, "not a file database"
    return Path(database)
