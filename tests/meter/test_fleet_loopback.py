"""Meter behaviour over real loopback sockets: the fleet serves, ``metra.net.client.DlmsClient``
asks, with the keys a head-end gets from the inventory.

Proves over TCP what tests/meter/test_supply.py, test_calendar.py and test_push.py prove on the
in-memory pair: the stuck-relay fault (MTR-6, CMD-2), the activity calendar and special days
(MTR-7, CMD-2), the HAN push (ACC-1, ACC-2), the limiter's emergency profile (CMD-7) and the
prepayment credit transfer (PRE-1, PRE-4).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from meter.test_fleet_meters import (
    CLIENT_TITLE,
    DISCONNECT,
    LIMITER,
    bounded,
    endpoint,
    gmac,
    started,
)

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem.calendar import (
    DayProfile,
    DayProfileAction,
    SeasonProfile,
    SpecialDayEntry,
    WeekProfile,
)
from metra.dlms.cosem.monitoring import EmergencyProfile
from metra.dlms.cosem.push import SendDestinationAndMethod
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.cosem.scripts import ExecutionTime
from metra.dlms.cosem.token import (
    TOKEN_GATEWAY,
    CreditToken,
    TokenRefusal,
    TokenStatus,
    TokenStatusCode,
)
from metra.dlms.data import (
    Array,
    Data,
    Date,
    DateTime,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Time,
    Unsigned,
)
from metra.dlms.errors import SecurityError
from metra.dlms.obis import Obis
from metra.dlms.protection import SecurityContext
from metra.dlms.security import decipher_apdu
from metra.dlms.wrapper import WrapperDecoder
from metra.dlms.xdlms.codec import decode_apdu
from metra.dlms.xdlms.notification import DataNotification
from metra.meter.faults import FaultRates
from metra.meter.inventory import Inventory, InventoryMeter
from metra.meter.meter import VirtualMeter
from metra.net.client import DlmsClient
from metra.net.errors import RequestRefused

DISCONNECTOR_LOG = bytes((0, 0, 99, 98, 2, 255))
REMOTE_DISCONNECTION, DISCONNECT_RECONNECT_FAILURE = 62, 68
LIMITER_EXCEEDED, LOCAL_DISCONNECTION, LIMITER_OK = 65, 64, 66
CALENDAR = bytes((0, 0, 13, 0, 0, 255))
SPECIAL_DAYS = bytes((0, 0, 11, 0, 0, 255))
CURRENT_TARIFF = bytes((0, 0, 96, 14, 0, 255))
A_PLUS = bytes((1, 0, 1, 8, 0, 255))
DAILY = bytes((0, 0, 98, 2, 0, 255))
HAN_REGISTERS = bytes((0, 6, 25, 9, 0, 255))
HAN_REGISTERS_SCHEDULER = bytes((0, 6, 15, 0, 4, 255))
TARIFF_SCRIPTS = Obis(0, 0, 10, 0, 100, 255)
#: Wednesday 11 March 2026, 10:05 CET: the factory calendar's day zone (1) until 13:00.
WEDNESDAY = dt.datetime(2026, 3, 11, 9, 5, tzinfo=dt.UTC)
WILD = 0xFF
WARSAW = ZoneInfo("Europe/Warsaw")
CREDIT = bytes((0, 0, 19, 10, 0, 255))
GATEWAY = TOKEN_GATEWAY.to_bytes()


def management(meter: InventoryMeter, inventory: Inventory) -> ClientSettings:
    """The management client, signing with the operator key (the fleet's meters ask for it)."""
    keys = meter.associations[1].wan
    assert keys is not None
    return ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(
            CLIENT_TITLE,
            keys.encryption_key,
            keys.authentication_key,
            signing_key=inventory.signing_keys["operator"],
        ),
    )


async def log_codes(client: DlmsClient, log: bytes) -> list[int]:
    rows = await client.get(7, log, 2)
    assert isinstance(rows, Array)
    return [int(row[1]) for row in rows]  # type: ignore[index, call-overload]


@bounded
async def test_mtr6_stuck_relay_over_loopback_output_state_tells_the_truth(tmp_path: Path) -> None:
    """MTR-6 / CMD-2: of two meters, the one whose relay is stuck (``stick_relay()``) accepts the
    signed disconnection like the healthy one and reports control_state disconnected, but its
    output_state stays true and its disconnector log, read over DLMS, has 62 then 68."""
    fleet, inventory = await started(tmp_path, meters=2)
    try:
        healthy, stuck = inventory.meters
        cast(VirtualMeter, fleet.meter(fleet.by_serial()[stuck.serial])).stick_relay()
        for meter, closed in ((healthy, False), (stuck, True)):
            async with DlmsClient(endpoint(meter, 1), management(meter, inventory)) as client:
                await client.action(70, DISCONNECT, 1, Integer(0), signed=True)
                assert await client.get(70, DISCONNECT, 3) == Enum(0)
                assert await client.get(70, DISCONNECT, 2) is closed
            async with DlmsClient(endpoint(meter, 2), gmac(meter, 2)) as client:
                codes = await log_codes(client, DISCONNECTOR_LOG)
            expected = [REMOTE_DISCONNECTION] + [DISCONNECT_RECONNECT_FAILURE] * closed
            assert codes == expected
    finally:
        await fleet.stop()


@bounded
async def test_mtr6_stuck_relay_fault_rate_welds_a_fleet_meter(tmp_path: Path) -> None:
    """The fault comes from the fleet's rates too: every meter of a fleet with
    ``stuck_relay_probability=1`` keeps its supply on after a disconnection."""
    rates = FaultRates(stuck_relay_probability=1.0)
    fleet, inventory = await started(tmp_path, meters=1, fault_rates=rates)
    try:
        (meter,) = inventory.meters
        async with DlmsClient(endpoint(meter, 1), management(meter, inventory)) as client:
            await client.action(70, DISCONNECT, 1, Integer(0), signed=True)
            assert await client.get(70, DISCONNECT, 3) == Enum(0)
            assert await client.get(70, DISCONNECT, 2) is True
            assert await log_codes(client, DISCONNECTOR_LOG) == [62, 68]
    finally:
        await fleet.stop()


@contextlib.asynccontextmanager
async def sessions(
    meter: InventoryMeter, inventory: Inventory
) -> AsyncIterator[tuple[DlmsClient, DlmsClient]]:
    """The management and the reading client of one meter, both kept open: a new session on
    the same SAP would restart the client's invocation counter, which the meter refuses."""
    async with (
        DlmsClient(endpoint(meter, 1), management(meter, inventory)) as mgmt,
        DlmsClient(endpoint(meter, 2), gmac(meter, 2)) as reading,
    ):
        yield mgmt, reading


async def zones(reading: DlmsClient) -> list[int]:
    """A+ tariff registers 1-0:1.8.1..4.255."""
    values = [await reading.get(3, bytes((1, 0, 1, 8, z, 255)), 2) for z in (1, 2, 3, 4)]
    return [int(v) for v in values]  # type: ignore[call-overload]


async def total(reading: DlmsClient) -> int:
    return int(await reading.get(3, A_PLUS, 2))  # type: ignore[call-overload]


def peak_calendar(name: bytes) -> list[tuple[int, Data]]:
    """Passive calendar (attributes 6..9): every weekday is day 9, all zone 3; day 4 (which the
    special days table names) stays, all zone 4."""
    start = DateTime(0xFFFF, 1, 1, WILD, 0, 0, 0, 0)
    midnight = Time(0, 0, 0, 0)
    return [
        (6, OctetString(name)),
        (7, Array([SeasonProfile(b"ALL", start, b"PEAK").to_data()])),
        (8, Array([WeekProfile(b"PEAK", (9, 9, 9, 9, 9, 9, 9)).to_data()])),
        (
            9,
            Array(
                [
                    DayProfile(9, (DayProfileAction(midnight, TARIFF_SCRIPTS, 3),)).to_data(),
                    DayProfile(4, (DayProfileAction(midnight, TARIFF_SCRIPTS, 4),)).to_data(),
                ]
            ),
        ),
    ]


@bounded
async def test_mtr7_cmd2_calendar_written_passive_then_activated_over_loopback(
    tmp_path: Path,
) -> None:
    """MTR-7 / CMD-2 over TCP: the management client writes a passive calendar, which reads back
    as written while the factory calendar stays active; method 1 activates it; from the next
    15-minute boundary the current tariff and the energy follow it (zone 3 all day, also at
    night where the factory calendar had zone 2), the past stays in its zones, and the tariff
    registers keep summing to the total, also in the daily billing profile."""
    fleet, inventory = await started(tmp_path, meters=1, start=WEDNESDAY)
    try:
        (meter,) = inventory.meters
        async with sessions(meter, inventory) as (mgmt, reading):
            for attr, value in peak_calendar(b"PEAK-3"):
                await mgmt.set(20, CALENDAR, attr, value)
            for attr, value in peak_calendar(b"PEAK-3"):
                assert await reading.get(20, CALENDAR, attr) == value
            assert await reading.get(20, CALENDAR, 2) == OctetString(b"METRA-TOU-1")
            assert await reading.get(1, CURRENT_TARIFF, 2) == Unsigned(1)
            with pytest.raises(RequestRefused):  # the reading client may not write
                await reading.set(20, CALENDAR, 6, OctetString(b"X"))
            before = await zones(reading)
            await mgmt.action(20, CALENDAR, 1, Integer(0))
            assert await reading.get(20, CALENDAR, 2) == OctetString(b"PEAK-3")
            fleet.clock.advance(dt.timedelta(hours=1))
            assert await reading.get(1, CURRENT_TARIFF, 2) == Unsigned(3)
            after = await zones(reading)
            assert after[2] > before[2]
            assert (after[1], after[3]) == (before[1], before[3])
            assert sum(after) == await total(reading)
            fleet.clock.advance(dt.timedelta(hours=12))  # 23:05 CET: factory zone 2
            assert await reading.get(1, CURRENT_TARIFF, 2) == Unsigned(3)
            night = await zones(reading)
            assert night[1] == before[1] and night[2] > after[2]
            assert sum(night) == await total(reading)
            fleet.clock.advance(dt.timedelta(days=2))
            day = WEDNESDAY.replace(hour=0, minute=0)
            billing = await reading.get_profile(DAILY, day, fleet.clock.now())
            assert isinstance(billing, Array) and len(billing) >= 2
            for row in billing:
                assert sum(int(v) for v in row[2:6]) == int(row[1])  # type: ignore[index, call-overload, union-attr]
    finally:
        await fleet.stop()


@bounded
async def test_mtr7_special_day_inserted_and_deleted_over_loopback(tmp_path: Path) -> None:
    """MTR-7 / CMD-2: a special day inserted for tomorrow (method 1) turns that workday into
    day 4 (zone 4: only the zone-4 register grows); deleting it (method 2) brings the weekday's
    zone back from the next 15-minute boundary; a day id no day profile defines is refused."""
    fleet, inventory = await started(tmp_path, meters=1, start=WEDNESDAY)
    try:
        (meter,) = inventory.meters
        async with sessions(meter, inventory) as (mgmt, reading):
            tomorrow = SpecialDayEntry(200, Date(2026, 3, 12, WILD), 4)
            await mgmt.action(11, SPECIAL_DAYS, 1, tomorrow.to_data())
            table = await reading.get(11, SPECIAL_DAYS, 2)
            assert isinstance(table, Array) and tomorrow.to_data() in table
            with pytest.raises(RequestRefused):
                unknown = SpecialDayEntry(201, Date(2026, 3, 13, WILD), 42)
                await mgmt.action(11, SPECIAL_DAYS, 1, unknown.to_data())
            fleet.clock.advance(dt.timedelta(days=1))  # Thursday 10:05 CET
            assert await reading.get(1, CURRENT_TARIFF, 2) == Unsigned(4)
            before = await zones(reading)
            fleet.clock.advance(dt.timedelta(hours=1))
            during = await zones(reading)
            assert during[3] > before[3] and during[:3] == before[:3]
            await mgmt.action(11, SPECIAL_DAYS, 2, LongUnsigned(200))
            table = await reading.get(11, SPECIAL_DAYS, 2)
            assert isinstance(table, Array) and tomorrow.to_data() not in table
            fleet.clock.advance(dt.timedelta(minutes=15))
            assert await reading.get(1, CURRENT_TARIFF, 2) == Unsigned(1)
            assert sum(await zones(reading)) == await total(reading)
            with pytest.raises(RequestRefused):  # already gone
                await mgmt.action(11, SPECIAL_DAYS, 2, LongUnsigned(200))
    finally:
        await fleet.stop()


def every_seconds(step: int) -> Array:
    """Push scheduler execution times: every ``step`` seconds of every minute, any date."""
    return Array(
        [
            ExecutionTime(Time(WILD, WILD, s, 0), Date(0xFFFF, WILD, WILD, WILD)).to_data()
            for s in range(0, 60, step)
        ]
    )


@contextlib.asynccontextmanager
async def customer_port() -> AsyncIterator[tuple[int, asyncio.Queue[bytes]]]:
    """A listening socket standing in for the customer's HAN receiver: wrapper frames in."""
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = WrapperDecoder()
        while data := await reader.read(4096):
            for frame in decoder.feed(data):
                frames.put_nowait(frame.payload)
        writer.close()

    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], frames
    finally:
        server.close()
        await server.wait_closed()


@bounded
async def test_acc1_acc2_han_push_configured_over_dlms_and_deciphered(tmp_path: Path) -> None:
    """ACC-1 / ACC-2 over TCP: with the factory settings nothing reaches the customer port; the
    management client then sets the HAN register push's object list (own name, clock, A+ and
    A+ T1..T4), its scheduler (every 10 s) and its destination; the DataNotifications that
    arrive open only with the meter's HAN key (not the management key), come from the meter's
    system title with rising invocation counters, and carry the configured values, the tariff
    registers summing to the total. (Fleet clock at 20x: 10 s pass in half a second.)"""
    async with customer_port() as (port, frames):
        fleet, inventory = await started(tmp_path, meters=1, speed=20.0)
        try:
            (meter,) = inventory.meters
            assert meter.han_key is not None
            await asyncio.sleep(1.5)  # three pusher rounds, ~30 s of fleet time
            assert frames.empty()  # ACC-2: off until enabled
            own = CaptureObjectDefinition(40, Obis.from_bytes(HAN_REGISTERS), 1)
            clock = CaptureObjectDefinition(8, Obis(0, 0, 1, 0, 0, 255), 2)
            registers = [
                CaptureObjectDefinition(3, Obis(1, 0, 1, 8, z, 255), 2) for z in (0, 1, 2, 3, 4)
            ]
            chosen = Array([o.to_data() for o in (own, clock, *registers)])
            where = SendDestinationAndMethod(0, f"127.0.0.1:{port}".encode()).to_data()
            async with DlmsClient(endpoint(meter, 1), management(meter, inventory)) as mgmt:
                await mgmt.set(40, HAN_REGISTERS, 2, chosen)
                await mgmt.set(22, HAN_REGISTERS_SCHEDULER, 4, every_seconds(10))
                await mgmt.set(40, HAN_REGISTERS, 3, where)
                assert await mgmt.get(40, HAN_REGISTERS, 2) == chosen
                assert await mgmt.get(22, HAN_REGISTERS_SCHEDULER, 4) == every_seconds(10)
            payloads = [await asyncio.wait_for(frames.get(), 10.0) for _ in range(3)]
            wan = meter.associations[1].wan
            assert wan is not None
            with pytest.raises(SecurityError):
                decipher_apdu(payloads[0], ek=wan.encryption_key, ak=wan.authentication_key)
            counters = []
            for payload in payloads:
                opened = decipher_apdu(
                    payload, ek=meter.han_key, ak=meter.han_key, system_title=meter.system_title
                )
                counters.append(opened.invocation_counter)
                push = decode_apdu(opened.plaintext)
                assert isinstance(push, DataNotification)
                body = push.body
                assert isinstance(body, Structure) and len(body) == 7
                assert body[0] == OctetString(HAN_REGISTERS)
                assert isinstance(body[2], DoubleLongUnsigned)
                assert sum(int(v) for v in body[3:7]) == int(body[2])  # type: ignore[call-overload]
                assert push.date_time is not None and push.date_time.second % 10 == 0
            assert counters == sorted(set(counters))
        finally:
            await fleet.stop()


async def limiter_state(client: DlmsClient) -> tuple[bool, int]:
    """(emergency_profile_active, threshold_active)."""
    active = await client.get(71, LIMITER, 10)
    threshold = await client.get(71, LIMITER, 3)
    return bool(active), int(threshold)  # type: ignore[call-overload]


@bounded
async def test_cmd7_emergency_profile_active_only_in_its_window_over_loopback(
    tmp_path: Path,
) -> None:
    """CMD-7 over TCP: an emergency profile for group 7, starting in an hour for two hours, with
    group 7 in the meter's list: before the window the normal threshold applies and nothing
    trips; inside it the emergency threshold (1 W) applies and the limiter disconnects locally,
    journaled as an emergency trip; after it the normal threshold is back. A profile for a group
    the meter is not in never becomes active."""
    fleet, inventory = await started(tmp_path, meters=2, start=WEDNESDAY)
    try:
        member, outsider = inventory.meters
        for meter, groups in ((member, [7]), (outsider, [8])):
            async with sessions(meter, inventory) as (mgmt, reading):
                start = (fleet.clock.now() + dt.timedelta(hours=1)).astimezone(WARSAW)
                profile = EmergencyProfile(7, DateTime.from_datetime(start), 7200)
                await mgmt.set(71, LIMITER, 4, DoubleLongUnsigned(100_000))
                await mgmt.set(71, LIMITER, 5, DoubleLongUnsigned(1))
                await mgmt.set(71, LIMITER, 8, profile.to_data())
                await mgmt.set(71, LIMITER, 9, Array([LongUnsigned(g) for g in groups]))
                assert await limiter_state(reading) == (False, 100_000)
                fleet.clock.advance(dt.timedelta(minutes=50))
                assert await limiter_state(reading) == (False, 100_000)
                assert await reading.get(70, DISCONNECT, 3) == Enum(1)
                fleet.clock.advance(dt.timedelta(minutes=40))  # 30 min into the window
                if meter is outsider:
                    assert await limiter_state(reading) == (False, 100_000)
                    assert await reading.get(70, DISCONNECT, 3) == Enum(1)
                    continue
                assert await limiter_state(reading) == (True, 1)
                assert await reading.get(70, DISCONNECT, 3) == Enum(2)  # ready for reconnection
                log = await reading.get(7, DISCONNECTOR_LOG, 2)
                assert isinstance(log, Array)
                trips = [r for r in log if int(r[1]) == LIMITER_EXCEEDED]  # type: ignore[index, call-overload]
                assert len(trips) == 1 and "(emergency)" in str(trips[0][2])  # type: ignore[index]
                # Tripped at the first period end inside the window, then (relay open, no
                # demand) back under the threshold; mode 4 has no local reconnection.
                codes = [int(r[1]) for r in log]  # type: ignore[index, call-overload]
                assert codes == [LIMITER_EXCEEDED, LOCAL_DISCONNECTION, LIMITER_OK]
                fleet.clock.advance(dt.timedelta(hours=2))  # past the window
                assert await limiter_state(reading) == (False, 100_000)
    finally:
        await fleet.stop()


@bounded
async def test_pre1_pre4_credit_transfer_over_loopback_is_applied_once(tmp_path: Path) -> None:
    """PRE-1 / PRE-4 over TCP: the management client enables prepayment and enters a signed
    credit transfer token at the token gateway; the credit reads back; the same token sent again
    (a retry after a lost answer) succeeds without adding anything; an unsigned token and the
    reading client are refused (CMD-6, MTR-2)."""
    fleet, inventory = await started(tmp_path, meters=1)
    try:
        (meter,) = inventory.meters
        top_up = CreditToken(uuid.uuid4().bytes, fleet.clock.now(), 2500).encode()
        async with sessions(meter, inventory) as (mgmt, reading):
            await mgmt.set(112, CREDIT, 10, True)
            with pytest.raises(RequestRefused):
                await mgmt.action(115, GATEWAY, 1, OctetString(top_up))  # unsigned
            with pytest.raises(RequestRefused):
                await reading.action(115, GATEWAY, 1, OctetString(top_up))
            assert await reading.get(112, CREDIT, 2) == DoubleLong(0)
            await mgmt.action(115, GATEWAY, 1, OctetString(top_up), signed=True)
            assert await reading.get(112, CREDIT, 2) == DoubleLong(2500)
            done = TokenStatus.from_data(await reading.get(115, GATEWAY, 6))
            assert done.code is TokenStatusCode.TOKEN_EXECUTION_OK
            await mgmt.action(115, GATEWAY, 1, OctetString(top_up), signed=True)
            assert await reading.get(112, CREDIT, 2) == DoubleLong(2500)
            again = TokenStatus.from_data(await reading.get(115, GATEWAY, 6))
            assert again.refusals == {TokenRefusal.ALREADY_APPLIED}
            assert await reading.get(115, GATEWAY, 2) == OctetString(top_up)
    finally:
        await fleet.stop()
