"""Structures that point at another object: capture definitions, monitored values, script calls.

Profiles, push setups, register monitors, limiters and schedules all name "attribute n of object
X" or "script s of script table Y" the same few ways; defining those shapes once keeps every class
that uses them consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, Integer, LongUnsigned, Structure
from ..obis import Obis
from . import _shape

__all__ = ["CaptureObjectDefinition", "ScriptAction", "ValueDefinition"]


@dataclass(frozen=True, slots=True)
class CaptureObjectDefinition:
    """``capture_object_definition`` (Profile generic ``capture_objects``, Push setup
    ``push_object_list``): structure {class_id: long-unsigned, logical_name: octet-string,
    attribute_index: integer, data_index: long-unsigned}.

    ``data_index`` 0 captures the whole attribute; n > 0 only its n-th element."""

    class_id: int
    logical_name: Obis
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.class_id),
                _shape.ln_data(self.logical_name),
                Integer(self.attribute_index),
                LongUnsigned(self.data_index),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> CaptureObjectDefinition:
        s = _shape.structure(value, 4, "capture_object_definition")
        return cls(
            _shape.integer(s[0], LongUnsigned, "capture_object_definition.class_id"),
            _shape.logical_name(s[1], "capture_object_definition.logical_name"),
            _shape.integer(s[2], Integer, "capture_object_definition.attribute_index"),
            _shape.integer(s[3], LongUnsigned, "capture_object_definition.data_index"),
        )


@dataclass(frozen=True, slots=True)
class ValueDefinition:
    """``value_definition`` (Register monitor and Limiter ``monitored_value``): structure
    {class_id: long-unsigned, logical_name: octet-string, attribute_index: integer}."""

    class_id: int
    logical_name: Obis
    attribute_index: int

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.class_id),
                _shape.ln_data(self.logical_name),
                Integer(self.attribute_index),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> ValueDefinition:
        s = _shape.structure(value, 3, "value_definition")
        return cls(
            _shape.integer(s[0], LongUnsigned, "value_definition.class_id"),
            _shape.logical_name(s[1], "value_definition.logical_name"),
            _shape.integer(s[2], Integer, "value_definition.attribute_index"),
        )


@dataclass(frozen=True, slots=True)
class ScriptAction:
    """``action_item`` / ``executed_script`` / day-profile script call: structure
    {script_logical_name: octet-string, script_selector: long-unsigned} -- "run script
    ``script_selector`` of the Script table ``script_logical_name``"."""

    script_logical_name: Obis
    script_selector: int

    def to_data(self) -> Structure:
        return Structure(
            [_shape.ln_data(self.script_logical_name), LongUnsigned(self.script_selector)]
        )

    @classmethod
    def from_data(cls, value: Data) -> ScriptAction:
        s = _shape.structure(value, 2, "action_item")
        return cls(
            _shape.logical_name(s[0], "action_item.script_logical_name"),
            _shape.integer(s[1], LongUnsigned, "action_item.script_selector"),
        )
