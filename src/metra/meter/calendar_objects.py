"""Activity calendar (20), special days table (11) and tariff script table (9) (MTR-7, CMD-2).

These objects *are* the meter's tariff configuration: the zone every slot's energy is counted in
comes from the active calendar and the special days (:mod:`metra.meter.tariff`). The management
client writes the passive calendar and activates it (method 1, or at
``activate_passive_calendar_time``), and inserts or deletes special days; each change takes
effect at the next 15-minute boundary and never moves energy already counted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.calendar import DayProfile, SeasonProfile, SpecialDayEntry, WeekProfile
from metra.dlms.cosem.enums import ScriptServiceId
from metra.dlms.cosem.objects import ACTIVITY_CALENDAR, SPECIAL_DAYS_TABLE, TARIFF_SCRIPT_TABLE
from metra.dlms.cosem.scripts import ActionSpecification, Script
from metra.dlms.data import Data, DateTime, Integer, LongUnsigned, OctetString, Unsigned
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult

from .objects import Attr, CosemObject, Getter
from .tariff import MAX_SPECIAL_DAYS, CalendarError

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["CURRENT_TARIFF", "calendar_objects"]

#: Data object "currently active tariff" (the tariff script table's scripts write it).
CURRENT_TARIFF = Obis(0, 0, 96, 14, 0, 255)
#: Entries a calendar table may hold (a real meter's memory is bounded too).
_MAX_PROFILES = 32


def _active(field: str) -> Getter:
    def read(m: VirtualMeter, _access: object) -> Data:
        calendar = m.tariffs.current.calendar
        if field == "name":
            return OctetString(calendar.name)
        return _shape.array_of(getattr(calendar, field))

    return read


def _passive(field: str) -> Getter:
    def read(m: VirtualMeter, _access: object) -> Data:
        calendar = m.passive_calendar
        if field == "name":
            return OctetString(calendar.name)
        return _shape.array_of(getattr(calendar, field))

    return read


def _write_name(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    name = _shape.octets(value, "calendar_name_passive")
    if len(name) > 32:
        return DataAccessResult.OTHER_REASON
    m.passive_calendar = replace(m.passive_calendar, name=name)
    return DataAccessResult.SUCCESS


def _write_seasons(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    items = _shape.parse_array(value, SeasonProfile.from_data, "season_profile_passive")
    if len(items) > _MAX_PROFILES:
        return DataAccessResult.OTHER_REASON
    m.passive_calendar = replace(m.passive_calendar, seasons=items)
    return DataAccessResult.SUCCESS


def _write_weeks(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    items = _shape.parse_array(value, WeekProfile.from_data, "week_profile_table_passive")
    if len(items) > _MAX_PROFILES:
        return DataAccessResult.OTHER_REASON
    m.passive_calendar = replace(m.passive_calendar, weeks=items)
    return DataAccessResult.SUCCESS


def _write_days(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    items = _shape.parse_array(value, DayProfile.from_data, "day_profile_table_passive")
    if len(items) > _MAX_PROFILES or any(len(d.day_schedule) > 24 for d in items):
        return DataAccessResult.OTHER_REASON
    m.passive_calendar = replace(m.passive_calendar, days=items)
    return DataAccessResult.SUCCESS


def _write_activation_time(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    when = _shape.date_time(value, "activate_passive_calendar_time")
    m.schedule_passive_calendar(when)
    return DataAccessResult.SUCCESS


def _activate(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    if p is not None and _shape.integer(p, Integer, "data") != 0:
        return ActionResult.TYPE_UNMATCHED, None
    try:
        m.activate_passive_calendar(m.now(), ctx)
    except CalendarError:
        return ActionResult.OTHER_REASON, None
    return ActionResult.SUCCESS, None


def _activity_calendar() -> CosemObject:
    return CosemObject(
        20,
        0,
        ACTIVITY_CALENDAR,
        {
            2: Attr(_active("name")),
            3: Attr(_active("seasons")),
            4: Attr(_active("weeks")),
            5: Attr(_active("days")),
            6: Attr(_passive("name"), _write_name),
            7: Attr(_passive("seasons"), _write_seasons),
            8: Attr(_passive("weeks"), _write_weeks),
            9: Attr(_passive("days"), _write_days),
            10: Attr(
                lambda m, _a: _shape.date_time_data(m.passive_activation or DateTime()),
                _write_activation_time,
            ),
        },
        {1: _activate},
    )


def _insert(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    """Insert: an entry with the same index or the same date is replaced (Blue Book)."""
    entry = SpecialDayEntry.from_data(p)
    current = m.tariffs.current.special_days
    kept = tuple(
        e for e in current if e.index != entry.index and e.specialday_date != entry.specialday_date
    )
    if len(kept) >= MAX_SPECIAL_DAYS:
        return ActionResult.OTHER_REASON, None
    try:
        m.set_special_days((*kept, entry), ctx)
    except CalendarError:
        return ActionResult.OTHER_REASON, None
    return ActionResult.SUCCESS, None


def _delete(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    index = _shape.integer(p, LongUnsigned, "index")
    current = m.tariffs.current.special_days
    kept = tuple(e for e in current if e.index != index)
    if len(kept) == len(current):
        return ActionResult.OTHER_REASON, None
    m.set_special_days(kept, ctx)
    return ActionResult.SUCCESS, None


def _special_days() -> CosemObject:
    return CosemObject(
        11,
        0,
        SPECIAL_DAYS_TABLE,
        {2: Attr(lambda m, _a: _shape.array_of(m.tariffs.current.special_days))},
        {1: _insert, 2: _delete},
    )


def _tariff_scripts() -> CosemObject:
    """Script table 0-0:10.0.100.255: script z sets the currently active tariff to z."""
    scripts = _shape.array_of(
        Script(
            zone,
            (
                ActionSpecification(
                    ScriptServiceId.WRITE_ATTRIBUTE, 1, CURRENT_TARIFF, 2, Unsigned(zone)
                ),
            ),
        )
        for zone in (1, 2, 3, 4)
    )
    return CosemObject(9, 0, TARIFF_SCRIPT_TABLE, {2: Attr(lambda _m, _a: scripts)})


def _current_tariff(m: VirtualMeter) -> Data:
    model = m.model
    now = m.now()
    d = model.day_index(now)
    slot = int((now - model.day_start(d)).total_seconds() // 900)
    return Unsigned(model.zones(d)[slot])


def calendar_objects() -> list[CosemObject]:
    return [
        _activity_calendar(),
        _special_days(),
        _tariff_scripts(),
        CosemObject(1, 0, CURRENT_TARIFF, {2: Attr(lambda m, _a: _current_tariff(m))}),
    ]
