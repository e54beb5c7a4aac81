"""The wholesale report (ACC-4): hourly active energy per metering point from served data.

For each meter of the selection and each of its active-energy channels (A+ `1-0:1.29.0`,
A- `1-0:2.29.0`, with or without `.255`), the report gives the energy of every hour of the
period in the profile's local time (23 or 25 hours on DST days) with the hour's status:
`measured`, `estimated` (any interval filled by the VEE), `edited` (any manual value) or
`missing` (an interval the VEE could not determine: the hour has no value). The report is
`preliminary` (operational) or `agreed` (reconciled, S4 5.14). Whether it must be signed comes
from the profile (`reports.signed_wholesale_report`, JUR-1); signing is in `signing.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TextIO
from xml.sax.saxutils import quoteattr

from metra.mdm.estimation.methods import Method
from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.formats import timestamp
from metra.mdm.exports.records import IntervalRow
from metra.mdm.exports.selection import MeterRef, Period

WHOLESALE_NAMESPACE = "urn:metra:wholesale:1"
STATES = ("preliminary", "agreed")
MAX_POINTS = 1000  # the report is signed as one XML document held in memory


def is_active_energy(channel: str) -> bool:
    """A+ or A- interval channels (OBIS C = 1 or 2, D = 29)."""
    try:
        group = channel.split(":", 1)[1].split(".")
        return group[0] in ("1", "2") and group[1] == "29"
    except IndexError:
        return False


@dataclass(frozen=True)
class Hour:
    """One local hour of one channel: energy in kWh (None when an interval is missing)."""

    meter: MeterRef
    channel: str
    start: datetime  # UTC
    value: float | None
    status: str


def _status(methods: set[int], missing: bool) -> str:
    if missing:
        return "missing"
    if Method.MANUAL in methods:
        return "edited"
    if methods - {Method.MEASURED}:
        return "estimated"
    return "measured"


def hours(rows: Iterable[IntervalRow], zone: tzinfo) -> Iterator[Hour]:
    """Sum consecutive intervals of each channel into local hours (rows in time order)."""
    key: tuple[MeterRef, str, datetime] | None = None
    total = 0.0
    methods: set[int] = set()
    missing = False
    for row in rows:
        if not is_active_energy(row.channel):
            continue
        local = row.start.astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        this = (row.meter, row.channel, hour)
        if this != key:
            if key is not None:
                yield Hour(
                    key[0], key[1], key[2], None if missing else total, _status(methods, missing)
                )
            key, total, methods, missing = this, 0.0, set(), False
        if row.value is None:
            missing = True
        else:
            total += row.value
        methods.add(Method.MEASURED if row.method is None else row.method)
    if key is not None:
        yield Hour(key[0], key[1], key[2], None if missing else total, _status(methods, missing))


@dataclass(frozen=True)
class ReportHeader:
    """The report's identity: who made it, when, for which profile, period and state."""

    report_id: str
    created: datetime
    operator: str
    profile: str
    zone_name: str
    period: Period
    state: str

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ExportError(f"report state must be one of {', '.join(STATES)}")


def write_report(out: TextIO, header: ReportHeader, rows: Iterable[Hour], zone: tzinfo) -> int:
    """The `urn:metra:wholesale:1` document; returns the hours written."""
    attrs = {
        "id": header.report_id,
        "created": timestamp(header.created, zone),
        "operator": header.operator,
        "profile": header.profile,
        "timeZone": header.zone_name,
        "first": header.period.first.isoformat(),
        "last": header.period.last.isoformat(),
        "state": header.state,
        "source": "served",
        "unit": "kWh",
    }
    head = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f"<WholesaleReport xmlns={quoteattr(WHOLESALE_NAMESPACE)} {head}>\n")
    meter: MeterRef | None = None
    channel: str | None = None
    totals = 0.0
    count = 0
    points = 0

    def close_channel() -> None:
        if channel is not None:
            out.write(f'      <Total v="{totals:.6f}"/>\n    </Channel>\n')

    for hour in rows:
        if hour.meter != meter:
            close_channel()
            if meter is not None:
                out.write("  </Point>\n")
            points += 1
            if points > MAX_POINTS:
                raise ExportError(f"a wholesale report holds at most {MAX_POINTS} meters")
            meter, channel = hour.meter, None
            out.write(
                f"  <Point meter={quoteattr(hour.meter.serial)}"
                f" meterId={quoteattr(str(hour.meter.meter_id))}>\n"
            )
        if hour.channel != channel:
            close_channel()
            channel, totals = hour.channel, 0.0
            out.write(f"    <Channel obis={quoteattr(hour.channel)}>\n")
        value = "" if hour.value is None else f' v="{hour.value:.6f}"'
        totals += hour.value or 0.0
        out.write(
            f'      <Hour start="{timestamp(hour.start, zone)}"{value} status="{hour.status}"/>\n'
        )
        count += 1
    close_channel()
    if meter is not None:
        out.write("  </Point>\n")
    out.write("</WholesaleReport>\n")
    return count
