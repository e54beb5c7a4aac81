"""Writable capture objects of the load profile (CMD-2, scope of data collected).

The management client may choose the load profile's columns (Profile generic attribute 3,
``capture_objects``) from what the meter can capture: the clock (always first, since entries are
found by their time), the profile status word, the energy of each capture period (1-0:c.29.0)
and the active energy registers A+ / A- (1-0:1.8.0, 1-0:2.8.0) at the end of each period.

As the Blue Book says of class 7, a change of ``capture_objects`` empties the buffer: entries
captured with the old columns are gone, and the profile fills again from the next capture. Here
the buffer is computed from the measurement model, so "empty" means the meter serves only entries
captured after the change (:attr:`LoadProfileScope.cleared`). Writing the columns the profile
already has changes nothing and keeps the buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.objects import CLOCK
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.data import Data, DoubleLongUnsigned, Unsigned
from metra.dlms.errors import DecodeError
from metra.dlms.obis import Obis
from metra.dlms.xdlms.common import DataAccessResult

from .basic_objects import PROFILE_STATUS
from .measurement import Interval, Quantity

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = [
    "MAX_COLUMNS",
    "Column",
    "LoadProfileScope",
    "capturable",
    "parse_columns",
    "rows",
    "set_columns",
]

#: Columns a load profile may hold (the meter's storage per entry).
MAX_COLUMNS = 12
#: How one column's value is made for an entry.
Column = Callable[["VirtualMeter", Interval], Data]


@dataclass
class LoadProfileScope:
    """A meter's load-profile columns (None: the factory ones) and when the buffer was last
    emptied by a change of them (None: never)."""

    columns: tuple[CaptureObjectDefinition, ...] | None = None
    cleared: datetime | None = None


def _energy(q: Quantity) -> Column:
    return lambda _m, iv: DoubleLongUnsigned(iv.energy[q])


def _register(q: Quantity) -> Column:
    return lambda m, iv: DoubleLongUnsigned(m.model.register(q, iv.end) % 2**32)


def capturable(
    period_columns: Sequence[tuple[CaptureObjectDefinition, Quantity]],
) -> dict[CaptureObjectDefinition, Column]:
    """Every column this meter can capture, given the energy-of-period columns of its profile."""
    out: dict[CaptureObjectDefinition, Column] = {
        CaptureObjectDefinition(8, CLOCK, 2): lambda m, iv: m.local(iv.end),
        CaptureObjectDefinition(1, PROFILE_STATUS, 2): lambda _m, iv: Unsigned(iv.status),
    }
    out.update({c: _energy(q) for c, q in period_columns})
    for c, q in ((1, Quantity.A_PLUS), (2, Quantity.A_MINUS)):
        out[CaptureObjectDefinition(3, Obis(1, 0, c, 8, 0, 255), 2)] = _register(q)
    return out


def parse_columns(
    value: Data, known: dict[CaptureObjectDefinition, Column]
) -> tuple[CaptureObjectDefinition, ...] | DataAccessResult:
    """The columns a write asks for, or why the meter refuses them: ``type-unmatched`` for a
    malformed list, ``object-undefined`` for a column it cannot capture, ``other-reason`` for a
    list without the clock first, with a column twice, or longer than :data:`MAX_COLUMNS`."""
    try:
        items = _shape.array(value, "capture_objects")
        columns = tuple(CaptureObjectDefinition.from_data(v) for v in items)
    except (DecodeError, ValueError):
        return DataAccessResult.TYPE_UNMATCHED
    if any(c not in known for c in columns):
        return DataAccessResult.OBJECT_UNDEFINED
    clock_first = bool(columns) and columns[0].class_id == 8
    if not clock_first or len(set(columns)) != len(columns) or len(columns) > MAX_COLUMNS:
        return DataAccessResult.OTHER_REASON
    return columns


def rows(
    m: VirtualMeter,
    intervals: Sequence[Interval],
    columns: Sequence[CaptureObjectDefinition],
    known: dict[CaptureObjectDefinition, Column],
) -> list[list[Data]]:
    """The buffer rows of ``intervals`` with ``columns``."""
    makers = [known[c] for c in columns]
    return [[make(m, iv) for make in makers] for iv in intervals]


def set_columns(
    m: VirtualMeter,
    value: Data,
    factory: tuple[CaptureObjectDefinition, ...],
    known: dict[CaptureObjectDefinition, Column],
) -> DataAccessResult:
    """Write ``capture_objects``: a change empties the buffer (Blue Book class 7); the columns
    the profile already has change nothing."""
    columns = parse_columns(value, known)
    if isinstance(columns, DataAccessResult):
        return columns
    scope = m.lp_scope
    if columns != (scope.columns or factory):
        scope.columns, scope.cleared = columns, m.now()
    return DataAccessResult.SUCCESS
