"""Script table (class 9) ``scripts`` and Single action schedule (class 22) ``execution_time``.

Scripts are how a meter runs configured actions (switch tariff, disconnect, close a billing
period): a schedule, a calendar or a monitor names a script, and the script names attribute
writes and method calls. Both classes are defined here because one is useless without the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, Date, Enum, Integer, LongUnsigned, Structure, Time
from ..obis import Obis
from . import _shape
from .enums import ScriptServiceId

__all__ = ["ActionSpecification", "ExecutionTime", "Script"]


@dataclass(frozen=True, slots=True)
class ActionSpecification:
    """``action_specification``: structure {service_id: enum, class_id: long-unsigned,
    logical_name: octet-string, index: integer, parameter: any}: write attribute ``index``
    (service 1) or call method ``index`` (service 2) of the object, with ``parameter``."""

    service_id: ScriptServiceId
    class_id: int
    logical_name: Obis
    index: int
    parameter: Data = None

    def to_data(self) -> Structure:
        return Structure(
            [
                Enum(self.service_id),
                LongUnsigned(self.class_id),
                _shape.ln_data(self.logical_name),
                Integer(self.index),
                self.parameter,
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> ActionSpecification:
        s = _shape.structure(value, 5, "action_specification")
        return cls(
            _shape.member(ScriptServiceId, s[0], "action_specification.service_id"),
            _shape.integer(s[1], LongUnsigned, "action_specification.class_id"),
            _shape.logical_name(s[2], "action_specification.logical_name"),
            _shape.integer(s[3], Integer, "action_specification.index"),
            s[4],
        )


@dataclass(frozen=True, slots=True)
class Script:
    """``script``: structure {script_identifier: long-unsigned, actions: array of
    action_specification}. Identifier 0 is reserved by the Blue Book (it empties the table)."""

    script_identifier: int
    actions: tuple[ActionSpecification, ...] = ()

    def to_data(self) -> Structure:
        return Structure([LongUnsigned(self.script_identifier), _shape.array_of(self.actions)])

    @classmethod
    def from_data(cls, value: Data) -> Script:
        s = _shape.structure(value, 2, "script")
        return cls(
            _shape.integer(s[0], LongUnsigned, "script.script_identifier"),
            _shape.parse_array(s[1], ActionSpecification.from_data, "script.actions"),
        )


@dataclass(frozen=True, slots=True)
class ExecutionTime:
    """Single action schedule ``execution_time`` element: structure {time: octet-string (4),
    date: octet-string (5)}; wildcards (0xFF) make it recur."""

    time: Time
    date: Date

    def to_data(self) -> Structure:
        return Structure([_shape.time_data(self.time), _shape.date_data(self.date)])

    @classmethod
    def from_data(cls, value: Data) -> ExecutionTime:
        s = _shape.structure(value, 2, "execution_time_date")
        return cls(
            _shape.time(s[0], "execution_time_date.time"),
            _shape.date(s[1], "execution_time_date.date"),
        )
