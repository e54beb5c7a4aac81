"""Carry out one command on one meter and confirm it by reading the result back (CMD-1, CMD-2).

A meter that answers "success" has not necessarily done the thing: a welded relay contact, a
limiter that ignores its threshold or a clock that did not move all answer success. So every
command here ends by reading the object it changed and comparing it with what was asked; only a
match is `CONFIRMED`. Before acting the executor also reads the current state, so a command that
is retried after the head-end lost the answer (or crashed between send and confirm) does not
act twice: a relay already open is confirmed without a second disconnect.

Outcomes are of three kinds because the queue treats them differently:

- `CONFIRMED`: read back as asked.
- `FAILED`: the meter was reached and refused, or the read-back differs (relay did not switch,
  firmware did not verify): retrying would repeat the same answer, so the command ends.
- `UNDELIVERED`: the meter was not reached or the session broke before the answer: the queue
  retries until the command is executed or its deadline passes (CMD-4).

Signed commands (CMD-6): time set and sync, the relay methods, the disconnector's control mode
and the limiter's emergency activation go in general-signing with the operator's key, which the
meter verifies. Without an operator key they go unsigned and a meter that demands signatures
refuses them, which is recorded as a failure with the meter's answer.

The executor only talks; keys come in, and what must be stored (a key change's new keys, a
firmware version) goes out in the outcome for the runner to write.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms import axdr
from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem import objects
from metra.dlms.cosem.calendar import SpecialDayEntry
from metra.dlms.cosem.disconnect import allowed_transition
from metra.dlms.cosem.enums import (
    ControlMode,
    ControlState,
    DisconnectTrigger,
    ImageTransferStatus,
    KeyId,
    TransportService,
)
from metra.dlms.cosem.monitoring import EmergencyProfile
from metra.dlms.cosem.push import SendDestinationAndMethod
from metra.dlms.cosem.security import KeyData
from metra.dlms.cosem.token import (
    TOKEN_GATEWAY,
    TOKEN_GATEWAY_CLASS,
    TokenRefusal,
    TokenStatus,
    TokenStatusCode,
)
from metra.dlms.data import (
    Array,
    Data,
    DateTime,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
)
from metra.dlms.errors import DlmsError, SecurityError
from metra.dlms.keywrap import wrap_key
from metra.dlms.obis import Obis
from metra.dlms.protection import SecurityContext
from metra.net.client import (
    CounterNotPublished,
    DlmsClient,
    Endpoint,
    published_invocation_counter,
)
from metra.net.errors import RequestRefused, TransportError

from .collector import PUBLIC_SAP, MeterTarget
from .command_params import (
    MEASUREMENT_METHOD,
    METHODS,
    ParamsError,
    calendar_plan,
    credit_token,
    measurement_method,
    scope_plan,
    special_days_plan,
)
from .keystore import AssociationKeys
from .parameter_file import command_settings

#: Class ids of the objects commands touch.
DATA, CLOCK_CLASS, IMAGE_CLASS, SECURITY_SETUP, DISCONNECT, LIMITER_CLASS = 1, 8, 18, 64, 70, 71
#: The HAN push setups (IDIS: 0-7 instantaneous values, 0-6 registers); the port sends nothing
#: while their destination is empty (ACC-2).
HAN_PUSH_SETUPS = (Obis(0, 7, 25, 9, 0, 255), Obis(0, 6, 25, 9, 0, 255))
PUSH_SETUP_CLASS = 40
CALENDAR_CLASS, SPECIAL_DAYS_CLASS, PROFILE_CLASS = 20, 11, 7
#: The Credit object of the meter's prepayment function (class 112): current_credit_amount.
CREDIT_CLASS, CREDIT = 112, Obis(0, 0, 19, 10, 0, 255)


class Delivery(StrEnum):
    """How a command attempt ended (see the module docstring)."""

    CONFIRMED = "confirmed"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


@dataclass
class Outcome:
    """The result of one attempt; `details` go to the command's result and the audit trail
    (never key material). `new_keys` (key change) and `firmware` (firmware update) are for the
    runner to store once the command is confirmed."""

    delivery: Delivery
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    new_keys: dict[int, AssociationKeys] = field(default_factory=dict, repr=False)
    pending_keys: dict[int, AssociationKeys] = field(default_factory=dict, repr=False)
    firmware: str | None = None
    alarm: str | None = None


class CommandFailed(Exception):
    """Raised inside an operation when the meter was reached but the command cannot succeed.
    `alarm` names an abnormal state of the meter the runner raises as an alarm (e.g.
    ``relay_stuck``), beyond the command's failure."""

    def __init__(self, reason: str, *, alarm: str | None = None) -> None:
        super().__init__(reason)
        self.alarm = alarm


@dataclass(frozen=True)
class MeterKeys:
    """The keys one command needs: per client SAP (WAN), and the meter's key-encryption key
    when the command sends keys (key change)."""

    associations: Mapping[int, AssociationKeys] = field(repr=False)
    kek: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ExecutorSettings:
    """How the head-end reaches meters for commands.

    `operator_key` signs CMD-6 commands (general-signing, ECDSA P-256); None sends them unsigned.
    `firmware_sap` is the firmware client (image transfer only, least privilege), `management_sap`
    the client that may write and call methods. `clock_tolerance_s` is how close a read-back
    clock must be to the time set.
    """

    client_system_title: bytes
    operator_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    management_sap: int = 1
    firmware_sap: int = 3
    request_timeout_s: float = 10.0
    clock_tolerance_s: float = 5.0


@dataclass(frozen=True)
class Firmware:
    """An image to send: identifier the meter reports once active, and the signed image."""

    identifier: bytes
    image: bytes = field(repr=False)
    version: str


Operation = Callable[[DlmsClient, dict[str, Any]], Awaitable[dict[str, Any]]]
_Plan = TypeVar("_Plan")


class CommandExecutor:
    """Executes commands on meters over DLMS (one association per command)."""

    def __init__(
        self,
        settings: ExecutorSettings,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.now = now
        self._counters: dict[tuple[Any, int], int] = {}

    # ---------------------------------------------------------------------------- public

    async def execute(
        self,
        target: MeterTarget,
        kind: str,
        params: Mapping[str, Any] | None,
        keys: MeterKeys,
        *,
        firmware: Firmware | None = None,
    ) -> Outcome:
        """One attempt at `kind` on `target`; never raises for what the meter or network does."""
        args = dict(params or {})
        try:
            if kind == "key_change":
                return await self._key_change(target, args, keys)
            if kind == "firmware_update":
                if firmware is None:
                    return Outcome(Delivery.FAILED, "no firmware image given")
                return await self._firmware(target, firmware, keys)
            operation = self._operations().get(kind)
            if operation is None:
                return Outcome(Delivery.FAILED, f"unknown command kind {kind!r}")
            sap = self.settings.management_sap
            async with await self._client(target, sap, keys) as client:
                details = await operation(client, args)
            return Outcome(Delivery.CONFIRMED, None, details)
        except CommandFailed as exc:
            return Outcome(Delivery.FAILED, str(exc), alarm=exc.alarm)
        except RequestRefused as exc:
            return Outcome(Delivery.FAILED, f"refused by the meter: {_refusal(exc)}")
        except SecurityError as exc:
            return Outcome(Delivery.FAILED, f"security: {exc}")
        except (TransportError, TimeoutError, OSError) as exc:
            return Outcome(Delivery.UNDELIVERED, f"not delivered: {exc}")
        except DlmsError as exc:
            return Outcome(Delivery.UNDELIVERED, f"session broke: {exc}")

    def _operations(self) -> dict[str, Operation]:
        return {
            "connect": self._connect,
            "disconnect": self._disconnect,
            "power_limit": self._power_limit,
            "emergency_power_limit": self._emergency_limit,
            "time_sync": self._time_sync,
            "time_set": self._time_set,
            "han_open": self._han(True),
            "han_close": self._han(False),
            "activity_calendar": self._activity_calendar,
            "special_days": self._special_days,
            "data_scope": self._data_scope,
            "parameterise": self._parameterise,
            "measurement_method": self._measurement_method,
            "credit_transfer": self._credit_transfer,
        }

    # ---------------------------------------------------------------------------- sessions

    def _context(self, pair: AssociationKeys) -> SecurityContext:
        return SecurityContext(
            self.settings.client_system_title,
            pair.encryption_key,
            pair.authentication_key,
            signing_key=self.settings.operator_key,
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

    async def _client(
        self, target: MeterTarget, sap: int, keys: MeterKeys, pair: AssociationKeys | None = None
    ) -> _Session:
        """A client for `sap` continuing the invocation counter the meter expects (read from its
        public invocation-counter object on first contact, then from our own record)."""
        use = pair or keys.associations.get(sap)
        if use is None:
            raise CommandFailed(f"no keys for client SAP {sap}")
        start = self._counters.get((target.meter_id, sap))
        endpoint = self._endpoint(target, sap)
        if start is None:
            try:
                start = await published_invocation_counter(endpoint, sap)
            except CounterNotPublished:
                raise CommandFailed("the meter publishes no invocation counter") from None
        settings = ClientSettings(
            mechanism=Mechanism.HLS_GMAC, security=self._context(use), invocation_counter=start
        )
        return _Session(self, target, sap, DlmsClient(endpoint, settings))

    async def _public_get(self, target: MeterTarget, cls: int, ln: bytes, attr: int) -> Data:
        """Read what every meter publishes, through the Public client (no keys)."""
        async with DlmsClient(self._endpoint(target, PUBLIC_SAP), ClientSettings()) as public:
            return await public.get(cls, ln, attr)

    def _remember(self, target: MeterTarget, sap: int, client: DlmsClient) -> None:
        self._counters[(target.meter_id, sap)] = client.association.protection.counter.value

    @property
    def _signed(self) -> bool:
        return self.settings.operator_key is not None

    # ---------------------------------------------------------------------------- relay

    async def _relay_state(self, client: DlmsClient) -> tuple[ControlMode, ControlState, bool]:
        """Control mode, control state (attribute 3: where the state machine was driven) and
        output state (attribute 2: the contacts as the meter senses them on the load side)."""
        ln = objects.DISCONNECT_CONTROL.to_bytes()
        mode = await client.get(DISCONNECT, ln, 4)
        state = await client.get(DISCONNECT, ln, 3)
        output = await client.get(DISCONNECT, ln, 2)
        if not isinstance(mode, int) or not isinstance(state, int) or not isinstance(output, bool):
            raise CommandFailed("disconnect control answered no state")
        return ControlMode(int(mode)), ControlState(int(state)), output

    async def _switch(self, client: DlmsClient, trigger: DisconnectTrigger) -> dict[str, Any]:
        """A relay command confirmed on the contacts, not only on the state machine: a meter
        with welded contacts moves `control_state` and answers success, so `output_state`
        must agree with the state reached (closed exactly when connected), else the command
        fails with a relay-stuck alarm. A retry finds the state already reached and does not
        act twice, but is confirmed only when the contacts agree as well."""
        mode, before, output = await self._relay_state(client)
        done = ControlState.DISCONNECTED if trigger is DisconnectTrigger.REMOTE_DISCONNECT else None
        if before is ControlState.CONNECTED and trigger is DisconnectTrigger.REMOTE_RECONNECT:
            done = ControlState.CONNECTED
        if before is done:
            _check_contacts(before, output)
            return {"state": before.name.lower(), "already": True}
        expected = allowed_transition(mode, before, trigger)
        if expected is None:
            raise CommandFailed(
                f"control mode {int(mode)} does not allow {trigger.name.lower()} "
                f"from {before.name.lower()}"
            )
        method = 1 if trigger is DisconnectTrigger.REMOTE_DISCONNECT else 2
        ln = objects.DISCONNECT_CONTROL.to_bytes()
        await client.action(DISCONNECT, ln, method, Integer(0), signed=self._signed)
        _, after, output = await self._relay_state(client)
        if after is not expected:
            raise CommandFailed(
                f"relay did not switch: read back {after.name.lower()}, "
                f"expected {expected.name.lower()}"
            )
        _check_contacts(after, output)
        return {"state": after.name.lower(), "before": before.name.lower()}

    async def _connect(self, client: DlmsClient, _args: dict[str, Any]) -> dict[str, Any]:
        return await self._switch(client, DisconnectTrigger.REMOTE_RECONNECT)

    async def _disconnect(self, client: DlmsClient, _args: dict[str, Any]) -> dict[str, Any]:
        return await self._switch(client, DisconnectTrigger.REMOTE_DISCONNECT)

    # ---------------------------------------------------------------------------- limiter

    async def _write_checked(
        self, client: DlmsClient, cls: int, ln: Obis, attr: int, value: Data, *, signed: bool
    ) -> Data:
        await client.set(cls, ln.to_bytes(), attr, value, signed=signed)
        back = await client.get(cls, ln.to_bytes(), attr)
        if back != value or isinstance(back, bool) != isinstance(value, bool):
            raise CommandFailed(f"{ln}:{attr} read back {back!r}, expected {value!r}")
        return back

    async def _power_limit(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        watts = _watts(args)
        ln = objects.LIMITER
        await self._write_checked(
            client, LIMITER_CLASS, ln, 4, DoubleLongUnsigned(watts), signed=False
        )
        return {"threshold_normal_w": watts}

    async def _emergency_limit(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Emergency limit (Blue Book limiter): the emergency threshold, the profile's id in the
        group list and an emergency profile starting now for `duration_s`; confirmed when the
        meter reports the profile active and applies the emergency threshold. `active: false`
        ends it (a profile of zero duration). The profile write activates an operating mode, so
        it goes signed (CMD-6)."""
        active = bool(args.get("active", True))
        profile_id = int(args.get("profile_id", 1))
        duration = int(args.get("duration_s", 3600)) if active else 0
        if not 0 < profile_id <= 0xFFFF or not 0 <= duration <= 0xFFFFFFFF:
            raise CommandFailed("profile_id 1..65535 and duration_s 0..4294967295")
        ln = objects.LIMITER
        details: dict[str, Any] = {"emergency_active": active, "profile_id": profile_id}
        if active:
            watts = _watts(args)
            await self._write_checked(
                client, LIMITER_CLASS, ln, 5, DoubleLongUnsigned(watts), signed=False
            )
            groups = Array([LongUnsigned(profile_id)])
            await self._write_checked(client, LIMITER_CLASS, ln, 9, groups, signed=False)
            details.update(threshold_emergency_w=watts, duration_s=duration)
        start = DateTime.from_datetime(self.now().astimezone(UTC))
        profile = EmergencyProfile(profile_id, start, duration).to_data()
        await client.set(LIMITER_CLASS, ln.to_bytes(), 8, profile, signed=self._signed)
        in_force = await client.get(LIMITER_CLASS, ln.to_bytes(), 10)
        applied = await client.get(LIMITER_CLASS, ln.to_bytes(), 3)
        if in_force is not active:
            raise CommandFailed(f"emergency profile active reads {in_force!r}, not {active}")
        if active and applied != details["threshold_emergency_w"]:
            raise CommandFailed(f"limiter applies {applied!r} W, not the emergency threshold")
        details["threshold_active_w"] = applied if isinstance(applied, int) else None
        return details

    # ---------------------------------------------------------------------------- clock

    async def _meter_time(self, client: DlmsClient) -> datetime:
        value = await client.get(CLOCK_CLASS, objects.CLOCK.to_bytes(), 2)
        if not isinstance(value, bytes):
            raise CommandFailed("clock answered no date-time")
        return axdr.datetime_from_bytes(bytes(value)).to_datetime()

    async def _set_clock(self, client: DlmsClient, when: datetime) -> dict[str, Any]:
        before = await self._meter_time(client)
        offset = when - self.now()  # keep the asked time's offset while the request travels
        stamp = DateTime.from_datetime(when.astimezone(UTC))
        value = OctetString(axdr.datetime_to_bytes(stamp))
        await client.set(CLOCK_CLASS, objects.CLOCK.to_bytes(), 2, value, signed=self._signed)
        after = await self._meter_time(client)
        error = (after - (self.now() + offset)).total_seconds()
        if abs(error) > self.settings.clock_tolerance_s:
            raise CommandFailed(f"clock read back {error:+.1f} s from the time set")
        return {
            "drift_before_s": round((before - (self.now() + offset)).total_seconds(), 3),
            "error_after_s": round(error, 3),
        }

    async def _time_sync(self, client: DlmsClient, _args: dict[str, Any]) -> dict[str, Any]:
        return await self._set_clock(client, self.now())

    async def _time_set(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        text = args.get("time")
        if not isinstance(text, str):
            raise CommandFailed("time_set needs a 'time' (ISO 8601 with offset)")
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            raise CommandFailed("time_set needs a time with its UTC offset")
        return await self._set_clock(client, when)

    # ---------------------------------------------------------------------------- HAN

    def _han(self, open_port: bool) -> Operation:
        """HAN port (ACC-2): the meter's two HAN push setups (instantaneous values and
        registers) get the customer device's address (TCP ``host:port``) to open the port and an
        empty one to close it; confirmed by reading both destinations back."""

        async def run(client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
            target = args.get("destination", "") if open_port else ""
            if open_port and (not isinstance(target, str) or not target):
                raise CommandFailed(
                    "han_open needs the customer device's 'destination' (host:port)"
                )
            value = SendDestinationAndMethod(TransportService.TCP, target.encode()).to_data()
            for setup in HAN_PUSH_SETUPS:
                await self._write_checked(client, PUSH_SETUP_CLASS, setup, 3, value, signed=False)
            return {"han_open": open_port, "destination": target}

        return run

    # ---------------------------------------------------------------------------- tariffs

    async def _activity_calendar(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Activity calendar (CMD-2; a tariff group is a calendar named for it): write the
        passive calendar, each table read back, then activate it now (method 1, signed as the
        activation of an operating mode, CMD-6) and read the *active* tables back, or set
        `activate_passive_calendar_time` and read that back. A calendar already active as asked
        is confirmed without writing (a retried command does not act twice)."""
        plan = _parsed(calendar_plan, args)
        ln = objects.ACTIVITY_CALENDAR
        tables: list[Data] = [
            OctetString(plan.name),
            Array([x.to_data() for x in plan.seasons]),
            Array([x.to_data() for x in plan.weeks]),
            Array([x.to_data() for x in plan.days]),
        ]
        label = plan.name.decode(errors="replace")
        if plan.activate_at is None and await self._active_calendar(client) == tables:
            return {"calendar": label, "already": True}
        for attr, value in zip((6, 7, 8, 9), tables, strict=True):
            await self._write_checked(client, CALENDAR_CLASS, ln, attr, value, signed=False)
        if plan.activate_at is not None:
            stamp = DateTime.from_datetime(plan.activate_at)
            when = OctetString(axdr.datetime_to_bytes(stamp))
            await self._write_checked(client, CALENDAR_CLASS, ln, 10, when, signed=self._signed)
            return {"calendar": label, "activate_at": plan.activate_at.isoformat()}
        await client.action(CALENDAR_CLASS, ln.to_bytes(), 1, Integer(0), signed=self._signed)
        if await self._active_calendar(client) != tables:
            raise CommandFailed(f"calendar {label!r} is not the active one after activation")
        return {"calendar": label, "activated": True}

    async def _active_calendar(self, client: DlmsClient) -> list[Data]:
        ln = objects.ACTIVITY_CALENDAR.to_bytes()
        return [await client.get(CALENDAR_CLASS, ln, attr) for attr in (2, 3, 4, 5)]

    async def _special_days(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Special days table (CMD-2): insert (method 1) the entries not yet in the table and
        delete (method 2) the indices still in it, then read the table back: every inserted
        entry present, every deleted index gone."""
        plan = _parsed(special_days_plan, args)
        ln = objects.SPECIAL_DAYS_TABLE.to_bytes()
        before = await self._special_entries(client)
        inserted = deleted = 0
        for entry in plan.insert:
            if entry not in before:
                await client.action(SPECIAL_DAYS_CLASS, ln, 1, entry.to_data())
                inserted += 1
        for index in plan.delete:
            if any(e.index == index for e in before):
                await client.action(SPECIAL_DAYS_CLASS, ln, 2, LongUnsigned(index))
                deleted += 1
        after = await self._special_entries(client)
        missing = [e.index for e in plan.insert if e not in after]
        kept = [i for i in plan.delete if any(e.index == i for e in after)]
        if missing or kept:
            raise CommandFailed(f"special days read back: missing {missing}, not deleted {kept}")
        return {"inserted": inserted, "deleted": deleted, "entries": len(after)}

    async def _special_entries(self, client: DlmsClient) -> list[SpecialDayEntry]:
        value = await client.get(SPECIAL_DAYS_CLASS, objects.SPECIAL_DAYS_TABLE.to_bytes(), 2)
        if not isinstance(value, list):
            raise CommandFailed("the special days table answered no entries")
        try:
            return [SpecialDayEntry.from_data(v) for v in value]
        except DlmsError as exc:
            raise CommandFailed(f"special days table: {exc}") from None

    # ---------------------------------------------------------------------------- scope

    async def _data_scope(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Scope of data sent (CMD-2): a profile's capture objects (attribute 3) and capture
        period (attribute 4), and push setups' object lists (attribute 2), each written only when
        it differs and read back. A refusal names the attribute and what was applied before it,
        since the earlier writes stay."""
        plan = _parsed(scope_plan, args)
        changes: list[tuple[str, int, Obis, int, Data]] = []
        if plan.capture_objects is not None:
            objects_ = Array([o.to_data() for o in plan.capture_objects])
            changes.append(("capture_objects", PROFILE_CLASS, plan.profile, 3, objects_))
        if plan.capture_period_s is not None:
            period = DoubleLongUnsigned(plan.capture_period_s)
            changes.append(("capture_period_s", PROFILE_CLASS, plan.profile, 4, period))
        for setup, listed in plan.push:
            pushed = Array([o.to_data() for o in listed])
            changes.append((f"push {setup}", PUSH_SETUP_CLASS, setup, 2, pushed))
        applied: list[str] = []
        unchanged: list[str] = []
        for what, cls, ln, attr, value in changes:
            if await client.get(cls, ln.to_bytes(), attr) == value:
                unchanged.append(what)
                continue
            try:
                await self._write_checked(client, cls, ln, attr, value, signed=False)
            except RequestRefused as exc:
                raise CommandFailed(
                    f"{what} ({ln}:{attr}) refused by the meter: {_refusal(exc)}; "
                    f"applied before it: {applied or 'nothing'}"
                ) from None
            applied.append(what)
        return {"profile": str(plan.profile), "applied": applied, "unchanged": unchanged}

    # ---------------------------------------------------------------------------- CMD-8

    async def _parameterise(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Group parameterisation from a prepared file (CMD-8): each setting written in the
        file's order when the meter does not hold it already, and read back. The result lists
        per setting `set` or `unchanged`; a refusal fails the command naming the setting and
        those applied before it (they stay: a file is a list of independent settings)."""
        settings = _parsed(command_settings, args)
        done: list[dict[str, Any]] = []
        for i, s in enumerate(settings):
            where = f"set[{i}] {s.obis}:{s.attribute}"
            ln = s.obis.to_bytes()
            try:
                held: Data = await client.get(s.class_id, ln, s.attribute)
            except RequestRefused:
                held = None  # write-only, or not readable by this client: write it
            if held == s.value and isinstance(held, bool) == isinstance(s.value, bool):
                done.append({"obis": str(s.obis), "attribute": s.attribute, "result": "unchanged"})
                continue
            applied = [f"set[{k}]" for k, d in enumerate(done) if d["result"] == "set"]
            try:
                await self._write_checked(
                    client, s.class_id, s.obis, s.attribute, s.value, signed=False
                )
            except RequestRefused as exc:
                raise CommandFailed(
                    f"{where} refused by the meter: {_refusal(exc)}; "
                    f"applied before it: {applied or 'nothing'}"
                ) from None
            except CommandFailed as exc:
                raise CommandFailed(
                    f"{where}: {exc}; applied before it: {applied or 'nothing'}"
                ) from None
            done.append({"obis": str(s.obis), "attribute": s.attribute, "result": "set"})
        file = args.get("file") or {}
        return {"file": file.get("name"), "sha256": file.get("sha256"), "settings": done}

    # ---------------------------------------------------------------------------- CMD-9

    async def _measurement_method(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Measurement method (CMD-9): the meter's measurement-method object set to the asked
        summation (vector or arithmetic) and read back; a meter already using it is confirmed
        without a write. The administrator-only rule was applied when the request was made."""
        value = _parsed(measurement_method, args)
        name = next(k for k, v in METHODS.items() if v == value)
        ln = MEASUREMENT_METHOD
        try:
            before = await client.get(DATA, ln.to_bytes(), 2)
        except RequestRefused as exc:
            raise CommandFailed(
                f"the meter has no measurement-method object {ln}: {_refusal(exc)}"
            ) from None
        if before == value:
            return {"method": name, "already": True}
        await self._write_checked(client, DATA, ln, 2, Enum(value), signed=False)
        return {"method": name, "before": _method_name(before)}

    # ---------------------------------------------------------------------------- PRE-1

    async def _credit_transfer(self, client: DlmsClient, args: dict[str, Any]) -> dict[str, Any]:
        """Credit transfer (PRE-1): the top-up's token entered through the Token gateway, signed
        (CMD-6) as the meter demands. The token carries the transfer id (the request id) and
        was fixed at submission, so a retry after a lost answer sends the same token and the
        meter applies it at most once: `already applied` is a confirmation, not a failure.
        Confirmed when the gateway's last token is ours and its status says executed (or
        already applied); the credit before and after is read from the Credit object."""
        token = _parsed(credit_token, args)
        raw = token.encode()
        ln = TOKEN_GATEWAY.to_bytes()
        before = await self._credit(client)
        try:
            await client.action(TOKEN_GATEWAY_CLASS, ln, 1, OctetString(raw), signed=self._signed)
        except RequestRefused as exc:
            status = await self._token_status(client)
            raise CommandFailed(
                f"refused by the meter: {_refusal(exc)} (token status {_token_text(status)})"
            ) from None
        if await client.get(TOKEN_GATEWAY_CLASS, ln, 2) != raw:
            raise CommandFailed("the token gateway's last token is not the one sent")
        status = await self._token_status(client)
        after = await self._credit(client)
        details = {
            "transfer_id": str(args["transfer_id"]),
            "amount": token.amount,
            "credit_before": before,
            "credit_after": after,
        }
        if status.code is TokenStatusCode.TOKEN_EXECUTION_OK:
            return details
        if status.code is TokenStatusCode.VALIDATION_RESULT_FAILURE and status.refusals == {
            TokenRefusal.ALREADY_APPLIED
        }:
            return {**details, "already": True}
        raise CommandFailed(f"token not applied: {_token_text(status)}")

    async def _credit(self, client: DlmsClient) -> int:
        value = await client.get(CREDIT_CLASS, CREDIT.to_bytes(), 2)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CommandFailed("the meter's credit object answered no amount")
        return int(value)

    async def _token_status(self, client: DlmsClient) -> TokenStatus:
        value = await client.get(TOKEN_GATEWAY_CLASS, TOKEN_GATEWAY.to_bytes(), 6)
        try:
            return TokenStatus.from_data(value)
        except DlmsError as exc:
            raise CommandFailed(f"token status: {exc}") from None

    # ---------------------------------------------------------------------------- keys

    async def _key_change(
        self, target: MeterTarget, args: dict[str, Any], keys: MeterKeys
    ) -> Outcome:
        """New keys per client SAP, fresh from the system's random source (SEC-7: never derived
        or shared), wrapped under the meter's key-encryption key and sent with key_transfer; the
        change is confirmed by opening an association with the new keys.

        Keys the meter accepted are returned in `new_keys` whatever happens next, and a pair whose
        answer was lost in `pending_keys`: the runner stores both before anything else, so a
        broken session never leaves a meter with keys the head-end does not have.
        """
        if keys.kek is None:
            return Outcome(Delivery.FAILED, "the meter's key-encryption key is not in the store")
        saps = [int(s) for s in args.get("saps", [1, 2, 3])]
        missing = [s for s in saps if s not in keys.associations]
        if missing:
            return Outcome(Delivery.FAILED, f"no keys for client SAP(s) {missing}")
        applied: dict[int, AssociationKeys] = {}
        outcome = Outcome(Delivery.CONFIRMED, None, {"saps": saps, "interface": "wan"})
        try:
            async with await self._client(target, self.settings.management_sap, keys) as client:
                for target_sap in saps:
                    pair = AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))
                    items = Array(
                        [
                            KeyData(
                                KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY, _wrap(keys, pair, 0)
                            ).to_data(),
                            KeyData(KeyId.AUTHENTICATION_KEY, _wrap(keys, pair, 1)).to_data(),
                        ]
                    )
                    outcome.pending_keys = {target_sap: pair}
                    ln = objects.security_setup(target_sap).to_bytes()
                    try:
                        await client.action(SECURITY_SETUP, ln, 2, items)
                    except RequestRefused:
                        outcome.pending_keys = {}
                        raise
                    outcome.pending_keys = {}
                    applied[target_sap] = pair
                    outcome.new_keys = dict(applied)
            for target_sap, pair in applied.items():
                # Read-back: an association with the new keys must open.
                self._counters.pop((target.meter_id, target_sap), None)
                async with await self._client(target, target_sap, keys, pair) as client:
                    await client.get(CLOCK_CLASS, objects.CLOCK.to_bytes(), 2)
        except RequestRefused as exc:
            outcome.delivery, outcome.reason = (
                Delivery.FAILED,
                f"refused by the meter: {_refusal(exc)}",
            )
        except (TransportError, TimeoutError, OSError, DlmsError) as exc:
            outcome.delivery, outcome.reason = Delivery.FAILED, f"key change broke off: {exc}"
        return outcome

    # ---------------------------------------------------------------------------- firmware

    async def _firmware(self, target: MeterTarget, firmware: Firmware, keys: MeterKeys) -> Outcome:
        """Image transfer (class 18) through the firmware client: skip if already active, else
        initiate, blocks, verify (the meter checks the vendor's signature) and only on a
        successful verification activate; then read the active identifier back (CMD-7)."""
        sap = self.settings.firmware_sap
        ln = objects.IMAGE_TRANSFER.to_bytes()
        ident_ln = objects.ACTIVE_FIRMWARE_IDENTIFIER.to_bytes()
        if await self._public_get(target, DATA, ident_ln, 2) == firmware.identifier:
            return Outcome(Delivery.CONFIRMED, None, {"already": True}, firmware=firmware.version)
        session = await self._client(target, sap, keys)
        async with session as client:
            block_size = await client.get(IMAGE_CLASS, ln, 2)
            if not isinstance(block_size, int) or block_size <= 0:
                raise CommandFailed("image transfer answered no block size")
            image = firmware.image
            await client.action(
                IMAGE_CLASS,
                ln,
                1,
                Structure([OctetString(firmware.identifier), DoubleLongUnsigned(len(image))]),
            )
            blocks = range(0, len(image), int(block_size))
            for number, start in enumerate(blocks):
                chunk = OctetString(image[start : start + int(block_size)])
                await client.action(
                    IMAGE_CLASS, ln, 2, Structure([DoubleLongUnsigned(number), chunk])
                )
            try:
                await client.action(IMAGE_CLASS, ln, 3, Integer(0))
            except RequestRefused as exc:
                status = await client.get(IMAGE_CLASS, ln, 6)
                raise CommandFailed(
                    f"the meter refused the image at verification ({_refusal(exc)}; status "
                    f"{_image_status(status)}): not activated"
                ) from None
            await client.action(IMAGE_CLASS, ln, 4, Integer(0))
        # The firmware client sees only the image transfer; the active identifier is public.
        now_active = await self._public_get(target, DATA, ident_ln, 2)
        if now_active != firmware.identifier:
            raise CommandFailed(f"active firmware reads {now_active!r} after activation")
        return Outcome(
            Delivery.CONFIRMED,
            None,
            {"version": firmware.version, "blocks": len(blocks)},
            firmware=firmware.version,
        )


class _Session:
    """`async with` over one association that records where its invocation counter stopped."""

    def __init__(
        self, executor: CommandExecutor, target: MeterTarget, sap: int, client: DlmsClient
    ) -> None:
        self.executor, self.target, self.sap, self.client = executor, target, sap, client

    async def __aenter__(self) -> DlmsClient:
        await self.client.__aenter__()
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.client.__aexit__(None, None, None)
        finally:
            self.executor._remember(self.target, self.sap, self.client)


def _parsed(parse: Callable[[Mapping[str, Any]], _Plan], args: Mapping[str, Any]) -> _Plan:
    """Parameters parsed again at execution (a stored row is not trusted); bad ones fail."""
    try:
        return parse(args)
    except ParamsError as exc:
        raise CommandFailed(f"bad parameters: {exc}") from None


def _check_contacts(state: ControlState, output: bool) -> None:
    """Fail with the relay-stuck alarm when the contacts (`output_state`) disagree with the
    control state: closed exactly when connected (Blue Book class 70)."""
    if output != (state is ControlState.CONNECTED):
        position = "closed" if output else "open"
        raise CommandFailed(
            f"relay did not switch: contacts stuck {position} (output_state {output}) while "
            f"control_state reads {state.name.lower()}",
            alarm="relay_stuck",
        )


def _watts(args: Mapping[str, Any]) -> int:
    value = args.get("watts")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
        raise CommandFailed("a limit needs 'watts', an integer 0..4294967295")
    return value


def _wrap(keys: MeterKeys, pair: AssociationKeys, which: int) -> bytes:
    assert keys.kek is not None
    key = pair.encryption_key if which == 0 else pair.authentication_key
    return wrap_key(keys.kek, key)


def _refusal(exc: RequestRefused) -> str:
    """The meter's refusal as the Blue Book names it (``read-write-denied``), not its number."""
    name = getattr(exc.result, "name", None)
    return name.lower().replace("_", "-") if isinstance(name, str) else str(exc.result)


def _token_text(status: TokenStatus) -> str:
    """``validation-result-failure: too old`` from a token status."""
    code = status.code.name.lower().replace("_", "-")
    why = ", ".join(r.name.lower().replace("_", " ") for r in sorted(status.refusals))
    return f"{code}: {why}" if why else code


def _method_name(value: object) -> str:
    return next((k for k, v in METHODS.items() if v == value), repr(value))


def _image_status(value: object) -> str:
    try:
        return ImageTransferStatus(int(value)).name.lower()  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return repr(value)
