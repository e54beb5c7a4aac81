"""What ``metra collect`` does: read meters in this process, or dispatch jobs to workers and work.

Three ways to run the same collection engine:

- ``run``: this process reads every meter of an inventory through a day (the in-process queue,
  the default deployment);
- ``dispatch``: queue one read job per meter on a NATS JetStream work queue (scale-out), and
  optionally wait for the batch's results;
- ``worker``: pull jobs from that queue and read them (start as many as the load needs, on as
  many machines as the store and the meters are reachable from).

Meters come from a fleet inventory or vendor key file: those not yet in master data are
registered with their keys (sealed under the master key), those known keep their identity and
keys, so running the command again never re-imports anything. The inventory also says where each
meter listens; the job carries that address, so workers need no access to the file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from sqlalchemy import Engine

from metra.headend.collector import Collector, CollectorSettings, MeterOutcome, MeterTarget
from metra.headend.dispatch import JobQueue, batch_results, dispatch
from metra.headend.importer import read_file, store_meters
from metra.headend.keystore import KeyStore
from metra.headend.workers import CollectWorker, WorkerReport, WorkerSettings
from metra.profiles import Profile
from metra.store import intervals
from metra.store.masterdata import Entity, find

#: Who the audit trail names for what these commands do.
ACTOR = "metra collect"


@dataclass(frozen=True)
class EngineLimits:
    """The collector's engineering limits as the command line sets them."""

    client_system_title: bytes
    max_sessions: int = 64
    max_per_substation: int = 16
    session_deadline_s: float = 120.0
    request_timeout_s: float = 10.0
    backoff_scale: float = 1.0

    def settings(self) -> CollectorSettings:
        return CollectorSettings(
            client_system_title=self.client_system_title,
            max_sessions=self.max_sessions,
            max_per_substation=self.max_per_substation,
            session_deadline_s=self.session_deadline_s,
            request_timeout_s=self.request_timeout_s,
            backoff_scale=self.backoff_scale,
        )


def client_system_title(text: bytes | None) -> bytes:
    """The head-end's own system title: given, or "MTR" and five random octets per process."""
    return text if text is not None else b"MTR" + secrets.token_bytes(5)


def load_targets(
    engine: Engine,
    keystore: KeyStore,
    inventory: Path,
    kek: bytes,
    *,
    commissioned: dt.date | None,
    at: dt.datetime,
) -> list[MeterTarget]:
    """The inventory's meters as collection targets, registering the ones master data lacks.

    Registration is one transaction (all new meters or none, as an import). ``commissioned``
    bounds backfill: nothing before that day is asked for.
    """
    imported = read_file(inventory, kek)
    today = at.date()
    with engine.begin() as conn:
        known = {m.serial: find(conn, Entity.METER, today, serial=m.serial) for m in imported}
        new = [m for m in imported if not known[m.serial]]
        ids = store_meters(conn, keystore, new, at=at, by=ACTOR) if new else {}
    ids.update({serial: found[0] for serial, found in known.items() if found})
    since = intervals.day_start(commissioned) if commissioned is not None else None
    targets = []
    for meter in imported:
        if meter.address is None:
            continue  # a vendor key file says nothing about where the meter listens
        address = meter.address
        targets.append(
            MeterTarget(
                ids[meter.serial],
                meter.serial,
                meter.system_title,
                address.host,
                address.port,
                transport=address.transport,
                server_address=address.server_address,
                physical_address=address.physical_address,
                commissioned=since,
            )
        )
    return targets


def run_summary(outcomes: Sequence[MeterOutcome], day: dt.date, seconds: float) -> dict[str, Any]:
    """What ``collect run`` prints: meters read, failures by meter with their reasons."""
    return {
        "day": day.isoformat(),
        "meters": len(outcomes),
        "ok": sum(1 for o in outcomes if o.ok),
        "failed": {o.serial: o.reason or "unknown" for o in outcomes if not o.ok},
        "refused": sorted(o.serial for o in outcomes if o.refused),
        "intervals_new": sum(o.intervals_new for o in outcomes),
        "events_new": sum(o.events_new for o in outcomes),
        "seconds": round(seconds, 2),
    }


async def collect_here(
    engine: Engine,
    keystore: KeyStore,
    profile: Profile,
    limits: EngineLimits,
    targets: Sequence[MeterTarget],
    day: dt.date,
    *,
    on_progress: Callable[[int, int], None] = lambda _d, _t: None,
) -> dict[str, Any]:
    """Read every target through ``day`` in this process; a meter that failed gets one more
    pass after the others (a link that dropped often answers a minute later)."""
    started = time.perf_counter()
    collector = Collector(engine, keystore, profile, limits.settings())
    done = 0

    async def one(target: MeterTarget) -> MeterOutcome:
        nonlocal done
        outcome = await collector.collect_meter(target, day)
        done += 1
        on_progress(done, len(targets))
        return outcome

    try:
        outcomes = list(await asyncio.gather(*(one(t) for t in targets)))
        again = [t for t, o in zip(targets, outcomes, strict=True) if not o.ok and not o.refused]
        if again:
            retried = {o.meter_id: o for o in await asyncio.gather(*(one(t) for t in again))}
            outcomes = [retried.get(o.meter_id, o) for o in outcomes]
    finally:
        collector.close()
    return run_summary(outcomes, day, time.perf_counter() - started)


#: Seconds to reach the NATS server at start; later outages are ridden out by reconnecting.
CONNECT_S = 5.0


async def connect(url: str, name: str) -> NatsClient:
    """Connect to the NATS server: a server that is not there fails within seconds and says so;
    once connected, the client reconnects for a minute after losing the server (jobs are safe in
    JetStream meanwhile; a worker that gives up exits, and its leased jobs return)."""

    async def quiet(_error: Exception) -> None:
        """The client's own error callback prints tracebacks; the caller reports instead."""

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                name=name,
                connect_timeout=2,
                reconnect_time_wait=1,
                max_reconnect_attempts=60,
                error_cb=quiet,
            ),
            CONNECT_S,
        )
    except TimeoutError:
        raise ConnectionError(f"no NATS server answered within {CONNECT_S:g} s") from None


async def dispatch_jobs(
    nats_url: str,
    queue: JobQueue,
    engine: Engine,
    targets: Sequence[MeterTarget],
    day: dt.date,
    *,
    wait_s: float | None,
) -> dict[str, Any]:
    """Queue the jobs; with ``wait_s`` also wait for every job's final result."""
    nc = await connect(nats_url, f"metra-dispatch-{queue.name}")
    try:
        js = nc.jetstream()
        at = dt.datetime.now(dt.UTC)
        sent = await dispatch(js, queue, engine, targets, day, at=at, by=ACTOR)
        out: dict[str, Any] = {
            "queue": queue.name,
            "batch": sent.batch,
            "day": day.isoformat(),
            "queued": len(sent.queued),
            "already_queued": len(sent.duplicates),
        }
        if wait_s is not None:
            report = await batch_results(js, queue, sent.batch, sent.queued, timeout_s=wait_s)
            out["results"] = report.summary(sent.queued)
        return out
    finally:
        await nc.close()


async def work(
    nats_url: str,
    queue: JobQueue,
    engine: Engine,
    keystore: KeyStore,
    profile: Profile,
    limits: EngineLimits,
    settings: WorkerSettings,
    *,
    on_event: Callable[[str, dict[str, Any]], None],
) -> WorkerReport:
    """Run one worker until SIGTERM/SIGINT (jobs in flight are finished) or idle exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    nc = await connect(nats_url, f"metra-worker-{settings.name}")
    collector = Collector(engine, keystore, profile, limits.settings())
    try:
        worker = CollectWorker(nc.jetstream(), queue, collector, settings, on_event=on_event)
        on_event("ready", {"worker": settings.name, "queue": queue.name})
        return await worker.run(stop)
    finally:
        collector.close()
        await nc.close()


def json_line(event: str, details: dict[str, Any]) -> str:
    """One event as a JSON line (what a worker prints for its logs)."""
    return json.dumps({"event": event, **details}, sort_keys=True, default=str)


def status_counts(report: WorkerReport) -> dict[str, int]:
    """A worker's deliveries per final status, for its last log line."""
    return dict(sorted(report.by_status.items()))
