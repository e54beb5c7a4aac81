"""Invocation counters and replay protection (SEC-2: a replayed or reordered frame is refused)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.counters import InvocationCounter, ReplayError, ReplayGuard
from metra.dlms.errors import DecodeError, SecurityError

TITLE_A = bytes.fromhex("4D4D4D0000BC614E")
TITLE_B = bytes.fromhex("4D4D4D0000000001")


def test_sec2_replay_guard_accepts_only_strictly_increasing_counters_per_title() -> None:
    guard = ReplayGuard()
    guard.accept(TITLE_A, 5)
    guard.accept(TITLE_B, 1)  # titles are independent
    for stale in (5, 4, 0):
        with pytest.raises(ReplayError):
            guard.accept(TITLE_A, stale)
    guard.accept(TITLE_A, 6)
    guard.accept(TITLE_A, 1000)
    assert guard.last(TITLE_A) == 1000 and guard.last(TITLE_B) == 1
    assert issubclass(ReplayError, SecurityError)


def test_sec2_check_does_not_advance_until_commit() -> None:
    guard = ReplayGuard()
    guard.check(TITLE_A, 9)
    guard.check(TITLE_A, 9)  # a forged frame that fails its tag must not move the window
    assert guard.last(TITLE_A) is None
    guard.commit(TITLE_A, 9)
    with pytest.raises(ReplayError):
        guard.check(TITLE_A, 9)
    with pytest.raises(ReplayError):
        guard.check(TITLE_A, 2**32)
    with pytest.raises(SecurityError):
        guard.check(b"short", 1)


def test_sec2_guard_survives_persistence() -> None:
    guard = ReplayGuard()
    guard.accept(TITLE_A, 77)
    restored = ReplayGuard.from_dict(json.loads(json.dumps(guard.to_dict())))
    with pytest.raises(ReplayError):
        restored.accept(TITLE_A, 77)
    restored.accept(TITLE_A, 78)
    for bad in ({"zz": 1}, {TITLE_A.hex(): -1}, {TITLE_A.hex(): "1"}, {"00": 1}, [1]):
        with pytest.raises(DecodeError):
            ReplayGuard.from_dict(bad)  # type: ignore[arg-type]


def test_sec2_outgoing_counter_never_repeats_and_refuses_to_wrap() -> None:
    counter = InvocationCounter(2**32 - 2)
    assert counter.next() == 2**32 - 2
    assert counter.next() == 2**32 - 1
    with pytest.raises(SecurityError):
        counter.next()
    restored = InvocationCounter.from_dict(counter.to_dict())
    with pytest.raises(SecurityError):
        restored.next()
    for bad in ({}, {"value": -1}, {"value": 2**32 + 1}, {"value": 1.5}, {"value": True}):
        with pytest.raises(DecodeError):
            InvocationCounter.from_dict(bad)
    with pytest.raises(ValueError):
        InvocationCounter(-1)


@given(st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_sec2_guard_accepts_exactly_the_new_maxima(values: list[int]) -> None:
    guard = ReplayGuard()
    best = -1
    for value in values:
        if value > best:
            guard.accept(TITLE_A, value)
            best = value
        else:
            with pytest.raises(ReplayError):
                guard.accept(TITLE_A, value)
