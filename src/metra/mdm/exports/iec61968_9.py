"""IEC 61968-9 (CIM) MeterReadings and EndDeviceEvents XML for interval, register and event data.

Element names and their order follow the 2011 message profiles (namespaces
`http://iec.ch/TC57/2011/MeterReadings#` and `http://iec.ch/TC57/2011/EndDeviceEvents#`):
`MeterReading` holds `IntervalBlocks` (one per channel and reading type, each with its
`IntervalReadings` and a `ReadingType` reference), then `Meter`, then `Readings` (registers);
the document ends with the `ReadingType` objects it referenced.

ReadingType mRIDs are the 18-field CIM reading type codes (macroPeriod.aggregate.measuringPeriod.
accumulation.flowDirection.commodity.measurementKind.interharmonic(2).argument(2).tou.cpp.
consumptionTier.phases.multiplier.unit.currency), e.g. 15-minute A+ in kWh is
`0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0`. ReadingQuality types are `system.category.index`
(system 1 end device, 2 data collection, 3 MDM; category 0 valid, 1 diagnostics, 2 power
quality, 4 data collection, 5 reasonability, 6 validation, 7 edited, 8 estimated, 11 derived).
Interval readings are time-stamped at the END of their interval, as CIM does. The codes and why
each was chosen are listed in `docs/exports.md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import timedelta, tzinfo
from enum import IntEnum
from typing import TextIO
from uuid import NAMESPACE_URL, uuid5
from xml.sax.saxutils import escape, quoteattr

from metra.mdm.batch import MeterBits
from metra.mdm.estimation.methods import Method
from metra.mdm.exports.errors import ExportError
from metra.mdm.exports.formats import timestamp
from metra.mdm.exports.records import EventRow, IntervalRow, RegisterRow, method_name
from metra.store.intervals import Origin, Quality, meter_status_of, origin_of, quality_of

METER_READINGS_NS = "http://iec.ch/TC57/2011/MeterReadings#"
END_DEVICE_EVENTS_NS = "http://iec.ch/TC57/2011/EndDeviceEvents#"


class MacroPeriod(IntEnum):
    """MacroPeriodKind (field 1)."""

    NONE = 0
    BILLING_PERIOD = 8
    DAILY = 11
    MONTHLY = 13


class MeasuringPeriod(IntEnum):
    """MeasuringPeriodKind (field 3)."""

    NONE = 0
    TEN_MINUTE = 1
    FIFTEEN_MINUTE = 2
    ONE_MINUTE = 3
    TWENTYFOUR_HOUR = 4
    THIRTY_MINUTE = 5
    FIVE_MINUTE = 6
    SIXTY_MINUTE = 7


class Accumulation(IntEnum):
    """AccumulationKind (field 4)."""

    NONE = 0
    BULK_QUANTITY = 1
    DELTA_DATA = 4


class FlowDirection(IntEnum):
    """FlowDirectionKind (field 5)."""

    NONE = 0
    FORWARD = 1
    NET = 4
    Q1_PLUS_Q2 = 5
    Q3_PLUS_Q4 = 13
    QUADRANT1 = 15
    QUADRANT2 = 16
    QUADRANT3 = 17
    QUADRANT4 = 18
    REVERSE = 19
    TOTAL = 20


class Commodity(IntEnum):
    """CommodityKind (field 6): meter values are secondary (before CT / VT ratios)."""

    ELECTRICITY_SECONDARY_METERED = 1
    ELECTRICITY_PRIMARY_METERED = 2


class MeasurementKind(IntEnum):
    """MeasurementKind (field 7)."""

    ENERGY = 12


class Multiplier(IntEnum):
    """UnitMultiplier (field 16)."""

    NONE = 0
    KILO = 3


class UnitSymbol(IntEnum):
    """UnitSymbol (field 17)."""

    VAH = 71
    WH = 72
    VARH = 73


_PERIODS = {
    600: MeasuringPeriod.TEN_MINUTE,
    900: MeasuringPeriod.FIFTEEN_MINUTE,
    60: MeasuringPeriod.ONE_MINUTE,
    86_400: MeasuringPeriod.TWENTYFOUR_HOUR,
    1800: MeasuringPeriod.THIRTY_MINUTE,
    300: MeasuringPeriod.FIVE_MINUTE,
    3600: MeasuringPeriod.SIXTY_MINUTE,
}

# OBIS group C of an energy quantity -> flow direction and unit (IEC 62056-6-1 quantities).
_QUANTITIES: dict[int, tuple[FlowDirection, UnitSymbol]] = {
    1: (FlowDirection.FORWARD, UnitSymbol.WH),  # A+
    2: (FlowDirection.REVERSE, UnitSymbol.WH),  # A-
    3: (FlowDirection.Q1_PLUS_Q2, UnitSymbol.VARH),  # R+ (QI + QII)
    4: (FlowDirection.Q3_PLUS_Q4, UnitSymbol.VARH),  # R- (QIII + QIV)
    5: (FlowDirection.QUADRANT1, UnitSymbol.VARH),
    6: (FlowDirection.QUADRANT2, UnitSymbol.VARH),
    7: (FlowDirection.QUADRANT3, UnitSymbol.VARH),
    8: (FlowDirection.QUADRANT4, UnitSymbol.VARH),
    9: (FlowDirection.FORWARD, UnitSymbol.VAH),
    10: (FlowDirection.REVERSE, UnitSymbol.VAH),
    15: (FlowDirection.TOTAL, UnitSymbol.WH),  # |A+| + |A-|
    16: (FlowDirection.NET, UnitSymbol.WH),  # A+ - A-
}


@dataclass(frozen=True)
class ReadingType:
    """The 18 fields of a CIM reading type; `mrid` is the dotted code."""

    macro_period: int = MacroPeriod.NONE
    aggregate: int = 0
    measuring_period: int = MeasuringPeriod.NONE
    accumulation: int = Accumulation.NONE
    flow_direction: int = FlowDirection.NONE
    commodity: int = Commodity.ELECTRICITY_SECONDARY_METERED
    measurement_kind: int = MeasurementKind.ENERGY
    interharmonic_numerator: int = 0
    interharmonic_denominator: int = 0
    argument_numerator: int = 0
    argument_denominator: int = 0
    tou: int = 0
    cpp: int = 0
    consumption_tier: int = 0
    phases: int = 0
    multiplier: int = Multiplier.KILO
    unit: int = UnitSymbol.WH
    currency: int = 0

    @property
    def mrid(self) -> str:
        """The dotted 18-field code used as the ReadingType mRID."""
        return ".".join(str(int(v)) for v in astuple(self))

    @classmethod
    def parse(cls, mrid: str) -> ReadingType:
        """A reading type from its dotted code (18 non-negative integers)."""
        parts = mrid.split(".")
        if len(parts) != 18 or not all(p.isdigit() for p in parts):
            raise ExportError(f"{mrid!r} is not an 18-field CIM reading type code")
        return cls(*(int(p) for p in parts))


def _quantity(obis: str) -> tuple[FlowDirection, UnitSymbol]:
    try:
        c = int(obis.split(":", 1)[1].split(".", 1)[0])
        return _QUANTITIES[c]
    except (IndexError, ValueError, KeyError):
        raise ExportError(f"{obis!r} is no energy quantity CIM can name here") from None


def interval_reading_type(channel: str, interval_s: int) -> ReadingType:
    """Interval energy of a load-profile channel: delta data over the measuring period."""
    period = _PERIODS.get(interval_s)
    if period is None:
        raise ExportError(f"no CIM measuring period for {interval_s} s intervals")
    flow, unit = _quantity(channel)
    return ReadingType(
        measuring_period=period,
        accumulation=Accumulation.DELTA_DATA,
        flow_direction=flow,
        unit=unit,
    )


def register_reading_type(row: RegisterRow) -> ReadingType | None:
    """A register (bulk quantity) or billing snapshot (daily / monthly, tariff zone as TOU);
    None for registers that are not energy in kilo units."""
    if row.unit not in ("kWh", "kvarh", "kVAh"):
        return None
    flow, unit = _quantity(row.obis)
    macro = {
        "billing_daily": MacroPeriod.DAILY,
        "billing_monthly": MacroPeriod.MONTHLY,
    }.get(row.record, MacroPeriod.NONE)
    return ReadingType(
        macro_period=macro,
        accumulation=Accumulation.BULK_QUANTITY,
        flow_direction=flow,
        tou=row.tariff_zone or 0,
        unit=unit,
    )


# ReadingQuality type codes (system.category.index).
VALIDATED = "3.0.1"  # MDM: valid, validated
SUSPECT = "3.5.258"  # MDM: failed reasonability, suspect
FAILED_VALIDATION = "3.6.0"  # MDM: failed validation, generic
EDITED = "3.7.0"  # MDM: manually edited, generic
ESTIMATED = "3.8.0"  # MDM: estimated, generic
DERIVED = "3.11.0"  # MDM: derived, deterministic (a correction of a known fault)
KNOWN_MISSING = "3.5.259"  # MDM: known missing read
DEVICE_VALID = "1.0.0"  # end device: data valid
POWER_FAIL = "1.2.32"
CLOCK_CHANGED = "1.4.9"
DST_IN_EFFECT = "1.4.16"
CLOCK_ERROR = "1.1.9"
DIAGNOSTICS = "1.1.0"
CUSTOMER_READ = "1.4.130"
MANUAL_READ = "1.4.131"

_ESTIMATES = {
    Method.RESERVE,
    Method.INTERPOLATED,
    Method.FLAT_FILL,
    Method.LIKE_DAY,
    Method.SUBSTATION,
    Method.STANDARD_PROFILE,
}
_DEVICE_BITS = (
    (MeterBits.POWER_DOWN, POWER_FAIL),
    (MeterBits.CLOCK_ADJUSTED, CLOCK_CHANGED),
    (MeterBits.CLOCK_INVALID, CLOCK_ERROR),
    (MeterBits.DAYLIGHT_SAVING, DST_IN_EFFECT),
    (MeterBits.CRITICAL_ERROR | MeterBits.DATA_NOT_VALID, DIAGNOSTICS),
)


def reading_qualities(
    status: int, method: int | None, has_value: bool = True
) -> list[tuple[str, str]]:
    """The (ReadingQualityType, comment) pairs of one value: the MDM's verdict first (served
    data), then what the meter and the collection said. Raw data without flags are `1.0.0`."""
    out: list[tuple[str, str]] = []
    if method is not None:
        quality = quality_of(status)
        kind = Method(method) if method in Method._value2member_map_ else Method.NONE
        if not has_value:
            out.append((KNOWN_MISSING, "not estimated"))
        elif kind in _ESTIMATES:
            out.append((ESTIMATED, method_name(method)))
        elif kind is Method.MANUAL:
            out.append((EDITED, "manual"))
        elif kind is Method.CORRECTED:
            out.append((DERIVED, "corrected"))
        elif quality is Quality.INVALID:
            out.append((FAILED_VALIDATION, ""))
        elif quality is Quality.SUSPECT:
            out.append((SUSPECT, ""))
        elif quality is Quality.VALID:
            out.append((VALIDATED, ""))
    bits = meter_status_of(status)
    out.extend((code, "") for mask, code in _DEVICE_BITS if bits & mask)
    origin = origin_of(status)
    if origin is Origin.LOCAL:
        out.append((MANUAL_READ, "local read"))
    elif origin is Origin.CUSTOMER:
        out.append((CUSTOMER_READ, "customer read"))
    if not out:
        out.append((DEVICE_VALID, ""))
    return out


def _qualities(pairs: list[tuple[str, str]], pad: str) -> str:
    parts = []
    for code, comment in pairs:
        note = f"<comment>{escape(comment)}</comment>" if comment else ""
        parts.append(
            f'{pad}<ReadingQualities>{note}<ReadingQualityType ref="{code}"/></ReadingQualities>\n'
        )
    return "".join(parts)


def _meter(row_meter_id: object, serial: str) -> str:
    return (
        f"    <Meter><mRID>{escape(str(row_meter_id))}</mRID>"
        f"<Names><name>{escape(serial)}</name></Names></Meter>\n"
    )


def write_meter_readings(
    out: TextIO, rows: Iterable[IntervalRow | RegisterRow], zone: tzinfo
) -> int:
    """Stream a MeterReadings document; returns the readings written."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f"<MeterReadings xmlns={quoteattr(METER_READINGS_NS)}>\n")
    used: dict[str, None] = {}
    meter = None
    block: str | None = None
    meter_written = False
    count = 0

    def close_meter() -> None:
        nonlocal block, meter_written
        if block is not None:
            out.write(f'      <ReadingType ref="{block}"/>\n    </IntervalBlocks>\n')
            block = None
        if meter is not None:
            if not meter_written:
                out.write(_meter(meter.meter_id, meter.serial))
            out.write("  </MeterReading>\n")
        meter_written = False

    for row in rows:
        if row.meter != meter:
            close_meter()
            meter = row.meter
            out.write("  <MeterReading>\n")
        if isinstance(row, IntervalRow):
            mrid = interval_reading_type(row.channel, row.interval_s).mrid
            if mrid != block:
                if block is not None:
                    out.write(f'      <ReadingType ref="{block}"/>\n    </IntervalBlocks>\n')
                out.write("    <IntervalBlocks>\n")
                block = mrid
                used[mrid] = None
            end = timestamp(row.start + timedelta(seconds=row.interval_s), zone)
            value = "" if row.value is None else f"<value>{row.value:.6f}</value>"
            out.write(f"      <IntervalReadings><timeStamp>{end}</timeStamp>{value}\n")
            pairs = reading_qualities(row.status, row.method, row.value is not None)
            out.write(_qualities(pairs, "        "))
            out.write("      </IntervalReadings>\n")
            count += 1
            continue
        reading_type = register_reading_type(row)
        if reading_type is None:
            continue
        if block is not None:
            out.write(f'      <ReadingType ref="{block}"/>\n    </IntervalBlocks>\n')
            block = None
        if not meter_written:
            out.write(_meter(row.meter.meter_id, row.meter.serial))
            meter_written = True
        used[reading_type.mrid] = None
        out.write(
            f"    <Readings><timeStamp>{timestamp(row.captured_at, zone)}</timeStamp>"
            f"<value>{format(row.value, 'f')}</value>\n"
        )
        out.write(_qualities(reading_qualities(row.status, None), "      "))
        out.write(f'      <ReadingType ref="{reading_type.mrid}"/>\n    </Readings>\n')
        count += 1
    close_meter()
    for mrid in sorted(used):
        out.write(f"  <ReadingType><mRID>{mrid}</mRID></ReadingType>\n")
    out.write("</MeterReadings>\n")
    return count


# Normalised metra event codes -> EndDeviceEventType (type.domain.subdomain.eventOrAction).
EVENT_TYPES: dict[str, str] = {
    "power.down": "0.26.38.85",
    "power.up": "0.26.38.49",
    "clock.adjusted_old_time": "0.36.116.14",
    "clock.adjusted_new_time": "0.36.116.24",
    "clock.invalid": "0.36.114.35",
    "clock.dst_changed": "0.36.56.24",
    "tamper.terminal_cover_opened": "0.12.29.212",
    "tamper.terminal_cover_closed": "0.12.29.16",
    "tamper.meter_cover_opened": "0.12.141.212",
    "tamper.meter_cover_closed": "0.12.141.16",
    "tamper.magnetic_field": "0.12.66.242",
    "tamper.magnetic_field_gone": "0.12.66.243",
    "security.authentication_failure": "0.12.24.85",
}
OTHER_EVENT = "0.0.0.0"


def event_mrid(row: EventRow) -> str:
    """A stable identifier of one event (UUID 5 of meter, log, time and raw code)."""
    key = f"metra:event:{row.meter.meter_id}:{row.log_obis}:{row.occurred_at.isoformat()}"
    return str(uuid5(NAMESPACE_URL, f"{key}:{row.raw_code}"))


def write_end_device_events(out: TextIO, rows: Iterable[EventRow], zone: tzinfo) -> int:
    """Stream an EndDeviceEvents document; returns the events written."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f"<EndDeviceEvents xmlns={quoteattr(END_DEVICE_EVENTS_NS)}>\n")
    count = 0
    for row in rows:
        details = (
            ("log", row.log_obis),
            ("rawCode", str(row.raw_code)),
            ("meterSerial", row.meter.serial),
        )
        detail_xml = "".join(
            f"<EndDeviceEventDetails><name>{n}</name><value>{escape(v)}</value>"
            "</EndDeviceEventDetails>"
            for n, v in details
        )
        out.write(
            f"  <EndDeviceEvent><mRID>{event_mrid(row)}</mRID>"
            f"<createdDateTime>{timestamp(row.occurred_at, zone)}</createdDateTime>"
            f"<reason>{escape(row.code)}</reason>"
            f"<Assets><mRID>{row.meter.meter_id}</mRID></Assets>{detail_xml}"
            f'<EndDeviceEventType ref="{EVENT_TYPES.get(row.code, OTHER_EVENT)}"/>'
            "</EndDeviceEvent>\n"
        )
        count += 1
    out.write("</EndDeviceEvents>\n")
    return count
