"""Collection scaled out over NATS JetStream, against the real server at 127.0.0.1:4222.

A dispatcher queues one read job per meter of a virtual fleet; collector workers run as separate
``metra collect worker`` processes, read the meters over loopback and write one shared SQLite
store. Proven here:

- two workers share the work and every meter-day is stored exactly once, each interval equal to
  what the meter produced (COL-1, COL-8, DQ-5);
- a worker SIGKILLed in the middle of a job loses nothing: its lease runs out, the job is
  redelivered to the other worker and completed, and nothing is stored twice (REL-1, REL-3);
- a failing meter is nak'ed with back-off, retried, and finally given up with its reason;
  a malformed job is terminated and reported, and the worker goes on (KPI-5).

Each test uses its own stream names and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

import nats
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from metra.cli.collect import load_targets
from metra.cli.main import app
from metra.headend.collector import Collector, CollectorSettings, MeterTarget
from metra.headend.dispatch import (
    JobQueue,
    JobResult,
    JobStatus,
    ReadJob,
    batch_results,
    delete_queue,
    dispatch,
    ensure_queue,
)
from metra.headend.keystore import KeyStore, MasterKey
from metra.headend.workers import CollectWorker, WorkerSettings
from metra.meter.faults import MeterFaults
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.store import diagnostics
from metra.store.masterdata import Entity, find
from metra.store.schema import audit_record

from .collect_proof import (
    check_stored_once,
    cli_env,
    history_days,
    new_secrets,
    produced,
    sqlite_path,
    start_cli,
)

pytestmark = pytest.mark.nats

NATS_URL = os.environ.get("METRA_TEST_NATS", "nats://127.0.0.1:4222")
NATS_START = "nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server"


@pytest.fixture
def nats_url() -> str:
    where = urlparse(NATS_URL)
    try:
        socket.create_connection((where.hostname, where.port or 4222), timeout=2).close()
    except OSError as exc:
        pytest.fail(
            f"NATS JetStream is not reachable at {NATS_URL} ({exc}). Start it with: {NATS_START}",
            pytrace=False,
        )
    return NATS_URL


@pytest.fixture
def queue(nats_url: str) -> Iterator[JobQueue]:
    """A queue of its own per test (short lease so a dead worker's job returns quickly)."""
    made = JobQueue(f"TEST_{secrets.token_hex(5).upper()}", ack_wait_s=2.0, max_deliver=3)
    yield made

    async def clean() -> None:
        nc = await nats.connect(nats_url)
        try:
            await delete_queue(nc.jetstream(), made)
        finally:
            await nc.close()

    asyncio.run(clean())


def _worker_args(db: Path, queue: JobQueue, name: str, *extra: str) -> tuple[str, ...]:
    return (
        "worker",
        "--db",
        str(db),
        "--nats",
        NATS_URL,
        "--queue",
        queue.name,
        "--ack-wait",
        str(queue.ack_wait_s),
        "--max-deliver",
        str(queue.max_deliver),
        "--name",
        name,
        "--request-timeout",
        "3",
        "--backoff-scale",
        "0.001",
        *extra,
    )


async def _until(process: asyncio.subprocess.Process, event: str, timeout: float = 20.0) -> Any:
    """Read a worker's JSON lines until one reports ``event``; returns that line."""
    assert process.stdout is not None

    async def scan() -> Any:
        while True:
            line = await process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                assert process.stderr is not None
                err = (await process.stderr.read()).decode()[-2000:]
                raise AssertionError(f"worker ended before {event!r}: {err}")
            doc = json.loads(line)
            if doc["event"] == event:
                return doc

    return await asyncio.wait_for(scan(), timeout)


def _slow(fleet: Fleet, seconds: float) -> None:
    """Every meter answers each frame after ``seconds``: a read takes long enough to be
    interrupted (a slow mobile link)."""
    for slot in fleet.meters:
        slot.faults = MeterFaults(slow_answer_seconds=seconds)


def _sessions(engine: Engine) -> dict[str, int]:
    """How many `session.read` audit entries each meter has (one per session held)."""
    t = audit_record
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.target_id).where(t.c.action == "session.read"))
        for (meter,) in rows:
            counts[meter] = counts.get(meter, 0) + 1
    return counts


def test_col1_two_worker_processes_read_every_meter_day_once(
    engine: Engine, tmp_path: Path, queue: JobQueue
) -> None:
    """COL-1, COL-8, DQ-5: `metra collect dispatch` queues one job per meter of a 6-meter fleet;
    two `metra collect worker` processes share the jobs; every meter-day of two days of history
    is stored exactly once and equals what each meter produced."""
    master, kek = new_secrets()
    env = cli_env(master, kek)
    db = sqlite_path(engine.url)
    days, installed = history_days(2)
    dispatch_args = [
        "collect", "dispatch", "--db", str(db), "--inventory", str(tmp_path / "fleet.json"),
        "--day", days[-1].isoformat(), "--commissioned", installed.isoformat(),
        "--nats", NATS_URL, "--queue", queue.name, "--ack-wait", str(queue.ack_wait_s),
        "--max-deliver", str(queue.max_deliver), "--wait", "25",
    ]  # fmt: skip

    async def scenario() -> tuple[Any, list[Any]]:
        async with Fleet(FleetConfig(meters=6, seed=11)) as fleet:
            _slow(fleet, 0.005)  # a read takes long enough for the other worker to pull too
            fleet.write_inventory(tmp_path / "fleet.json", kek)
            workers = [
                await start_cli(*_worker_args(db, queue, f"w{i}", "--concurrency", "1"), env=env)
                for i in (1, 2)
            ]
            for worker in workers:
                await _until(worker, "ready")
            # The dispatcher runs the real command (in a thread: the fleet serves on this loop).
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("METRA_MASTER_KEY", master)
                patch.setenv("METRA_KEK", kek.hex())
                result = await asyncio.to_thread(CliRunner().invoke, app, dispatch_args)
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            stopped = [await _until(worker, "stopped") for worker in workers]
            for worker in workers:
                assert await worker.wait() == 0
            assert result.exit_code == 0, result.output
            with engine.connect() as conn:
                for slot in fleet.meters:
                    serial = slot.identity.serial
                    (meter_id,) = find(conn, Entity.METER, datetime.now(UTC).date(), serial=serial)
                    check = check_stored_once(
                        conn, meter_id, lambda d, s=slot: produced(fleet, s, d), days
                    )
                    assert check.complete_days == 2 and check.missing == 0, serial
                    assert check.versions == 2, serial  # one version per day: read once
            return json.loads(result.stdout.strip().splitlines()[-1]), stopped

    summary, stopped = asyncio.run(scenario())
    assert summary["queued"] == 6 and summary["already_queued"] == 0
    results = summary["results"]
    assert results["status"] == {"ok": 6}, results
    assert results["unfinished"] == [] and results["retried_deliveries"] == 0
    assert results["workers"] == ["w1", "w2"]  # the work was shared
    assert sum(s["deliveries"] for s in stopped) == 6
    assert sorted(_sessions(engine).values()) == [1] * 6  # each job read its meter once


def test_rel3_worker_killed_mid_job_redelivered_nothing_lost_or_doubled(
    engine: Engine, tmp_path: Path, queue: JobQueue, nats_url: str
) -> None:
    """REL-1, REL-3, DQ-5: a worker process is SIGKILLed while its sessions run; its jobs come
    back when the lease (ack wait) runs out, another worker completes them, and every interval
    is stored once."""
    master_hex, kek = new_secrets()
    env = cli_env(master_hex, kek)
    db = sqlite_path(engine.url)
    days, installed = history_days(2)
    keystore = KeyStore(MasterKey.parse(master_hex))

    async def scenario() -> tuple[Any, list[JobResult], dict[str, Any]]:
        async with Fleet(FleetConfig(meters=4, seed=12)) as fleet:
            _slow(fleet, 0.05)  # a session takes seconds: the kill lands inside it
            inventory = tmp_path / "fleet.json"
            fleet.write_inventory(inventory, kek)
            targets = load_targets(
                engine, keystore, inventory, kek, commissioned=installed, at=datetime.now(UTC)
            )
            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            sent = await dispatch(
                js, queue, engine, targets, days[-1], at=datetime.now(UTC), by="test"
            )
            doomed = await start_cli(*_worker_args(db, queue, "doomed"), env=env)
            started = await _until(doomed, "start")
            await asyncio.sleep(0.5)  # association open, load profile being read
            doomed.kill()
            await doomed.wait()
            # The survivor is the same worker code, here in this process.
            settings = CollectorSettings(
                client_system_title=b"MTRSURV1", request_timeout_s=3.0, backoff_scale=0.001
            )
            collector = Collector(engine, keystore, load_profile("pl"), settings)
            survivor = CollectWorker(js, queue, collector, WorkerSettings(name="survivor"))
            stop = asyncio.Event()
            running = asyncio.create_task(survivor.run(stop))
            report = await batch_results(js, queue, sent.batch, sent.queued, timeout_s=25)
            stop.set()
            await running
            collector.close()
            info = await js.consumer_info(queue.name, queue.consumer)
            await nc.close()
            with engine.connect() as conn:
                for target in targets:
                    slot = fleet.by_serial()[target.serial]
                    check = check_stored_once(
                        conn, target.meter_id, lambda d, s=slot: produced(fleet, s, d), days
                    )
                    assert check.complete_days == 2 and check.missing == 0, target.serial
            consumer = {"pending": info.num_pending, "acks": info.num_ack_pending}
            return started, list(report.final.values()), consumer

    started, results, consumer = asyncio.run(scenario())
    assert {r.status for r in results} == {JobStatus.OK} and len(results) == 4
    assert {r.worker for r in results} == {"survivor"}  # the killed worker finished none
    again = next(r for r in results if r.job_id == started["job"])
    assert again.delivery == 2  # the interrupted job was delivered again
    assert consumer == {"pending": 0, "acks": 0}  # nothing left in the work queue


def test_kpi5_failing_meter_retried_with_backoff_then_given_up(
    engine: Engine, tmp_path: Path, queue: JobQueue, nats_url: str
) -> None:
    """KPI-5, COL-8: a meter that never answers is nak'ed with back-off on every delivery, given
    up on the queue's last one with its reason; its diagnostic says why. A malformed job is
    terminated as invalid and the worker goes on."""
    master = MasterKey.generate()
    keystore = KeyStore(master)
    _, kek = new_secrets()
    days, installed = history_days(1)

    async def scenario() -> tuple[list[JobResult], Any, list[str]]:
        async with Fleet(FleetConfig(meters=2, seed=13)) as fleet:
            inventory = tmp_path / "fleet.json"
            fleet.write_inventory(inventory, kek)
            targets = load_targets(
                engine, keystore, inventory, kek, commissioned=installed, at=datetime.now(UTC)
            )
            now = fleet.clock.now()
            fleet.meters[1].faults = MeterFaults(  # offline: every connection is cut at once
                offline_windows=((now - timedelta(hours=1), now + timedelta(hours=1)),)
            )
            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            sent = await dispatch(
                js, queue, engine, targets, days[-1], at=datetime.now(UTC), by="test"
            )
            await js.publish(queue.jobs_subject, b'{"format": 1, "batch": 7}')
            settings = CollectorSettings(
                client_system_title=b"MTRTEST1", request_timeout_s=2.0, backoff_scale=0.0005
            )
            collector = Collector(engine, keystore, load_profile("pl"), settings)
            events: list[str] = []
            worker = CollectWorker(
                js,
                queue,
                collector,
                WorkerSettings(name="solo", idle_exit_s=1.0),
                on_event=lambda name, _d: events.append(name),
            )
            run = asyncio.create_task(worker.run())
            report = await batch_results(js, queue, sent.batch, sent.queued, timeout_s=25)
            await run
            collector.close()
            await nc.close()
            every = report.retries + list(report.final.values())
            with engine.connect() as conn:
                diag = diagnostics.get(conn, targets[1].meter_id)
            return every, diag, events

    every, diag, events = asyncio.run(scenario())
    failing = sorted((r for r in every if r.delivery and r.serial), key=lambda r: r.delivery)
    dead_results = [r for r in failing if r.status is not JobStatus.OK]
    assert [r.status for r in dead_results] == [JobStatus.RETRY, JobStatus.RETRY, JobStatus.FAILED]
    assert [r.delivery for r in dead_results] == [1, 2, 3]
    assert all("TransportError" in (r.reason or "") for r in dead_results), dead_results
    assert sum(1 for r in every if r.status is JobStatus.OK) == 1
    assert diag is not None and diag.success_count == 0 and diag.last_failure_reason
    assert "invalid" in events  # the malformed job did not stop the worker


def test_dq5_job_delivered_twice_stores_nothing_twice(
    engine: Engine, tmp_path: Path, queue: JobQueue, nats_url: str
) -> None:
    """DQ-5, REL-3: the same job handled twice (as after a lost acknowledgement) holds two
    sessions, and the second stores no new interval, no second version, no duplicate event."""
    keystore = KeyStore(MasterKey.generate())
    _, kek = new_secrets()
    days, installed = history_days(2)

    async def scenario() -> tuple[list[JobResult], Any]:
        async with Fleet(FleetConfig(meters=1, seed=14)) as fleet:
            inventory = tmp_path / "fleet.json"
            fleet.write_inventory(inventory, kek)
            (target,) = load_targets(
                engine, keystore, inventory, kek, commissioned=installed, at=datetime.now(UTC)
            )
            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            await ensure_queue(js, queue)
            job = ReadJob("twice", target, days[-1])
            for copy in ("a", "b"):  # two message ids: JetStream keeps both
                await js.publish(
                    queue.jobs_subject, job.encode(), headers={"Nats-Msg-Id": f"{copy}"}
                )
            settings = CollectorSettings(client_system_title=b"MTRTWICE")
            collector = Collector(engine, keystore, load_profile("pl"), settings)
            worker = CollectWorker(
                js, queue, collector, WorkerSettings(name="solo", idle_exit_s=1.0)
            )
            await worker.run()
            collector.close()
            sub = await js.subscribe(
                queue.results_subject("twice"), stream=queue.results_stream, ordered_consumer=True
            )
            both = [JobResult.decode((await sub.next_msg(2)).data) for _ in range(2)]
            await nc.close()
            with engine.connect() as conn:
                check = check_stored_once(
                    conn, target.meter_id, lambda d: produced(fleet, fleet.meters[0], d), days
                )
            return both, check

    both, check = asyncio.run(scenario())
    assert [r.status for r in both] == [JobStatus.OK, JobStatus.OK]
    assert both[0].intervals_new == 2 * 96 * 6  # two days, six load-profile channels
    assert both[1].intervals_new == 0 and both[1].events_new == 0
    assert check.complete_days == 2 and check.versions == 2 and check.missing == 0


def test_dispatching_the_same_day_twice_queues_each_meter_once(
    engine: Engine, queue: JobQueue, nats_url: str
) -> None:
    """DQ-5 at the queue: JetStream's duplicate window drops a second dispatch of a (meter, day),
    so a dispatcher re-run after a crash does not make workers read a meter twice."""
    days, _ = history_days(1)
    targets = [MeterTarget(uuid4(), f"SN{i}", bytes(8), "127.0.0.1", 4059 + i) for i in range(3)]

    async def scenario() -> tuple[Any, Any, int]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        try:
            first = await dispatch(
                js, queue, engine, targets, days[-1], at=datetime.now(UTC), by="t"
            )
            second = await dispatch(
                js, queue, engine, targets, days[-1], at=datetime.now(UTC), by="t"
            )
            info = await js.stream_info(queue.name)
            return first, second, info.state.messages
        finally:
            await nc.close()

    first, second, messages = asyncio.run(scenario())
    assert len(first.queued) == 3 and not first.duplicates
    assert not second.queued and sorted(second.duplicates) == sorted(first.queued)
    assert messages == 3
