"""TOOL-5 (S0 5.15): measurement data and events are exported to TXT, CSV and XML files whose
structure is documented, and the documentation is the structure the files really have.

The expected structure is read from docs/exports.md (the CSV header of its example, the readings
column table, the events column list, the TXT column offsets, the XML example's attributes), not
from the export code, so a change of either without the other fails here. Exporting a meter's
configuration is not built (docs/requirements.md, Not yet built).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from lxml import etree
from sqlalchemy import Connection

from metra.mdm.exports import Format, Kind, Period, Request, export, substation
from tests.exports.world import DAYS, FIRST, PROFILE, World

DOC = (Path(__file__).parents[2] / "docs" / "exports.md").read_text(encoding="utf-8")
PERIOD = Period(FIRST, FIRST + timedelta(days=DAYS - 1))
NS = "{urn:metra:export:1}"


def _export(conn: Connection, kind: Kind, fmt: Format) -> str:
    out = io.StringIO()
    export(conn, Request(kind, fmt, substation(conn, "SS-1", PERIOD), PERIOD), PROFILE, out)
    return out.getvalue()


def _section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def _csv_header(text: str) -> list[str]:
    body = [line for line in text.splitlines() if line and not line.startswith("# ")]
    return next(csv.reader(body))


def test_tool5_csv_readings_and_events_have_the_documented_columns(
    conn: Connection, world: World
) -> None:
    section = _section("CSV")
    documented = next(line for line in section.splitlines() if line.startswith("record,meter,"))
    table = re.findall(r"^\| (`[^|]+`) \|", section.split("Readings columns:")[1], re.MULTILINE)
    in_table = [name for cell in table for name in re.findall(r"`(\w+)`", cell)]
    readings = _csv_header(_export(conn, Kind.READINGS, Format.CSV))
    assert readings == documented.split(",")
    assert in_table == readings
    paragraph = section[section.index("Events (`metra export events`)") :].split("\n\n")[0]
    events_documented = re.findall(r"`(\w+)`", paragraph.split("have the columns")[1])
    events = _csv_header(_export(conn, Kind.EVENTS, Format.CSV))
    assert events == events_documented
    assert len(events_documented) >= 6


def test_tool5_txt_columns_start_where_the_documentation_says(
    conn: Connection, world: World
) -> None:
    section = _section("TXT")
    offsets = re.findall(r"(\w+)\s+at\s+(\d+)", section)
    assert [name for name, _ in offsets][:3] == ["record", "meter", "channel"]
    lines = [
        line
        for line in _export(conn, Kind.READINGS, Format.TXT).splitlines()
        if not line.startswith("# ")
    ]
    title, row = lines[0], lines[1]
    starts = [int(at) for _, at in offsets]
    for (name, _), start, end in zip(offsets, starts, [*starts[1:], None], strict=True):
        # A field runs from its start to the next one's; numbers (and their title) sit right.
        assert title[start:end].strip() == name, (name, start, title)
        assert start == 0 or title[start - 1] == " "
    assert row[int(dict(offsets)["meter"]) :].split(" ")[0] in world.wh
    widths = re.findall(r"(\w+)\s+(\d+)", section.split("Events:")[1].split("then details")[0])
    event_title = next(
        line
        for line in _export(conn, Kind.EVENTS, Format.TXT).splitlines()
        if line and not line.startswith("# ")
    )
    position = 0
    for name, width in widths:
        assert event_title[position:].startswith(name), (name, position, event_title)
        position += int(width) + 1
    assert event_title[position:].startswith("details")


def test_tool5_xml_elements_carry_the_documented_attributes(conn: Connection, world: World) -> None:
    section = _section("XML")
    example = section[
        section.index("```xml") + 6 : section.index("```", section.index("```xml") + 6)
    ]
    documented = etree.fromstring(example.replace('id="9b0e..."', 'id="x"').encode())
    readings = etree.fromstring(_export(conn, Kind.READINGS, Format.XML).encode())
    assert readings.tag == documented.tag == f"{NS}Export"
    assert set(documented.attrib) == set(readings.attrib)
    for path in ("Meter", "Meter/Channel", "Meter/Channel/I", "Meter/Register"):
        steps = "/".join(f"{NS}{step}" for step in path.split("/"))
        in_doc = documented.find(steps)
        assert in_doc is not None, path
        real = [set(e.attrib) for e in readings.iterfind(steps)]
        assert real, path
        # Every documented attribute occurs in the file (v and method are optional on I).
        assert set(in_doc.attrib) <= set().union(*real), path
    events = etree.fromstring(_export(conn, Kind.EVENTS, Format.XML).encode())
    documented_event = re.search(r"`(<Event [^`]+</Event>)`", section)
    assert documented_event is not None
    event_attrs = set(re.findall(r'(\w+)="', documented_event.group(1)))
    real_events = list(events.iterfind(f".//{NS}Event"))
    assert real_events and all(set(e.attrib) == event_attrs for e in real_events)
