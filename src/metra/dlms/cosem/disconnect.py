"""Disconnect control (class 70): which trigger may move the disconnector in which control mode
(MTR-6, CMD-2).

The Blue Book draws the states and eight transitions, lettered a..h:

====  ======================  ==========================  ==========================
      trigger                 from                        to
====  ======================  ==========================  ==========================
a     remote_reconnect        disconnected                connected
b     remote_disconnect       connected                   disconnected
c     remote_disconnect       ready_for_reconnection      disconnected
d     remote_reconnect        disconnected                ready_for_reconnection
e     manual_reconnect        ready_for_reconnection      connected
f     manual_disconnect       connected                   ready_for_reconnection
g     local_disconnect        connected                   ready_for_reconnection
h     local_reconnect         ready_for_reconnection      connected
====  ======================  ==========================  ==========================

and each ``control_mode`` enables a subset (mode 0: none, the object stays connected; modes 2 and
4 reconnect remotely straight to connected; modes 1, 3, 5, 6 only arm the reconnection and need a
manual or local reconnect; modes 3, 4 and 6 ignore the manual disconnect button; modes 5 and 6
allow a local reconnect). The table below is that specification as data.
"""

from __future__ import annotations

from .enums import ControlMode, ControlState, DisconnectTrigger

__all__ = ["MODE_TRANSITIONS", "TRANSITIONS", "allowed_transition"]

_D, _C, _R = ControlState.DISCONNECTED, ControlState.CONNECTED, ControlState.READY_FOR_RECONNECTION
_T = DisconnectTrigger

#: The lettered transitions of the state diagram: letter -> (trigger, from state, to state).
TRANSITIONS: dict[str, tuple[DisconnectTrigger, ControlState, ControlState]] = {
    "a": (_T.REMOTE_RECONNECT, _D, _C),
    "b": (_T.REMOTE_DISCONNECT, _C, _D),
    "c": (_T.REMOTE_DISCONNECT, _R, _D),
    "d": (_T.REMOTE_RECONNECT, _D, _R),
    "e": (_T.MANUAL_RECONNECT, _R, _C),
    "f": (_T.MANUAL_DISCONNECT, _C, _R),
    "g": (_T.LOCAL_DISCONNECT, _C, _R),
    "h": (_T.LOCAL_RECONNECT, _R, _C),
}

#: The transitions each control mode enables (Blue Book, Disconnect control, ``control_mode``).
MODE_TRANSITIONS: dict[ControlMode, frozenset[str]] = {
    ControlMode.NONE: frozenset(),
    ControlMode.MODE_1: frozenset("bcfgde"),
    ControlMode.MODE_2: frozenset("bcfgae"),
    ControlMode.MODE_3: frozenset("bcgde"),
    ControlMode.MODE_4: frozenset("bcgae"),
    ControlMode.MODE_5: frozenset("bcfgdeh"),
    ControlMode.MODE_6: frozenset("bcgdeh"),
}


def allowed_transition(
    mode: ControlMode, state: ControlState, trigger: DisconnectTrigger
) -> ControlState | None:
    """The state ``trigger`` leads to from ``state`` under ``mode``, or ``None`` when the mode
    does not allow that trigger in that state (the meter then leaves the relay as it is)."""
    for letter in MODE_TRANSITIONS[ControlMode(mode)]:
        t, source, target = TRANSITIONS[letter]
        if t == trigger and source == state:
            return target
    return None
