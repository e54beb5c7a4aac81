"""``metra demo``: the whole chain on one machine, from virtual meters to stored, counted data.

It starts an embedded fleet (PL profile, faults on by default), registers the fleet's meters and
their keys in the key store (keys travel wrapped under a fresh key-encryption key, as they would
from a vendor), reads the last days of history into the store with the real collection engine,
and prints a summary in which every interval the fleet should have produced is either stored or
counted as missing with its reason, then validates and estimates what was read (VEE). Nothing
here is simulated on the head-end side: the same engine, key store and store serve production.

Every secret is fresh per run (no default keys): the key store's master key is written next to a
SQLite database with 0600 permissions so later ``metra`` commands can open the same store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from metra.headend.collector import (
    Collector,
    CollectorSettings,
    MeterOutcome,
    MeterTarget,
    load_targets,
)
from metra.headend.importer import read_file, store_meters
from metra.headend.keystore import KeyStore, MasterKey
from metra.mdm.kpi.report import daily_report
from metra.meter.faults import FaultRates
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.store import intervals
from metra.store.engine import make_engine
from metra.store.events import meter_events, security_events
from metra.store.migrate import migrate

from .vee_cmd import vee_run

#: Fault rates of the demo fleet: enough of each kind to show collection, retries and backfill.
DEMO_FAULTS = FaultRates(
    offline_per_day=0.03,
    offline_minutes=120.0,
    drop_probability=0.03,
    slow_probability=0.02,
    slow_seconds=0.2,
    corrupt_probability=0.01,
    clock_drift_ppm=30.0,
    outages_per_year=6.0,
    tamper_per_year=1.0,
    register_jump_probability=0.005,
)

#: Meters per MV/LV substation in the demo grid (a substation bounds concurrent sessions).
METERS_PER_SUBSTATION = 50

#: Meter event codes that a control room treats as alarms (DQ-10, EVT-1).
ALARM_WORDS = ("tamper", "cover", "magnetic", "fraud", "watchdog", "power-failure-long")


@dataclass(frozen=True)
class DemoOptions:
    meters: int = 200
    days: int = 7
    profile: str = "pl"
    db: str | None = None
    seed: int = 1
    faults: bool = True


@dataclass
class DemoRun:
    """What one history read produced, for the summary."""

    engine: Engine
    targets: list[MeterTarget]
    days: list[dt.date]
    channel: str
    interval_minutes: int
    outcomes: dict[dt.date, list[MeterOutcome]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    master_key_file: Path | None = None
    profile: str = "pl"
    vee: dict[str, Any] | None = None


def default_db(directory: Path | None = None) -> str:
    return str((directory or Path.cwd()) / "metra-demo.sqlite")


def _write_master_key(db_url: str, key_hex: str) -> Path | None:
    """Keep the master key beside a SQLite file (0600) so the store can be opened again; for a
    server database the operator supplies it (``METRA_MASTER_KEY``) and we write nothing."""
    if "://" in db_url and not db_url.startswith("sqlite"):
        return None
    path = Path(db_url.removeprefix("sqlite:///")).with_suffix(".master-key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_hex + "\n")
    return path


def _reason(outcome: MeterOutcome | None) -> str:
    """A short, stable reason for a meter's missing data."""
    if outcome is None or outcome.reason is None:
        return "not recorded by the meter"
    text = outcome.reason.lower()
    if outcome.refused or "authentication" in text:
        return "authentication failed"
    if "timeout" in text or "no answer" in text:
        return "no answer (timeout)"
    if "refused" in text or "cannot connect" in text or "closed" in text:
        return "meter unreachable"
    if "decode" in text or "frame" in text or "crc" in text:
        return "corrupted transfer"
    return "communication error"


async def read_history(
    options: DemoOptions,
    *,
    on_stage: Callable[[str], None] = lambda _: None,
    on_progress: Callable[[int, int], None] = lambda _d, _t: None,
) -> tuple[DemoRun, Fleet, Collector]:
    """Start the fleet, register it, read ``options.days`` days of history. The caller stops the
    fleet and closes the collector (the schedule mode keeps using them)."""
    profile = load_profile(options.profile)
    db = options.db or default_db()
    engine = make_engine(db)
    on_stage("preparing the store")
    migrate(engine)
    master_raw = secrets.token_bytes(32)
    master = MasterKey(master_raw)
    key_file = _write_master_key(db, master_raw.hex())
    del master_raw
    kek = secrets.token_bytes(16)

    on_stage(f"starting {options.meters} virtual meters")
    fleet = Fleet(
        FleetConfig(
            meters=options.meters,
            seed=options.seed,
            profile=options.profile,
            security="hls-gmac",
            fault_rates=DEMO_FAULTS if options.faults else None,
        )
    )
    await fleet.start()
    keystore = KeyStore(master)
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory.json"
        fleet.write_inventory(inventory, kek)
        imported = read_file(inventory, kek)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        ids = store_meters(conn, keystore, imported, at=now, by="metra demo")
        stored = load_targets(conn, ids.values())  # addresses as the import stored them
    # The demo grid was commissioned `days` ago: history before that does not exist to read.
    commissioned = intervals.day_start(now.date() - dt.timedelta(days=options.days))
    targets = [
        replace(t, substation=f"SS-{i // METERS_PER_SUBSTATION:03d}", commissioned=commissioned)
        for i, t in enumerate(stored)
    ]
    collector = Collector(
        engine,
        keystore,
        profile,
        CollectorSettings(
            client_system_title=b"MTR" + secrets.token_bytes(5),
            max_sessions=100,
            max_per_substation=25,
            session_deadline_s=30.0,
            request_timeout_s=3.0,
            backoff_scale=0.02,
        ),
    )
    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=k) for k in range(options.days, 0, -1)]
    run = DemoRun(
        engine,
        targets,
        days,
        collector.settings.primary_channel,
        profile.metering.interval_minutes,
        master_key_file=key_file,
        profile=options.profile,
    )
    on_stage(f"reading {options.days} days of history")
    # One session per meter reads everything missing since commissioning up to yesterday (as a
    # head-end catches up after an outage, COL-8); meters that failed get a second pass.
    yesterday = days[-1]
    done = 0
    total = len(targets)

    async def tracked(target: MeterTarget) -> MeterOutcome:
        nonlocal done
        outcome = await collector.collect_meter(target, yesterday)
        done += 1
        on_progress(done, total)
        return outcome

    outcomes = list(await asyncio.gather(*(tracked(t) for t in targets)))
    failed = [t for t, o in zip(targets, outcomes, strict=True) if not o.ok and not o.refused]
    if failed:
        on_stage(f"backfilling {len(failed)} meters that failed")
        done, total = 0, len(failed)
        retried = {o.meter_id: o for o in await asyncio.gather(*(tracked(t) for t in failed))}
        outcomes = [retried.get(o.meter_id, o) for o in outcomes]
    run.outcomes[yesterday] = outcomes
    on_stage("validating and estimating (VEE)")
    validate_history(run)
    return run, fleet, collector


def validate_history(run: DemoRun) -> None:
    """VEE over every day read (DQ-4..DQ-9): findings per rule, estimates per method. Re-running
    after a scheduled read adds versions only where late data changed a day."""
    run.vee = vee_run(
        run.engine,
        load_profile(run.profile),
        run.days[0],
        run.days[-1] + dt.timedelta(days=1),
        channel=run.channel,
        actor="metra demo",
    )


def summarise(run: DemoRun) -> dict[str, Any]:
    """The summary the README promises: every expected interval is stored or missing for a
    reason; events, alarms, and the collection rate per day."""
    per_day = intervals.intervals_per_day(run.interval_minutes * 60)
    expected_total = stored_total = 0
    missing: Counter[str] = Counter()
    rate: dict[str, float] = {}
    events = alarms = 0
    last_outcome: dict[Any, MeterOutcome] = {}
    for day in run.days:
        for outcome in run.outcomes.get(day, []):
            last_outcome[outcome.meter_id] = outcome
    with run.engine.connect() as conn:
        for day in run.days:
            start = intervals.day_start(day)
            end = start + dt.timedelta(days=1)
            stored_day = 0
            for target in run.targets:
                values = intervals.read(conn, target.meter_id, run.channel, start, end)
                present = sum(1 for v in values if v.value is not None)
                stored_day += present
                if present < per_day:
                    missing[_reason(last_outcome.get(target.meter_id))] += per_day - present
            expected_day = per_day * len(run.targets)
            expected_total += expected_day
            stored_total += stored_day
            rate[day.isoformat()] = round(100.0 * stored_day / expected_day, 2)
        first = intervals.day_start(run.days[0])
        last = intervals.day_start(run.days[-1]) + dt.timedelta(days=2)
        for target in run.targets:
            for event in meter_events(conn, target.meter_id, first, last):
                events += 1
                if any(word in event.code for word in ALARM_WORDS):
                    alarms += 1
        alarms += len(security_events(conn, first, last))
        # KPI-1 / KPI-3 of the last day read, as the store stands now (checkpoints still ahead
        # are reported as running).
        kpi = daily_report(
            conn,
            load_profile(run.profile),
            run.days[-1],
            channel=run.channel,
            as_of=dt.datetime.now(dt.UTC),
        ).summary()
    return {
        "meters": len(run.targets),
        "days": len(run.days),
        "intervals_expected": expected_total,
        "intervals_stored": stored_total,
        "intervals_missing": dict(sorted(missing.items())),
        "events": events,
        "alarms": alarms,
        "collection_rate_percent_per_day": rate,
        "kpi": kpi,
        "vee": run.vee or {},
        "seconds": round(time.perf_counter() - run.started, 1),
    }


async def keep_reading(
    run: DemoRun,
    collector: Collector,
    every_s: float,
    report: Callable[[dict[str, Any]], None],
) -> None:
    """Stay on schedule: every ``every_s`` seconds read the previous day again for every meter
    (idempotent: only what is missing is new) and report the summary, until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        if yesterday not in run.days:
            run.days.append(yesterday)
        run.outcomes[yesterday] = await collector.collect(run.targets, yesterday)
        validate_history(run)
        report(summarise(run))
