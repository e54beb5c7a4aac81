"""The virtual meter driven through the real client and server association machines in memory.

Proves: access rights per client (MTR-2), object list browsing, load profile by range and by
entry (COL-2, COL-3), billing profiles (COL-4), journals (EVT-1, EVT-2), relay and signed
commands (CMD-2, CMD-5, CMD-6), firmware signatures
(MTR-4), key change (MTR-1), communication module facts (COL-11), retry delay
and invalid commands journaled (MTR-3).
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from support.dlms_model import pump

from metra.dlms.acse import Mechanism
from metra.dlms.client import ActionDone, Associated, ClientAssociation, ClientSettings
from metra.dlms.cosem.access import AccessRights
from metra.dlms.cosem.enums import KeyId
from metra.dlms.cosem.security import KeyData
from metra.dlms.data import (
    Array,
    Data,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
)
from metra.dlms.keywrap import new_key, wrap_key
from metra.dlms.protection import SecurityContext
from metra.dlms.server import SecurityAlarm, SecurityEvent, ServerAssociation
from metra.dlms.signing import sign_raw
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
    SelectiveAccess,
)
from metra.meter.clock import FleetClock
from metra.meter.firmware import IMAGE_BLOCK_SIZE
from metra.meter.identity import MeterIdentity, MeterSecrets
from metra.meter.journal import EventCode, Log
from metra.meter.measurement import Quantity
from metra.meter.meter import VirtualMeter
from metra.profiles import load_profile

NOW = datetime(2025, 3, 12, 10, 7, tzinfo=UTC)
CLIENT_TITLE = b"HES00001"
LP = bytes.fromhex("0100630100ff")
CLOCK = bytes.fromhex("0000010000ff")
A_PLUS = bytes.fromhex("0100010800ff")
DISCONNECT = bytes.fromhex("000060030aff")
IMAGE = bytes.fromhex("00002c0000ff")


def make_meter(**kw: object) -> VirtualMeter:
    ident = MeterIdentity.for_number(4, customer_type="household-pv", seed=4)
    return VirtualMeter(
        ident,
        MeterSecrets.generate(),
        FleetClock(NOW, speed=1.0),
        profile=load_profile("pl"),
        **kw,  # type: ignore[arg-type]
    )


class Session:
    """One client association to the meter, moved by ``pump``."""

    def __init__(
        self, meter: VirtualMeter, sap: int, signing: ec.EllipticCurvePrivateKey | None = None
    ) -> None:
        self.meter = meter
        security = None
        mechanism = Mechanism.NONE
        if sap != 16:
            keys = meter._keys[("wan", sap)]
            security = SecurityContext(
                CLIENT_TITLE, keys.encryption_key, keys.authentication_key, signing_key=signing
            )
            mechanism = Mechanism.HLS_GMAC
        self.client = ClientAssociation(ClientSettings(mechanism, security=security))
        self.server = ServerAssociation(
            meter.associations(), sap, meter.handler, protection=meter.protection("wan", sap)
        )
        self.client.associate()
        self.pump()
        assert isinstance(self.client.next_event(), Associated)

    def pump(self) -> None:
        pump(self.client, self.server)
        while (event := self.server.next_event()) is not None:
            self.meter.on_server_event(event)

    def get(
        self, class_id: int, ln: bytes, attr: int, access: SelectiveAccess | None = None
    ) -> Data | DataAccessResult:
        self.client.get(AttributeDescriptor(class_id, ln, attr), access)
        self.pump()
        return self.client.next_event().result  # type: ignore[union-attr]

    def set(
        self, class_id: int, ln: bytes, attr: int, value: Data, signed: bool = False
    ) -> DataAccessResult:
        self.client.set(AttributeDescriptor(class_id, ln, attr), value, signed=signed)
        self.pump()
        return self.client.next_event().result  # type: ignore[union-attr]

    def act(
        self,
        class_id: int,
        ln: bytes,
        method: int,
        params: Data | None = None,
        signed: bool = False,
    ) -> ActionResult:
        self.client.action(MethodDescriptor(class_id, ln, method), params, signed=signed)
        self.pump()
        event = self.client.next_event()
        assert isinstance(event, ActionDone)
        return event.result


def test_access_rights_per_client() -> None:
    # MTR-2: Public reads the clock but no energy; reading client reads but may not act;
    # firmware client sees only image transfer; management may act.
    meter = make_meter()
    public = Session(meter, 16)
    assert isinstance(public.get(8, CLOCK, 2), OctetString)
    assert public.get(3, A_PLUS, 2) == DataAccessResult.READ_WRITE_DENIED
    reading = Session(meter, 2)
    assert isinstance(reading.get(3, A_PLUS, 2), DoubleLongUnsigned)
    assert reading.act(70, DISCONNECT, 1) == ActionResult.READ_WRITE_DENIED
    firmware = Session(meter, 3)
    assert firmware.get(3, A_PLUS, 2) == DataAccessResult.OBJECT_UNDEFINED
    assert firmware.get(18, IMAGE, 6) == Enum(0)
    management = Session(meter, 1)
    assert management.act(70, DISCONNECT, 1) == ActionResult.SUCCESS


def test_object_list_lists_every_object_with_this_clients_rights() -> None:
    meter = make_meter()
    reading = Session(meter, 2)
    listing = reading.get(15, bytes.fromhex("0000280000ff"), 2)
    assert isinstance(listing, Array)
    names = {bytes(item[2]) for item in listing}  # type: ignore[index]
    for ln in (CLOCK, A_PLUS, LP, DISCONNECT, IMAGE, bytes.fromhex("0000636200ff")):
        assert ln in names
    lp = next(item for item in listing if bytes(item[2]) == LP)  # type: ignore[index]
    rights = AccessRights.from_data(lp[3])  # type: ignore[index]
    assert rights.may_read(2) and not rights.may_write(4) and rights.selectors(2) == (1, 2)


def test_load_profile_by_range_and_by_entry_matches_registers() -> None:
    # COL-2/COL-3: a day read by range sums to the register advance; entry access returns the
    # newest entries.
    meter = make_meter()
    s = Session(meter, 2)
    now = meter.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    rng = Structure(
        [
            Structure([LongUnsigned(8), OctetString(CLOCK), Integer(2), LongUnsigned(0)]),
            meter.local(start),
            meter.local(end),
            Array([]),
        ]
    )
    rows = s.get(7, LP, 2, SelectiveAccess(1, rng))
    # Blue Book range_descriptor: from_value <= capture time <= to_value, both ends included.
    assert isinstance(rows, Array) and len(rows) == 97
    total = sum(int(r[2]) for r in rows[1:])  # type: ignore[index]
    model = meter.model
    assert total == model.register(Quantity.A_PLUS, end) - model.register(Quantity.A_PLUS, start)
    in_use = s.get(7, LP, 7)
    assert isinstance(in_use, DoubleLongUnsigned)
    entry = Structure(
        [DoubleLongUnsigned(in_use - 3), DoubleLongUnsigned(0), LongUnsigned(1), LongUnsigned(3)]
    )
    last = s.get(7, LP, 2, SelectiveAccess(2, entry))
    assert isinstance(last, Array) and len(last) == 4 and all(len(r) == 3 for r in last)  # type: ignore[arg-type]


def test_signed_relay_commands_and_journal() -> None:
    # CMD-6: with an operator key, unsigned disconnect is refused and journaled; signed works.
    operator = ec.generate_private_key(ec.SECP256R1())
    meter = make_meter(operator_public_key=operator.public_key())
    s = Session(meter, 1, signing=operator)
    assert s.act(70, DISCONNECT, 1) == ActionResult.READ_WRITE_DENIED
    codes = [e.code for e in meter.journals.entries(Log.COMMUNICATION, meter.now())]
    assert EventCode.UNSIGNED_COMMAND_REFUSED in codes
    assert s.act(70, DISCONNECT, 1, signed=True) == ActionResult.SUCCESS
    assert s.get(70, DISCONNECT, 2) is False
    codes = [e.code for e in meter.journals.entries(Log.DISCONNECTOR, meter.now())]
    assert EventCode.REMOTE_DISCONNECTION in codes


def _image(key: ec.EllipticCurvePrivateKey, body: bytes) -> bytes:
    return body + sign_raw(key, body)


@pytest.mark.parametrize("good", [True, False])
def test_firmware_signature_checked_before_activation(good: bool) -> None:
    # MTR-4: a bad image is refused and journaled; a good one activates.
    vendor = ec.generate_private_key(ec.SECP256R1())
    meter = make_meter(firmware_public_key=vendor.public_key())
    signer = vendor if good else ec.generate_private_key(ec.SECP256R1())
    image = _image(signer, bytes(range(256)) * 3)
    s = Session(meter, 3)
    ident = OctetString(b"MTR-2.0.0")
    assert (
        s.act(18, IMAGE, 1, Structure([ident, DoubleLongUnsigned(len(image))]))
        == ActionResult.SUCCESS
    )
    for n in range(0, len(image), IMAGE_BLOCK_SIZE):
        block = Structure(
            [
                DoubleLongUnsigned(n // IMAGE_BLOCK_SIZE),
                OctetString(image[n : n + IMAGE_BLOCK_SIZE]),
            ]
        )
        assert s.act(18, IMAGE, 2, block) == ActionResult.SUCCESS
    verified = s.act(18, IMAGE, 3)
    activated = s.act(18, IMAGE, 4)
    codes = [e.code for e in meter.journals.entries(Log.FIRMWARE, meter.now())]
    if good:
        assert verified == activated == ActionResult.SUCCESS and meter.firmware_id == b"MTR-2.0.0"
        assert EventCode.FIRMWARE_ACTIVATED in codes
    else:
        assert verified != ActionResult.SUCCESS and activated != ActionResult.SUCCESS
        assert EventCode.FIRMWARE_VERIFICATION_FAILED in codes and meter.firmware_id != b"MTR-2.0.0"


def test_key_transfer_applies_to_the_next_association() -> None:
    # MTR-1: keys arrive wrapped with the master key (RFC 3394) and are journaled.
    meter = make_meter()
    new_ek, new_ak = new_key(), new_key()
    s = Session(meter, 1)
    params = Array(
        [
            KeyData(
                KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY, wrap_key(meter.secrets.master_key, new_ek)
            ).to_data(),
            KeyData(KeyId.AUTHENTICATION_KEY, wrap_key(meter.secrets.master_key, new_ak)).to_data(),
        ]
    )
    assert s.act(64, bytes.fromhex("00002b0002ff"), 2, params) == ActionResult.SUCCESS
    assert meter._keys[("wan", 2)].encryption_key == new_ek
    assert Session(meter, 2).get(3, A_PLUS, 2) is not None
    codes = [e.code for e in meter.journals.entries(Log.COMMUNICATION, meter.now())]
    assert EventCode.KEY_CHANGED in codes


def test_failed_authentication_is_journaled_and_delays_optical_retries() -> None:
    meter = make_meter()
    event = SecurityEvent(SecurityAlarm.AUTHENTICATION_FAILED, 1, "x")
    meter.on_server_event(event, "optical")
    first = meter.retry_delay("optical")
    meter.on_server_event(event, "optical")
    assert 0 < first < meter.retry_delay("optical") and meter.retry_delay("wan") == 0


def test_invocation_counters_survive() -> None:
    meter = make_meter()
    Session(meter, 2).get(3, A_PLUS, 2)
    state = meter.counter_state()
    assert state["wan/2"] > 0
    again = make_meter()
    again.restore_counters(state)
    assert again.protection("wan", 2).counter.value == state["wan/2"]


def test_communication_module_facts_and_billing_profiles() -> None:
    # COL-11, COL-4
    meter = make_meter()
    s = Session(meter, 2)
    assert isinstance(s.get(1, bytes.fromhex("0000600c81ff"), 2), object)
    monthly = s.get(7, bytes.fromhex("0000620100ff"), 2)
    assert isinstance(monthly, Array) and len(monthly) == 36
    row = monthly[-1]
    assert sum(int(v) for v in row[2:6]) == int(row[1])  # type: ignore[index]


def test_object_table_is_shared_so_a_used_meter_costs_little() -> None:
    # Scale (issue 3): the fixed part of the object model is one table per layout; a meter that
    # has answered reads keeps only its own state (the old per-meter object list cost ~195 KiB).

    first, second = make_meter(), make_meter()
    assert first.objects is second.objects
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    meter = make_meter()
    s = Session(meter, 2)
    s.get(7, LP, 2, SelectiveAccess(1, _day_range(meter)))
    s.get(15, bytes.fromhex("0000280000ff"), 2)
    del s
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert grown < 64 * 1024, grown


def _day_range(meter: VirtualMeter) -> Structure:
    end = meter.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return Structure(
        [
            Structure([LongUnsigned(8), OctetString(CLOCK), Integer(2), LongUnsigned(0)]),
            meter.local(end - timedelta(days=1)),
            meter.local(end),
            Array([]),
        ]
    )
