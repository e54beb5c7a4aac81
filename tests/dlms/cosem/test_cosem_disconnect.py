"""MTR-6 / CMD-2: the disconnector moves only as its control mode allows (Blue Book, class 70)."""

from __future__ import annotations

import itertools

import pytest

from metra.dlms.cosem.disconnect import MODE_TRANSITIONS, TRANSITIONS, allowed_transition
from metra.dlms.cosem.enums import ControlMode, ControlState, DisconnectTrigger

S = ControlState
T = DisconnectTrigger


def test_state_and_mode_numbers() -> None:
    assert (S.DISCONNECTED, S.CONNECTED, S.READY_FOR_RECONNECTION) == (0, 1, 2)
    assert [int(m) for m in ControlMode] == list(range(7))


def test_mode_0_never_moves() -> None:
    for state, trigger in itertools.product(S, T):
        assert allowed_transition(ControlMode.NONE, state, trigger) is None


@pytest.mark.parametrize("mode", [m for m in ControlMode if m != ControlMode.NONE])
def test_cmd2_remote_disconnect_works_in_every_mode_but_0(mode: ControlMode) -> None:
    # Transitions b and c: remote disconnection is enabled in modes 1..6.
    assert allowed_transition(mode, S.CONNECTED, T.REMOTE_DISCONNECT) is S.DISCONNECTED
    assert allowed_transition(mode, S.READY_FOR_RECONNECTION, T.REMOTE_DISCONNECT) is (
        S.DISCONNECTED
    )
    assert allowed_transition(mode, S.DISCONNECTED, T.REMOTE_DISCONNECT) is None
    # g: the meter's own (local) disconnection, e.g. the limiter, in every mode 1..6.
    assert allowed_transition(mode, S.CONNECTED, T.LOCAL_DISCONNECT) is S.READY_FOR_RECONNECTION
    # e: manual reconnection after an armed reconnection, in every mode 1..6.
    assert allowed_transition(mode, S.READY_FOR_RECONNECTION, T.MANUAL_RECONNECT) is S.CONNECTED


@pytest.mark.parametrize(
    ("mode", "after_remote_reconnect"),
    [
        (ControlMode.MODE_1, S.READY_FOR_RECONNECTION),  # d
        (ControlMode.MODE_2, S.CONNECTED),  # a
        (ControlMode.MODE_3, S.READY_FOR_RECONNECTION),  # d
        (ControlMode.MODE_4, S.CONNECTED),  # a
        (ControlMode.MODE_5, S.READY_FOR_RECONNECTION),  # d
        (ControlMode.MODE_6, S.READY_FOR_RECONNECTION),  # d
    ],
)
def test_cmd2_remote_reconnect_is_direct_only_in_modes_2_and_4(
    mode: ControlMode, after_remote_reconnect: ControlState
) -> None:
    assert allowed_transition(mode, S.DISCONNECTED, T.REMOTE_RECONNECT) is after_remote_reconnect


@pytest.mark.parametrize(
    ("mode", "manual_disconnect", "local_reconnect"),
    [
        (ControlMode.MODE_1, True, False),
        (ControlMode.MODE_2, True, False),
        (ControlMode.MODE_3, False, False),
        (ControlMode.MODE_4, False, False),
        (ControlMode.MODE_5, True, True),
        (ControlMode.MODE_6, False, True),
    ],
)
def test_mtr6_manual_disconnect_and_local_reconnect_per_mode(
    mode: ControlMode, manual_disconnect: bool, local_reconnect: bool
) -> None:
    got = allowed_transition(mode, S.CONNECTED, T.MANUAL_DISCONNECT)
    assert got is (S.READY_FOR_RECONNECTION if manual_disconnect else None)  # f
    got = allowed_transition(mode, S.READY_FOR_RECONNECTION, T.LOCAL_RECONNECT)
    assert got is (S.CONNECTED if local_reconnect else None)  # h


def test_every_allowed_move_is_a_lettered_transition_of_its_mode() -> None:
    for mode, state, trigger in itertools.product(ControlMode, S, T):
        target = allowed_transition(mode, state, trigger)
        matches = [
            letter
            for letter in MODE_TRANSITIONS[mode]
            if TRANSITIONS[letter] == (trigger, state, target)
        ]
        assert (target is None) == (not matches)
