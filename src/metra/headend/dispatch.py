"""Read jobs over NATS JetStream: how collection scales out beyond one head-end process.

The in-process :class:`~metra.headend.collector.Collector` is the default. When one machine is
not enough, a dispatcher publishes one read job per meter to a JetStream *work-queue* stream and
any number of worker processes (:mod:`metra.headend.workers`) pull jobs, read the meter with the
same collector, write the shared store and acknowledge. JetStream keeps a job until a worker
acknowledges it: a worker that dies mid-job stops renewing its lease (the consumer's ack wait),
and the job goes to another worker. The store's writes are idempotent (raw intervals are
versioned and only gaps are filled, registers and events are inserted only when new), so a job
done twice stores nothing twice (REL-3, DQ-5).

Why one job per meter and not per meter-day: a session catches up every interval still missing
back to the backfill horizon (COL-8), so one job covers all of a meter's missing days; and two
sessions with the same meter at once would race for its invocation counter (the meter refuses a
replayed counter). One job per meter keeps one session per meter in the whole cluster. The job
still names its day ("read through the end of day n"), and the pair (meter, day) is the job's
JetStream message id, so dispatching the same day twice within the duplicate window queues it once.

Each delivery ends in a result message on the queue's results stream (ok, retry, failed, refused,
invalid), so a dispatcher can wait for its batch and an operator can see what happened where.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from sqlalchemy import Engine

from . import trail
from .collector import MeterTarget
from .errors import HeadEndError

#: Version of the job and result wire format.
FORMAT = 1
#: Largest job or result accepted from the wire (a job is about 400 octets).
MAX_MESSAGE_BYTES = 4096
#: Shape of a queue name: JetStream stream names may not hold dots, spaces or wildcards.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class JobError(HeadEndError):
    """A job or result message is malformed (too long, not JSON, a field missing or wrong)."""


class JobStatus(StrEnum):
    """How one delivery of a job ended."""

    OK = "ok"
    RETRY = "retry"  # failed this time; redelivered after a back-off
    FAILED = "failed"  # failed on its last delivery: given up, the reason stays
    REFUSED = "refused"  # the meter refused authentication: never retried (SEC-3)
    INVALID = "invalid"  # the job itself was unreadable


#: Statuses after which a job is not delivered again.
FINAL = frozenset({JobStatus.OK, JobStatus.FAILED, JobStatus.REFUSED, JobStatus.INVALID})


@dataclass(frozen=True)
class JobQueue:
    """One collection queue on a JetStream server: its streams, subjects and shared consumer.

    ``ack_wait_s`` is a worker's lease on a job: a worker renews it while reading, so it only
    runs out when the worker died or hung, and then the job is redelivered. ``max_deliver``
    bounds deliveries of a failing job. ``duplicate_window_s`` is how long a dispatched
    (meter, day) suppresses the same job being queued again.
    """

    name: str
    ack_wait_s: float = 60.0
    max_deliver: int = 5
    duplicate_window_s: float = 3600.0
    results_max_age_s: float = 7 * 86400.0

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise JobError(f"queue name {self.name!r}: use 1-32 of A-Z a-z 0-9 _ -")
        if self.ack_wait_s <= 0 or self.max_deliver < 1 or self.duplicate_window_s <= 0:
            raise JobError("ack wait and duplicate window must be positive, max deliver >= 1")

    @property
    def subject_root(self) -> str:
        return f"metra.collect.{self.name.lower()}"

    @property
    def jobs_subject(self) -> str:
        return f"{self.subject_root}.jobs"

    def results_subject(self, batch: str) -> str:
        return f"{self.subject_root}.results.{batch}"

    @property
    def results_stream(self) -> str:
        return f"{self.name}_RESULTS"

    @property
    def consumer(self) -> str:
        """The durable consumer all workers share (work-queue streams allow one per subject)."""
        return "collectors"


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise JobError(f"field {name!r} missing or not {getattr(kind, '__name__', kind)}")
    return value


def _load(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE_BYTES:
        raise JobError(f"{what} of {len(data)} octets exceeds {MAX_MESSAGE_BYTES}")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobError(f"{what} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise JobError(f"{what} is not a format {FORMAT} object")
    return doc


@dataclass(frozen=True)
class ReadJob:
    """Read one meter through the end of ``day`` (catching up whatever is missing before it)."""

    batch: str
    target: MeterTarget
    day: date

    @property
    def job_id(self) -> str:
        return f"{self.target.meter_id}/{self.day.isoformat()}"

    def encode(self) -> bytes:
        t = self.target
        return json.dumps(
            {
                "format": FORMAT,
                "batch": self.batch,
                "day": self.day.isoformat(),
                "meter_id": str(t.meter_id),
                "serial": t.serial,
                "system_title": t.system_title.hex(),
                "host": t.host,
                "port": t.port,
                "substation": t.substation,
                "transport": t.transport,
                "server_address": t.server_address,
                "physical_address": t.physical_address,
                "interface": t.interface,
                "commissioned": t.commissioned.isoformat() if t.commissioned else None,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> ReadJob:
        """Parse a job from the wire; anything malformed raises :class:`JobError`."""
        doc = _load(data, "job")
        try:
            commissioned = doc.get("commissioned")
            if commissioned is not None and not isinstance(commissioned, str):
                raise JobError("field 'commissioned' is not a date-time")
            when = datetime.fromisoformat(commissioned) if commissioned else None
            if when is not None and when.tzinfo is None:
                raise JobError("field 'commissioned' has no time zone")
            port = _field(doc, "port", int)
            if not 0 < port < 65536:
                raise JobError(f"port {port} out of range")
            target = MeterTarget(
                meter_id=UUID(_field(doc, "meter_id", str)),
                serial=_field(doc, "serial", str),
                system_title=bytes.fromhex(_field(doc, "system_title", str)),
                host=_field(doc, "host", str),
                port=port,
                substation=_field(doc, "substation", str),
                transport=_field(doc, "transport", str),
                server_address=_field(doc, "server_address", int),
                physical_address=_field(doc, "physical_address", int),
                interface=_field(doc, "interface", str),
                commissioned=when,
            )
            day = date.fromisoformat(_field(doc, "day", str))
        except ValueError as exc:
            raise JobError(f"job field malformed: {exc}") from None
        if len(target.system_title) != 8:
            raise JobError("system title must be 8 octets")
        if target.transport not in ("wrapper", "hdlc"):
            raise JobError(f"unknown transport {target.transport!r}")
        return cls(_field(doc, "batch", str), target, day)


@dataclass(frozen=True)
class JobResult:
    """What one delivery of a job did (published by the worker that handled it)."""

    batch: str
    job_id: str
    serial: str
    status: JobStatus
    delivery: int
    worker: str
    reason: str | None = None
    attempts: int = 0
    intervals_new: int = 0
    events_new: int = 0
    clock_synced: bool = False
    seconds: float = 0.0

    def encode(self) -> bytes:
        doc = {"format": FORMAT, **asdict(self), "status": self.status.value}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> JobResult:
        doc = _load(data, "result")
        try:
            status = JobStatus(_field(doc, "status", str))
        except ValueError as exc:
            raise JobError(str(exc)) from None
        reason = doc.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise JobError("field 'reason' is not text")
        return cls(
            batch=_field(doc, "batch", str),
            job_id=_field(doc, "job_id", str),
            serial=_field(doc, "serial", str),
            status=status,
            delivery=_field(doc, "delivery", int),
            worker=_field(doc, "worker", str),
            reason=reason,
            attempts=_field(doc, "attempts", int),
            intervals_new=_field(doc, "intervals_new", int),
            events_new=_field(doc, "events_new", int),
            clock_synced=bool(doc.get("clock_synced")),
            seconds=float(_field(doc, "seconds", (int, float))),
        )


async def ensure_queue(js: JetStreamContext, queue: JobQueue) -> None:
    """Create the job stream, the results stream and the shared consumer if they are missing.

    Dispatcher and workers both call this, so either may start first; an existing stream or
    consumer is left as it is (its settings were chosen by whoever created it).
    """
    streams = (
        StreamConfig(
            name=queue.name,
            subjects=[queue.jobs_subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=queue.duplicate_window_s,
        ),
        StreamConfig(
            name=queue.results_stream,
            subjects=[f"{queue.subject_root}.results.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=queue.results_max_age_s,
        ),
    )
    for config in streams:
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)
    try:
        await js.consumer_info(queue.name, queue.consumer)
    except nats.js.errors.NotFoundError:
        await js.add_consumer(
            queue.name,
            ConsumerConfig(
                durable_name=queue.consumer,
                name=queue.consumer,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=queue.ack_wait_s,
                max_deliver=queue.max_deliver,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=queue.jobs_subject,
            ),
        )


async def delete_queue(js: JetStreamContext, queue: JobQueue) -> None:
    """Remove both streams (and with them the consumer): queued jobs and results are gone."""
    for name in (queue.name, queue.results_stream):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)


@dataclass(frozen=True)
class Dispatched:
    """A dispatched batch: the jobs queued now and those already queued (same meter and day)."""

    batch: str
    day: date
    queued: tuple[str, ...]
    duplicates: tuple[str, ...]


def new_batch() -> str:
    """A batch id: also a subject token, so only letters and digits."""
    return secrets.token_hex(8)


async def dispatch(
    js: JetStreamContext,
    queue: JobQueue,
    engine: Engine,
    targets: Sequence[MeterTarget],
    day: date,
    *,
    at: datetime,
    by: str,
    batch: str | None = None,
) -> Dispatched:
    """Queue one read job per target for ``day``; recorded in the audit trail (STO-5)."""
    batch = batch or new_batch()
    await ensure_queue(js, queue)
    queued: list[str] = []
    duplicates: list[str] = []
    for target in targets:
        job = ReadJob(batch, target, day)
        ack = await js.publish(
            queue.jobs_subject,
            job.encode(),
            stream=queue.name,
            headers={"Nats-Msg-Id": job.job_id},
        )
        (duplicates if ack.duplicate else queued).append(job.job_id)
    with engine.begin() as conn:
        trail.record(
            conn,
            "collect.dispatch",
            at=at,
            actor=by,
            details={
                "queue": queue.name,
                "batch": batch,
                "day": day.isoformat(),
                "queued": len(queued),
                "already_queued": len(duplicates),
            },
        )
    return Dispatched(batch, day, tuple(queued), tuple(duplicates))


@dataclass
class BatchReport:
    """The results of a batch: the final one per job, and every delivery that was retried."""

    batch: str
    final: dict[str, JobResult] = field(default_factory=dict)
    retries: list[JobResult] = field(default_factory=list)
    malformed: int = 0

    def add(self, result: JobResult) -> None:
        if result.status in FINAL:
            self.final[result.job_id] = result
        else:
            self.retries.append(result)

    def summary(self, expected: Iterable[str] = ()) -> dict[str, Any]:
        """Counts for a person or a script: per status, failure reasons, what never finished."""
        statuses = Counter(r.status.value for r in self.final.values())
        reasons = Counter(
            r.reason or "unknown" for r in self.final.values() if r.status is not JobStatus.OK
        )
        return {
            "batch": self.batch,
            "jobs": len(self.final),
            "status": dict(sorted(statuses.items())),
            "reasons": dict(sorted(reasons.items())),
            "retried_deliveries": len(self.retries),
            "unfinished": sorted(set(expected) - set(self.final)),
            "intervals_new": sum(r.intervals_new for r in self.final.values())
            + sum(r.intervals_new for r in self.retries),
            "workers": sorted({r.worker for r in self.final.values()}),
        }


async def batch_results(
    js: JetStreamContext,
    queue: JobQueue,
    batch: str,
    expected: Iterable[str],
    *,
    timeout_s: float,
) -> BatchReport:
    """Read the batch's results until every expected job has a final one or time runs out."""
    waiting = set(expected)
    report = BatchReport(batch)
    sub = await js.subscribe(
        queue.results_subject(batch), stream=queue.results_stream, ordered_consumer=True
    )
    deadline = time.monotonic() + timeout_s
    try:
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except TimeoutError:  # nats' own and asyncio's
                break
            try:
                result = JobResult.decode(msg.data)
            except JobError:
                report.malformed += 1
                continue
            report.add(result)
            if result.status in FINAL:
                waiting.discard(result.job_id)
    finally:
        await sub.unsubscribe()
    return report
