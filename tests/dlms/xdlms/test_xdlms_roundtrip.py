"""Every xDLMS service APDU survives encode -> decode unchanged (hypothesis), and every decoder
ends random or mutated input in a value or a typed ``DecodeError``, quickly (COL-7, COL-9)."""

from __future__ import annotations

import contextlib
import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from metra.dlms.data import (
    Array,
    Data,
    DateTime,
    DoubleLong,
    Enum,
    Long64,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
    VisibleString,
)
from metra.dlms.errors import DecodeError
from metra.dlms.xdlms import action, get, notification
from metra.dlms.xdlms import set as set_
from metra.dlms.xdlms.codec import Apdu, decode_apdu, encode_apdu
from metra.dlms.xdlms.common import (
    EXPLICIT_NULL,
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    InvokeIdAndPriority,
    MethodDescriptor,
    SelectiveAccess,
)

# ------------------------------------------------------------------------------------ strategies


def _not_none(value: Data) -> bool:
    return value is not None


leaves: st.SearchStrategy[Data] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 255).map(Unsigned),
    st.integers(0, 2**16 - 1).map(LongUnsigned),
    st.integers(-(2**31), 2**31 - 1).map(DoubleLong),
    st.integers(-(2**63), 2**63 - 1).map(Long64),
    st.integers(0, 255).map(Enum),
    st.binary(max_size=40).map(OctetString),
    st.text(st.characters(max_codepoint=255), max_size=20).map(VisibleString),
)
data_values: st.SearchStrategy[Data] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(Structure), st.lists(inner, max_size=4).map(Array)
    ),
    max_leaves=12,
)
invokes = st.builds(InvokeIdAndPriority, st.integers(0, 15), st.booleans(), st.booleans())
obis = st.binary(min_size=6, max_size=6)
attributes = st.builds(AttributeDescriptor, st.integers(0, 0xFFFF), obis, st.integers(0, 255))
methods = st.builds(MethodDescriptor, st.integers(0, 0xFFFF), obis, st.integers(0, 255))
accesses = st.none() | st.builds(SelectiveAccess, st.integers(0, 255), data_values)
with_selection = st.lists(st.tuples(attributes, accesses), max_size=4)
u32 = st.integers(0, 2**32 - 1)
raw = st.binary(max_size=300)
dar = st.sampled_from(DataAccessResult)
get_results = dar | data_values
return_data = st.one_of(st.none(), st.just(EXPLICIT_NULL), dar, data_values.filter(_not_none))


date_times = st.builds(
    DateTime,
    st.integers(0, 0xFFFF),
    *[st.integers(0, 255)] * 7,
    st.integers(-0x8000, 0x7FFF),
    st.integers(0, 255),
)


@st.composite
def set_with_list(draw: st.DrawFn) -> set_.SetRequestWithList:
    items = draw(with_selection)
    values = draw(st.lists(data_values, min_size=len(items), max_size=len(items)))
    return set_.SetRequestWithList(draw(invokes), items, values)


@st.composite
def action_with_list(draw: st.DrawFn) -> action.ActionRequestWithList:
    methods_ = draw(st.lists(methods, max_size=4))
    values = draw(st.lists(data_values, min_size=len(methods_), max_size=len(methods_)))
    return action.ActionRequestWithList(draw(invokes), methods_, values)


apdus: st.SearchStrategy[Apdu] = st.one_of(
    st.builds(get.GetRequestNormal, invokes, attributes, accesses),
    st.builds(get.GetRequestNext, invokes, u32),
    st.builds(get.GetRequestWithList, invokes, with_selection),
    st.builds(get.GetResponseNormal, invokes, get_results),
    st.builds(get.GetResponseWithDataBlock, invokes, st.booleans(), u32, raw | dar),
    st.builds(get.GetResponseWithList, invokes, st.lists(get_results, max_size=4)),
    st.builds(set_.SetRequestNormal, invokes, attributes, accesses, data_values),
    st.builds(
        set_.SetRequestWithFirstDataBlock, invokes, attributes, accesses, st.booleans(), u32, raw
    ),
    st.builds(set_.SetRequestWithDataBlock, invokes, st.booleans(), u32, raw),
    set_with_list(),
    st.builds(
        set_.SetRequestWithListAndFirstDataBlock, invokes, with_selection, st.booleans(), u32, raw
    ),
    st.builds(set_.SetResponseNormal, invokes, dar),
    st.builds(set_.SetResponseDataBlock, invokes, u32),
    st.builds(set_.SetResponseLastDataBlock, invokes, dar, u32),
    st.builds(set_.SetResponseLastDataBlockWithList, invokes, st.lists(dar, max_size=5), u32),
    st.builds(set_.SetResponseWithList, invokes, st.lists(dar, max_size=5)),
    st.builds(
        action.ActionRequestNormal,
        invokes,
        methods,
        st.none() | st.just(EXPLICIT_NULL) | data_values.filter(_not_none),
    ),
    st.builds(action.ActionRequestNextPBlock, invokes, u32),
    action_with_list(),
    st.builds(action.ActionRequestWithFirstPBlock, invokes, methods, st.booleans(), u32, raw),
    st.builds(
        action.ActionRequestWithListAndFirstPBlock,
        invokes,
        st.lists(methods, max_size=4),
        st.booleans(),
        u32,
        raw,
    ),
    st.builds(action.ActionRequestWithPBlock, invokes, st.booleans(), u32, raw),
    st.builds(action.ActionResponseNormal, invokes, st.sampled_from(ActionResult), return_data),
    st.builds(action.ActionResponseWithPBlock, invokes, st.booleans(), u32, raw),
    st.builds(
        action.ActionResponseWithList,
        invokes,
        st.lists(st.tuples(st.sampled_from(ActionResult), return_data), max_size=4),
    ),
    st.builds(action.ActionResponseNextPBlock, invokes, u32),
    st.builds(notification.DataNotification, u32, st.none() | date_times, data_values),
    st.builds(
        notification.EventNotificationRequest, st.none() | date_times, attributes, data_values
    ),
)


# ---------------------------------------------------------------------------------------- tests


@settings(max_examples=600, deadline=None)
@given(apdus)
def test_every_apdu_round_trips(apdu: Apdu) -> None:
    encoded = encode_apdu(apdu)
    decoded = decode_apdu(encoded)
    assert type(decoded) is type(apdu)
    assert decoded == apdu
    assert encode_apdu(decoded) == encoded


@settings(max_examples=300, deadline=None)
@given(apdus, st.data())
def test_every_truncation_is_a_decode_error(apdu: Apdu, data: st.DataObject) -> None:
    encoded = encode_apdu(apdu)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        decode_apdu(encoded[:cut])
    except DecodeError:
        return
    raise AssertionError(f"truncated APDU {encoded[:cut].hex()} decoded without error")


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_end_in_apdu_or_decode_error(blob: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_apdu(blob)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7, 0x0F]), st.binary(max_size=64))
def test_random_bodies_behind_every_tag_end_in_apdu_or_decode_error(tag: int, body: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_apdu(bytes((tag,)) + body)


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    buf = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.5 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op < 0.7 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif op < 0.85:
            buf.insert(rng.randrange(len(buf) + 1), rng.choice((0x00, 0x01, 0x7F, 0x84, 0xFF)))
        elif buf:
            i = rng.randrange(len(buf))
            buf[i:i] = buf[i : i + rng.randint(1, 8)]
    return bytes(buf)


def test_mutated_frames_of_every_apdu_type_end_in_apdu_or_decode_error() -> None:
    rng = random.Random(20261121)
    seeds = [encode_apdu(apdu) for apdu in _seed_apdus()]
    seeds += [bytes.fromhex(x) for x in _SEED_VECTORS]
    slowest = 0.0
    for i in range(6000):
        frame = _mutate(rng, seeds[i % len(seeds)])
        started = time.perf_counter()
        with contextlib.suppress(DecodeError):
            decode_apdu(frame)
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.05, f"slowest decode took {slowest:.3f}s"


def test_huge_counts_are_refused_before_allocating() -> None:
    # A list count of 2**56 in a 12-byte frame must fail at once, not try to loop or allocate.
    for frame in (
        "C4 03 C1 87 01000000000000",
        "C1 04 C1 87 01000000000000",
        "C5 05 C1 84 FFFFFFFF",
    ):
        started = time.perf_counter()
        try:
            decode_apdu(bytes.fromhex(frame.replace(" ", "")))
        except DecodeError as exc:
            assert exc.offset is not None
        else:
            raise AssertionError("accepted an impossible count")
        assert time.perf_counter() - started < 0.01


_SEED_VECTORS = [
    "C001C100080000010000FF0200",
    "C401C1000600001391",
    "C402C1000000000100020150",
    "C102C100010000800000FF02000000000001150932010203040506070809101112131415161718 19".replace(
        " ", ""
    ),
    "C301C0000F0000280000FF0101091110 00001A90E6D2221FA2FD85EED61ACC22".replace(" ", ""),
    "C701C0000101FA",
    "C503C10000000002",
    "0F000001DB0009020102",
    "C2010C07E80101010C000000FFC4000001 0000600B00FF02120005".replace(" ", ""),
]


def _seed_apdus() -> list[Apdu]:
    """One APDU of every type, with nested data and selective access, as mutation seeds."""
    inv = InvokeIdAndPriority(5, True, True)
    attr = AttributeDescriptor(7, bytes.fromhex("0100630100FF"), 2)
    meth = MethodDescriptor(70, bytes.fromhex("0000600300FF"), 1)
    value: Data = Structure([Array([LongUnsigned(1), LongUnsigned(2)]), OctetString(b"abc"), None])
    access = SelectiveAccess(2, Structure([Unsigned(1), Unsigned(2)]))
    items = [(attr, access), (attr, None)]
    when = DateTime(2024, 3, 31, 7, 2, 0, 0, 0, -60, 0x80)
    return [
        get.GetRequestNormal(inv, attr, access),
        get.GetRequestNext(inv, 7),
        get.GetRequestWithList(inv, items),
        get.GetResponseNormal(inv, value),
        get.GetResponseWithDataBlock(inv, True, 3, b"\x01\x02\x03"),
        get.GetResponseWithList(inv, [value, DataAccessResult.OBJECT_UNDEFINED]),
        set_.SetRequestNormal(inv, attr, access, value),
        set_.SetRequestWithFirstDataBlock(inv, attr, None, False, 1, b"\x09\x10"),
        set_.SetRequestWithDataBlock(inv, True, 2, b"\x00" * 8),
        set_.SetRequestWithList(inv, items, [value, None]),
        set_.SetRequestWithListAndFirstDataBlock(inv, items, False, 1, b"\x01\x02"),
        set_.SetResponseNormal(inv, DataAccessResult.SUCCESS),
        set_.SetResponseDataBlock(inv, 1),
        set_.SetResponseLastDataBlock(inv, DataAccessResult.SUCCESS, 2),
        set_.SetResponseLastDataBlockWithList(inv, [DataAccessResult.SUCCESS] * 2, 2),
        set_.SetResponseWithList(inv, [DataAccessResult.TYPE_UNMATCHED]),
        action.ActionRequestNormal(inv, meth, value),
        action.ActionRequestNextPBlock(inv, 1),
        action.ActionRequestWithList(inv, [meth, meth], [value, None]),
        action.ActionRequestWithFirstPBlock(inv, meth, False, 1, b"\x0f\x00"),
        action.ActionRequestWithListAndFirstPBlock(inv, [meth], False, 1, b"\x01"),
        action.ActionRequestWithPBlock(inv, True, 2, b"\x02"),
        action.ActionResponseNormal(inv, ActionResult.SUCCESS, value),
        action.ActionResponseWithPBlock(inv, False, 1, b"\x01\x02"),
        action.ActionResponseWithList(
            inv, [(ActionResult.SUCCESS, None), (ActionResult.SUCCESS, EXPLICIT_NULL)]
        ),
        action.ActionResponseNextPBlock(inv, 1),
        notification.DataNotification(0xC0000001, when, value),
        notification.EventNotificationRequest(when, attr, value),
    ]
