"""The command queue's worker: takes due commands, executes them, records every step (CMD-4).

One pass (`run_once`) first expires what is past its deadline, then takes the queued commands
that may run now (execution time reached, deadline ahead), high priority first, and executes
them with the same bounds as collection: a global limit and one per substation or cell, so a
burst of commands never floods a mast. Each command moves queued -> sent before it is sent
(compare-and-set, so two workers never send the same command) and then to confirmed or failed
on the meter's read-back; one that did not reach the meter goes back to the queue with
exponential back-off (the profile's retry rule) and is retried until executed or expired.

Firmware requests roll out in waves: a pass sends at most the request's `wave_size` images and
sends none while the request has more failures than its `max_failures` (a paused campaign waits
for a person; its commands expire at their deadline if nobody acts).

Every state change goes to the audit trail through the store (pending entries the security
layer seals). Keys made by a key change are stored the moment the outcome is known, confirmed
or not (see `command_exec`), and a confirmed firmware update updates the meter's firmware
version in master data (SEC-11), which keeps the per-meter version inventory current.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Engine

from metra.profiles.model import Profile
from metra.store import commands
from metra.store.commands import Command, IllegalTransition, Status
from metra.store.errors import NotFound
from metra.store.events import (
    SecurityCategory,
    Severity,
    record_security_event,
    record_system_event,
)
from metra.store.masterdata import Entity, change

from .collector import MeterTarget
from .command_exec import CommandExecutor, Delivery, Firmware, MeterKeys, Outcome
from .errors import KeyStoreError
from .firmware import FirmwareRejected, FirmwareStore
from .keystore import AssociationKeys, KeyStore, key_kind

_T = TypeVar("_T")

#: Kinds sent in general-signing (CMD-6); a refusal of one is also a security event.
SIGNED_KINDS = frozenset(
    {"connect", "disconnect", "emergency_power_limit", "time_sync", "time_set", "credit_transfer"}
)
#: Wave defaults of a firmware request without its own.
WAVE_SIZE, MAX_FAILURES = 10, 0


@dataclass(frozen=True)
class RunnerSettings:
    """Engineering limits of the command worker (not jurisdiction rules)."""

    max_sessions: int = 64
    max_per_substation: int = 8
    attempt_deadline_s: float = 600.0
    backoff_scale: float = 1.0
    actor: str = "head-end"


@dataclass
class CommandResult:
    """What one pass did with one command."""

    command_id: UUID
    meter_id: UUID
    kind: str
    status: str
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class CommandRunner:
    """Runs the command queue against meters reachable at `targets`."""

    def __init__(
        self,
        engine: Engine,
        keystore: KeyStore,
        profile: Profile,
        executor: CommandExecutor,
        *,
        firmware: FirmwareStore | None = None,
        settings: RunnerSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.keystore = keystore
        self.profile = profile
        self.executor = executor
        self.firmware = firmware
        self.settings = settings or RunnerSettings()
        self.now = now
        self._db = ThreadPoolExecutor(1, thread_name_prefix="commands-db")
        self._all = asyncio.Semaphore(self.settings.max_sessions)
        self._cells: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.max_per_substation)
        )

    def close(self) -> None:
        """Stop the database worker."""
        self._db.shutdown(wait=True)

    async def _in_db(self, work: Callable[[Connection], _T]) -> _T:
        def run() -> _T:
            with self.engine.begin() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    # ------------------------------------------------------------------------------ a pass

    async def run_once(
        self, targets: Mapping[UUID, MeterTarget], limit: int = 1000
    ) -> list[CommandResult]:
        """Expire overdue commands, then execute every due one whose meter is in `targets`."""
        now = self.now()
        actor = self.settings.actor
        results: list[CommandResult] = []

        def pick(conn: Connection) -> list[Command]:
            for expired in commands.expire_overdue(conn, now, actor=actor):
                gone = commands.get(conn, expired)
                results.append(
                    CommandResult(expired, gone.meter_id, gone.kind, Status.EXPIRED.value)
                )
            return self._waves(conn, commands.due(conn, now, limit))

        due = await self._in_db(pick)
        per_meter: dict[UUID, list[Command]] = defaultdict(list)
        for cmd in due:
            if cmd.meter_id in targets:
                per_meter[cmd.meter_id].append(cmd)

        async def one_meter(queue: list[Command]) -> list[CommandResult]:
            # One session at a time per meter: its invocation counter allows no interleaving.
            out = []
            for cmd in queue:
                result = await self._run(cmd, targets[cmd.meter_id])
                if result is not None:
                    out.append(result)
            return out

        for done in await asyncio.gather(*(one_meter(q) for q in per_meter.values())):
            results.extend(done)
        return results

    def _waves(self, conn: Connection, due: list[Command]) -> list[Command]:
        """Hold back firmware commands beyond their request's wave or of a paused request."""
        chosen: list[Command] = []
        taken: dict[UUID, int] = {}
        allowance: dict[UUID, int] = {}
        for cmd in due:
            if cmd.kind != "firmware_update":
                chosen.append(cmd)
                continue
            request_id = commands.request_of(conn, cmd.id)
            if request_id not in allowance:
                params = cmd.params or {}
                siblings = commands.of_request(conn, request_id)
                failed = sum(1 for c in siblings if c.status == Status.FAILED.value)
                paused = failed > int(params.get("max_failures", MAX_FAILURES))
                allowance[request_id] = 0 if paused else int(params.get("wave_size", WAVE_SIZE))
            if taken.get(request_id, 0) < allowance[request_id]:
                taken[request_id] = taken.get(request_id, 0) + 1
                chosen.append(cmd)
        return chosen

    # ------------------------------------------------------------------------------ one command

    async def _run(self, cmd: Command, target: MeterTarget) -> CommandResult | None:
        actor = self.settings.actor

        def start(conn: Connection) -> tuple[MeterKeys, Firmware | None] | None:
            try:
                commands.transition(
                    conn,
                    cmd.id,
                    Status.SENT,
                    at=self.now(),
                    actor=actor,
                    expect=Status.QUEUED,
                    details={"attempt": commands.attempts(conn, cmd.id) + 1},
                )
            except IllegalTransition:
                return None  # another worker took it, or it was cancelled meanwhile
            return self._keys(conn, cmd), self._image(conn, cmd)

        try:
            prepared = await self._in_db(start)
        except (KeyStoreError, FirmwareRejected) as exc:
            return await self._finish(cmd, Outcome(Delivery.FAILED, str(exc)), sent=False)
        if prepared is None:
            return None
        keys, image = prepared
        async with self._all, self._cells[target.substation or ""]:
            try:
                async with asyncio.timeout(self.settings.attempt_deadline_s):
                    outcome = await self.executor.execute(
                        target, cmd.kind, cmd.params, keys, firmware=image
                    )
            except TimeoutError:
                outcome = Outcome(Delivery.UNDELIVERED, "attempt deadline passed")
        return await self._finish(cmd, outcome, sent=True)

    def _keys(self, conn: Connection, cmd: Command) -> MeterKeys:
        saps = {self.executor.settings.management_sap}
        if cmd.kind == "firmware_update":
            saps = {self.executor.settings.firmware_sap}
        if cmd.kind == "key_change":
            saps |= {int(s) for s in (cmd.params or {}).get("saps", [1, 2, 3])}
        pairs = {s: self.keystore.association(conn, cmd.meter_id, "wan", s) for s in saps}
        kek = None
        if cmd.kind == "key_change":
            kek = self.keystore.get(conn, cmd.meter_id, "wan", "kek")
        return MeterKeys(pairs, kek)

    def _image(self, conn: Connection, cmd: Command) -> Firmware | None:
        if cmd.kind != "firmware_update":
            return None
        if self.firmware is None:
            raise FirmwareRejected("no firmware store configured on this head-end")
        image_id = (cmd.params or {}).get("image_id")
        if not isinstance(image_id, str):
            raise FirmwareRejected("a firmware command names no image")
        return self.firmware.load(conn, UUID(image_id))

    async def _finish(self, cmd: Command, outcome: Outcome, *, sent: bool) -> CommandResult:
        actor = self.settings.actor

        def record(conn: Connection) -> CommandResult:
            at = self.now()
            self._store_keys(conn, cmd.meter_id, outcome, at)
            details: dict[str, Any] = {"reason": outcome.reason, **outcome.details}
            if outcome.delivery is Delivery.CONFIRMED:
                if outcome.firmware is not None:
                    self._inventory(conn, cmd.meter_id, outcome.firmware, at)
                commands.transition(
                    conn,
                    cmd.id,
                    Status.CONFIRMED,
                    at=at,
                    actor=actor,
                    details=details,
                    result=outcome.details,
                )
                return CommandResult(cmd.id, cmd.meter_id, cmd.kind, "confirmed", None, details)
            if outcome.delivery is Delivery.FAILED or not sent:
                if sent is False:
                    commands.transition(conn, cmd.id, Status.SENT, at=at, actor=actor)
                commands.transition(
                    conn,
                    cmd.id,
                    Status.FAILED,
                    at=at,
                    actor=actor,
                    details=details,
                    result={"reason": outcome.reason, **outcome.details},
                )
                self._security_event(conn, cmd, outcome, at)
                self._alarm(conn, cmd, outcome, at)
                return CommandResult(cmd.id, cmd.meter_id, cmd.kind, "failed", outcome.reason)
            return self._retry(conn, cmd, outcome, at)

        return await self._in_db(record)

    def _retry(
        self, conn: Connection, cmd: Command, outcome: Outcome, at: datetime
    ) -> CommandResult:
        """Back to the queue after a delay growing with each attempt, or expired when the next
        attempt would fall after the deadline (CMD-4)."""
        rule = self.profile.collection.retry
        tries = max(1, commands.attempts(conn, cmd.id))
        delay = min(rule.initial_backoff_s * rule.multiplier ** (tries - 1), rule.max_backoff_s)
        following = at + timedelta(seconds=delay * self.settings.backoff_scale)
        details = {"reason": outcome.reason, "retry_at": following.isoformat()}
        actor = self.settings.actor
        if cmd.deadline is not None and following >= cmd.deadline:
            commands.transition(conn, cmd.id, Status.EXPIRED, at=at, actor=actor, details=details)
            return CommandResult(cmd.id, cmd.meter_id, cmd.kind, "expired", outcome.reason)
        commands.transition(
            conn, cmd.id, Status.QUEUED, at=at, actor=actor, details=details, not_before=following
        )
        return CommandResult(cmd.id, cmd.meter_id, cmd.kind, "queued", outcome.reason, details)

    def _store_keys(self, conn: Connection, meter_id: UUID, outcome: Outcome, at: datetime) -> None:
        """Keys the meter took become current; a pair whose answer was lost is kept aside as
        ``pending.ek.<sap>`` / ``pending.ak.<sap>`` for recovery (never lost)."""
        by = self.settings.actor
        for sap, pair in outcome.new_keys.items():
            self.keystore.put_association(conn, meter_id, "wan", sap, pair, at=at, by=by)
        for sap, pair in outcome.pending_keys.items():
            self._put_pending(conn, meter_id, sap, pair, at)

    def _put_pending(
        self, conn: Connection, meter_id: UUID, sap: int, pair: AssociationKeys, at: datetime
    ) -> None:
        by = self.settings.actor
        for name, key in (("ek", pair.encryption_key), ("ak", pair.authentication_key)):
            kind = "pending." + key_kind(name, sap)
            self.keystore.put(conn, meter_id, "wan", kind, key, at=at, by=by)

    def _inventory(self, conn: Connection, meter_id: UUID, version: str, at: datetime) -> None:
        """SEC-11: the meter's firmware version in master data, effective today."""
        # A meter without master data has no inventory row to update.
        with contextlib.suppress(NotFound):
            change(
                conn,
                Entity.METER,
                meter_id,
                {"firmware": version},
                effective=at.date(),
                at=at,
                by=self.settings.actor,
            )

    def _security_event(
        self, conn: Connection, cmd: Command, outcome: Outcome, at: datetime
    ) -> None:
        """A signed command the meter refused is a security matter (CMD-6): recorded for the
        security officer with the meter's answer."""
        reason = outcome.reason or ""
        if cmd.kind not in SIGNED_KINDS or not (
            reason.startswith("refused by the meter") or reason.startswith("security:")
        ):
            return
        record_security_event(
            conn,
            occurred_at=at,
            category=SecurityCategory.OTHER,
            severity=Severity.WARNING,
            description=f"meter refused signed command {cmd.kind}",
            actor=self.settings.actor,
            details={"command_id": str(cmd.id), "meter_id": str(cmd.meter_id), "reason": reason},
        )

    def _alarm(self, conn: Connection, cmd: Command, outcome: Outcome, at: datetime) -> None:
        """A meter found in an abnormal state by the read-back (welded relay contacts) is an
        alarm in the system journal for the console (EVT-3, S4 5.6), beyond the failed
        command: the customer is supplied (or cut) against the order and someone must go."""
        if outcome.alarm is None:
            return
        record_system_event(
            conn,
            occurred_at=at,
            severity=Severity.ALARM,
            source="commands",
            code=outcome.alarm,
            message=f"{cmd.kind}: {outcome.reason}",
            meter_id=cmd.meter_id,
            details={"command_id": str(cmd.id), "kind": cmd.kind},
        )
