"""One export from request to bytes: pick the rows, the writer and the time zone.

`export` streams readings or events into a text stream in any of the formats; `wholesale`
builds the hourly report and signs it when a key is given, refusing an unsigned report where
the profile demands a signature (`reports.signed_wholesale_report`, ACC-4, JUR-1).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from metra.mdm.exports import formats, iec61968_9, records, signing, wholesale
from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.records import Source
from metra.mdm.exports.selection import Period, Selection
from metra.profiles import Profile


class Kind(StrEnum):
    """What is exported."""

    READINGS = "readings"
    EVENTS = "events"
    WHOLESALE = "wholesale"


class Format(StrEnum):
    """How it is written."""

    CSV = "csv"
    TXT = "txt"
    XML = "xml"
    CIM = "cim"  # IEC 61968-9 MeterReadings / EndDeviceEvents


@dataclass(frozen=True)
class Request:
    """An export of `kind` for the selection's meters over the period, in `fmt`."""

    kind: Kind
    fmt: Format
    selection: Selection
    period: Period
    local_time: bool = False  # the profile's zone instead of UTC
    source: Source = Source.SERVED
    channels: Sequence[str] | None = None
    unit_kwh: float = 0.001


def zone_of(profile: Profile, local_time: bool) -> tuple[tzinfo, str]:
    """The export's zone and the name the file states."""
    if not local_time:
        return UTC, "UTC"
    return ZoneInfo(profile.timezone), profile.timezone


_READING_WRITERS: dict[Format, Callable[[TextIO, formats.Header, Iterable[Any]], int]] = {
    Format.CSV: formats.write_csv_readings,
    Format.TXT: formats.write_txt_readings,
    Format.XML: formats.write_xml_readings,
}
_EVENT_WRITERS: dict[Format, Callable[[TextIO, formats.Header, Iterable[Any]], int]] = {
    Format.CSV: formats.write_csv_events,
    Format.TXT: formats.write_txt_events,
    Format.XML: formats.write_xml_events,
}


def export(conn: Connection, request: Request, profile: Profile, out: TextIO) -> int:
    """Write a readings or events export; returns how many rows it holds."""
    zone, zone_name = zone_of(profile, request.local_time)
    start, end = records.utc_range(request.period, zone)
    meters = request.selection.meters
    if request.kind is Kind.READINGS:
        rows: Iterable[Any] = records.readings(
            conn,
            meters,
            start,
            end,
            source=request.source,
            only=request.channels,
            unit_kwh=request.unit_kwh,
        )
        if request.fmt is Format.CIM:
            return iec61968_9.write_meter_readings(out, rows, zone)
        writers = _READING_WRITERS
        source = request.source.value
    elif request.kind is Kind.EVENTS:
        rows = records.event_rows(conn, meters, start, end)
        if request.fmt is Format.CIM:
            return iec61968_9.write_end_device_events(out, rows, zone)
        writers = _EVENT_WRITERS
        source = ""
    else:
        raise ExportError("the wholesale report is made by `wholesale`")
    header = formats.Header(
        request.kind.value, source, request.selection, request.period, zone, zone_name
    )
    return writers[request.fmt](out, header, rows)


@dataclass(frozen=True)
class Signer:
    """The operator's private key and certificate (PEM) for signing."""

    key_pem: bytes
    cert_pem: bytes
    password: bytes | None = None


def wholesale_report(
    conn: Connection,
    selection: Selection,
    period: Period,
    profile: Profile,
    *,
    report_id: str,
    operator: str,
    created: datetime,
    state: str = "preliminary",
    signer: Signer | None = None,
    unit_kwh: float = 0.001,
) -> tuple[bytes, int]:
    """The wholesale report as UTF-8 XML (signed when `signer` is given) and its hour count.

    Hours are the profile's local hours. A profile that requires a signed report gets none
    without a signer (`ExportError`), so an unsigned one can never be released by mistake.
    """
    if profile.reports.signed_wholesale_report and signer is None:
        raise ExportError(
            f"profile {profile.code} requires the wholesale report to be signed: give the "
            "operator's key and certificate"
        )
    zone, zone_name = zone_of(profile, True)
    start, end = records.utc_range(period, zone)
    rows = records.interval_rows(conn, selection.meters, start, end, unit_kwh=unit_kwh)
    header = wholesale.ReportHeader(
        report_id, created, operator, profile.code, zone_name, period, state
    )
    text = io.StringIO()
    count = wholesale.write_report(text, header, wholesale.hours(rows, zone), zone)
    document = text.getvalue().encode()
    if signer is not None:
        document = signing.sign_xml(document, signer.key_pem, signer.cert_pem, signer.password)
    return document, count
