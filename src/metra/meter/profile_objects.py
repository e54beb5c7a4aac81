"""Profile generic (class 7) objects: load profile, daily and monthly billing, event logs.

Buffers are computed on demand from the measurement model and the journals
(:mod:`metra.meter.buffers`); a profile object is the same for every meter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, overload

from metra.dlms.cosem import _shape
from metra.dlms.cosem.objects import CLOCK
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.data import (
    Data,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
    VisibleString,
)
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import DataAccessResult

from . import lp_capture
from .basic_objects import EVENT_CODE_OBJECT, PROFILE_STATUS
from .buffers import Buffer, select
from .journal import Log
from .measurement import EPOCH, Quantity
from .objects import Attr, CosemObject, Setter
from .registers import TARIFF_ZONES

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["DAILY_BILLING", "EVENT_LOGS", "LOAD_PROFILE", "MONTHLY_BILLING", "Ticks"]

LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)
DAILY_BILLING = Obis(0, 0, 98, 2, 0, 255)
MONTHLY_BILLING = Obis(0, 0, 98, 1, 0, 255)
#: Daily billing values kept.
DAILY_KEPT = 62
#: Load-profile columns after clock and status: the energy of each capture period (D = 29).
PROFILE_COLUMNS = (
    (Obis(1, 0, 1, 29, 0, 255), Quantity.A_PLUS),
    (Obis(1, 0, 2, 29, 0, 255), Quantity.A_MINUS),
    (Obis(1, 0, 5, 29, 0, 255), Quantity.R1),
    (Obis(1, 0, 6, 29, 0, 255), Quantity.R2),
    (Obis(1, 0, 7, 29, 0, 255), Quantity.R3),
    (Obis(1, 0, 8, 29, 0, 255), Quantity.R4),
)
EVENT_LOGS: dict[Log, Obis] = {
    log: Obis(1, 0, 99, 97, 0, 255)
    if log is Log.POWER_FAILURE
    else Obis(0, 0, 99, 98, log.value, 255)
    for log in Log
}
_CLOCK_COLUMN = CaptureObjectDefinition(8, CLOCK, 2)


class Ticks(Sequence[datetime]):
    """Evenly spaced capture times without a list: ``count`` entries ``step`` apart."""

    def __init__(self, first: datetime, step: timedelta, count: int) -> None:
        self.first, self.step, self.size = first, step, max(0, count)

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> datetime: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[datetime]: ...
    def __getitem__(self, index: int | slice) -> datetime | Sequence[datetime]:
        if isinstance(index, slice):
            return [self.first + self.step * i for i in range(*index.indices(self.size))]
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.first + self.step * index


def _profile(
    ln: Obis,
    buffer: Buffer,
    entries: Callable[[VirtualMeter], int],
    period: Callable[[VirtualMeter], int],
    set_period: Setter | None = None,
) -> CosemObject:
    capture = buffer.capture_data()
    sort_object = Structure([LongUnsigned(0), OctetString(bytes(6)), Integer(0), LongUnsigned(0)])
    return CosemObject(
        7,
        1,
        ln,
        {
            2: Attr(lambda m, a: select(buffer, m, a), selectors=(1, 2)),
            3: Attr(lambda _m, _a: capture),
            4: Attr(lambda m, _a: DoubleLongUnsigned(period(m)), set_period),
            5: Attr(lambda _m, _a: Enum(1)),  # fifo
            6: Attr(lambda _m, _a: sort_object),
            7: Attr(lambda m, _a: DoubleLongUnsigned(len(buffer.times(m)))),
            8: Attr(lambda m, _a: DoubleLongUnsigned(entries(m))),
        },
    )


def profile_objects() -> list[CosemObject]:
    out = [_load_profile()]
    out += [_billing(DAILY_BILLING, monthly=False), _billing(MONTHLY_BILLING, monthly=True)]
    out += [_event_log(log, ln) for log, ln in EVENT_LOGS.items()]
    return out


# ---------------------------------------------------------------------------- load profile


def _lp_depth(m: VirtualMeter) -> int:
    return m.profile.metering.profile_depth_days * 86400 // m.capture_period


def _lp_times(m: VirtualMeter) -> Ticks:
    origin = m.model.day_start(0)
    step = timedelta(seconds=m.capture_period)
    last = origin + step * int((m.now() - origin) / step)
    count = min(_lp_depth(m), int((last - origin) / step))
    cleared = m.lp_scope.cleared
    if cleared is not None:  # emptied by a change of capture objects: entries after it only
        count = min(count, max(0, -((cleared - last) // step)))
    return Ticks(last - step * (count - 1), step, count)


def _lp_rows(m: VirtualMeter, start: datetime, end: datetime) -> list[list[Data]]:
    rows: list[list[Data]] = []
    for iv in m.model.intervals(start, end, m.capture_period // 60):
        row: list[Data] = [m.local(iv.end), Unsigned(iv.status)]
        row += [DoubleLongUnsigned(iv.energy[q]) for _, q in PROFILE_COLUMNS]
        rows.append(row)
    return rows


def _set_period(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
    seconds = _shape.integer(value, DoubleLongUnsigned, "capture_period")
    if seconds // 60 not in m.profile.metering.allowed_intervals or seconds % 60:
        return DataAccessResult.OTHER_REASON
    m.capture_period = seconds
    return DataAccessResult.SUCCESS


def _load_profile() -> CosemObject:
    columns = [_CLOCK_COLUMN, CaptureObjectDefinition(1, PROFILE_STATUS, 2)]
    columns += [CaptureObjectDefinition(3, ln, 2) for ln, _ in PROFILE_COLUMNS]
    buffer = Buffer(columns, _lp_times, _lp_rows)
    obj = _profile(LOAD_PROFILE, buffer, _lp_depth, lambda m: m.capture_period, _set_period)
    # Capture objects writable by the management client (CMD-2): see metra.meter.lp_capture.
    factory = tuple(columns)
    known = lp_capture.capturable(
        [(CaptureObjectDefinition(3, ln, 2), q) for ln, q in PROFILE_COLUMNS]
    )

    def chosen(m: VirtualMeter) -> Buffer:
        picked = m.lp_scope.columns
        if picked is None:
            return buffer

        def make(m: VirtualMeter, start: datetime, end: datetime) -> list[list[Data]]:
            cleared = m.lp_scope.cleared
            intervals = [
                iv
                for iv in m.model.intervals(start, end, m.capture_period // 60)
                if cleared is None or iv.end > cleared
            ]
            return lp_capture.rows(m, intervals, picked, known)

        return Buffer(picked, _lp_times, make)

    obj.attrs[2] = Attr(lambda m, a: select(chosen(m), m, a), selectors=(1, 2))
    obj.attrs[3] = Attr(
        lambda m, _a: chosen(m).capture_data(),
        lambda m, _ctx, value: lp_capture.set_columns(m, value, factory, known),
    )
    return obj


# ---------------------------------------------------------------------------- billing


def _billing_times(m: VirtualMeter, monthly: bool, keep: int) -> list[datetime]:
    """Local midnights (daily) or first-of-month midnights (monthly), newest ``keep``."""
    now = m.now().astimezone(m.zone)
    day = now.date()
    out: list[datetime] = []
    while len(out) < keep and day > EPOCH:
        if not monthly or day.day == 1:
            out.append(datetime(day.year, day.month, day.day, tzinfo=m.zone))
        day = day.replace(day=1) if monthly and day.day != 1 else day - timedelta(days=1)
    return sorted(t.astimezone(m.model.epoch_utc.tzinfo) for t in out)


def _billing(ln: Obis, monthly: bool) -> CosemObject:
    columns = [_CLOCK_COLUMN, CaptureObjectDefinition(3, Obis(1, 0, 1, 8, 0, 255), 2)]
    columns += [
        CaptureObjectDefinition(3, Obis(1, 0, 1, 8, z, 255), 2) for z in range(1, TARIFF_ZONES + 1)
    ]
    columns += [CaptureObjectDefinition(3, Obis(1, 0, 2, 8, 0, 255), 2)]

    def keep(m: VirtualMeter) -> int:
        return m.profile.metering.billing_periods_kept if monthly else DAILY_KEPT

    def times(m: VirtualMeter) -> list[datetime]:
        return _billing_times(m, monthly, keep(m))

    def rows(m: VirtualMeter, start: datetime, end: datetime) -> list[list[Data]]:
        result: list[list[Data]] = []
        for t in times(m):
            if start < t <= end:
                tariffs = m.model.tariff_registers(Quantity.A_PLUS, t)
                row: list[Data] = [
                    m.local(t),
                    DoubleLongUnsigned(m.model.register(Quantity.A_PLUS, t)),
                ]
                row += [DoubleLongUnsigned(v) for v in tariffs]
                row.append(DoubleLongUnsigned(m.model.register(Quantity.A_MINUS, t)))
                result.append(row)
        return result

    period = 0 if monthly else 86400
    return _profile(ln, Buffer(columns, times, rows), keep, lambda _m: period)


# ---------------------------------------------------------------------------- event logs


def _event_log(log: Log, ln: Obis) -> CosemObject:
    columns = [
        _CLOCK_COLUMN,
        CaptureObjectDefinition(1, EVENT_CODE_OBJECT, 2),
        CaptureObjectDefinition(1, EVENT_CODE_OBJECT, 3),
    ]

    def times(m: VirtualMeter) -> list[datetime]:
        return [e.when for e in m.journals.entries(log, m.now())]

    def rows(m: VirtualMeter, start: datetime, end: datetime) -> list[list[Data]]:
        out: list[list[Data]] = []
        for e in m.journals.entries(log, m.now()):
            if start < e.when <= end:
                detail: Data = (
                    DoubleLongUnsigned(e.detail)
                    if isinstance(e.detail, int) and e.detail >= 0
                    else VisibleString(str(e.detail))
                )
                out.append([m.local(e.when), LongUnsigned(e.code), detail])
        return out

    return _profile(ln, Buffer(columns, times, rows), lambda _m: 100, lambda _m: 0)
