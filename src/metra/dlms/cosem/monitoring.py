"""Register monitor (class 21) and Limiter (class 71) value shapes (MTR-6, CMD-2).

Both watch one attribute (``monitored_value``, a
:class:`~metra.dlms.cosem.references.ValueDefinition`) against thresholds and run scripts when it
crosses them; the Limiter adds an emergency profile that swaps in a different threshold for a
while. Thresholds keep the type of the monitored value, so they stay generic ``Data``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, DateTime, DoubleLongUnsigned, LongUnsigned, Structure
from . import _shape
from .references import ScriptAction

__all__ = ["ActionSet", "EmergencyProfile", "LimiterActions"]


@dataclass(frozen=True, slots=True)
class ActionSet:
    """Register monitor ``actions`` element: structure {action_up: action_item, action_down:
    action_item} -- the scripts run when the value rises above / falls below its threshold."""

    action_up: ScriptAction
    action_down: ScriptAction

    def to_data(self) -> Structure:
        return Structure([self.action_up.to_data(), self.action_down.to_data()])

    @classmethod
    def from_data(cls, value: Data) -> ActionSet:
        s = _shape.structure(value, 2, "action_set")
        return cls(ScriptAction.from_data(s[0]), ScriptAction.from_data(s[1]))


@dataclass(frozen=True, slots=True)
class EmergencyProfile:
    """Limiter ``emergency_profile``: structure {emergency_profile_id: long-unsigned,
    emergency_activation_time: octet-string (date-time), emergency_duration:
    double-long-unsigned (seconds)}."""

    emergency_profile_id: int
    emergency_activation_time: DateTime
    emergency_duration: int

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.emergency_profile_id),
                _shape.date_time_data(self.emergency_activation_time),
                DoubleLongUnsigned(self.emergency_duration),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> EmergencyProfile:
        what = "emergency_profile"
        s = _shape.structure(value, 3, what)
        return cls(
            _shape.integer(s[0], LongUnsigned, f"{what}.emergency_profile_id"),
            _shape.date_time(s[1], f"{what}.emergency_activation_time"),
            _shape.integer(s[2], DoubleLongUnsigned, f"{what}.emergency_duration"),
        )


@dataclass(frozen=True, slots=True)
class LimiterActions:
    """Limiter ``actions``: structure {action_over_threshold: action_item,
    action_under_threshold: action_item}."""

    action_over_threshold: ScriptAction
    action_under_threshold: ScriptAction

    def to_data(self) -> Structure:
        return Structure(
            [self.action_over_threshold.to_data(), self.action_under_threshold.to_data()]
        )

    @classmethod
    def from_data(cls, value: Data) -> LimiterActions:
        s = _shape.structure(value, 2, "limiter_actions")
        return cls(ScriptAction.from_data(s[0]), ScriptAction.from_data(s[1]))
