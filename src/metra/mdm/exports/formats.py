"""CSV, fixed-width TXT and XML writers for interval, register and event rows (ACC-5).

Each writer streams rows to a text stream and returns how many it wrote; nothing is collected in
memory. The structures are documented field by field in `docs/exports.md`; the XML has a schema
(`schemas/metra-export-1.xsd`). Times are ISO 8601 with their UTC offset in the zone the header
names (`Z` for UTC), so a reader never has to guess; an interval is [start, end).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.records import (
    EventRow,
    IntervalRow,
    RegisterRow,
    channel_unit,
    method_name,
)
from metra.mdm.exports.selection import Period, Selection
from metra.store.intervals import meter_status_of, origin_of, quality_of

FORMAT_VERSION = "1"
XML_NAMESPACE = "urn:metra:export:1"

READING_COLUMNS = (
    "record",
    "meter",
    "channel",
    "tariff_zone",
    "start",
    "end",
    "value",
    "unit",
    "origin",
    "quality",
    "method",
    "meter_status",
    "version",
)
EVENT_COLUMNS = ("meter", "occurred_at", "log", "raw_code", "code", "details")

# Fixed-width TXT: column widths in characters (values right-aligned, text left-aligned),
# one space between columns.
READING_WIDTHS = (15, 24, 16, 4, 25, 25, 18, 6, 8, 13, 16, 2, 7)
EVENT_WIDTHS = (24, 25, 16, 8, 36, 0)  # the last column (details JSON) runs to the line end
_RIGHT = {"tariff_zone", "value", "version", "raw_code"}
# TXT column titles (the CSV names, shortened where the column is narrower)
READING_TITLES = (*READING_COLUMNS[:3], "zone", *READING_COLUMNS[4:11], "st", "version")


@dataclass(frozen=True)
class Header:
    """What the preamble of a file states: kind, data source, selection, period, zone."""

    kind: str  # readings / events
    source: str  # served / raw ("" for events)
    selection: Selection
    period: Period
    zone: tzinfo
    zone_name: str

    def lines(self) -> list[str]:
        """The `# key: value` preamble of CSV and TXT files."""
        sel = self.selection
        out = [
            f"metra export {self.kind} v{FORMAT_VERSION}",
            f"selection: {sel.kind} {sel.label} ({len(sel.meters)} meters)",
            f"period: {self.period.first.isoformat()}..{self.period.last.isoformat()}"
            f" (whole days in {self.zone_name})",
            f"time zone: {self.zone_name} (ISO 8601 with UTC offset; intervals are [start, end))",
        ]
        if self.source:
            out.insert(1, f"source: {self.source}")
            out.append("units: interval energy in kWh / kvarh (meter secondary values)")
        return out


def timestamp(moment: datetime, zone: tzinfo) -> str:
    """ISO 8601 in the export's zone: `2025-03-01T00:00:00Z` in UTC, else with the offset."""
    local = moment.astimezone(zone)
    text = local.isoformat()
    return text[:-6] + "Z" if zone is UTC else text


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _status_fields(status: int) -> tuple[str, str, str]:
    return (
        origin_of(status).name.lower(),
        quality_of(status).name.lower(),
        f"{meter_status_of(status):02X}",
    )


def reading_fields(row: IntervalRow | RegisterRow, zone: tzinfo) -> tuple[str, ...]:
    """The columns of `READING_COLUMNS` for one row, as text."""
    if isinstance(row, IntervalRow):
        origin, quality, bits = _status_fields(row.status)
        end = row.start + timedelta(seconds=row.interval_s)
        return (
            "interval",
            row.meter.serial,
            row.channel,
            "",
            timestamp(row.start, zone),
            timestamp(end, zone),
            _value(row.value),
            channel_unit(row.channel),
            origin,
            quality,
            method_name(row.method),
            bits,
            str(row.version),
        )
    origin, quality, bits = _status_fields(row.status)
    return (
        row.record,
        row.meter.serial,
        row.obis,
        "" if row.tariff_zone is None else str(row.tariff_zone),
        timestamp(row.captured_at, zone),
        "",
        _decimal(row.value),
        row.unit,
        origin,
        quality,
        "",
        bits,
        "",
    )


def _decimal(value: Decimal) -> str:
    return format(value, "f")


def event_fields(row: EventRow, zone: tzinfo) -> tuple[str, ...]:
    """The columns of `EVENT_COLUMNS` for one event, as text."""
    details = "" if not row.details else json.dumps(row.details, sort_keys=True, default=str)
    return (
        row.meter.serial,
        timestamp(row.occurred_at, zone),
        row.log_obis,
        str(row.raw_code),
        row.code,
        details,
    )


def write_csv_readings(
    out: TextIO, header: Header, rows: Iterable[IntervalRow | RegisterRow]
) -> int:
    """RFC 4180 CSV (comma, CRLF) after a `#` preamble; returns the data rows written."""
    for line in header.lines():
        out.write(f"# {line}\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(READING_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(reading_fields(row, header.zone))
        count += 1
    return count


def write_csv_events(out: TextIO, header: Header, rows: Iterable[EventRow]) -> int:
    """Events as CSV after the preamble; returns the rows written."""
    for line in header.lines():
        out.write(f"# {line}\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EVENT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(event_fields(row, header.zone))
        count += 1
    return count


def _fixed(fields: tuple[str, ...], names: tuple[str, ...], widths: tuple[int, ...]) -> str:
    cells = []
    for text, name, width in zip(fields, names, widths, strict=True):
        if width == 0:
            cells.append(text)
            continue
        if len(text) > width or "\n" in text:
            raise ExportError(f"{name} {text!r} does not fit the TXT column of {width}")
        cells.append(text.rjust(width) if name in _RIGHT else text.ljust(width))
    return " ".join(cells).rstrip() + "\n"


def write_txt_readings(
    out: TextIO, header: Header, rows: Iterable[IntervalRow | RegisterRow]
) -> int:
    """Fixed-width columns (`READING_WIDTHS`) after the preamble; returns the rows written."""
    for line in header.lines():
        out.write(f"# {line}\n")
    out.write(_fixed(READING_TITLES, READING_COLUMNS, READING_WIDTHS))
    count = 0
    for row in rows:
        out.write(_fixed(reading_fields(row, header.zone), READING_COLUMNS, READING_WIDTHS))
        count += 1
    return count


def write_txt_events(out: TextIO, header: Header, rows: Iterable[EventRow]) -> int:
    """Events in fixed-width columns (`EVENT_WIDTHS`); returns the rows written."""
    for line in header.lines():
        out.write(f"# {line}\n")
    out.write(_fixed(EVENT_COLUMNS, EVENT_COLUMNS, EVENT_WIDTHS))
    count = 0
    for row in rows:
        out.write(_fixed(event_fields(row, header.zone), EVENT_COLUMNS, EVENT_WIDTHS))
        count += 1
    return count


def _open_export(out: TextIO, header: Header) -> None:
    sel = header.selection
    attrs = {
        "kind": header.kind,
        "source": header.source,
        "selection": sel.kind,
        "label": sel.label,
        "first": header.period.first.isoformat(),
        "last": header.period.last.isoformat(),
        "timeZone": header.zone_name,
        "version": FORMAT_VERSION,
    }
    text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items() if v)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f"<Export xmlns={quoteattr(XML_NAMESPACE)} {text}>\n")


def _meter_tag(serial: str, meter_id: object) -> str:
    return f"  <Meter serial={quoteattr(serial)} id={quoteattr(str(meter_id))}>\n"


def write_xml_readings(
    out: TextIO, header: Header, rows: Iterable[IntervalRow | RegisterRow]
) -> int:
    """The `urn:metra:export:1` XML (see the schema); returns the rows written."""
    _open_export(out, header)
    meter: object = None
    channel: str | None = None
    count = 0
    for row in rows:
        if row.meter != meter:
            if channel is not None:
                out.write("    </Channel>\n")
            if meter is not None:
                out.write("  </Meter>\n")
            out.write(_meter_tag(row.meter.serial, row.meter.meter_id))
            meter, channel = row.meter, None
        f = reading_fields(row, header.zone)
        if isinstance(row, IntervalRow):
            if row.channel != channel:
                if channel is not None:
                    out.write("    </Channel>\n")
                out.write(f"    <Channel obis={quoteattr(row.channel)} unit={quoteattr(f[7])}>\n")
                channel = row.channel
            value = f' v="{f[6]}"' if f[6] else ""
            method = f" method={quoteattr(f[10])}" if f[10] else ""
            out.write(
                f'      <I start="{f[4]}" end="{f[5]}"{value} origin="{f[8]}" quality="{f[9]}"'
                f'{method} status="{f[11]}" version="{f[12]}"/>\n'
            )
        else:
            if channel is not None:
                out.write("    </Channel>\n")
                channel = None
            zone = f' zone="{f[3]}"' if f[3] else ""
            out.write(
                f"    <Register record={quoteattr(f[0])} obis={quoteattr(f[2])}{zone}"
                f' at="{f[4]}" v="{f[6]}" unit={quoteattr(f[7])} origin="{f[8]}"'
                f' quality="{f[9]}" status="{f[11]}"/>\n'
            )
        count += 1
    if channel is not None:
        out.write("    </Channel>\n")
    if meter is not None:
        out.write("  </Meter>\n")
    out.write("</Export>\n")
    return count


def write_xml_events(out: TextIO, header: Header, rows: Iterable[EventRow]) -> int:
    """Events in the `urn:metra:export:1` XML; returns the events written."""
    _open_export(out, header)
    meter: object = None
    count = 0
    for row in rows:
        if row.meter != meter:
            if meter is not None:
                out.write("  </Meter>\n")
            out.write(_meter_tag(row.meter.serial, row.meter.meter_id))
            meter = row.meter
        f = event_fields(row, header.zone)
        body = escape(f[5])
        out.write(
            f'    <Event at="{f[1]}" log={quoteattr(f[2])} rawCode="{f[3]}"'
            f" code={quoteattr(f[4])}>{body}</Event>\n"
        )
        count += 1
    if meter is not None:
        out.write("  </Meter>\n")
    out.write("</Export>\n")
    return count
