"""Every ``from_data`` ends in a value or a typed error, quickly, whatever it is given.

Values read from a meter are untrusted: random trees of COSEM data, random bytes, and mutations of
valid encodings are thrown at each structure's reader; the only exception allowed is
:class:`~metra.dlms.errors.DecodeError` (its subclass ``CosemValueError`` for wrong shapes).
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from metra.dlms import axdr
from metra.dlms.cosem._shape import CosemValueError
from metra.dlms.cosem.association import association_status_from_data
from metra.dlms.cosem.security import security_policy_from_data, security_suite_from_data
from metra.dlms.data import (
    Array,
    BitString,
    Data,
    DateTime,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
)
from metra.dlms.errors import DecodeError

from .strategies import PARSERS, STRUCTURES

READERS = [p.from_data for p in PARSERS] + [
    association_status_from_data,
    security_policy_from_data,
    security_suite_from_data,
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.builds(Integer, st.integers(-128, 127)),
    st.builds(Unsigned, st.integers(0, 255)),
    st.builds(Enum, st.integers(0, 255)),
    st.builds(LongUnsigned, st.integers(0, 0xFFFF)),
    st.builds(DoubleLongUnsigned, st.integers(0, 0xFFFF_FFFF)),
    st.builds(OctetString, st.binary(max_size=14)),
    st.builds(BitString, st.text("01", max_size=24)),
    st.just(DateTime()),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=8).map(Structure), st.lists(children, max_size=4).map(Array)
    ),
    max_leaves=40,
)


def _read_all(value: Data) -> None:
    for read in READERS:
        with contextlib.suppress(CosemValueError):
            read(value)


@settings(max_examples=300)
@given(trees)
def test_random_data_trees_give_a_value_or_a_typed_error(value: Data) -> None:
    _read_all(value)


@settings(max_examples=100)
@given(st.one_of(*STRUCTURES), st.randoms(use_true_random=False))
def test_mutated_encodings_give_a_value_or_a_typed_error(value: Any, rnd: random.Random) -> None:
    raw = bytearray(axdr.encode(value.to_data()))
    for _ in range(rnd.randint(1, 4)):
        raw[rnd.randrange(len(raw))] = rnd.randrange(256)
    try:
        decoded = axdr.decode(bytes(raw))
    except DecodeError:
        return
    _read_all(decoded)


def test_random_bytes_are_read_within_bounded_time() -> None:
    rnd = random.Random(20261121)
    start = time.perf_counter()
    for _ in range(3000):
        blob = rnd.randbytes(rnd.randint(0, 64))
        try:
            decoded = axdr.decode(blob)
        except DecodeError:
            continue
        _read_all(decoded)
    assert time.perf_counter() - start < 10.0
