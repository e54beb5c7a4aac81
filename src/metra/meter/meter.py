"""The virtual meter: a COSEM object model over the measurement model, behind four associations.

:class:`VirtualMeter` is the ``CosemHandler`` a ``ServerAssociation`` asks. Measurements come from
:class:`~metra.meter.measurement.MeasurementModel` evaluated at the meter's own clock (fleet clock
+ drift + corrections); the little state a meter has (relay, journals, keys, counters, credit,
firmware) lives here. Client SAPs: 16 Public (no authentication, read-only, no secrets), 1
management, 2 reading, 3 firmware; optical-port associations use the same SAPs with other keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, overload
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.acse import Mechanism
from metra.dlms.cosem import _shape
from metra.dlms.cosem.access import AccessRights
from metra.dlms.cosem.disconnect import allowed_transition
from metra.dlms.cosem.enums import (
    ControlMode,
    ControlState,
    DisconnectTrigger,
    ImageTransferStatus,
    KeyId,
    SecurityPolicy,
)
from metra.dlms.cosem.objects import (
    CLOCK,
    DISCONNECT_CONTROL,
    IMAGE_TRANSFER,
    LIMITER,
    LOGICAL_DEVICE_NAME,
    association,
    invocation_counter_object,
    security_setup,
)
from metra.dlms.cosem.references import CaptureObjectDefinition, ValueDefinition
from metra.dlms.cosem.security import KeyData
from metra.dlms.cosem.units import Unit
from metra.dlms.counters import InvocationCounter, ReplayGuard
from metra.dlms.data import (
    Array,
    BitString,
    Data,
    DateTime,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Integer,
    Long,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
    VisibleString,
)
from metra.dlms.errors import DecodeError, SecurityError
from metra.dlms.keywrap import unwrap_key
from metra.dlms.obis import Obis
from metra.dlms.protection import ApduProtection, SecurityContext
from metra.dlms.security import CipheringKind, SecurityControl, cipher_apdu
from metra.dlms.server import (
    AssociationConfig,
    CosemHandler,
    RequestContext,
    SecurityAlarm,
    SecurityEvent,
    ServerAssociated,
    ServerEvent,
)
from metra.dlms.signing import verify_raw
from metra.dlms.xdlms.codec import encode_apdu
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
    SelectiveAccess,
)
from metra.dlms.xdlms.notification import DataNotification
from metra.profiles.model import Profile

from .buffers import Buffer, select
from .clock import FleetClock
from .faults import MeterFaults
from .identity import KeySet, MeterIdentity, MeterSecrets
from .journal import EventCode, Journals, Log
from .measurement import EPOCH, Instant, MeasurementModel, Quantity
from .objects import Attr, CosemObject, Role

__all__ = ["SAPS", "Ticks", "VirtualMeter"]

Interface = Literal["wan", "optical"]
#: Client SAP -> role; every meter has the same layout.
SAPS: dict[int, Role] = {
    16: Role.PUBLIC,
    1: Role.MANAGEMENT,
    2: Role.READING,
    3: Role.FIRMWARE,
}
_ROLES = {role.value: role for role in Role}

LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)
PROFILE_STATUS = Obis(0, 0, 96, 10, 1, 255)
DAILY_BILLING = Obis(0, 0, 98, 2, 0, 255)
MONTHLY_BILLING = Obis(0, 0, 98, 1, 0, 255)
CREDIT = Obis(0, 0, 19, 10, 0, 255)
HAN_PUSH_SETUP = Obis(0, 7, 25, 9, 0, 255)
HAN_PUSH_ENABLED = Obis(0, 0, 96, 128, 1, 255)
FIRMWARE_ID = Obis(1, 0, 0, 2, 0, 255)
DEVICE_ID = Obis(0, 0, 96, 1, 0, 255)
#: Communication module facts (COL-11), manufacturer-specific E >= 128 except the signal level.
SIGNAL_LEVEL = Obis(0, 0, 96, 12, 5, 255)
SIM_IP = Obis(0, 0, 96, 12, 128, 255)
IMEI = Obis(0, 0, 96, 12, 129, 255)
TCP_PORT = Obis(0, 0, 96, 12, 130, 255)
SIM_PROFILE = Obis(0, 0, 96, 12, 131, 255)

#: Energy registers: OBIS -> (quantities summed, unit).
_ENERGY: dict[Obis, tuple[tuple[Quantity, ...], Unit]] = {
    Obis(1, 0, 1, 8, 0, 255): ((Quantity.A_PLUS,), Unit.WATT_HOUR),
    Obis(1, 0, 2, 8, 0, 255): ((Quantity.A_MINUS,), Unit.WATT_HOUR),
    Obis(1, 0, 3, 8, 0, 255): ((Quantity.R1, Quantity.R2), Unit.VAR_HOUR),
    Obis(1, 0, 4, 8, 0, 255): ((Quantity.R3, Quantity.R4), Unit.VAR_HOUR),
    Obis(1, 0, 5, 8, 0, 255): ((Quantity.R1,), Unit.VAR_HOUR),
    Obis(1, 0, 6, 8, 0, 255): ((Quantity.R2,), Unit.VAR_HOUR),
    Obis(1, 0, 7, 8, 0, 255): ((Quantity.R3,), Unit.VAR_HOUR),
    Obis(1, 0, 8, 8, 0, 255): ((Quantity.R4,), Unit.VAR_HOUR),
}
#: Load-profile columns after clock and status: the energy of each capture period (D = 29).
_PROFILE_COLUMNS = (
    (Obis(1, 0, 1, 29, 0, 255), Quantity.A_PLUS),
    (Obis(1, 0, 2, 29, 0, 255), Quantity.A_MINUS),
    (Obis(1, 0, 5, 29, 0, 255), Quantity.R1),
    (Obis(1, 0, 6, 29, 0, 255), Quantity.R2),
    (Obis(1, 0, 7, 29, 0, 255), Quantity.R3),
    (Obis(1, 0, 8, 29, 0, 255), Quantity.R4),
)
_EVENT_LOGS: dict[Log, Obis] = {
    log: Obis(1, 0, 99, 97, 0, 255)
    if log is Log.POWER_FAILURE
    else Obis(0, 0, 99, 98, log.value, 255)
    for log in Log
}
_EVENT_CODE_OBJECT = Obis(0, 0, 96, 11, 0, 255)
#: Blocks of a firmware image; the image ends with a 64-octet ECDSA P-256 signature (R || S).
IMAGE_BLOCK_SIZE = 200
SIGNATURE_SIZE = 64
#: Price per kWh in the balance's minor unit, when the balance is money.
PRICE_PER_KWH = 80


class Ticks(Sequence[datetime]):
    """Evenly spaced capture times without a list: ``count`` entries ``step`` apart."""

    def __init__(self, first: datetime, step: timedelta, count: int) -> None:
        self.first, self.step, self.size = first, step, max(0, count)

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> datetime: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[datetime]: ...
    def __getitem__(self, index: int | slice) -> datetime | Sequence[datetime]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.first + self.step * index


@dataclass
class _Image:
    identifier: bytes = b""
    size: int = 0
    blocks: dict[int, bytes] | None = None
    status: ImageTransferStatus = ImageTransferStatus.NOT_INITIATED


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
        self.journals = Journals(faults)
        self.zone = ZoneInfo(profile.timezone)
        self._drift_origin = clock.now()
        self._clock_offset = timedelta(0)
        self._keys: dict[tuple[str, int], KeySet] = {
            **{("wan", sap): ks for sap, ks in secrets.wan.items()},
            **{("optical", sap): ks for sap, ks in secrets.optical.items()},
        }
        self._master_key = secrets.master_key
        self._counters: dict[tuple[str, int], InvocationCounter] = {}
        self._replay: dict[tuple[str, int], ReplayGuard] = {}
        self._failed_auth: dict[str, int] = {}
        self.capture_period = profile.metering.interval_minutes * 60
        self.relay = ControlState.CONNECTED
        self.control_mode = ControlMode.MODE_4
        self.limiter_normal = 0  # W; 0 = limiter off
        self.limiter_emergency = 0
        self.emergency_active = False
        self.prepayment = False
        self._credit_added = 0
        self._prepay_base = 0
        self.low_credit_threshold = int(profile.prepayment.low_credit_threshold * 100)
        self.firmware_id = b"MTR-1.0.0"
        self._image = _Image()
        self.han_enabled = profile.han.open_by_default
        self._han_counter = InvocationCounter()
        self._role = Role.PUBLIC
        self.objects = self._build_objects()
        self.handler: CosemHandler = self

    # ------------------------------------------------------------------ clock and state

    def now(self) -> datetime:
        """The meter's own clock: fleet time + drift since start + corrections (UTC)."""
        fleet = self.fleet_clock.now()
        ppm = self.faults.clock_drift_ppm if self.faults else 0.0
        drift = (fleet - self._drift_origin) * (ppm * 1e-6)
        return fleet + drift + self._clock_offset

    def _local(self, when: datetime) -> OctetString:
        local = when.astimezone(self.zone)
        dst = 0x80 if local.dst() else 0
        return _shape.date_time_data(DateTime.from_datetime(local, clock_status=dst))

    def _to_time(self, value: Data) -> datetime:
        return _shape.date_time(value, "date-time").to_datetime()

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

    def counter_state(self) -> dict[str, int]:
        """Invocation counters to persist (``"wan/1"`` -> next value), including the HAN one."""
        state = {f"{i}/{s}": c.value for (i, s), c in self._counters.items()}
        state["han"] = self._han_counter.value
        return state

    def restore_counters(self, state: Mapping[str, int]) -> None:
        """Continue from persisted counters (never go back: a reused counter reuses a GCM IV)."""
        for name, value in state.items():
            if name == "han":
                self._han_counter = InvocationCounter(max(value, self._han_counter.value))
                continue
            interface, sap = name.split("/")
            key = (interface, int(sap))
            current = self._counters.get(key)
            self._counters[key] = InvocationCounter(max(value, current.value if current else 0))

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
        obj = self.objects.get((class_id, instance))
        role = _ROLES.get(ctx.association)
        if obj is None or role is None:
            return None
        return obj.rights(role)

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        obj = self.objects[(attribute.class_id, bytes(attribute.instance_id))]
        attr = obj.attrs.get(attribute.attribute_id)
        self._role = _ROLES.get(ctx.association, Role.PUBLIC)
        if attr is None:
            return DataAccessResult.OBJECT_UNAVAILABLE
        if access is not None and access.selector not in (attr.selectors or ()):
            return DataAccessResult.OBJECT_UNAVAILABLE
        self._housekeeping()
        return attr.get(access)

    def set(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult:
        obj = self.objects[(attribute.class_id, bytes(attribute.instance_id))]
        attr = obj.attrs.get(attribute.attribute_id)
        if attr is None or attr.set is None:
            return DataAccessResult.READ_WRITE_DENIED
        try:
            result = attr.set(ctx, value)
        except (DecodeError, ValueError):
            result = DataAccessResult.TYPE_UNMATCHED
        if result is DataAccessResult.SUCCESS:
            self.journals.add(
                Log.PARAMETER_CHANGE,
                self.now(),
                EventCode.PARAMETER_CHANGED,
                f"{obj.logical_name}:{attribute.attribute_id} by {_who(ctx)}",
            )
        else:
            self._invalid(ctx, f"set {obj.logical_name}:{attribute.attribute_id}")
        return result

    def action(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]:
        obj = self.objects[(method.class_id, bytes(method.instance_id))]
        fn = obj.methods.get(method.method_id)
        if fn is None:
            return ActionResult.OBJECT_UNAVAILABLE, None
        self._housekeeping()
        try:
            result, data = fn(ctx, parameters)
        except (DecodeError, ValueError, SecurityError):
            result, data = ActionResult.TYPE_UNMATCHED, None
        if result is not ActionResult.SUCCESS:
            self._invalid(ctx, f"action {obj.logical_name}:{method.method_id}")
        return result, data

    def _invalid(self, ctx: RequestContext, what: str) -> None:
        """MTR-3: an invalid command changes nothing and is journaled."""
        self.journals.add(Log.COMMUNICATION, self.now(), EventCode.INVALID_COMMAND, what)

    def _needs_signature(self, ctx: RequestContext, what: str) -> bool:
        """CMD-6: with an operator key configured, time sync and relay commands must be signed;
        an unsigned one is refused and journaled. Returns True when it must be refused."""
        if self.operator_public_key is None or ctx.signed:
            return False
        self.journals.add(Log.COMMUNICATION, self.now(), EventCode.UNSIGNED_COMMAND_REFUSED, what)
        return True

    # ------------------------------------------------------------------ housekeeping

    def _housekeeping(self) -> None:
        """Lazily apply what time did: limiter trips and prepayment disconnection."""
        now = self.now()
        threshold = self.limiter_emergency if self.emergency_active else self.limiter_normal
        if threshold and self.relay is ControlState.CONNECTED:
            last = self.model.intervals(now - timedelta(minutes=15), now)
            demand = last[-1].energy[Quantity.A_PLUS] * 4 if last else 0
            if demand > threshold:
                self._move_relay(DisconnectTrigger.LOCAL_DISCONNECT, now)
                self.journals.add(
                    Log.DISCONNECTOR, now, EventCode.LIMITER_THRESHOLD_EXCEEDED, demand
                )
        if self.prepayment and self.relay is ControlState.CONNECTED:
            balance = self.balance()
            if balance <= 0:
                self.relay = ControlState.DISCONNECTED
                self.journals.add(
                    Log.DISCONNECTOR, now, EventCode.SUPPLY_CONTROL_BY_CREDIT, balance
                )

    def balance(self) -> int:
        """Prepayment balance: credit added minus consumption since prepayment was enabled
        (in kWh: Wh; in money: minor units at :data:`PRICE_PER_KWH`)."""
        used = self.model.register(Quantity.A_PLUS, self.now()) - self._prepay_base
        cost = (
            used if self.profile.prepayment.balance_unit == "kWh" else used * PRICE_PER_KWH // 1000
        )
        return self._credit_added - cost

    def _move_relay(self, trigger: DisconnectTrigger, when: datetime) -> bool:
        target = allowed_transition(self.control_mode, self.relay, trigger)
        if target is None:
            return False
        self.relay = target
        code = {
            DisconnectTrigger.REMOTE_DISCONNECT: EventCode.REMOTE_DISCONNECTION,
            DisconnectTrigger.REMOTE_RECONNECT: EventCode.REMOTE_CONNECTION,
            DisconnectTrigger.LOCAL_DISCONNECT: EventCode.LOCAL_DISCONNECTION,
        }.get(trigger, EventCode.MANUAL_CONNECTION)
        self.journals.add(Log.DISCONNECTOR, when, code, int(target))
        return True

    # ------------------------------------------------------------------ HAN push (ACC-1)

    def han_push(self, since: datetime, until: datetime) -> list[bytes]:
        """The HAN DataNotifications due in ``(since, until]`` (meter time), ciphered with the
        HAN key: instantaneous values every few seconds and the registers every hour. Nothing
        until the HAN port is enabled."""
        if not self.han_enabled:
            return []
        out: list[bytes] = []
        step = self.profile.han.instantaneous_push_seconds
        first = int(since.timestamp()) // step * step + step
        for t in range(first, int(until.timestamp()) + 1, step):
            when = datetime.fromtimestamp(t, since.tzinfo)
            body: list[Data] = [OctetString(self.identity.serial.encode())]
            inst = self.model.instantaneous(when)
            body += [
                DoubleLongUnsigned(round(inst.p_import)),
                DoubleLongUnsigned(round(inst.p_export)),
            ]
            body += [LongUnsigned(round(u * 10)) for u in inst.voltage]
            body += [LongUnsigned(round(i * 100)) for i in inst.current]
            if t % (self.profile.han.register_push_minutes * 60) == 0:
                body += [DoubleLongUnsigned(self.model.register(q, when)) for q in Quantity]
            out.append(self._han_apdu(when, Structure(body)))
        return out

    def _han_apdu(self, when: datetime, body: Data) -> bytes:
        plain = encode_apdu(
            DataNotification(
                self._han_counter.value & 0xFFFFFF,
                DateTime.from_datetime(when.astimezone(self.zone)),
                body,
            )
        )
        key = self.secrets.han_key
        return cipher_apdu(
            plain,
            CipheringKind.GENERAL_GLO,
            SecurityControl(suite=0, authenticated=True, encrypted=True),
            self.identity.system_title,
            self._han_counter.next(),
            key,
            key,
        )

    # ------------------------------------------------------------------ the object list

    def _build_objects(self) -> dict[tuple[int, bytes], CosemObject]:
        objs: list[CosemObject] = []
        objs += self._data_objects()
        objs.append(self._clock_object())
        objs += self._register_objects()
        objs += self._profile_objects()
        objs += self._control_objects()
        objs += self._security_objects()
        objs += [self._association_object(association(i), role) for i, role in _ASSOC_INSTANCES]
        objs.append(self._association_object(association(0), None))
        return {(o.class_id, o.logical_name.to_bytes()): o for o in objs}

    def _data_objects(self) -> list[CosemObject]:
        ident = self.identity
        seed = ident.seed

        def data(
            ln: Obis, value: Callable[[], Data], public: bool = False, setter: object = None
        ) -> CosemObject:
            return CosemObject(
                1,
                0,
                ln,
                {2: Attr(lambda _a: value(), setter, public=public)},  # type: ignore[arg-type]
            )

        def set_han(ctx: RequestContext, value: Data) -> DataAccessResult:
            self.han_enabled = _shape.boolean(value, "HAN push enabled")
            return DataAccessResult.SUCCESS

        octet = 10 + seed % 200
        return [
            data(LOGICAL_DEVICE_NAME, lambda: OctetString(b"MTR" + ident.serial.encode()), True),
            data(DEVICE_ID, lambda: VisibleString(ident.serial), True),
            data(FIRMWARE_ID, lambda: OctetString(self.firmware_id), True),
            data(PROFILE_STATUS, lambda: Unsigned(0)),
            data(_EVENT_CODE_OBJECT, lambda: LongUnsigned(0)),
            data(SIGNAL_LEVEL, lambda: Integer(-60 - seed % 40)),
            data(SIM_IP, lambda: OctetString(bytes((10, 64, octet, 1 + seed % 250)))),
            data(IMEI, lambda: VisibleString(f"35{seed % 10**13:013d}")),
            data(TCP_PORT, lambda: LongUnsigned(4059)),
            data(SIM_PROFILE, lambda: Unsigned(1 + seed % 2)),
            data(HAN_PUSH_ENABLED, lambda: self.han_enabled, setter=set_han),
            *(
                data(invocation_counter_object(sap), self._expected_counter(sap), True)
                for sap in (1, 2, 3)
            ),
        ]

    def _expected_counter(self, sap: int) -> Callable[[], Data]:
        """The reader of 0-0:43.1.<sap>.255: the next invocation counter the WAN association of
        ``sap`` accepts (public, as IDIS meters publish it, so a head-end can resume)."""

        def value() -> Data:
            guard = self._replay.setdefault(("wan", sap), ReplayGuard())
            return DoubleLongUnsigned(min(guard.next_expected(), 0xFFFFFFFF))

        return value

    def _clock_object(self) -> CosemObject:
        def set_time(ctx: RequestContext, value: Data) -> DataAccessResult:
            if self._needs_signature(ctx, "clock set"):
                return DataAccessResult.READ_WRITE_DENIED
            self._adjust(self._to_time(value) - self.now(), ctx)
            return DataAccessResult.SUCCESS

        def shift(ctx: RequestContext, params: Data | None) -> tuple[ActionResult, Data | None]:
            if self._needs_signature(ctx, "clock shift"):
                return ActionResult.READ_WRITE_DENIED, None
            seconds = _shape.integer(params, Long, "shift_time")
            if abs(seconds) > 900:
                return ActionResult.OTHER_REASON, None
            self._adjust(timedelta(seconds=seconds), ctx)
            return ActionResult.SUCCESS, None

        def deviation() -> int:
            offset = self.now().astimezone(self.zone).utcoffset() or timedelta(0)
            return -int(offset.total_seconds() // 60)

        return CosemObject(
            8,
            0,
            CLOCK,
            {
                2: Attr(lambda _a: self._local(self.now()), set_time, public=True),
                3: Attr(lambda _a: Long(deviation()), public=True),
                4: Attr(lambda _a: Unsigned(0x80 if self.now().astimezone(self.zone).dst() else 0)),
                8: Attr(lambda _a: True),
                9: Attr(lambda _a: Enum(1)),  # crystal
            },
            {6: shift},
        )

    def _adjust(self, delta: timedelta, ctx: RequestContext) -> None:
        """Time sync: move the clock and journal old and new time (EVT-1, clock correction)."""
        before = self.now()
        self._clock_offset += delta
        log = Log.CLOCK_CORRECTION
        self.journals.add(log, before, EventCode.CLOCK_ADJUSTED_OLD, _who(ctx))
        self.journals.add(log, self.now(), EventCode.CLOCK_ADJUSTED_NEW, int(delta.total_seconds()))

    def _register_objects(self) -> list[CosemObject]:
        out: list[CosemObject] = []

        def register(ln: Obis, value: Callable[[], Data], scaler: int, unit: Unit) -> CosemObject:
            su = Structure([Integer(scaler), Enum(unit)])
            return CosemObject(3, 0, ln, {2: Attr(lambda _a: value()), 3: Attr(lambda _a: su)})

        for ln, (quantities, unit) in _ENERGY.items():
            out.append(
                register(
                    ln,
                    lambda qs=quantities: DoubleLongUnsigned(  # type: ignore[misc]
                        sum(self.model.register(q, self.now()) for q in qs) % 2**32
                    ),
                    0,
                    unit,
                )
            )
        for c, q in ((1, Quantity.A_PLUS), (2, Quantity.A_MINUS)):
            for zone in range(1, self.model.calendar.zones + 1):
                out.append(
                    register(
                        Obis(1, 0, c, 8, zone, 255),
                        lambda q=q, z=zone: DoubleLongUnsigned(  # type: ignore[misc]
                            self.model.tariff_registers(q, self.now())[z - 1] % 2**32
                        ),
                        0,
                        Unit.WATT_HOUR,
                    )
                )
        inst: list[tuple[Obis, Callable[[Instant], float], int, Unit]] = [
            (Obis(1, 0, 1, 7, 0, 255), _field("p_import"), 0, Unit.WATT),
            (Obis(1, 0, 2, 7, 0, 255), _field("p_export"), 0, Unit.WATT),
            (Obis(1, 0, 3, 7, 0, 255), _field("q_import"), 0, Unit.VAR),
            (Obis(1, 0, 4, 7, 0, 255), _field("q_export"), 0, Unit.VAR),
            (Obis(1, 0, 13, 7, 0, 255), _field("power_factor"), -3, Unit.COUNT),
            (Obis(1, 0, 14, 7, 0, 255), _field("frequency"), -2, Unit.HERTZ),
        ]
        for p, (u_c, i_c) in enumerate(((32, 31), (52, 51), (72, 71))[: self.identity.phases]):
            inst.append((Obis(1, 0, u_c, 7, 0, 255), _phase("voltage", p), -1, Unit.VOLT))
            inst.append((Obis(1, 0, i_c, 7, 0, 255), _phase("current", p), -2, Unit.AMPERE))
        for ln, pick, scaler, unit in inst:
            out.append(
                register(
                    ln,
                    lambda pick=pick, s=scaler: DoubleLong(  # type: ignore[misc]
                        round(pick(self.model.instantaneous(self.now())) / 10**s)
                    ),
                    scaler,
                    unit,
                )
            )
        for zone in range(1, self.model.calendar.zones + 1):
            out.append(self._max_demand(zone))
        return out

    def _month_start(self, when: datetime) -> datetime:
        local = when.astimezone(self.zone)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.astimezone(when.tzinfo)

    def _max_demand(self, zone: int) -> CosemObject:
        """Extended register 1-0:1.6.z.255: the month's highest 15-minute demand in zone z."""

        def peak() -> tuple[float, datetime | None]:
            now = self.now()
            return self.model.max_demand(Quantity.A_PLUS, self._month_start(now), now)[zone - 1]

        su = Structure([Integer(0), Enum(Unit.WATT)])
        return CosemObject(
            4,
            0,
            Obis(1, 0, 1, 6, zone, 255),
            {
                2: Attr(lambda _a: DoubleLongUnsigned(int(peak()[0]))),
                3: Attr(lambda _a: su),
                4: Attr(lambda _a: Unsigned(0)),
                5: Attr(
                    lambda _a: self._local(t) if (t := peak()[1]) is not None else OctetString(b"")
                ),
            },
        )

    # ------------------------------------------------------------------ profiles

    def _profile(
        self,
        ln: Obis,
        buffer: Buffer,
        entries: Callable[[], int],
        period: Callable[[], int],
        set_period: object = None,
    ) -> CosemObject:
        return CosemObject(
            7,
            1,
            ln,
            {
                2: Attr(lambda a: select(buffer, a), selectors=(1, 2)),
                3: Attr(lambda _a: buffer.capture_data()),
                4: Attr(lambda _a: DoubleLongUnsigned(period()), set_period),  # type: ignore[arg-type]
                5: Attr(lambda _a: Enum(1)),  # fifo
                6: Attr(
                    lambda _a: Structure(
                        [LongUnsigned(0), OctetString(bytes(6)), Integer(0), LongUnsigned(0)]
                    )
                ),
                7: Attr(lambda _a: DoubleLongUnsigned(len(buffer.times()))),
                8: Attr(lambda _a: DoubleLongUnsigned(entries())),
            },
        )

    def _profile_objects(self) -> list[CosemObject]:
        clock_col = CaptureObjectDefinition(8, CLOCK, 2)
        model = self.model
        origin = model.day_start(0)

        def lp_times() -> Ticks:
            step = timedelta(seconds=self.capture_period)
            now = self.now()
            last = origin + step * int((now - origin) / step)
            depth = self.profile.metering.profile_depth_days * 86400 // self.capture_period
            count = min(depth, int((last - origin) / step))
            return Ticks(last - step * (count - 1), step, count)

        def lp_rows(start: datetime, end: datetime) -> list[list[Data]]:
            rows: list[list[Data]] = []
            for iv in model.intervals(start, end, self.capture_period // 60):
                row: list[Data] = [self._local(iv.end), Unsigned(iv.status)]
                row += [DoubleLongUnsigned(iv.energy[q]) for _, q in _PROFILE_COLUMNS]
                rows.append(row)
            return rows

        def set_period(ctx: RequestContext, value: Data) -> DataAccessResult:
            seconds = _shape.integer(value, DoubleLongUnsigned, "capture_period")
            if seconds // 60 not in self.profile.metering.allowed_intervals or seconds % 60:
                return DataAccessResult.OTHER_REASON
            self.capture_period = seconds
            return DataAccessResult.SUCCESS

        lp = Buffer(
            [clock_col, CaptureObjectDefinition(1, PROFILE_STATUS, 2)]
            + [CaptureObjectDefinition(3, ln, 2) for ln, _ in _PROFILE_COLUMNS],
            lp_times,
            lp_rows,
            self._to_time,
        )
        out = [
            self._profile(
                LOAD_PROFILE,
                lp,
                lambda: self.profile.metering.profile_depth_days * 86400 // self.capture_period,
                lambda: self.capture_period,
                set_period,
            )
        ]
        out += self._billing_profiles(clock_col)
        out += [self._event_log(log, ln, clock_col) for log, ln in _EVENT_LOGS.items()]
        return out

    def _billing_times(self, monthly: bool, keep: int) -> list[datetime]:
        """Local midnights (daily) or first-of-month midnights (monthly), newest ``keep``."""
        now = self.now().astimezone(self.zone)
        day = now.date()
        out: list[datetime] = []
        while len(out) < keep and day > EPOCH:
            if not monthly or day.day == 1:
                out.append(datetime(day.year, day.month, day.day, tzinfo=self.zone))
            day = day.replace(day=1) if monthly and day.day != 1 else day - timedelta(days=1)
        return sorted(t.astimezone(self.model.epoch_utc.tzinfo) for t in out)

    def _billing_profiles(self, clock_col: CaptureObjectDefinition) -> list[CosemObject]:
        zones = self.model.calendar.zones
        columns = [clock_col, CaptureObjectDefinition(3, Obis(1, 0, 1, 8, 0, 255), 2)]
        columns += [
            CaptureObjectDefinition(3, Obis(1, 0, 1, 8, z, 255), 2) for z in range(1, zones + 1)
        ]
        columns += [CaptureObjectDefinition(3, Obis(1, 0, 2, 8, 0, 255), 2)]
        out = []
        for ln, monthly, keep in (
            (DAILY_BILLING, False, 62),
            (MONTHLY_BILLING, True, self.profile.metering.billing_periods_kept),
        ):

            def times(monthly: bool = monthly, keep: int = keep) -> list[datetime]:
                return self._billing_times(monthly, keep)

            def rows(
                start: datetime, end: datetime, times: Callable[[], list[datetime]] = times
            ) -> list[list[Data]]:
                result: list[list[Data]] = []
                for t in times():
                    if start < t <= end:
                        tariffs = self.model.tariff_registers(Quantity.A_PLUS, t)
                        row: list[Data] = [
                            self._local(t),
                            DoubleLongUnsigned(self.model.register(Quantity.A_PLUS, t)),
                        ]
                        row += [DoubleLongUnsigned(v) for v in tariffs]
                        row.append(DoubleLongUnsigned(self.model.register(Quantity.A_MINUS, t)))
                        result.append(row)
                return result

            buffer = Buffer(columns, times, rows, self._to_time)
            period = 0 if monthly else 86400
            out.append(self._profile(ln, buffer, _const(keep), _const(period)))
        return out

    def _event_log(self, log: Log, ln: Obis, clock_col: CaptureObjectDefinition) -> CosemObject:
        columns = [clock_col, CaptureObjectDefinition(1, _EVENT_CODE_OBJECT, 2)]

        def times() -> list[datetime]:
            return [e.when for e in self.journals.entries(log, self.now())]

        def rows(start: datetime, end: datetime) -> list[list[Data]]:
            out: list[list[Data]] = []
            for e in self.journals.entries(log, self.now()):
                if start < e.when <= end:
                    detail: Data = (
                        DoubleLongUnsigned(e.detail)
                        if isinstance(e.detail, int) and e.detail >= 0
                        else VisibleString(str(e.detail))
                    )
                    out.append([self._local(e.when), LongUnsigned(e.code), detail])
            return out

        buffer = Buffer(
            [*columns, CaptureObjectDefinition(1, _EVENT_CODE_OBJECT, 3)],
            times,
            rows,
            self._to_time,
        )
        return self._profile(ln, buffer, lambda: 100, lambda: 0)

    # ------------------------------------------------------------------ control objects

    def _control_objects(self) -> list[CosemObject]:
        return [self._disconnect(), self._limiter(), self._credit(), self._image_transfer()]

    def _disconnect(self) -> CosemObject:
        def command(
            trigger: DisconnectTrigger,
        ) -> Callable[[RequestContext, Data | None], tuple[ActionResult, Data | None]]:
            def run(ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, Data | None]:
                if self._needs_signature(ctx, trigger.name.lower()):
                    return ActionResult.READ_WRITE_DENIED, None
                if not self._move_relay(trigger, self.now()):
                    return ActionResult.OTHER_REASON, None
                return ActionResult.SUCCESS, None

            return run

        def set_mode(ctx: RequestContext, value: Data) -> DataAccessResult:
            if self._needs_signature(ctx, "control mode"):
                return DataAccessResult.READ_WRITE_DENIED
            self.control_mode = ControlMode(_shape.enum(value, "control_mode"))
            return DataAccessResult.SUCCESS

        return CosemObject(
            70,
            0,
            DISCONNECT_CONTROL,
            {
                2: Attr(lambda _a: self.relay is ControlState.CONNECTED),
                3: Attr(lambda _a: Enum(self.relay)),
                4: Attr(lambda _a: Enum(self.control_mode), set_mode),
            },
            {
                1: command(DisconnectTrigger.REMOTE_DISCONNECT),
                2: command(DisconnectTrigger.REMOTE_RECONNECT),
            },
        )

    def _limiter(self) -> CosemObject:
        def setter(name: str) -> Callable[[RequestContext, Data], DataAccessResult]:
            def run(ctx: RequestContext, value: Data) -> DataAccessResult:
                if name == "emergency_active":
                    self.emergency_active = _shape.boolean(value, name)
                else:
                    setattr(self, name, _shape.integer(value, DoubleLongUnsigned, name))
                return DataAccessResult.SUCCESS

            return run

        monitored = ValueDefinition(3, Obis(1, 0, 1, 29, 0, 255), 2).to_data()
        return CosemObject(
            71,
            0,
            LIMITER,
            {
                2: Attr(lambda _a: monitored),
                3: Attr(
                    lambda _a: DoubleLongUnsigned(
                        self.limiter_emergency if self.emergency_active else self.limiter_normal
                    )
                ),
                4: Attr(
                    lambda _a: DoubleLongUnsigned(self.limiter_normal), setter("limiter_normal")
                ),
                5: Attr(
                    lambda _a: DoubleLongUnsigned(self.limiter_emergency),
                    setter("limiter_emergency"),
                ),
                6: Attr(lambda _a: DoubleLongUnsigned(900)),
                10: Attr(lambda _a: self.emergency_active, setter("emergency_active")),
                11: Attr(
                    lambda _a: Structure(
                        [
                            Structure(
                                [OctetString(DISCONNECT_CONTROL.to_bytes()), LongUnsigned(1)]
                            ),
                            Structure(
                                [OctetString(DISCONNECT_CONTROL.to_bytes()), LongUnsigned(2)]
                            ),
                        ]
                    )
                ),
            },
        )

    def _credit(self) -> CosemObject:
        """Prepayment credit (Credit, class 112, simplified): balance, low-credit threshold,
        disconnection at zero; method 1 adds credit (PRE-1, PRE-4)."""

        def add(ctx: RequestContext, params: Data | None) -> tuple[ActionResult, Data | None]:
            amount = _shape.integer(params, DoubleLong, "update_amount")
            self._credit_added += amount
            self.journals.add(Log.STANDARD, self.now(), EventCode.CREDIT_ADDED, amount)
            return ActionResult.SUCCESS, None

        def set_mode(ctx: RequestContext, value: Data) -> DataAccessResult:
            on = _shape.boolean(value, "prepayment")
            if on and not self.prepayment:
                self._prepay_base = self.model.register(Quantity.A_PLUS, self.now())
            self.prepayment = on
            return DataAccessResult.SUCCESS

        def set_threshold(ctx: RequestContext, value: Data) -> DataAccessResult:
            self.low_credit_threshold = _shape.integer(value, DoubleLong, "warning_threshold")
            return DataAccessResult.SUCCESS

        def status() -> int:
            if not self.prepayment:
                return 0
            b = self.balance()
            return 4 if b <= 0 else 2 if b < self.low_credit_threshold else 1

        return CosemObject(
            112,
            0,
            CREDIT,
            {
                2: Attr(lambda _a: DoubleLong(self.balance() if self.prepayment else 0)),
                5: Attr(lambda _a: DoubleLong(self.low_credit_threshold), set_threshold),
                6: Attr(lambda _a: DoubleLong(0)),
                8: Attr(lambda _a: Enum(status())),
                10: Attr(lambda _a: self.prepayment, set_mode),
            },
            {1: add},
        )

    def _image_transfer(self) -> CosemObject:
        image = self._image

        def initiate(ctx: RequestContext, p: Data | None) -> tuple[ActionResult, Data | None]:
            s = _shape.structure(p, 2, "image_transfer_initiate")
            image.identifier = _shape.octets(s[0], "image_identifier")
            image.size = _shape.integer(s[1], DoubleLongUnsigned, "image_size")
            if image.size > 4 * 1024 * 1024 or image.size <= SIGNATURE_SIZE:
                return ActionResult.OTHER_REASON, None
            image.blocks, image.status = {}, ImageTransferStatus.INITIATED
            return ActionResult.SUCCESS, None

        def block(ctx: RequestContext, p: Data | None) -> tuple[ActionResult, Data | None]:
            s = _shape.structure(p, 2, "image_block_transfer")
            number = _shape.integer(s[0], DoubleLongUnsigned, "image_block_number")
            if image.blocks is None or number * IMAGE_BLOCK_SIZE >= image.size:
                return ActionResult.OTHER_REASON, None
            image.blocks[number] = _shape.octets(s[1], "image_block_value")
            return ActionResult.SUCCESS, None

        def assembled() -> bytes:
            blocks = image.blocks or {}
            n = -(-image.size // IMAGE_BLOCK_SIZE)
            return b"".join(blocks.get(i, b"") for i in range(n))

        def verify(ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, Data | None]:
            data = assembled()
            key = self.firmware_public_key
            ok = len(data) == image.size and key is not None
            if key is not None and ok:
                try:
                    verify_raw(key, data[-SIGNATURE_SIZE:], data[:-SIGNATURE_SIZE])
                except SecurityError:
                    ok = False
            if not ok:
                image.status = ImageTransferStatus.VERIFICATION_FAILED
                self.journals.add(
                    Log.FIRMWARE,
                    self.now(),
                    EventCode.FIRMWARE_VERIFICATION_FAILED,
                    image.identifier.hex(),
                )
                return ActionResult.OTHER_REASON, None
            image.status = ImageTransferStatus.VERIFICATION_SUCCESSFUL
            self.journals.add(
                Log.FIRMWARE, self.now(), EventCode.FIRMWARE_READY, image.identifier.hex()
            )
            return ActionResult.SUCCESS, None

        def activate(ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, Data | None]:
            if image.status is not ImageTransferStatus.VERIFICATION_SUCCESSFUL:
                return ActionResult.OTHER_REASON, None
            self.firmware_id = image.identifier
            image.status, image.blocks = ImageTransferStatus.ACTIVATION_SUCCESSFUL, None
            self.journals.add(
                Log.FIRMWARE, self.now(), EventCode.FIRMWARE_ACTIVATED, image.identifier.hex()
            )
            return ActionResult.SUCCESS, None

        def transferred() -> BitString:
            n = -(-image.size // IMAGE_BLOCK_SIZE) if image.size else 0
            return BitString("".join("1" if i in (image.blocks or {}) else "0" for i in range(n)))

        return CosemObject(
            18,
            0,
            IMAGE_TRANSFER,
            {
                2: Attr(lambda _a: DoubleLongUnsigned(IMAGE_BLOCK_SIZE)),
                3: Attr(lambda _a: transferred()),
                4: Attr(
                    lambda _a: DoubleLongUnsigned(
                        transferred().find("0") % (len(transferred()) + 1)
                        if "0" in transferred()
                        else len(transferred())
                    )
                ),
                5: Attr(lambda _a: True),
                6: Attr(lambda _a: Enum(image.status)),
                7: Attr(
                    lambda _a: Array(
                        [
                            Structure(
                                [
                                    DoubleLongUnsigned(image.size),
                                    OctetString(image.identifier),
                                    OctetString(assembled()[-SIGNATURE_SIZE:]),
                                ]
                            )
                        ]
                        if image.size
                        else []
                    )
                ),
            },
            {1: initiate, 2: block, 3: verify, 4: activate},
            firmware=True,
        )

    # ------------------------------------------------------------------ security

    def _security_objects(self) -> list[CosemObject]:
        out = []
        for sap in (1, 2, 3):
            out.append(self._security_setup(sap))
        return out

    def _security_setup(self, sap: int) -> CosemObject:
        def key_transfer(ctx: RequestContext, p: Data | None) -> tuple[ActionResult, Data | None]:
            items = [KeyData.from_data(x) for x in _shape.array(p, "key_data")]
            current = self._keys[("wan", sap)]
            ek, ak, kek = current.encryption_key, current.authentication_key, self._master_key
            for item in items:
                key = unwrap_key(self._master_key, item.key_wrapped)
                if item.key_id is KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY:
                    ek = key
                elif item.key_id is KeyId.AUTHENTICATION_KEY:
                    ak = key
                elif item.key_id is KeyId.MASTER_KEY:
                    kek = key
                else:
                    return ActionResult.OTHER_REASON, None
            self._keys[("wan", sap)] = KeySet(ek, ak)
            self._master_key = kek
            self.journals.add(
                Log.COMMUNICATION,
                self.now(),
                EventCode.KEY_CHANGED,
                ",".join(i.key_id.name.lower() for i in items) + f" SAP {sap}",
            )
            return ActionResult.SUCCESS, None

        policy = (
            SecurityPolicy.NONE
            if self.security == "none"
            else SecurityPolicy.AUTHENTICATED_REQUEST
            | SecurityPolicy.ENCRYPTED_REQUEST
            | SecurityPolicy.AUTHENTICATED_RESPONSE
            | SecurityPolicy.ENCRYPTED_RESPONSE
        )
        suite = 1 if self.security == "suite1" and sap == 1 else 0
        return CosemObject(
            64,
            1,
            security_setup(sap),
            {
                2: Attr(lambda _a: Enum(policy)),
                3: Attr(lambda _a: Enum(suite)),
                4: Attr(lambda _a: OctetString(b"")),
                5: Attr(lambda _a: OctetString(self.identity.system_title)),
            },
            {2: key_transfer},
        )

    def _association_object(self, ln: Obis, role: Role | None) -> CosemObject:
        """Association LN: ``role`` None is the current association (0-0:40.0.0.255)."""

        def object_list(role: Role) -> Array:
            items = []
            for obj in self.objects.values():
                rights = obj.rights(role)
                if rights is not None:
                    items.append(
                        Structure(
                            [
                                LongUnsigned(obj.class_id),
                                Unsigned(obj.version),
                                OctetString(obj.logical_name.to_bytes()),
                                rights.to_data(),
                            ]
                        )
                    )
            return Array(items)

        current = self._current_role

        return CosemObject(
            15,
            2,
            ln,
            {
                2: Attr(lambda _a: object_list(role or current()), public=role is None),
                8: Attr(lambda _a: Enum(2), public=role is None),  # associated
            },
            firmware=role is None,
        )

    def _current_role(self) -> Role:
        return self._role


#: Association LN instances 0-0:40.0.x.255 per client role (x = 1 Public, 2 management, ...).
_ASSOC_INSTANCES = ((1, Role.PUBLIC), (2, Role.MANAGEMENT), (3, Role.READING), (4, Role.FIRMWARE))


def _const(value: int) -> Callable[[], int]:
    return lambda: value


def _field(name: str) -> Callable[[Instant], float]:
    return lambda inst: float(getattr(inst, name))


def _phase(name: str, phase: int) -> Callable[[Instant], float]:
    return lambda inst: float(getattr(inst, name)[phase])


def _who(ctx: RequestContext) -> str:
    """The user behind a request for journals: the service tool's system title when given."""
    title = ctx.client_system_title
    return f"{ctx.association}:{title.hex()}" if title else ctx.association
