"""Push setups (class 40) and push action schedulers (class 22): the HAN push of ACC-1 and the
WAN push of COL-9, configured through the DLMS client, deciphered as a receiver would.

ACC-2: the HAN push setups leave the factory with no destination, so nothing is sent until the
management client writes one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meter.test_meter import Session

from metra.dlms.cosem.push import SendDestinationAndMethod, WindowElement
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.cosem.scripts import ExecutionTime
from metra.dlms.data import (
    Array,
    Date,
    DateTime,
    DoubleLongUnsigned,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Time,
    Unsigned,
    VisibleString,
)
from metra.dlms.obis import Obis
from metra.dlms.security import decipher_apdu
from metra.dlms.xdlms.codec import decode_apdu
from metra.dlms.xdlms.common import ActionResult, DataAccessResult
from metra.dlms.xdlms.notification import DataNotification
from metra.meter.clock import FleetClock
from metra.meter.identity import MeterIdentity, MeterSecrets
from metra.meter.meter import VirtualMeter
from metra.meter.push import OutgoingPush
from metra.profiles import load_profile

HAN_INSTANT = bytes.fromhex("0007190900ff")
HAN_REGISTERS = bytes.fromhex("0006190900ff")
WAN = bytes.fromhex("0000190900ff")
SCHEDULER = bytes.fromhex("00070f0004ff")
START = datetime(2025, 3, 12, 9, 59, 30, tzinfo=UTC)  # 10:59:30 CET


def meter_at(when: datetime = START, number: int = 5) -> VirtualMeter:
    ident = MeterIdentity.for_number(number, customer_type="household", phases=3, seed=number)
    return VirtualMeter(
        ident, MeterSecrets.generate(), FleetClock(when, speed=1.0), profile=load_profile("pl")
    )


def destination(address: bytes) -> Structure:
    return SendDestinationAndMethod(0, address).to_data()


def notification(push: OutgoingPush, key: bytes) -> DataNotification:
    plain = decipher_apdu(push.apdu, ek=key, ak=key, system_title=None).plaintext
    apdu = decode_apdu(plain)
    assert isinstance(apdu, DataNotification)
    return apdu


def test_acc1_acc2_han_push_is_off_until_a_destination_is_written() -> None:
    meter = meter_at(START - timedelta(minutes=1))
    mgmt = Session(meter, 1)
    assert mgmt.get(40, HAN_INSTANT, 3) == destination(b"")
    meter.due_pushes()
    meter.fleet_clock.advance(timedelta(minutes=1))
    assert meter.due_pushes() == []
    assert mgmt.set(40, HAN_INSTANT, 3, destination(b"127.0.0.1:7001")) == DataAccessResult.SUCCESS
    assert mgmt.set(40, HAN_REGISTERS, 3, destination(b"127.0.0.1:7001")) == (
        DataAccessResult.SUCCESS
    )
    meter.due_pushes()
    meter.fleet_clock.advance(timedelta(seconds=60))  # across 11:00:00 CET
    pushes = meter.due_pushes()
    instant = [p for p in pushes if p.setup == Obis.from_bytes(HAN_INSTANT)]
    registers = [p for p in pushes if p.setup == Obis.from_bytes(HAN_REGISTERS)]
    assert len(instant) == 6 and len(registers) == 1  # every 10 s; the registers hourly
    key = meter.secrets.han_key
    first = notification(instant[0], key)
    body = first.body
    objects = mgmt.get(40, HAN_INSTANT, 2)
    assert isinstance(body, Structure) and isinstance(objects, Array)
    assert len(body) == len(objects) and body[0] == OctetString(HAN_INSTANT)
    assert first.date_time is not None and first.date_time.second % 10 == 0
    hourly = notification(registers[0], key)
    assert hourly.date_time is not None and (hourly.date_time.minute, hourly.date_time.second) == (
        0,
        0,
    )
    values = hourly.body
    assert isinstance(values, Structure)
    # clock, A+, A-, R+, R-, then A+ T1..T4: the tariffs sum to the total in the push too.
    assert sum(int(v) for v in values[6:10]) == int(values[2])  # type: ignore[call-overload]
    # Invocation counters of the HAN key grow: a receiver can reject replays.
    counters = [
        decipher_apdu(p.apdu, ek=key, ak=key, system_title=None).invocation_counter for p in pushes
    ]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)


def test_acc1_object_list_schedule_window_and_randomisation_come_from_the_objects() -> None:
    meter = meter_at()
    mgmt = Session(meter, 1)
    clock = CaptureObjectDefinition(8, Obis(0, 0, 1, 0, 0, 255), 2)
    a_plus = CaptureObjectDefinition(3, Obis(1, 0, 1, 8, 0, 255), 2)
    own = CaptureObjectDefinition(40, Obis.from_bytes(HAN_INSTANT), 1)
    chosen = Array([own.to_data(), clock.to_data(), a_plus.to_data()])
    assert mgmt.set(40, HAN_INSTANT, 2, chosen) == DataAccessResult.SUCCESS
    bogus = CaptureObjectDefinition(3, Obis(1, 0, 99, 8, 0, 255), 2)
    assert mgmt.set(40, HAN_INSTANT, 2, Array([bogus.to_data()])) == DataAccessResult.OTHER_REASON
    assert mgmt.set(40, HAN_INSTANT, 3, destination(b"nowhere")) == DataAccessResult.OTHER_REASON
    assert mgmt.set(40, HAN_INSTANT, 3, destination(b"127.0.0.1:7001")) == (
        DataAccessResult.SUCCESS
    )
    w = 0xFF
    every_30 = Array(
        [ExecutionTime(Time(w, w, s, 0), Date(0xFFFF, w, w, w)).to_data() for s in (0, 30)]
    )
    assert mgmt.set(22, SCHEDULER, 4, every_30) == DataAccessResult.SUCCESS
    assert mgmt.get(22, SCHEDULER, 2) == Structure(
        [OctetString(bytes.fromhex("00000a006cff")), LongUnsigned(8)]
    )
    # Window 11:00-11:02 local (any day); randomised start up to 7 s.
    window = WindowElement(
        DateTime(0xFFFF, w, w, w, 11, 0, 0, 0), DateTime(0xFFFF, w, w, w, 11, 2, 0, 0)
    )
    assert mgmt.set(40, HAN_INSTANT, 4, Array([window.to_data()])) == DataAccessResult.SUCCESS
    assert mgmt.set(40, HAN_INSTANT, 5, LongUnsigned(7)) == DataAccessResult.SUCCESS
    meter.due_pushes()
    meter.fleet_clock.advance(timedelta(minutes=4))  # 10:59:30 .. 11:03:30
    pushes = meter.due_pushes()
    scheduled = [p.when.replace(second=p.when.second // 30 * 30, microsecond=0) for p in pushes]
    assert len(pushes) == 4  # 11:00:00, 11:00:30, 11:01:00, 11:01:30
    assert all(
        0 <= (p.when - s).total_seconds() <= 7 for p, s in zip(pushes, scheduled, strict=True)
    )
    body = notification(pushes[0], meter.secrets.han_key).body
    assert isinstance(body, Structure) and len(body) == 3
    assert isinstance(body[2], DoubleLongUnsigned)
    # The same meter and times give the same randomised starts (reproducible runs).
    again = meter_at()
    twin = Session(again, 1)
    for attr, value in ((2, Array([own.to_data()])), (3, destination(b"127.0.0.1:7001"))):
        twin.set(40, HAN_INSTANT, attr, value)
    twin.set(22, SCHEDULER, 4, every_30)
    twin.set(40, HAN_INSTANT, 4, Array([window.to_data()]))
    twin.set(40, HAN_INSTANT, 5, LongUnsigned(7))
    again.due_pushes()
    again.fleet_clock.advance(timedelta(minutes=4))
    assert [p.when for p in again.due_pushes()] == [p.when for p in pushes]


def test_col9_wan_push_method_ciphers_with_the_management_keys() -> None:
    meter = meter_at()
    mgmt = Session(meter, 1)
    assert mgmt.act(40, WAN, 1, Integer(0)) == ActionResult.OTHER_REASON  # nowhere to send
    assert mgmt.set(40, WAN, 3, destination(b"127.0.0.1:4060")) == DataAccessResult.SUCCESS
    assert mgmt.act(40, WAN, 1, Integer(0)) == ActionResult.SUCCESS
    (push,) = meter.due_pushes()
    ek, ak = meter.wan_keys(1)
    plain = decipher_apdu(push.apdu, ek=ek, ak=ak, system_title=None).plaintext
    apdu = decode_apdu(plain)
    assert isinstance(apdu, DataNotification)
    assert apdu.body == Structure([OctetString(WAN), VisibleString(meter.identity.serial)])
    assert mgmt.get(40, WAN, 6) == Unsigned(3)
