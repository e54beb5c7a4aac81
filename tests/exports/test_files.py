"""CSV, fixed-width TXT and XML exports of served and raw interval data, registers and events
for a meter, a group and a substation (ACC-4, ACC-5), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import Connection

from metra.mdm.exports import (
    ExportError,
    Format,
    Kind,
    Period,
    Request,
    Source,
    export,
    group,
    one_meter,
    substation,
)
from metra.mdm.exports.formats import READING_COLUMNS, READING_WIDTHS
from tests.exports.world import A_MINUS, A_PLUS, DAYS, FIRST, PROFILE, World

SCHEMA = Path(__file__).parents[2] / "src/metra/mdm/exports/schemas/metra-export-1.xsd"
PERIOD = Period(FIRST, FIRST + timedelta(days=DAYS - 1))


def _text(conn: Connection, request: Request) -> str:
    out = io.StringIO()
    export(conn, request, PROFILE, out)
    return out.getvalue()


def _csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = text.split("\r\n")
    preamble = [line for line in lines if line.startswith("# ")]
    body = [line for line in lines if line and not line.startswith("# ")]
    return preamble, list(csv.DictReader(body))


def test_acc5_csv_served_meter_utc_has_status_method_and_registers(
    conn: Connection, world: World
) -> None:
    sel = one_meter(conn, "SN-2", PERIOD)
    preamble, rows = _csv(_text(conn, Request(Kind.READINGS, Format.CSV, sel, PERIOD)))
    assert "# source: served" in preamble and "# time zone: UTC" in preamble[4]
    intervals = [r for r in rows if r["record"] == "interval"]
    assert len(intervals) == 2 * DAYS * 96  # A+ and A-, every interval of 4 UTC days
    a_plus = [r for r in intervals if r["channel"] == A_PLUS]
    assert (
        a_plus[0]["start"] == "2025-03-28T00:00:00Z" and a_plus[0]["end"] == "2025-03-28T00:15:00Z"
    )
    lost = a_plus[96 + 40 : 96 + 43]
    assert {r["method"] for r in lost} == {"interpolated"}
    assert {(r["origin"], r["quality"]) for r in lost} == {("system", "valid")}
    kept = a_plus[96 + 39]
    assert (kept["origin"], kept["method"], kept["unit"]) == ("remote", "measured", "kWh")
    assert float(kept["value"]) == pytest.approx(world.wh["SN-2"][96 + 39] / 1000, abs=1e-6)
    billing = [r for r in rows if r["record"] == "billing_daily"]
    assert len(billing) == DAYS and billing[0]["unit"] == "kWh" and billing[0]["tariff_zone"] == "0"
    assert list(rows[0]) == list(READING_COLUMNS)


def test_acc5_csv_local_time_states_zone_and_dst_day(conn: Connection, world: World) -> None:
    sel = one_meter(conn, "SN-1", PERIOD)
    request = Request(Kind.READINGS, Format.CSV, sel, PERIOD, local_time=True, channels=[A_PLUS])
    preamble, rows = _csv(_text(conn, request))
    assert any("Europe/Warsaw" in line for line in preamble)
    intervals = [r for r in rows if r["record"] == "interval"]
    # the store's UTC days start at 01:00 local on 28.03; 30.03 has 23 hours (summer time)
    assert intervals[0]["start"] == "2025-03-28T01:00:00+01:00"
    assert intervals[-1]["end"] == "2025-04-01T00:00:00+02:00"
    days = {}
    for r in intervals:
        days[r["start"][:10]] = days.get(r["start"][:10], 0) + 1
    assert days == {"2025-03-28": 92, "2025-03-29": 96, "2025-03-30": 92, "2025-03-31": 96}
    assert all(r["channel"] == A_PLUS for r in intervals)


def test_acc5_raw_export_keeps_the_gap_and_no_method(conn: Connection, world: World) -> None:
    sel = one_meter(conn, "SN-2", PERIOD)
    request = Request(Kind.READINGS, Format.CSV, sel, PERIOD, source=Source.RAW, channels=[A_PLUS])
    _, rows = _csv(_text(conn, request))
    intervals = [r for r in rows if r["record"] == "interval"]
    assert len(intervals) == DAYS * 96 - 3
    assert {r["quality"] for r in intervals} == {"not_validated"} and {
        r["method"] for r in intervals
    } == {""}


def test_acc5_txt_fixed_width_columns(conn: Connection, world: World) -> None:
    sel = group(conn, ["SN-3", "# a comment", "", "SN-1"], "g1", PERIOD)
    text = _text(conn, Request(Kind.READINGS, Format.TXT, sel, PERIOD, channels=[A_PLUS]))
    lines = [line for line in text.splitlines() if not line.startswith("# ")]
    starts = [sum(w + 1 for w in READING_WIDTHS[:i]) for i in range(len(READING_WIDTHS))]
    title = lines[0]
    assert [title[s : s + 6].strip() for s in starts[:2]] == ["record", "meter"]
    first = lines[1]
    assert first[starts[1] : starts[1] + 24].strip() == "SN-1"  # group in serial order
    value = first[starts[6] : starts[6] + READING_WIDTHS[6]]
    assert value.startswith(" ") and float(value) >= 0  # right-aligned number
    manual = [line for line in lines if "SN-3" in line and "manual" in line]
    assert len(manual) == 1 and "50.000" not in manual[0] and "0.050000" in manual[0]


def test_acc4_substation_members_from_master_data(conn: Connection, world: World) -> None:
    sel = substation(conn, "SS-1", PERIOD)
    assert [m.serial for m in sel.meters] == ["BAL-1", "SN-1", "SN-2", "SN-3"]
    with pytest.raises(ExportError):
        substation(conn, "SS-404", PERIOD)
    with pytest.raises(ExportError):
        one_meter(conn, "SN-404", PERIOD)
    with pytest.raises(ExportError):
        Period(date(2025, 3, 2), date(2025, 3, 1))


def test_acc5_xml_matches_schema_and_is_deterministic(conn: Connection, world: World) -> None:
    sel = substation(conn, "SS-1", PERIOD)
    request = Request(Kind.READINGS, Format.XML, sel, PERIOD, local_time=True)
    text = _text(conn, request)
    assert text == _text(conn, request)  # same request, same bytes
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    doc = etree.fromstring(text.encode())
    schema.assertValid(doc)
    ns = {"m": "urn:metra:export:1"}
    assert doc.get("timeZone") == "Europe/Warsaw"
    assert [m.get("serial") for m in doc.findall("m:Meter", ns)] == [
        "BAL-1",
        "SN-1",
        "SN-2",
        "SN-3",
    ]
    channels = doc.findall("m:Meter[@serial='SN-3']/m:Channel", ns)
    assert [c.get("obis") for c in channels] == [A_PLUS, A_MINUS]
    assert len(doc.findall("m:Meter[@serial='SN-3']/m:Channel/m:I[@method='manual']", ns)) == 1
    assert doc.findall("m:Meter/m:Register[@record='billing_daily']", ns)


def test_acc5_events_in_every_format(conn: Connection, world: World) -> None:
    sel = substation(conn, "SS-1", PERIOD)
    _, rows = _csv(_text(conn, Request(Kind.EVENTS, Format.CSV, sel, PERIOD)))
    assert [(r["meter"], r["code"]) for r in rows] == [
        ("SN-1", "power.down"),
        ("SN-1", "power.up"),
        ("SN-2", "tamper.meter_cover_opened"),
        ("SN-3", "0-0:99.98.1.77"),
    ]
    assert rows[2]["details"] == '{"note": "a & b"}'
    txt = _text(conn, Request(Kind.EVENTS, Format.TXT, sel, PERIOD))
    assert txt.count("power.") == 2
    xml = _text(conn, Request(Kind.EVENTS, Format.XML, sel, PERIOD))
    doc = etree.fromstring(xml.encode())
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(doc)
    assert len(doc.findall(".//{urn:metra:export:1}Event")) == 4
