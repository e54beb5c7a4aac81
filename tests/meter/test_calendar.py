"""Activity calendar and special days as the meter's real tariff configuration, through the DLMS
client (MTR-7, CMD-2).

Expected zones are the factory calendar as documented (docs/meter.md), written out by hand here:
workdays night 22-06 and 13-15 (2), peak 07-10 and 17-21 in winter (3), day otherwise (1);
Sundays and public holidays 4. Times are standard local time (CET for Poland).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meter.test_meter import A_PLUS, Session, make_meter

from metra.dlms.cosem.calendar import (
    DayProfile,
    DayProfileAction,
    SeasonProfile,
    SpecialDayEntry,
    WeekProfile,
)
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
)
from metra.dlms.obis import Obis
from metra.dlms.xdlms.common import ActionResult, DataAccessResult
from metra.meter.clock import FleetClock
from metra.meter.identity import MeterIdentity, MeterSecrets
from metra.meter.meter import VirtualMeter
from metra.profiles import load_profile

CALENDAR = bytes.fromhex("00000d0000ff")
SPECIAL = bytes.fromhex("00000b0000ff")
TARIFF = bytes.fromhex("0000600e00ff")
DAILY = bytes.fromhex("0000620200ff")
TARIFF_TABLE = Obis(0, 0, 10, 0, 100, 255)


def at(when: datetime) -> VirtualMeter:
    ident = MeterIdentity.for_number(9, customer_type="small-business", phases=3, seed=9)
    return VirtualMeter(
        ident, MeterSecrets.generate(), FleetClock(when, speed=1.0), profile=load_profile("pl")
    )


def zones(s: Session) -> list[int]:
    return [int(s.get(3, bytes((1, 0, 1, 8, z, 255)), 2)) for z in (1, 2, 3, 4)]  # type: ignore[call-overload]


def test_mtr7_factory_calendar_drives_the_current_tariff() -> None:
    # (UTC instant, expected zone): Wednesday 12 March 2025 and Thursday 1 May 2025 (holiday).
    cases = [
        (datetime(2025, 3, 12, 7, 30, tzinfo=UTC), 3),  # 08:30 CET, winter peak
        (datetime(2025, 3, 12, 11, 0, tzinfo=UTC), 1),  # 12:00 day
        (datetime(2025, 3, 12, 12, 30, tzinfo=UTC), 2),  # 13:30 midday low
        (datetime(2025, 3, 12, 22, 0, tzinfo=UTC), 2),  # 23:00 night
        (datetime(2025, 3, 16, 11, 0, tzinfo=UTC), 4),  # Sunday
        (datetime(2025, 5, 1, 11, 0, tzinfo=UTC), 4),  # Labour Day (special day)
        (datetime(2025, 5, 2, 6, 30, tzinfo=UTC), 1),  # 07:30 CET in May: summer, not yet peak
        (datetime(2025, 5, 2, 8, 30, tzinfo=UTC), 3),  # 09:30 CET summer peak
    ]
    for when, zone in cases:
        s = Session(at(when), 2)
        assert s.get(1, TARIFF, 2) == Unsigned(zone), when


def test_mtr7_energy_counts_in_the_zone_the_calendar_names() -> None:
    meter = at(datetime(2025, 3, 12, 6, 5, tzinfo=UTC))  # 07:05 CET: peak until 10:00
    s = Session(meter, 2)
    before = zones(s)
    meter.fleet_clock.advance(timedelta(hours=2))
    after = zones(s)
    grown = [b - a for a, b in zip(before, after, strict=True)]
    assert grown[2] > 0 and grown[0] == grown[1] == grown[3] == 0
    assert sum(after) == int(s.get(3, A_PLUS, 2))  # type: ignore[call-overload]


def test_mtr7_calendar_objects_read_back_their_blue_book_shapes() -> None:
    s = Session(make_meter(), 2)
    seasons = s.get(20, CALENDAR, 3)
    weeks = s.get(20, CALENDAR, 4)
    days = s.get(20, CALENDAR, 5)
    assert isinstance(seasons, Array) and isinstance(weeks, Array) and isinstance(days, Array)
    parsed = [SeasonProfile.from_data(x) for x in seasons]
    assert {(p.season_start.month, p.season_start.day) for p in parsed} == {(4, 1), (10, 1)}
    assert [WeekProfile.from_data(w).days for w in weeks] == [
        (1, 1, 1, 1, 1, 3, 4),
        (2, 2, 2, 2, 2, 3, 4),
    ]
    assert {DayProfile.from_data(d).day_id for d in days} == {1, 2, 3, 4}
    special = s.get(11, SPECIAL, 2)
    assert isinstance(special, Array)
    entries = [SpecialDayEntry.from_data(e) for e in special]
    assert Date(0xFFFF, 5, 1, 0xFF) in {e.specialday_date for e in entries}
    assert Date(2025, 4, 21, 0xFF) in {e.specialday_date for e in entries}  # Easter Monday
    scripts = s.get(9, TARIFF_TABLE.to_bytes(), 2)
    assert isinstance(scripts, Array) and [int(x[0]) for x in scripts] == [1, 2, 3, 4]  # type: ignore[index]


def _flat(name: bytes) -> list[tuple[int, object]]:
    start = DateTime(0xFFFF, 1, 1, 0xFF, 0, 0, 0, 0)
    action = DayProfileAction(Time(0, 0, 0, 0), TARIFF_TABLE, 1)
    return [
        (6, OctetString(name)),
        (7, Array([SeasonProfile(b"ALL", start, b"FLAT").to_data()])),
        (8, Array([WeekProfile(b"FLAT", (9, 9, 9, 9, 9, 9, 9)).to_data()])),
        # Day 4 stays defined: the special days table refers to it.
        (9, Array([DayProfile(9, (action,)).to_data(), DayProfile(4, (action,)).to_data()])),
    ]


def test_cmd2_activated_passive_calendar_moves_only_future_energy() -> None:
    meter = at(datetime(2025, 3, 12, 9, 5, tzinfo=UTC))
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    for attr, value in _flat(b"FLAT"):
        assert mgmt.set(20, CALENDAR, attr, value) == DataAccessResult.SUCCESS  # type: ignore[arg-type]
    assert reading.get(20, CALENDAR, 2) != OctetString(b"FLAT")  # still passive
    billing_before = reading.get(7, DAILY, 2)
    before = zones(reading)
    assert mgmt.act(20, CALENDAR, 1, Integer(0)) == ActionResult.SUCCESS
    assert reading.get(20, CALENDAR, 2) == OctetString(b"FLAT")
    meter.fleet_clock.advance(timedelta(days=2))
    after = zones(reading)
    assert after[1:] == before[1:] and after[0] > before[0]  # only zone 1 counts now
    assert sum(after) == int(reading.get(3, A_PLUS, 2))  # type: ignore[call-overload]
    billing = reading.get(7, DAILY, 2)
    assert isinstance(billing, Array) and isinstance(billing_before, Array)
    assert billing[: len(billing_before) - 2] == billing_before[2:]  # the past is unchanged
    for row in billing:
        assert sum(int(v) for v in row[2:6]) == int(row[1])  # type: ignore[index]


def test_cmd2_inconsistent_passive_calendar_is_refused_and_changes_nothing() -> None:
    meter = make_meter()
    mgmt = Session(meter, 1)
    bad = DayProfile(9, (DayProfileAction(Time(0, 0, 0, 0), TARIFF_TABLE, 7),))
    for attr, value in _flat(b"BAD"):
        mgmt.set(20, CALENDAR, attr, value)  # type: ignore[arg-type]
    assert mgmt.set(20, CALENDAR, 9, Array([bad.to_data()])) == DataAccessResult.SUCCESS
    assert mgmt.act(20, CALENDAR, 1, Integer(0)) == ActionResult.OTHER_REASON
    assert mgmt.get(20, CALENDAR, 2) == OctetString(b"METRA-TOU-1")
    assert mgmt.set(20, CALENDAR, 7, Array([Integer(1)])) == DataAccessResult.TYPE_UNMATCHED
    assert Session(meter, 2).set(20, CALENDAR, 6, OctetString(b"X")) != DataAccessResult.SUCCESS


def test_cmd2_activation_time_switches_the_calendar_by_itself() -> None:
    meter = at(datetime(2025, 3, 12, 9, 5, tzinfo=UTC))
    mgmt = Session(meter, 1)
    for attr, value in _flat(b"LATER"):
        mgmt.set(20, CALENDAR, attr, value)  # type: ignore[arg-type]
    switch = meter.local(meter.now() + timedelta(hours=1))
    assert mgmt.set(20, CALENDAR, 10, switch) == DataAccessResult.SUCCESS
    meter.fleet_clock.advance(timedelta(minutes=30))
    assert mgmt.get(20, CALENDAR, 2) == OctetString(b"METRA-TOU-1")
    meter.fleet_clock.advance(timedelta(minutes=45))
    assert mgmt.get(20, CALENDAR, 2) == OctetString(b"LATER")
    assert mgmt.get(1, TARIFF, 2) == Unsigned(1)


def test_mtr7_special_day_insert_and_delete() -> None:
    meter = at(datetime(2025, 3, 12, 9, 5, tzinfo=UTC))  # Wednesday 10:05 CET: zone 1
    mgmt = Session(meter, 1)
    tomorrow = Date(2025, 3, 13, 0xFF)
    entry = SpecialDayEntry(200, tomorrow, 4).to_data()
    assert mgmt.act(11, SPECIAL, 1, entry) == ActionResult.SUCCESS
    unknown = SpecialDayEntry(201, Date(2025, 3, 14, 0xFF), 42).to_data()
    assert mgmt.act(11, SPECIAL, 1, unknown) == ActionResult.OTHER_REASON
    meter.fleet_clock.advance(timedelta(days=1))
    assert mgmt.get(1, TARIFF, 2) == Unsigned(4)
    assert mgmt.act(11, SPECIAL, 2, LongUnsigned(200)) == ActionResult.SUCCESS
    meter.fleet_clock.advance(timedelta(minutes=15))
    assert mgmt.get(1, TARIFF, 2) == Unsigned(1)
    assert mgmt.act(11, SPECIAL, 2, LongUnsigned(200)) == ActionResult.OTHER_REASON
    assert mgmt.act(11, SPECIAL, 1, Structure([DoubleLongUnsigned(1)])) != ActionResult.SUCCESS
