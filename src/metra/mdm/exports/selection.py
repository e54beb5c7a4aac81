"""Which meters an export covers: one meter, a group listed in a file, or a substation's members.

A substation's members come from effective-dated master data (STO-3): its and its feeders'
balancing meters and the main meters of the delivery points on its feeders, as valid on the first
and on the last day of the period (a meter that joined or left during the period is included).
Meters are always exported in serial order, so the same request gives the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from sqlalchemy import Connection

from metra.mdm.balance.topology import substation_elements
from metra.mdm.exports.errors import ExportError
from metra.store.errors import NotFound
from metra.store.masterdata import Entity, as_of, find

MAX_GROUP = 100_000  # meters in one group file: bounds what a request can ask for


@dataclass(frozen=True, order=True)
class MeterRef:
    """A meter as exported: its serial (the sort key) and its identity."""

    serial: str
    meter_id: UUID


@dataclass(frozen=True)
class Period:
    """Whole days [first, last] in the export's time zone."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ExportError(f"period ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days > 366:
            raise ExportError("a period is at most 367 days; split longer exports")

    @property
    def end(self) -> date:
        """The day after the last day (exclusive end)."""
        return self.last + timedelta(days=1)


@dataclass(frozen=True)
class Selection:
    """The meters of an export and how they were chosen (`meter`, `group`, `substation`)."""

    kind: str
    label: str
    meters: tuple[MeterRef, ...]


def _serial(conn: Connection, meter_id: UUID, period: Period) -> str | None:
    for on in (period.first, period.last):
        version = as_of(conn, Entity.METER, meter_id, on)
        if version is not None:
            return str(version.attributes["serial"])
    return None


def _meter(conn: Connection, text: str, period: Period) -> MeterRef:
    """A meter named by serial (valid in the period) or by its UUID."""
    name = text.strip()
    try:
        meter_id = UUID(name)
    except ValueError:
        for on in (period.first, period.last):
            found = find(conn, Entity.METER, on, serial=name)
            if found:
                return MeterRef(name, found[0])
        raise ExportError(
            f"no meter with serial {name!r} in {period.first}..{period.last}"
        ) from None
    serial = _serial(conn, meter_id, period)
    if serial is None:
        raise ExportError(f"no meter {meter_id} in {period.first}..{period.last}")
    return MeterRef(serial, meter_id)


def one_meter(conn: Connection, text: str, period: Period) -> Selection:
    """A single meter by serial or id."""
    ref = _meter(conn, text, period)
    return Selection("meter", ref.serial, (ref,))


def group(conn: Connection, names: Iterable[str], label: str, period: Period) -> Selection:
    """Meters listed one per line (serial or id; blank lines and `#` comments skipped)."""
    refs: set[MeterRef] = set()
    for line in names:
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        refs.add(_meter(conn, name, period))
        if len(refs) > MAX_GROUP:
            raise ExportError(f"a group holds at most {MAX_GROUP} meters")
    if not refs:
        raise ExportError(f"group {label!r} names no meter")
    return Selection("group", label, tuple(sorted(refs)))


def substation(conn: Connection, code: str, period: Period) -> Selection:
    """Every meter of a substation valid on the period's first or last day (see module doc)."""
    refs: set[MeterRef] = set()
    known = False
    for on in sorted({period.first, period.last}):
        try:
            whole, feeders = substation_elements(conn, code, on)
        except NotFound:
            continue
        known = True
        for element in (whole, *feeders):
            points = [*element.customers]
            if element.balancing is not None:
                points.append(element.balancing)
            refs.update(MeterRef(p.serial, p.meter_id) for p in points)
    if not known:
        raise ExportError(f"no substation {code!r} in {period.first}..{period.last}")
    if not refs:
        raise ExportError(f"substation {code!r} has no meters in {period.first}..{period.last}")
    return Selection("substation", code, tuple(sorted(refs)))


def metering_points(conn: Connection, selection: Selection, on: date) -> dict[str, str | None]:
    """Each meter's metering point id valid on `on` (None where it is on none): for the audit."""
    out: dict[str, str | None] = {}
    for ref in selection.meters:
        points = find(conn, Entity.METERING_POINT, on, meter_id=ref.meter_id)
        out[ref.serial] = str(points[0]) if points else None
    return out
