"""IEC 61968-9 MeterReadings and EndDeviceEvents (ACC-5): reading type and quality codes checked
against published examples, structure against the 2011 profile's element order (ACC-4)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from lxml import etree
from sqlalchemy import Connection

from metra.mdm.exports import Format, Kind, Period, Request, export, one_meter, substation
from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.iec61968_9 import (
    CLOCK_CHANGED,
    EDITED,
    END_DEVICE_EVENTS_NS,
    ESTIMATED,
    EVENT_TYPES,
    FAILED_VALIDATION,
    KNOWN_MISSING,
    MANUAL_READ,
    METER_READINGS_NS,
    POWER_FAIL,
    Accumulation,
    FlowDirection,
    MacroPeriod,
    MeasuringPeriod,
    ReadingType,
    interval_reading_type,
    reading_qualities,
    register_reading_type,
)
from metra.mdm.exports.records import RegisterRow
from metra.mdm.exports.selection import MeterRef
from metra.store.intervals import Origin, status_code
from tests.exports.world import A_PLUS, DAYS, FIRST, PROFILE, World

HERE = Path(__file__).parent
PERIOD = Period(FIRST, FIRST + timedelta(days=DAYS - 1))
MR = {"m": METER_READINGS_NS}

# Published reading type codes (an MDM vendor's test constants for 15-minute A+ kWh as delta
# data and as bulk register, an irregular bulk register and a billing-period register) and
# reading quality codes with their published meanings.
PUBLISHED_15MIN_DELTA_A_PLUS_KWH = "0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
PUBLISHED_15MIN_BULK_A_PLUS_KWH = "0.0.2.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
PUBLISHED_BULK_IRREGULAR = "0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
PUBLISHED_BILLING_PERIOD = "8.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
PUBLISHED_QUALITIES = {
    "1.0.0": "Status OK (no status)",
    "1.2.32": "Power Down",
    "1.4.9": "Time Shift",
    "1.4.131": "Value Acquired By HHT",
    "2.8.0": "Estimated Value",
    "2.7.0": "Norm Value Changed By User",
    "2.6.0": "Invalid Value",
    "2.5.259": "Not Acquired",
}


def test_acc5_reading_type_codes_match_published_examples() -> None:
    a_plus = interval_reading_type(A_PLUS, 900)
    assert a_plus.mrid == PUBLISHED_15MIN_DELTA_A_PLUS_KWH
    bulk = ReadingType.parse(PUBLISHED_15MIN_BULK_A_PLUS_KWH)
    assert (bulk.measuring_period, bulk.accumulation) == (
        MeasuringPeriod.FIFTEEN_MINUTE,
        Accumulation.BULK_QUANTITY,
    )
    billing = ReadingType.parse(PUBLISHED_BILLING_PERIOD)
    assert billing.macro_period == MacroPeriod.BILLING_PERIOD
    meter = MeterRef("SN", uuid4())
    at = datetime(2025, 1, 1, tzinfo=UTC)
    register = RegisterRow(meter, "register", "1-0:1.8.0.255", None, at, Decimal(1), "kWh", 0)
    reading_type = register_reading_type(register)
    assert reading_type is not None and reading_type.mrid == PUBLISHED_BULK_IRREGULAR
    a_minus = interval_reading_type("1-0:2.29.0.255", 3600)
    assert a_minus.flow_direction == FlowDirection.REVERSE and a_minus.measuring_period == 7
    assert a_minus.mrid == "0.0.7.4.19.1.12.0.0.0.0.0.0.0.0.3.72.0"
    with pytest.raises(ExportError):
        interval_reading_type(A_PLUS, 420)
    with pytest.raises(ExportError):
        ReadingType.parse("0.0.2")


def test_acc5_reading_quality_codes_follow_the_published_categories() -> None:
    # system 3 (MDM) verdicts share category and index with the published system-2 codes
    for ours, published in (
        (ESTIMATED, "2.8.0"),
        (EDITED, "2.7.0"),
        (FAILED_VALIDATION, "2.6.0"),
        (KNOWN_MISSING, "2.5.259"),
    ):
        assert published in PUBLISHED_QUALITIES
        assert ours.partition(".")[2] == published.partition(".")[2] and ours[0] == "3"
    # device and collection codes are the published ones exactly
    assert {POWER_FAIL, CLOCK_CHANGED, MANUAL_READ} <= set(PUBLISHED_QUALITIES)
    power_down = status_code(Origin.REMOTE) | 0x80 << 8
    assert [c for c, _ in reading_qualities(power_down, None)] == [POWER_FAIL]
    assert [c for c, _ in reading_qualities(status_code(Origin.REMOTE), None)] == ["1.0.0"]
    local = status_code(Origin.LOCAL) | 0x20 << 8
    assert [c for c, _ in reading_qualities(local, None)] == [CLOCK_CHANGED, MANUAL_READ]
    assert EVENT_TYPES["power.down"] == "0.26.38.85" and EVENT_TYPES["power.up"] == "0.26.38.49"


def _cim(conn: Connection, request: Request) -> etree._Element:
    out = io.StringIO()
    export(conn, request, PROFILE, out)
    return etree.fromstring(out.getvalue().encode())


def test_acc5_meter_readings_structure_and_codes(conn: Connection, world: World) -> None:
    sel = substation(conn, "SS-1", PERIOD)
    doc = _cim(conn, Request(Kind.READINGS, Format.CIM, sel, PERIOD))
    etree.XMLSchema(etree.parse(str(HERE / "cim_2011_subset.xsd"))).assertValid(doc)
    assert doc.tag == f"{{{METER_READINGS_NS}}}MeterReadings"
    readings = doc.findall("m:MeterReading", MR)
    assert [r.findtext("m:Meter/m:Names/m:name", namespaces=MR) for r in readings] == [
        "BAL-1",
        "SN-1",
        "SN-2",
        "SN-3",
    ]
    sn2 = readings[2]
    blocks = sn2.findall("m:IntervalBlocks", MR)
    refs = [b.find("m:ReadingType", MR).get("ref") for b in blocks]  # type: ignore[union-attr]
    assert refs == [PUBLISHED_15MIN_DELTA_A_PLUS_KWH, "0.0.2.4.19.1.12.0.0.0.0.0.0.0.0.3.72.0"]
    first = blocks[0].findall("m:IntervalReadings", MR)
    assert len(first) == DAYS * 96
    assert first[0].findtext("m:timeStamp", namespaces=MR) == "2025-03-28T00:15:00Z"  # the end
    lost = first[96 + 40 : 96 + 43]
    for reading in lost:
        quality = reading.find("m:ReadingQualities", MR)
        assert quality is not None
        assert quality.find("m:ReadingQualityType", MR).get("ref") == ESTIMATED  # type: ignore[union-attr]
        assert quality.findtext("m:comment", namespaces=MR) == "interpolated"
    sn3 = readings[3].findall("m:IntervalBlocks/m:IntervalReadings", MR)
    edited = [
        r
        for r in sn3
        if r.find("m:ReadingQualities/m:ReadingQualityType[@ref='3.7.0']", MR) is not None
    ]
    assert len(edited) == 1 and edited[0].findtext("m:value", namespaces=MR) == "0.050000"
    billing = sn2.findall("m:Readings", MR)
    assert len(billing) == DAYS
    assert billing[0].find("m:ReadingType", MR).get("ref") == (  # type: ignore[union-attr]
        "11.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
    )
    listed = [t.findtext("m:mRID", namespaces=MR) for t in doc.findall("m:ReadingType", MR)]
    assert PUBLISHED_15MIN_DELTA_A_PLUS_KWH in listed and listed == sorted(set(listed))


def test_acc5_end_device_events_structure(conn: Connection, world: World) -> None:
    sel = one_meter(conn, "SN-1", PERIOD)
    doc = _cim(conn, Request(Kind.EVENTS, Format.CIM, sel, PERIOD, local_time=True))
    etree.XMLSchema(etree.parse(str(HERE / "cim_2011_events_subset.xsd"))).assertValid(doc)
    ns = {"e": END_DEVICE_EVENTS_NS}
    events = doc.findall("e:EndDeviceEvent", ns)
    assert [e.find("e:EndDeviceEventType", ns).get("ref") for e in events] == [  # type: ignore[union-attr]
        "0.26.38.85",
        "0.26.38.49",
    ]
    assert events[0].findtext("e:createdDateTime", namespaces=ns) == "2025-03-28T06:00:00+01:00"
    assert events[0].findtext("e:Assets/e:mRID", namespaces=ns) == str(world.meters["SN-1"])
    again = _cim(conn, Request(Kind.EVENTS, Format.CIM, sel, PERIOD, local_time=True))
    assert etree.tostring(again) == etree.tostring(doc)  # stable event mRIDs
