"""The power-quality profile 1-0:99.2.0.255 of the virtual meter (COL-6), read through the real
client and server association machines: 10-minute capture period (EN 50160's 10-minute
evaluation interval), clock + per-phase voltage + frequency, range access by the reading client,
listed with its rights in the object list, and a sag in the power-quality log seen as 0 V.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metra.dlms.cosem.access import AccessRights
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.data import Array, DoubleLong, Enum, Integer, LongUnsigned, OctetString, Structure
from metra.dlms.xdlms.common import SelectiveAccess
from metra.meter.clock import FleetClock
from metra.meter.faults import MeterFaults, Outage
from metra.meter.identity import MeterIdentity, MeterSecrets
from metra.meter.journal import EventCode, Log
from metra.meter.meter import VirtualMeter
from metra.profiles import load_profile

from .test_meter import CLOCK, Session

NOW = datetime(2025, 3, 12, 10, 7, tzinfo=UTC)
PQ = bytes.fromhex("0100630200ff")
#: An outage of 40 minutes yesterday, from 08:05 to 08:45 UTC.
OUTAGE = Outage(datetime(2025, 3, 11, 8, 5, tzinfo=UTC), datetime(2025, 3, 11, 8, 45, tzinfo=UTC))


def _meter(phases: int) -> VirtualMeter:
    ident = MeterIdentity.for_number(7, customer_type="household", phases=phases, seed=7)
    return VirtualMeter(
        ident,
        MeterSecrets.generate(),
        FleetClock(NOW, speed=1.0),
        profile=load_profile("pl"),
        faults=MeterFaults(outages=(OUTAGE,)),
    )


def _range(meter: VirtualMeter, start: datetime, end: datetime) -> SelectiveAccess:
    return SelectiveAccess(
        1,
        Structure(
            [
                Structure([LongUnsigned(8), OctetString(CLOCK), Integer(2), LongUnsigned(0)]),
                meter.local(start),
                meter.local(end),
                Array([]),
            ]
        ),
    )


@pytest.mark.parametrize(("phases", "voltages"), [(1, ("32",)), (3, ("32", "52", "72"))])
def test_col6_pq_profile_columns_period_and_rights(phases: int, voltages: tuple[str, ...]) -> None:
    meter = _meter(phases)
    s = Session(meter, 2)  # the reading client
    columns = [CaptureObjectDefinition.from_data(c) for c in s.get(7, PQ, 3)]  # type: ignore[union-attr]
    assert [str(c.logical_name) for c in columns] == [
        "0-0:1.0.0.255",
        *(f"1-0:{c}.7.0.255" for c in voltages),
        "1-0:14.7.0.255",
    ]
    assert [c.class_id for c in columns] == [8, *[3] * (phases + 1)]
    assert s.get(7, PQ, 4) == 600
    # The captured registers answer their scaler_unit: 0.1 V (unit 35), 0.01 Hz (unit 44).
    for c in columns[1:]:
        hertz = str(c.logical_name) == "1-0:14.7.0.255"
        expected = Structure([Integer(-2 if hertz else -1), Enum(44 if hertz else 35)])
        assert s.get(3, c.logical_name.to_bytes(), 3) == expected
    listing = s.get(15, bytes.fromhex("0000280000ff"), 2)
    assert isinstance(listing, Array)
    item = next(i for i in listing if bytes(i[2]) == PQ)  # type: ignore[index]
    assert item[0] == 7  # type: ignore[index]
    rights = AccessRights.from_data(item[3])  # type: ignore[index]
    assert rights.may_read(2) and rights.selectors(2) == (1, 2) and not rights.may_write(2)
    public = Session(meter, 16)
    assert not isinstance(public.get(7, PQ, 2), Array)  # no power quality for the Public client


def test_col6_pq_profile_by_range_is_deterministic_and_shows_the_logged_sag() -> None:
    meter = _meter(3)
    s = Session(meter, 2)
    start = datetime(2025, 3, 11, 0, 0, tzinfo=UTC)
    end = start + timedelta(days=1)
    rows = s.get(7, PQ, 2, _range(meter, start, end))
    assert isinstance(rows, Array) and len(rows) == 145  # both ends included, every 10 minutes
    twin = _meter(3)  # the same meter made again answers the same values (deterministic)
    assert Session(twin, 2).get(7, PQ, 2, _range(twin, start, end)) == rows
    stamps = [meter.local(start + timedelta(minutes=10 * k)) for k in range(145)]
    assert [r[0] for r in rows] == stamps  # type: ignore[index]
    # The power-quality log's sag at the outage's start...
    sags = [e for e in meter.journals.entries(Log.POWER_QUALITY, NOW) if e.when == OUTAGE.start]
    assert [e.code for e in sags] == [EventCode.VOLTAGE_SAG]
    for k, row in enumerate(rows):
        at = start + timedelta(minutes=10 * k)
        volts = [int(v) / 10 for v in row[1:4]]  # type: ignore[index, call-overload]
        hertz = int(row[4]) / 100  # type: ignore[index, call-overload]
        if OUTAGE.start <= at < OUTAGE.end:  # ...is 0 V on every phase while it lasts
            assert volts == [0.0, 0.0, 0.0] and hertz == 0.0, at
        else:  # otherwise within EN 50160's +/-10 % of 230 V and 50 Hz +/-1 %
            assert all(207.0 <= v <= 253.0 for v in volts) and 49.5 <= hertz <= 50.5, at
        assert all(isinstance(v, DoubleLong) for v in row[1:])  # type: ignore[index]
    dark = [k for k in range(145) if OUTAGE.start <= start + timedelta(minutes=10 * k) < OUTAGE.end]
    assert len(dark) == 4  # 08:10, 08:20, 08:30, 08:40
