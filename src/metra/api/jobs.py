"""Long work behind a job id: an on-demand read of a meter (COL-7) answers 202 at once and the
caller polls the job, because a session with a meter can take as long as its deadline (tens of
seconds on a poor radio link) and no HTTP client should hang on it.

Jobs live in the process's memory (a restart forgets them; the audit trail keeps every read and
its outcome). The read itself goes through the head-end's `Collector.read_on_demand`, within the
same concurrency bounds as scheduled collection; the meter's address is the one its last
successful session recorded (communication diagnostics), its keys come from the key store.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Engine

from metra.dlms.data import Data
from metra.dlms.describe import data_to_json
from metra.dlms.errors import DlmsError
from metra.dlms.obis import Obis
from metra.headend.collector import Collector, CollectorSettings, MeterTarget
from metra.headend.errors import HeadEndError
from metra.headend.keystore import KeyStore, MasterKey
from metra.profiles.model import Profile
from metra.store import diagnostics
from metra.store.masterdata import Entity, as_of


class JobFailed(Exception):
    """A job could not do its work; the message is what the poller sees."""


class MeterReader(Protocol):
    """Reads one attribute of a meter now."""

    async def read(self, meter_id: UUID, class_id: int, obis: Obis, attribute: int) -> Data:
        """The attribute's value; raises on the meter's refusal or a transport failure."""
        ...


@dataclass
class Job:
    """One piece of long work and what became of it."""

    id: UUID
    kind: str
    owner: UUID
    subject: str
    created_at: datetime
    status: str = "queued"  # queued / running / succeeded / failed
    finished_at: datetime | None = None
    result: Any = None
    error: str | None = None
    _finished: float | None = field(default=None, repr=False)


class JobRegistry:
    """Creates jobs, runs them on the server's event loop and forgets them after `ttl_s`."""

    def __init__(self, ttl_s: float = 3600.0, max_jobs: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_jobs = max_jobs
        self._jobs: dict[UUID, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    def get(self, job_id: UUID) -> Job | None:
        """The job, if still remembered."""
        with self._lock:
            return self._jobs.get(job_id)

    def _prune(self) -> None:
        horizon = time.monotonic() - self.ttl_s
        for job_id in [
            k for k, j in self._jobs.items() if j._finished is not None and j._finished < horizon
        ]:
            del self._jobs[job_id]

    def start(
        self, kind: str, owner: UUID, subject: str, work: Callable[[], Awaitable[Any]]
    ) -> Job:
        """Register a job and run `work` in the background; must be called on the event loop."""
        with self._lock:
            self._prune()
            if len(self._jobs) >= self.max_jobs:
                raise JobFailed("too many jobs remembered; try again later")
            job = Job(uuid.uuid4(), kind, owner, subject, datetime.now(UTC))
            self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, work: Callable[[], Awaitable[Any]]) -> None:
        job.status = "running"
        try:
            job.result = await work()
            job.status = "succeeded"
        except (JobFailed, DlmsError, HeadEndError, OSError, TimeoutError) as exc:
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = datetime.now(UTC)
            job._finished = time.monotonic()

    async def drain(self) -> None:
        """Wait for running jobs (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class HeadendReader:
    """The production reader: the head-end's collection engine with the key store.

    The collector is built on first use, so an API without a master key still serves data and
    refuses only on-demand reads.
    """

    def __init__(
        self, engine: Engine, profile: Profile, master_key: str | None, client_title: bytes
    ) -> None:
        self.engine = engine
        self.profile = profile
        self.master_key = master_key
        self.client_title = client_title
        self._collector: Collector | None = None

    def _collector_now(self) -> Collector:
        if self._collector is None:
            if not self.master_key:
                raise JobFailed("no master key: set METRA_MASTER_KEY to read meters")
            keystore = KeyStore(MasterKey.parse(self.master_key))
            settings = CollectorSettings(client_system_title=self.client_title)
            self._collector = Collector(self.engine, keystore, self.profile, settings)
        return self._collector

    def _target(self, meter_id: UUID) -> MeterTarget:
        with self.engine.connect() as conn:
            meter = as_of(conn, Entity.METER, meter_id, datetime.now(UTC).date())
            where = diagnostics.get(conn, meter_id)
        if meter is None:
            raise JobFailed(f"meter {meter_id} has no master data valid today")
        title = meter.attributes["system_title"]
        if title is None:
            raise JobFailed("the meter has no system title in master data")
        if where is None or where.ip_address is None or where.tcp_port is None:
            raise JobFailed("no address known for the meter (no successful session yet)")
        return MeterTarget(
            meter_id, meter.attributes["serial"], bytes(title), where.ip_address, where.tcp_port
        )

    async def read(self, meter_id: UUID, class_id: int, obis: Obis, attribute: int) -> Data:
        """Read through the collector (audited by the head-end as ``read.on_demand``)."""
        collector = self._collector_now()
        target = await asyncio.to_thread(self._target, meter_id)
        return await collector.read_on_demand(target, class_id, obis, attribute)

    def close(self) -> None:
        """Stop the collector's database worker."""
        if self._collector is not None:
            self._collector.close()


def read_job(reader: MeterReader, meter_id: UUID, class_id: int, obis: Obis, attribute: int) -> Any:
    """The work of an on-demand read job: the value as JSON."""

    async def work() -> Any:
        value = await reader.read(meter_id, class_id, obis, attribute)
        return {
            "class_id": class_id,
            "obis": str(obis),
            "attribute": attribute,
            "value": data_to_json(value),
        }

    return work
