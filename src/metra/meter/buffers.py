"""Profile generic (class 7) buffers produced on demand, with selective access by range and entry.

A real meter's buffer is a ring of stored rows; here a buffer is a function from a time window
to rows, plus the times of its entries, so selective access (Blue Book: selector 1
``range_descriptor``, selector 2 ``entry_descriptor``) computes only the rows asked for. Both
functions take the meter they read, so one :class:`Buffer` describes the profile of every meter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.data import Array, Data, DoubleLongUnsigned, LongUnsigned, Structure
from metra.dlms.errors import DecodeError
from metra.dlms.xdlms.common import DataAccessResult, SelectiveAccess

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["Buffer", "select", "to_time"]

#: Rows of a meter's buffer whose capture time lies in ``(start, end]``; newest last.
Rows = Callable[["VirtualMeter", datetime, datetime], list[list[Data]]]


def to_time(meter: VirtualMeter, value: Data) -> datetime:
    """A range descriptor's date-time bound as an aware instant (no deviation: meter local time).

    Raises ``ValueError`` for a bound with wildcards, which a range cannot use."""
    when = _shape.date_time(value, "date-time").to_datetime()
    return when if when.tzinfo is not None else when.replace(tzinfo=meter.zone)


@dataclass(frozen=True)
class Buffer:
    """What a profile needs to answer reads: its columns, its entry times, and a row maker.

    ``times(meter)`` lists the capture time of every entry in use, oldest first (for entry
    access); ``rows(meter, start, end)`` computes the rows with capture times in ``(start, end]``.
    """

    capture_objects: Sequence[CaptureObjectDefinition]
    times: Callable[[VirtualMeter], Sequence[datetime]]
    rows: Rows

    def capture_data(self) -> Array:
        return Array([c.to_data() for c in self.capture_objects])


def select(
    buffer: Buffer, meter: VirtualMeter, access: SelectiveAccess | None
) -> Data | DataAccessResult:
    """``meter``'s buffer, whole or as selected; malformed parameters are refused, typed."""
    times = buffer.times(meter)
    if not times:
        return Array([])
    try:
        if access is None:
            rows = buffer.rows(meter, _before(times[0]), times[-1])
            columns: tuple[int, int] = (1, len(buffer.capture_objects))
        elif access.selector == 1:
            p = _shape.structure(access.parameters, 4, "range_descriptor")
            start = to_time(meter, p[1])
            end = to_time(meter, p[2])
            rows = buffer.rows(meter, _before(start), end) if start <= end else []
            chosen = _shape.array(p[3], "range_descriptor.selected_values")
            columns = _range_columns(buffer, chosen)
        elif access.selector == 2:
            p = _shape.structure(access.parameters, 4, "entry_descriptor")
            first = _shape.integer(p[0], DoubleLongUnsigned, "from_entry") or 1
            last = _shape.integer(p[1], DoubleLongUnsigned, "to_entry") or len(times)
            last = min(last, len(times))
            if first > last:
                return Array([])
            rows = buffer.rows(meter, _before(times[first - 1]), times[last - 1])
            col_from = _shape.integer(p[2], LongUnsigned, "from_selected_value") or 1
            col_to = _shape.integer(p[3], LongUnsigned, "to_selected_value") or len(
                buffer.capture_objects
            )
            columns = (col_from, min(col_to, len(buffer.capture_objects)))
        else:
            return DataAccessResult.OBJECT_UNAVAILABLE
    except (DecodeError, ValueError):
        return DataAccessResult.TYPE_UNMATCHED
    a, b = columns
    if not 1 <= a <= b:
        return DataAccessResult.OBJECT_UNAVAILABLE
    return Array([Structure(row[a - 1 : b]) for row in rows])


def _before(when: datetime) -> datetime:
    """Just before ``when``, so that the entry at ``when`` is inside ``(start, end]``."""
    return when - timedelta(microseconds=1)


def _range_columns(buffer: Buffer, chosen: Array) -> tuple[int, int]:
    """Columns named by ``selected_values`` (empty: all). Only a contiguous choice is served."""
    if not chosen:
        return 1, len(buffer.capture_objects)
    wanted = [CaptureObjectDefinition.from_data(c) for c in chosen]
    index = [
        list(buffer.capture_objects).index(w) + 1 for w in wanted if w in buffer.capture_objects
    ]
    if not index:
        return 0, 0
    return min(index), max(index)
