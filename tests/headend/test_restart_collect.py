"""Issue 4's proof for restarts: `metra collect run` is SIGKILLed in the middle of collecting a
fleet with faults and started again; every interval the fleet produced is then stored exactly
once or reported missing with its reason (REL-3, COL-8, DQ-5, KPI-5).

The head-end runs as its own process, as in production; the fleet runs in the test, so the
test knows what each meter produced (its measurement model) and compares every stored value
with it: a lost, doubled, rewritten or garbled interval fails the test.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from metra.meter.faults import MeterFaults
from metra.meter.fleet import Fleet, FleetConfig
from metra.store import diagnostics
from metra.store.masterdata import Entity, find
from metra.store.schema import interval_day

from .collect_proof import (
    CHANNEL,
    check_stored_once,
    cli_env,
    history_days,
    new_secrets,
    produced,
    run_cli,
    sqlite_path,
    start_cli,
)

METERS = 8
DEAD = 7  # this meter's communication module is offline for the whole test
DROPPING = 6  # this meter's link drops every session before the load profile arrives


def _meters_with_data(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count(func.distinct(interval_day.c.meter_id))).where(
            interval_day.c.channel == CHANNEL
        )
        return int(conn.execute(query).scalar_one())


def test_rel3_collect_killed_mid_run_and_restarted_loses_and_doubles_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    master, kek = new_secrets()
    env = cli_env(master, kek)
    db = sqlite_path(engine.url)
    days, installed = history_days(2)
    inventory = tmp_path / "fleet.json"
    args = (
        "run", "--db", str(db), "--inventory", str(inventory), "--json",
        "--day", days[-1].isoformat(), "--commissioned", installed.isoformat(),
        "--max-sessions", "2", "--request-timeout", "2", "--backoff-scale", "0.0005",
    )  # fmt: skip

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any]]:
        async with Fleet(FleetConfig(meters=METERS, seed=21)) as fleet:
            for slot in fleet.meters:  # a slow link everywhere: the kill lands mid-collection
                slot.faults = MeterFaults(slow_answer_seconds=0.02)
            fleet.meters[DROPPING].faults = MeterFaults(
                slow_answer_seconds=0.02, drop_after_bytes=2500
            )
            now = fleet.clock.now()
            fleet.meters[DEAD].faults = MeterFaults(  # offline: every connection is cut at once
                offline_windows=((now - timedelta(hours=1), now + timedelta(hours=1)),)
            )
            fleet.write_inventory(inventory, kek)

            first = await start_cli(*args, env=env)
            while _meters_with_data(engine) < 2:  # some meters stored, the rest in flight
                assert first.returncode is None, await first.communicate()
                await asyncio.sleep(0.05)
            first.kill()
            await first.wait()
            at_kill = _meters_with_data(engine)

            with engine.connect() as conn:  # what the killed run left is consistent
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
                ids = {
                    slot.identity.serial: find(
                        conn, Entity.METER, datetime.now(UTC).date(), serial=slot.identity.serial
                    )[0]
                    for slot in fleet.meters
                }
                for slot in fleet.meters:
                    check_stored_once(
                        conn,
                        ids[slot.identity.serial],
                        lambda d, s=slot: produced(fleet, s, d),
                        days,
                    )

            code, out, err = await run_cli(*args, env=env, timeout=60)
            assert code == 0, err
            summary = json.loads(out.strip().splitlines()[-1])

            checks: dict[str, Any] = {}
            with engine.connect() as conn:
                for slot in fleet.meters:
                    serial = slot.identity.serial
                    checks[serial] = check_stored_once(
                        conn, ids[serial], lambda d, s=slot: produced(fleet, s, d), days
                    )
                    checks[serial + "/diag"] = diagnostics.get(conn, ids[serial])
            return at_kill, summary, checks | {"serials": [s.identity.serial for s in fleet.meters]}

    at_kill, summary, checks = asyncio.run(scenario())
    serials = checks["serials"]
    assert at_kill < METERS - 1  # killed while reachable meters were still unread
    assert summary["meters"] == METERS
    for index, serial in enumerate(serials):
        check = checks[serial]
        if check.missing == 0:
            assert check.complete_days == 2, serial
            continue
        # Whatever is missing belongs to a meter reported failed, with the reason why.
        assert serial in summary["failed"], (serial, summary)
        assert summary["failed"][serial], serial
        diag = checks[serial + "/diag"]
        assert diag is not None and diag.last_failure_reason, serial
        assert index in (DEAD, DROPPING), f"{serial} ({index}) should have been read"
    for broken in (DEAD, DROPPING):  # never read completely: missing, each with its reason
        assert checks[serials[broken]].missing == 2 * 96
        assert "TransportError" in summary["failed"][serials[broken]]
    healthy = [s for i, s in enumerate(serials) if i not in (DEAD, DROPPING)]
    assert all(checks[s].complete_days == 2 for s in healthy)
