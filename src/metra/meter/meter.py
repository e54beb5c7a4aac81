"""The virtual meter: the state of one meter behind a shared COSEM object table.

:class:`VirtualMeter` is the ``CosemHandler`` a ``ServerAssociation`` asks. Measurements come from
:class:`~metra.meter.measurement.MeasurementModel` evaluated at the meter's own clock (fleet clock
+ drift + corrections); the little state a meter has (relay, journals, keys, counters, credit,
firmware) lives here. The objects themselves -- names, classes, attribute layouts, access rights,
object lists -- are one :class:`~metra.meter.objects.ObjectTable` per layout, shared by every meter
(:mod:`metra.meter.layout`), so a meter that has answered a read costs a few kilobytes.

Client SAPs: 16 Public (no authentication, read-only, no secrets), 1 management, 2 reading,
3 firmware; optical-port associations use the same SAPs with other keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.acse import Mechanism
from metra.dlms.cosem import _shape
from metra.dlms.cosem.access import AccessRights
from metra.dlms.cosem.calendar import SpecialDayEntry
from metra.dlms.cosem.enums import KeyId
from metra.dlms.cosem.security import KeyData
from metra.dlms.counters import InvocationCounter, ReplayGuard
from metra.dlms.data import Data, DateTime, OctetString
from metra.dlms.errors import DecodeError, SecurityError
from metra.dlms.keywrap import unwrap_key
from metra.dlms.protection import ApduProtection, SecurityContext
from metra.dlms.server import (
    AssociationConfig,
    CosemHandler,
    RequestContext,
    SecurityAlarm,
    SecurityEvent,
    ServerAssociated,
    ServerEvent,
)
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
    SelectiveAccess,
)
from metra.profiles.model import Profile

from .apparent import ApparentEnergy
from .clock import FleetClock
from .credit_transfer import CreditTransfers
from .faults import MeterFaults
from .firmware import Image
from .identity import KeySet, MeterIdentity, MeterSecrets
from .journal import EventCode, Journals, Log
from .layout import object_table
from .lp_capture import LoadProfileScope
from .measurement import Instant, MeasurementModel
from .objects import ObjectTable, Role, who
from .push import OutgoingPush, Pushes, factory_setups
from .supply import Supply
from .tariff import Calendar, CalendarError, TariffSchedule, TariffTables, default_tables

__all__ = ["SAPS", "Interface", "VirtualMeter"]

Interface = Literal["wan", "optical"]
#: Client SAP -> role; every meter has the same layout.
SAPS: dict[int, Role] = {
    16: Role.PUBLIC,
    1: Role.MANAGEMENT,
    2: Role.READING,
    3: Role.FIRMWARE,
}
_ROLES = {role.value: role for role in Role}


class VirtualMeter:
    """One virtual smart meter (see the module docstring)."""

    def __init__(
        self,
        identity: MeterIdentity,
        secrets: MeterSecrets,
        clock: FleetClock,
        *,
        profile: Profile,
        security: Literal["none", "hls-gmac", "suite1"] = "hls-gmac",
        faults: MeterFaults | None = None,
        operator_public_key: ec.EllipticCurvePublicKey | None = None,
        firmware_public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> None:
        self.identity = identity
        self.secrets = secrets
        self.fleet_clock = clock
        self.profile = profile
        self.security = security
        self.faults = faults
        self.operator_public_key = operator_public_key
        self.firmware_public_key = firmware_public_key
        self.model = MeasurementModel(identity, profile, faults)
        self.tariffs = TariffSchedule(default_tables(profile), self.model.epoch_utc)
        self.model.tariffs = self.tariffs
        self.passive_calendar: Calendar = self.tariffs.current.calendar
        #: When the passive calendar becomes active by itself, and since when that was asked.
        self.passive_activation: DateTime | None = None
        self._activation_armed: datetime | None = None
        self.journals = Journals(faults)
        self.zone = ZoneInfo(profile.timezone)
        self._drift_origin = clock.now()
        self._clock_offset = timedelta(0)
        self._keys: dict[tuple[str, int], KeySet] = {
            **{("wan", sap): ks for sap, ks in secrets.wan.items()},
            **{("optical", sap): ks for sap, ks in secrets.optical.items()},
        }
        self.master_key = secrets.master_key
        self._counters: dict[tuple[str, int], InvocationCounter] = {}
        self._replay: dict[tuple[str, int], ReplayGuard] = {}
        self._failed_auth: dict[str, int] = {}
        self.capture_period = profile.metering.interval_minutes * 60
        #: Load-profile columns chosen by the management client (CMD-2), default the factory's.
        self.lp_scope = LoadProfileScope()
        self.supply = Supply(self, settled=self.now(), stuck=bool(faults and faults.stuck_relay))
        self.low_credit_threshold = int(profile.prepayment.low_credit_threshold * 100)
        self.transfers = CreditTransfers()
        self.firmware_id = b"MTR-1.0.0"
        #: Apparent energy and its measurement method (CMD-9, 1-0:0.11.6.255).
        self.apparent = ApparentEnergy()
        self.image = Image()
        self.pushes = Pushes(self, factory_setups(profile.han, identity.phases))
        self.role = Role.PUBLIC
        self.objects: ObjectTable = object_table(identity.phases)
        self.handler: CosemHandler = self

    # ------------------------------------------------------------------ clock and state

    def now(self) -> datetime:
        """The meter's own clock: fleet time + drift since start + corrections (UTC)."""
        fleet = self.fleet_clock.now()
        ppm = self.faults.clock_drift_ppm if self.faults else 0.0
        drift = (fleet - self._drift_origin) * (ppm * 1e-6)
        return fleet + drift + self._clock_offset

    def local(self, when: datetime) -> OctetString:
        """``when`` as the COSEM date-time a meter writes: local time, deviation, DST bit."""
        local = when.astimezone(self.zone)
        dst = 0x80 if local.dst() else 0
        return _shape.date_time_data(DateTime.from_datetime(local, clock_status=dst))

    def adjust_clock(self, delta: timedelta, ctx: RequestContext) -> None:
        """Time sync: move the clock and journal old and new time (EVT-1, clock correction)."""
        before = self.now()
        self._clock_offset += delta
        log = Log.CLOCK_CORRECTION
        self.journals.add(log, before, EventCode.CLOCK_ADJUSTED_OLD, who(ctx))
        self.journals.add(log, self.now(), EventCode.CLOCK_ADJUSTED_NEW, int(delta.total_seconds()))

    def instantaneous(self) -> Instant:
        """Instantaneous values now."""
        return self.model.instantaneous(self.now())

    # ------------------------------------------------------------------ associations

    def associations(self, interface: Interface = "wan") -> Mapping[int, AssociationConfig]:
        """The four associations of ``interface`` with the keys current now (a key transfer
        takes effect for associations opened after it)."""
        configs = {16: AssociationConfig(16, Role.PUBLIC.value)}
        for sap in (1, 2, 3):
            name = SAPS[sap].value
            if self.security == "none":
                configs[sap] = AssociationConfig(sap, name)
                continue
            keys = self._keys[(interface, sap)]
            suite1 = self.security == "suite1" and sap == 1
            context = SecurityContext(
                self.identity.system_title,
                keys.encryption_key,
                keys.authentication_key,
                suite=1 if suite1 else 0,
                signing_key=self.secrets.signing_key if suite1 else None,
                peer_signing_key=self.operator_public_key if sap == 1 else None,
            )
            mechanism = Mechanism.HLS_ECDSA if suite1 else Mechanism.HLS_GMAC
            configs[sap] = AssociationConfig(sap, name, mechanism, security=context)
        return configs

    def protection(self, interface: Interface, sap: int) -> ApduProtection:
        """APDU protection for a new association whose invocation counter and replay guard
        continue from the last session (give it to ``ServerAssociation(protection=...)``)."""
        config = self.associations(interface).get(sap)
        key = (interface, sap)
        counter = self._counters.setdefault(key, InvocationCounter())
        replay = self._replay.setdefault(key, ReplayGuard())
        return ApduProtection(config.security if config else None, counter, replay)

    def expected_counter(self, sap: int) -> int:
        """The next invocation counter the WAN association of ``sap`` accepts."""
        guard = self._replay.setdefault(("wan", sap), ReplayGuard())
        return min(guard.next_expected(), 0xFFFFFFFF)

    def counter_state(self) -> dict[str, int]:
        """Invocation counters to persist (``"wan/1"`` -> next value), including the HAN one."""
        state = {f"{i}/{s}": c.value for (i, s), c in self._counters.items()}
        state["han"] = self.pushes.han_counter.value
        return state

    def restore_counters(self, state: Mapping[str, int]) -> None:
        """Continue from persisted counters (never go back: a reused counter reuses a GCM IV)."""
        for name, value in state.items():
            if name == "han":
                current_han = self.pushes.han_counter.value
                self.pushes.han_counter = InvocationCounter(max(value, current_han))
                continue
            interface, sap = name.split("/")
            key = (interface, int(sap))
            current = self._counters.get(key)
            self._counters[key] = InvocationCounter(max(value, current.value if current else 0))

    def transfer_keys(self, sap: int, items: list[KeyData]) -> bool:
        """Security setup ``key_transfer`` for ``sap``: unwrap with the master key and apply to
        associations opened from now on (MTR-1); journaled. False for an unknown key id."""
        current = self._keys[("wan", sap)]
        ek, ak, kek = current.encryption_key, current.authentication_key, self.master_key
        for item in items:
            key = unwrap_key(self.master_key, item.key_wrapped)
            if item.key_id is KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY:
                ek = key
            elif item.key_id is KeyId.AUTHENTICATION_KEY:
                ak = key
            elif item.key_id is KeyId.MASTER_KEY:
                kek = key
            else:
                return False
        self._keys[("wan", sap)] = KeySet(ek, ak)
        self.master_key = kek
        names = ",".join(i.key_id.name.lower() for i in items)
        self.journals.add(
            Log.COMMUNICATION, self.now(), EventCode.KEY_CHANGED, f"{names} SAP {sap}"
        )
        return True

    def on_server_event(self, event: ServerEvent, interface: Interface = "wan") -> None:
        """Journal security happenings (EVT-1) and count failed local authentications."""
        now = self.now()
        if isinstance(event, SecurityEvent):
            code = {
                SecurityAlarm.AUTHENTICATION_FAILED: EventCode.AUTHENTICATION_FAILURE,
                SecurityAlarm.REPLAY: EventCode.REPLAY_ATTACK,
                SecurityAlarm.DECIPHERING_FAILED: EventCode.DECIPHERING_FAILURE,
            }.get(event.alarm, EventCode.INVALID_COMMAND)
            self.journals.add(Log.COMMUNICATION, now, code, f"{interface} SAP {event.client_sap}")
            if event.alarm is SecurityAlarm.AUTHENTICATION_FAILED:
                self._failed_auth[interface] = self._failed_auth.get(interface, 0) + 1
        elif isinstance(event, ServerAssociated):
            self._failed_auth.pop(interface, None)

    def retry_delay(self, interface: Interface) -> float:
        """Seconds the transport must wait before the next attempt on ``interface`` (MTR-3: a
        failed authentication delays the next one on local interfaces, doubling up to 5 min)."""
        failures = self._failed_auth.get(interface, 0)
        if interface != "optical" or failures == 0:
            return 0.0
        return float(min(300, 5 * 2 ** (failures - 1)))

    # ------------------------------------------------------------------ CosemHandler

    def rights(self, ctx: RequestContext, class_id: int, instance: bytes) -> AccessRights | None:
        role = _ROLES.get(ctx.association)
        if role is None:
            return None
        return self.objects.rights(role, (class_id, instance))

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        obj = self.objects.get((attribute.class_id, bytes(attribute.instance_id)))
        attr = obj.attrs.get(attribute.attribute_id) if obj is not None else None
        self.role = _ROLES.get(ctx.association, Role.PUBLIC)
        if attr is None:
            return DataAccessResult.OBJECT_UNAVAILABLE
        if access is not None and access.selector not in (attr.selectors or ()):
            return DataAccessResult.OBJECT_UNAVAILABLE
        self.housekeeping()
        return attr.get(self, access)

    def set(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult:
        obj = self.objects.get((attribute.class_id, bytes(attribute.instance_id)))
        attr = obj.attrs.get(attribute.attribute_id) if obj is not None else None
        if obj is None or attr is None or attr.set is None:
            return DataAccessResult.READ_WRITE_DENIED
        self.housekeeping()
        try:
            result = attr.set(self, ctx, value)
        except (DecodeError, ValueError):
            result = DataAccessResult.TYPE_UNMATCHED
        if result is DataAccessResult.SUCCESS:
            self.journals.add(
                Log.PARAMETER_CHANGE,
                self.now(),
                EventCode.PARAMETER_CHANGED,
                f"{obj.logical_name}:{attribute.attribute_id} by {who(ctx)}",
            )
        else:
            self._invalid(f"set {obj.logical_name}:{attribute.attribute_id}")
        return result

    def action(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]:
        obj = self.objects.get((method.class_id, bytes(method.instance_id)))
        fn = obj.methods.get(method.method_id) if obj is not None else None
        if obj is None or fn is None:
            return ActionResult.OBJECT_UNAVAILABLE, None
        self.housekeeping()
        try:
            result, data = fn(self, ctx, parameters)
        except (DecodeError, ValueError, SecurityError):
            result, data = ActionResult.TYPE_UNMATCHED, None
        if result is not ActionResult.SUCCESS:
            self._invalid(f"action {obj.logical_name}:{method.method_id}")
        return result, data

    def _invalid(self, what: str) -> None:
        """MTR-3: an invalid command changes nothing and is journaled."""
        self.journals.add(Log.COMMUNICATION, self.now(), EventCode.INVALID_COMMAND, what)

    def needs_signature(self, ctx: RequestContext, what: str) -> bool:
        """CMD-6: with an operator key configured, time sync and relay commands must be signed;
        an unsigned one is refused and journaled. Returns True when it must be refused."""
        if self.operator_public_key is None or ctx.signed:
            return False
        self.journals.add(Log.COMMUNICATION, self.now(), EventCode.UNSIGNED_COMMAND_REFUSED, what)
        return True

    # ------------------------------------------------------------------ housekeeping

    def housekeeping(self) -> None:
        """Apply what time did since the last request (a scheduled calendar activation, limiter
        trips, credit running out) before anything is read or changed."""
        now = self.now()
        due = self._activation_due()
        if due is not None and due <= now:
            try:
                self._activate(max(due, self._activation_armed or due), "scheduled")
            except CalendarError:
                self.journals.add(
                    Log.PARAMETER_CHANGE, now, EventCode.INVALID_COMMAND, "passive calendar"
                )
            self.passive_activation = self._activation_armed = None
        self.supply.settle(now)

    # ------------------------------------------------------------------ tariffs (MTR-7)

    def _activation_due(self) -> datetime | None:
        when = self.passive_activation
        if when is None:
            return None
        try:
            at = when.to_datetime()
        except ValueError:
            return None
        return at if at.tzinfo is not None else at.replace(tzinfo=self.zone)

    def schedule_passive_calendar(self, when: DateTime) -> None:
        """``activate_passive_calendar_time``: activate then (a wildcard time: never)."""
        self.passive_activation = when
        self._activation_armed = self.now()

    def activate_passive_calendar(self, at: datetime, ctx: RequestContext) -> None:
        """Method ``activate_passive_calendar``: the passive calendar becomes the active one
        from the next 15-minute boundary. Raises ``CalendarError`` for an inconsistent one."""
        self._activate(at, who(ctx))

    def _activate(self, at: datetime, by: str) -> None:
        tables = TariffTables(self.passive_calendar, self.tariffs.current.special_days)
        effective = self.tariffs.change(tables, at)
        self.model.changed(effective)
        name = self.passive_calendar.name.decode(errors="replace")
        self.journals.add(
            Log.PARAMETER_CHANGE,
            at,
            EventCode.PARAMETER_CHANGED,
            f"activity calendar {name} active from {effective.isoformat()} by {by}",
        )

    def set_special_days(self, entries: tuple[SpecialDayEntry, ...], ctx: RequestContext) -> None:
        """New special days table, effective from the next 15-minute boundary."""
        tables = TariffTables(self.tariffs.current.calendar, entries)
        self.model.changed(self.tariffs.change(tables, self.now()))

    def press_button(self) -> bool:
        """The customer presses the meter's button (a local, manual action): reconnects when
        the relay is ready for reconnection, disconnects in control modes 1, 2 and 5."""
        self.housekeeping()
        return self.supply.press_button(self.now())

    def stick_relay(self) -> None:
        """A hardware fault from now on: the disconnector's contacts stick (weld) where they
        are. Commands are still accepted and move ``control_state``; ``output_state`` and the
        energy measured follow the contacts, and each failed move is journaled (68)."""
        self.housekeeping()
        self.supply.stuck = True

    # ------------------------------------------------------------------ pushes (ACC-1, COL-9)

    def due_pushes(self, until: datetime | None = None) -> list[OutgoingPush]:
        """Pushes due since the last call up to ``until`` (default: now), ciphered and ready
        for the fleet to deliver (see :mod:`metra.meter.push`)."""
        if not self.pushes.active:
            return []
        when = until or self.now()
        self.housekeeping()
        return self.pushes.due(when)

    def read(self, attribute: AttributeDescriptor) -> Data | DataAccessResult:
        """An attribute's value as the meter itself sees it (for push object lists)."""
        obj = self.objects.get((attribute.class_id, bytes(attribute.instance_id)))
        attr = obj.attrs.get(attribute.attribute_id) if obj is not None else None
        if attr is None:
            return DataAccessResult.OBJECT_UNAVAILABLE
        return attr.get(self, None)

    def wan_counter(self, sap: int) -> InvocationCounter:
        """The WAN invocation counter of ``sap``'s keys, shared by its sessions and pushes."""
        return self._counters.setdefault(("wan", sap), InvocationCounter())

    def wan_keys(self, sap: int) -> tuple[bytes, bytes]:
        """(encryption, authentication) keys of ``sap`` on the WAN interface now."""
        keys = self._keys[("wan", sap)]
        return keys.encryption_key, keys.authentication_key
