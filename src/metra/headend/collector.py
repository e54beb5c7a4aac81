"""The collection engine: read many meters at once without flooding any one cell (COL-1, COL-8).

Concurrency is bounded twice: overall (`max_sessions`) and per substation or radio cell
(`max_per_substation`), so a mast with hundreds of meters behind it never carries more than a
few sessions. Each meter's session has a deadline; a failure is retried with exponential
back-off and jitter (attempts and delays from the jurisdiction profile); an association that
fails authentication is not retried but raised as a security event (SEC-3).

Per session the store is written in one transaction: whatever was read (even from a session that
dropped halfway), the communication diagnostic (KPI-5) and the audit entries (STO-5). A crash
therefore loses at most the sessions in flight, and re-reading never duplicates (the store's
writes are idempotent), which is what REL-3 needs. Database work runs on one worker thread so
the event loop keeps talking to meters while rows are written.

Clock check on every session: a drift above the profile's threshold opens a short management
association (client SAP 1, the reading client may not write) and sets the meter's clock; the
sync is journaled in the audit trail.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine, Row, select

from metra.dlms import axdr
from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem import objects
from metra.dlms.data import Data, DateTime, OctetString
from metra.dlms.errors import DlmsError, SecurityError
from metra.dlms.obis import Obis
from metra.dlms.protection import SecurityContext
from metra.net.client import DlmsClient, Endpoint, published_invocation_counter
from metra.profiles.model import Profile
from metra.store import addresses, coverage, diagnostics, intervals, power_quality, registers
from metra.store.events import add_meter_events
from metra.store.schema import meter_version

from . import security_events, trail
from .batching import Coalescer, DbBatcher
from .errors import KeyStoreError
from .keystore import AssociationKeys, KeyStore
from .plans import SessionPlan, backfill_start, day_bounds, plan_for, power_quality_due
from .security_events import TitleTracker
from .session import Layout, SessionData, read

_T = TypeVar("_T")

#: The Public client SAP: no authentication, reads what every meter publishes.
PUBLIC_SAP = 16


@dataclass(frozen=True)
class MeterTarget:
    """A meter to read: identity, where it listens, and the substation/cell it sits behind.

    `commissioned` (when known from master data) bounds backfill: nothing is asked for before it.
    """

    meter_id: UUID
    serial: str
    system_title: bytes
    host: str
    port: int
    substation: str = ""
    transport: str = "wrapper"
    server_address: int = 1
    physical_address: int = 0
    interface: str = "wan"
    commissioned: datetime | None = None
    reading_sap: int | None = None  # the meter's reading client SAP, if not the head-end's


@dataclass(frozen=True)
class CollectorSettings:
    """Engineering limits of one head-end (not jurisdiction rules, so not in the profile).

    `primary_channel` is the load-profile column whose gaps decide what a session (back)fills:
    IDIS meters capture active energy import per period as 1-0:1.29.0.255.

    `backoff_scale` multiplies the profile's back-off delays: 1.0 in production, small for an
    accelerated fleet or a test.
    """

    client_system_title: bytes
    max_sessions: int = 256
    max_per_substation: int = 16
    session_deadline_s: float = 120.0
    request_timeout_s: float = 10.0
    reading_sap: int = 2
    management_sap: int = 1
    primary_channel: str = str(objects.ACTIVE_ENERGY_IMPORT_PERIOD)
    backoff_scale: float = 1.0
    db_batch: int = 256


@dataclass
class MeterOutcome:
    """How collecting one meter went."""

    meter_id: UUID
    serial: str
    ok: bool = False
    attempts: int = 0
    reason: str | None = None
    intervals_new: int = 0
    events_new: int = 0
    clock_synced: bool = False
    refused: bool = False
    errors: list[str] = field(default_factory=list)


_Stored = tuple[MeterTarget, SessionData, str | None]


class AuthenticationFailed(DlmsError):
    """The meter refused the association or its proof did not verify."""


def _channel_values(days: Sequence[intervals.DayReading]) -> int:
    return sum(1 for d in days for v in d.values if v is not None)


class Collector:
    """Reads meters on plan, stores what it reads, and keeps diagnostics and the audit trail.

    `client_class` is the DLMS client every session opens; a benchmark swaps in a subclass that
    keeps the responses, to time a bare decode of exactly what the meters answered.
    """

    client_class: type[DlmsClient] = DlmsClient

    def __init__(
        self,
        engine: Engine,
        keystore: KeyStore,
        profile: Profile,
        settings: CollectorSettings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracker: TitleTracker | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.keystore = keystore
        self.profile = profile
        self.settings = settings
        self.now = now
        self.tracker = tracker or TitleTracker()
        self.rng = rng or random.Random()
        self.layouts: dict[tuple[UUID, str], Layout] = {}
        self._counters: dict[tuple[UUID, int], int] = {}
        self._db = DbBatcher(engine, max_batch=settings.db_batch)
        # Sessions waiting for a plan, or to be stored, are served together: set-based queries
        # and one executemany per table for all of them (see `batching.Coalescer`).
        self._planner = Coalescer(self._db, self._prepare_many)
        self._writer = Coalescer(self._db, self._store_many)
        self._all = asyncio.Semaphore(settings.max_sessions)
        self._cells: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.max_per_substation)
        )
        self.active: defaultdict[str, int] = defaultdict(int)
        self.peak: defaultdict[str, int] = defaultdict(int)

    @property
    def db_cpu_s(self) -> float:
        """CPU seconds the database thread has spent so far (for benchmarks)."""
        return self._db.cpu_s

    def close(self) -> None:
        """Stop the database worker (after the last collection)."""
        self._db.close()

    async def _in_db(self, work: Callable[[Connection], _T]) -> _T:
        """Run `work` on the database thread; it shares a transaction with other sessions'."""
        return await self._db.run(work)

    # ------------------------------------------------------------------------------ planning

    def _reading_sap(self, target: MeterTarget) -> int:
        return target.reading_sap if target.reading_sap is not None else self.settings.reading_sap

    def _span(self, target: MeterTarget, day: date) -> tuple[datetime, datetime]:
        """What a read of day n may fetch: backfill horizon (not before commissioning) to now."""
        horizon = backfill_start(self.profile, day)
        if target.commissioned is not None:
            horizon = max(horizon, target.commissioned)  # no data exist before commissioning
        return horizon, min(day_bounds(day)[1], self.now())

    def _prepare_many(
        self, conn: Connection, wanted: Sequence[tuple[MeterTarget, date]]
    ) -> list[tuple[SessionPlan, ClientSettings] | KeyStoreError]:
        """Plans and reading keys of many sessions with a few set-based queries.

        The plan starts the load profile at the first interval still missing (COL-8) and the
        journals after the newest stored event; a meter without usable keys gets its
        `KeyStoreError` instead of a plan.
        """
        interval_s = self.profile.metering.interval_minutes * 60
        out: list[tuple[SessionPlan, ClientSettings] | KeyStoreError] = []
        by_day: defaultdict[date, dict[UUID, tuple[datetime, datetime]]] = defaultdict(dict)
        for target, day in wanted:
            by_day[day][target.meter_id] = self._span(target, day)
        gaps = {
            day: coverage.first_missing(conn, self.settings.primary_channel, spans, interval_s)
            for day, spans in by_day.items()
        }
        newest = {
            day: coverage.newest_events(
                conn, {m: (s, e + timedelta(days=1)) for m, (s, e) in spans.items()}
            )
            for day, spans in by_day.items()
        }
        keys: dict[tuple[str, int], dict[UUID, AssociationKeys]] = {}
        for scope in {(t.interface, self._reading_sap(t)) for t, _ in wanted}:
            ids = [t.meter_id for t, _ in wanted if (t.interface, self._reading_sap(t)) == scope]
            keys[scope] = self.keystore.associations(conn, ids, *scope)
        for target, day in wanted:
            sap = self._reading_sap(target)
            pair = keys[(target.interface, sap)].get(target.meter_id)
            try:
                settings = (
                    self._client_settings(pair)
                    if pair is not None
                    else self._settings(conn, target, sap)  # raises why the keys are unusable
                )
            except KeyStoreError as exc:
                out.append(exc)
                continue
            known = newest[day].get(target.meter_id)
            since = known + timedelta(seconds=1) if known is not None else None
            plan = plan_for(
                self.profile,
                day,
                first_missing=gaps[day][target.meter_id],
                events_since=since,
                power_quality_due=power_quality_due(self.profile, day),
            )
            out.append((plan, settings))
        return out

    # ------------------------------------------------------------------------------ sessions

    def _settings(self, conn: Connection, target: MeterTarget, sap: int) -> ClientSettings:
        pair = self.keystore.association(conn, target.meter_id, target.interface, sap)
        return self._client_settings(pair)

    def _client_settings(self, pair: AssociationKeys) -> ClientSettings:
        return ClientSettings(
            mechanism=Mechanism.HLS_GMAC,
            security=SecurityContext(
                self.settings.client_system_title,
                pair.encryption_key,
                pair.authentication_key,
            ),
        )

    def _endpoint(self, target: MeterTarget, sap: int) -> Endpoint:
        return Endpoint(
            target.host,
            target.port,
            transport="hdlc" if target.transport == "hdlc" else "wrapper",
            client_address=sap,
            server_address=target.server_address,
            physical_address=target.physical_address,
            timeout=self.settings.request_timeout_s,
        )

    async def _associate(self, client: DlmsClient) -> None:
        await client.connect()
        try:
            await client.associate()
        except SecurityError as exc:
            await client.close()
            raise AuthenticationFailed(str(exc)) from None
        except BaseException:
            await client.close()
            raise

    async def _session(
        self, target: MeterTarget, plan: SessionPlan, settings: ClientSettings, data: SessionData
    ) -> None:
        sap = self._reading_sap(target)
        client = await self._client(target, sap, settings)
        await self._associate(client)
        try:
            await read(client, plan, data, self.layouts, self.now, source="session")
        finally:
            await client.__aexit__(None, None, None)  # release (always attempted), close
            self._remember(target, sap, client)

    async def _client(self, target: MeterTarget, sap: int, settings: ClientSettings) -> DlmsClient:
        """A client for ``sap`` that continues the invocation counter the meter expects.

        A meter refuses any counter not above the last it accepted (replay protection), so the
        head-end continues from its own record of the last session, or, on first contact and
        after a restart, from the meter's published invocation counter (0-0:43.1.<sap>.255,
        read through the Public client, which needs no keys).
        """
        start = self._counters.get((target.meter_id, sap))
        endpoint = self._endpoint(target, sap)
        if start is None:
            try:
                start = await published_invocation_counter(endpoint, sap, self.client_class)
            except SecurityError as exc:
                raise AuthenticationFailed(str(exc)) from None
        return self.client_class(endpoint, replace(settings, invocation_counter=start))

    def _remember(self, target: MeterTarget, sap: int, client: DlmsClient) -> None:
        """Keep where this association's invocation counter stopped, for the next session."""
        self._counters[(target.meter_id, sap)] = client.association.protection.counter.value

    async def _sync_clock(self, target: MeterTarget, settings: ClientSettings) -> None:
        sap = self.settings.management_sap
        client = await self._client(target, sap, settings)
        await self._associate(client)
        try:
            stamp = DateTime.from_datetime(self.now().astimezone(UTC))
            await client.set(
                8, objects.CLOCK.to_bytes(), 2, OctetString(axdr.datetime_to_bytes(stamp))
            )
        finally:
            await client.__aexit__(None, None, None)
            self._remember(target, sap, client)

    def _store_many(self, conn: Connection, sessions: list[_Stored]) -> list[tuple[int, int]]:
        """Write the results of many sessions; per session (interval values new, events new).

        Interval days, registers and snapshots of all sessions go in one statement each; every
        session still gets its own diagnostic (KPI-5) and audit entry (STO-5). Changes nothing
        outside the database (it may run again when its batch is retried).
        """
        at = self.now()
        days = [day for _, data, _ in sessions for day in data.days]
        owner = [i for i, (_, data, _) in enumerate(sessions) for _ in data.days]
        values_new = [0] * len(sessions)
        for i, day, result in zip(owner, days, intervals.write_days(conn, days), strict=True):
            values_new[i] += len(result.filled)
            if result.outcome == intervals.Outcome.NEW:
                values_new[i] += sum(1 for v in day.values if v is not None)
        registers.add_readings(conn, [r for _, data, _ in sessions for r in data.registers])
        registers.add_snapshots(conn, [s for _, data, _ in sessions for s in data.snapshots])
        power_quality.add(conn, [r for _, data, _ in sessions for r in data.power_quality])
        out: list[tuple[int, int]] = []
        for i, (target, data, error) in enumerate(sessions):
            events_new = add_meter_events(conn, data.events) if data.events else 0
            if error is None:
                diagnostics.record_success(
                    conn, target.meter_id, at, ip_address=target.host, tcp_port=target.port
                )
            else:
                diagnostics.record_failure(conn, target.meter_id, at, error)
            trail.record(
                conn,
                "session.read",
                at=at,
                meter_id=target.meter_id,
                details={
                    "read": data.done,
                    "skipped": data.skipped,
                    "values": _channel_values(data.days),
                    "events": len(data.events),
                    "power_quality": len(data.power_quality),
                    "drift_s": data.drift_s,
                    "error": error,
                },
            )
            out.append((values_new[i], events_new))
        return out

    async def _attempt(self, target: MeterTarget, day: date, outcome: MeterOutcome) -> None:
        """One attempt: plan, read under the semaphores, store; raises on failure."""

        plan, settings = await self._planner.submit((target, day))
        data = SessionData(target.meter_id, self.now())
        error: str | None = None
        cell = target.substation
        try:
            async with self._all, self._cells[cell]:
                self.active[cell] += 1
                self.peak[cell] = max(self.peak[cell], self.active[cell])
                conflict = self.tracker.claim(target.system_title, target.host)
                try:
                    async with asyncio.timeout(self.settings.session_deadline_s):
                        await self._session(target, plan, settings, data)
                finally:
                    self.tracker.release(target.system_title, target.host)
                    self.active[cell] -= 1
            if conflict:
                await self._in_db(
                    lambda c: security_events.title_seen_twice(
                        c, at=self.now(), system_title=target.system_title, addresses=conflict
                    )
                )
        except AuthenticationFailed as exc:
            error = f"authentication failed: {exc}"
            raise
        except TimeoutError:
            error = "session deadline exceeded"
            raise
        except (DlmsError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            values_new, events_new = await self._writer.submit((target, data, error))
            outcome.intervals_new += values_new
            outcome.events_new += events_new
        threshold = self.profile.collection.clock_sync_threshold_s
        drift = data.drift_s
        if drift is not None and abs(drift) > threshold:
            await self._clock_sync(target, drift, outcome)

    async def _clock_sync(self, target: MeterTarget, drift: float, outcome: MeterOutcome) -> None:
        try:
            settings = await self._in_db(
                lambda c: self._settings(c, target, self.settings.management_sap)
            )
            async with asyncio.timeout(self.settings.session_deadline_s):
                await self._sync_clock(target, settings)
            outcome.clock_synced, result = True, "set"
        except (DlmsError, OSError, TimeoutError, KeyStoreError) as exc:
            result = f"failed: {type(exc).__name__}"
        await self._in_db(
            lambda c: trail.record(
                c,
                "clock.sync",
                at=self.now(),
                meter_id=target.meter_id,
                details={"drift_s": round(drift, 3), "result": result},
            )
        )

    def _refused(self, target: MeterTarget, reason: str, conn: Connection) -> None:
        security_events.authentication_failed(
            conn,
            at=self.now(),
            address=f"{target.host}:{target.port}",
            reason=reason,
            meter_id=target.meter_id,
            system_title=target.system_title,
        )

    def _backoff(self, attempt: int) -> float:
        retry = self.profile.collection.retry
        delay = min(retry.initial_backoff_s * retry.multiplier**attempt, retry.max_backoff_s)
        delay *= self.settings.backoff_scale
        return self.rng.uniform(delay / 2, delay)

    async def collect_meter(self, target: MeterTarget, day: date) -> MeterOutcome:
        """Read one meter for day n, retrying per the profile; never raises for meter faults."""
        outcome = MeterOutcome(target.meter_id, target.serial)
        attempts = 1 + self.profile.collection.retry.attempts
        for attempt in range(attempts):
            outcome.attempts = attempt + 1
            try:
                await self._attempt(target, day, outcome)
            except AuthenticationFailed as exc:
                outcome.reason, outcome.refused = "authentication failed", True
                await self._in_db(partial(self._refused, target, str(exc)))
                return outcome
            except KeyStoreError as exc:
                outcome.reason = f"keys: {exc}"
                return outcome
            except (DlmsError, OSError, TimeoutError) as exc:
                outcome.reason = f"{type(exc).__name__}: {exc}"
                outcome.errors.append(outcome.reason)
                if attempt + 1 < attempts:
                    await asyncio.sleep(self._backoff(attempt))
                continue
            outcome.ok, outcome.reason = True, None
            return outcome
        return outcome

    async def read_on_demand(
        self, target: MeterTarget, class_id: int, obis: Obis, attribute: int
    ) -> Data:
        """Read any attribute of a meter now (COL-7), within the same bounds as collection.

        Raises the meter's refusal or the transport's failure to the caller (an operator waits
        for the answer); the read and its outcome are in the audit trail either way.
        """
        sap = self._reading_sap(target)
        settings = await self._in_db(lambda c: self._settings(c, target, sap))
        result = "ok"
        try:
            async with self._all, self._cells[target.substation]:
                async with asyncio.timeout(self.settings.session_deadline_s):
                    client = await self._client(target, sap, settings)
                    await self._associate(client)
                    try:
                        return await client.get(class_id, obis.to_bytes(), attribute)
                    finally:
                        await client.__aexit__(None, None, None)
                        self._remember(target, sap, client)
        except BaseException as exc:
            result = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            details = {
                "class_id": class_id,
                "obis": str(obis),
                "attribute": attribute,
                "result": result,
            }
            await self._in_db(
                lambda c: trail.record(
                    c, "read.on_demand", at=self.now(), meter_id=target.meter_id, details=details
                )
            )

    async def collect(self, targets: Sequence[MeterTarget], day: date) -> list[MeterOutcome]:
        """Read every target for day n concurrently within the bounds."""
        return list(await asyncio.gather(*(self.collect_meter(t, day) for t in targets)))


def load_targets(
    conn: Connection, meter_ids: Iterable[UUID] | None = None, *, on: date | None = None
) -> list[MeterTarget]:
    """The meters to read, from the store: each one's current communication address
    (`metra.store.addresses`) with its serial, system title and commissioning date as master
    data give them on `on` (default today). Meters without an address or system title, or
    removed by then, are not targets. Sorted by serial.
    """
    day = on or datetime.now(UTC).date()
    found = addresses.current_many(conn, meter_ids)
    v = meter_version
    attributes: dict[UUID, tuple[date, datetime, int, Row[Any]]] = {}
    wanted = sorted(found)
    for i in range(0, len(wanted), 500):
        query = select(v).where(v.c.entity_id.in_(wanted[i : i + 500]), v.c.valid_from <= day)
        for row in conn.execute(query):
            rank = (row.valid_from, row.recorded_at, row.version_id)
            held = attributes.get(row.entity_id)
            if held is None or rank > held[:3]:
                attributes[row.entity_id] = (*rank, row)
    targets: list[MeterTarget] = []
    for meter_id, stored in found.items():
        held = attributes.get(meter_id)
        if held is None:
            continue
        meter = held[3]
        if meter.system_title is None or (meter.removed_on is not None and meter.removed_on <= day):
            continue
        a = stored.address
        targets.append(
            MeterTarget(
                meter_id,
                meter.serial,
                bytes(meter.system_title),
                a.host,
                a.port,
                substation=a.cell,
                transport=a.transport,
                server_address=a.server_address,
                physical_address=a.physical_address,
                commissioned=None
                if meter.commissioned_on is None
                else datetime.combine(meter.commissioned_on, time(), UTC),
                reading_sap=a.client_address,
            )
        )
    return sorted(targets, key=lambda t: t.serial)
