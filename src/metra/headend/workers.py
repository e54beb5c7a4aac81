"""A collection worker: pulls read jobs from a JetStream queue and reads meters with the collector.

Many workers, on one machine or many, share one durable pull consumer (:mod:`.dispatch`), so
each job goes to one worker at a time. A worker:

- reads the meter with the ordinary :class:`~metra.headend.collector.Collector` (same bounds,
  deadlines, in-session retries, store writes, diagnostics and audit trail as in one process);
- renews its lease on the job (``in_progress``) while the session runs, so a long read is not
  taken away, but a worker that died or hangs loses the job after the ack wait (REL-1: one failed
  worker stops no other, its jobs are redelivered);
- acknowledges a job only after its session's transaction is committed, so a crash before the
  acknowledgement costs a re-read, never data; a re-read is idempotent in the store (REL-3);
- answers a failed read with a negative acknowledgement delayed by the profile's back-off,
  gives up on the queue's last delivery, and never retries a meter that refused authentication
  (retrying would repeat the refusal and may lock the meter; the collector raises SEC-3);
- publishes a result per delivery (ok / retry / failed / refused / invalid) for the dispatcher
  and the operator.

One worker never runs two sessions with the same meter at once (a duplicate delivery waits for
the first), because both would use the meter's invocation counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from . import trail
from .collector import Collector, MeterOutcome
from .dispatch import JobError, JobQueue, JobResult, JobStatus, ReadJob, ensure_queue

#: Subject token for results of jobs too malformed to name their batch.
UNREADABLE_BATCH = "unreadable"


def default_worker_name() -> str:
    """Host and process id: enough to find the worker that handled a job."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    """How one worker pulls: jobs in flight at once, fetch wait, and when to stop by itself.

    ``idle_exit_s`` ends the worker once it had nothing to do for that long and the queue holds
    no job (none waiting, none leased or held back for a retry): batch runs and tests. ``None``
    keeps it waiting for jobs until stopped.
    """

    name: str = field(default_factory=default_worker_name)
    concurrency: int = 16
    fetch_timeout_s: float = 1.0
    idle_exit_s: float | None = None


@dataclass
class WorkerReport:
    """What one worker did until it stopped, by final status of each delivery it handled."""

    deliveries: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    intervals_new: int = 0


#: Called with an event name ("start", "ok", "retry", ...) and details, for logs.
EventSink = Callable[[str, dict[str, Any]], None]


class CollectWorker:
    """Pulls jobs from ``queue`` and reads them with ``collector`` (see the module docstring)."""

    def __init__(
        self,
        js: JetStreamContext,
        queue: JobQueue,
        collector: Collector,
        settings: WorkerSettings | None = None,
        *,
        on_event: EventSink = lambda _name, _details: None,
    ) -> None:
        self.js = js
        self.queue = queue
        self.collector = collector
        self.settings = settings or WorkerSettings()
        self.on_event = on_event
        self.report = WorkerReport()
        self._meters: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def run(self, stop: asyncio.Event | None = None) -> WorkerReport:
        """Pull and handle jobs until ``stop`` is set (or idle too long); finish jobs in flight."""
        stop = stop or asyncio.Event()
        await ensure_queue(self.js, self.queue)
        sub = await self.js.pull_subscribe_bind(durable=self.queue.consumer, stream=self.queue.name)
        in_flight: set[asyncio.Task[None]] = set()
        idle_since = time.monotonic()
        try:
            while not stop.is_set():
                free = self.settings.concurrency - len(in_flight)
                if free <= 0:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    messages = await sub.fetch(free, timeout=self.settings.fetch_timeout_s)
                except TimeoutError:  # nats' own and asyncio's, both raised by fetch
                    messages = []
                if messages or in_flight:
                    idle_since = time.monotonic()
                elif self._idle_too_long(idle_since) and await self._drained(sub):
                    break
                for msg in messages:
                    task = asyncio.create_task(self._handle(msg))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        return self.report

    def _idle_too_long(self, since: float) -> bool:
        limit = self.settings.idle_exit_s
        return limit is not None and time.monotonic() - since >= limit

    async def _drained(self, sub: JetStreamContext.PullSubscription) -> bool:
        """Nothing waits in the queue, not even a job held back by a delayed redelivery."""
        try:
            info = await sub.consumer_info()
        except nats.errors.Error:
            return False
        return not info.num_pending and not info.num_ack_pending

    async def _keep_lease(self, msg: Msg) -> None:
        """Renew the lease on a job well before the ack wait runs out, while the read goes on."""
        period = max(self.queue.ack_wait_s / 3.0, 0.05)
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(nats.errors.Error):
                await msg.in_progress()

    def _backoff(self, delivery: int) -> float:
        """Delay before the next delivery: the profile's back-off, scaled like the collector's."""
        retry = self.collector.profile.collection.retry
        delay = min(
            retry.initial_backoff_s * retry.multiplier ** (delivery - 1), retry.max_backoff_s
        )
        return float(delay * self.collector.settings.backoff_scale)

    async def _handle(self, msg: Msg) -> None:
        """Handle one delivery; a failure to answer the server is logged, the job then comes
        back after the ack wait (nothing is lost, the worker goes on)."""
        try:
            await self._handle_job(msg)
        except nats.errors.Error as exc:
            self.on_event("error", {"error": f"{type(exc).__name__}: {exc}"})

    async def _handle_job(self, msg: Msg) -> None:
        delivery = msg.metadata.num_delivered or 1
        try:
            job = ReadJob.decode(msg.data)
        except JobError as exc:
            await self._invalid(msg, delivery, str(exc))
            return
        details = {"job": job.job_id, "serial": job.target.serial, "delivery": delivery}
        started = time.monotonic()
        lease = asyncio.create_task(self._keep_lease(msg))
        try:
            async with self._meters[job.target.meter_id]:
                self.on_event("start", details)
                outcome = await self.collector.collect_meter(job.target, job.day)
        except Exception as exc:  # the store or the process failed, not the meter: retry
            outcome = MeterOutcome(job.target.meter_id, job.target.serial)
            outcome.reason = f"head-end: {type(exc).__name__}: {exc}"
        finally:
            lease.cancel()
        if outcome.ok:
            status = JobStatus.OK
        elif outcome.refused:
            status = JobStatus.REFUSED
        elif delivery >= self.queue.max_deliver:
            status = JobStatus.FAILED
        else:
            status = JobStatus.RETRY
        result = JobResult(
            batch=job.batch,
            job_id=job.job_id,
            serial=job.target.serial,
            status=status,
            delivery=delivery,
            worker=self.settings.name,
            reason=outcome.reason,
            attempts=outcome.attempts,
            intervals_new=outcome.intervals_new,
            events_new=outcome.events_new,
            clock_synced=outcome.clock_synced,
            seconds=round(time.monotonic() - started, 3),
        )
        await self._publish(result)
        if status is JobStatus.OK:
            await msg.ack_sync()
        elif status is JobStatus.RETRY:
            await msg.nak(delay=self._backoff(delivery))
        else:
            await msg.term()
        self._count(result)
        self.on_event(status.value, {**details, "reason": outcome.reason})

    async def _invalid(self, msg: Msg, delivery: int, reason: str) -> None:
        """A malformed job is terminated (no retry can mend it), reported and audited."""
        await msg.term()
        result = JobResult(
            UNREADABLE_BATCH, "", "", JobStatus.INVALID, delivery, self.settings.name, reason
        )
        await self._publish(result)
        await asyncio.to_thread(self._audit_invalid, reason)
        self._count(result)
        self.on_event("invalid", {"reason": reason, "delivery": delivery})

    def _audit_invalid(self, reason: str) -> None:
        with self.collector.engine.begin() as conn:
            trail.record(
                conn,
                "collect.job_invalid",
                at=self.collector.now(),
                details={"queue": self.queue.name, "worker": self.settings.name, "reason": reason},
            )

    async def _publish(self, result: JobResult) -> None:
        try:
            await self.js.publish(
                self.queue.results_subject(result.batch),
                result.encode(),
                stream=self.queue.results_stream,
            )
        except nats.errors.Error as exc:  # a lost report must not lose the job's outcome
            self.on_event("report-lost", {"job": result.job_id, "error": str(exc)})

    def _count(self, result: JobResult) -> None:
        self.report.deliveries += 1
        self.report.by_status[result.status.value] += 1
        self.report.intervals_new += result.intervals_new
