"""A-XDR data encoding (IEC 62056-6-2 clause 4.1.5 / Blue Book "Data" CHOICE).

The expected bytes come from the standard's tag table and its length rules, written out by hand
here, not from our encoder's output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metra.dlms import axdr
from metra.dlms.data import (
    Array,
    Bcd,
    BitString,
    CompactArray,
    Date,
    DateTime,
    DontCare,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Float32,
    Float64,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    OctetString,
    Structure,
    Tag,
    Time,
    TypeDescription,
    Unsigned,
    Utf8String,
    VisibleString,
)
from metra.dlms.errors import DecodeError, EncodeError

# (value, expected encoding) straight from the Blue Book tag table (4.1.5) and A-XDR rules.
STANDARD_EXAMPLES = [
    (None, "00"),
    (True, "03ff"),
    (False, "0300"),
    (BitString("10100"), "0405a0"),
    (DoubleLong(-2), "05fffffffe"),
    (DoubleLongUnsigned(2), "0600000002"),
    (OctetString(bytes.fromhex("0100010800ff")), "09060100010800ff"),
    (VisibleString("ABC"), "0a03414243"),
    (Utf8String("é"), "0c02c3a9"),
    (Bcd(0x12), "0d12"),
    (Integer(-1), "0fff"),
    (Long(-300), "10fed4"),
    (Unsigned(200), "11c8"),
    (LongUnsigned(230), "1200e6"),
    (Long64(-1), "14ffffffffffffffff"),
    (Long64Unsigned(2**40), "150000010000000000"),
    (Enum(30), "161e"),
    (Float32(1.0), "173f800000"),
    (Float64(-2.5), "18c004000000000000"),
    (Date(2026, 11, 21, 6), "1a07ea0b1506"),
    (Time(12, 30, 0, 0xFF), "1b0c1e00ff"),
    (DontCare(), "ff"),
    # A scaler_unit of an active energy register: scaler -1 (integer), unit Wh = 30 (enum).
    (Structure([Integer(-1), Enum(30)]), "02020fff161e"),
    (Array([Unsigned(1), Unsigned(2)]), "01021101 1102".replace(" ", "")),
]


@pytest.mark.parametrize(("value", "expected"), STANDARD_EXAMPLES)
def test_encode_matches_standard(value: object, expected: str) -> None:
    assert axdr.encode(value).hex() == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"), STANDARD_EXAMPLES)
def test_decode_matches_standard_and_keeps_type(value: object, expected: str) -> None:
    decoded = axdr.decode(bytes.fromhex(expected))
    assert decoded == value
    assert type(decoded) is (type(value) if not isinstance(value, bytes) else OctetString)


def test_date_time_twelve_octets_blue_book_layout() -> None:
    # 2026-11-21 10:53:13.00, Saturday (6), deviation -60 (CET, "local time to UTC"), status 0
    value = DateTime(2026, 11, 21, 6, 10, 53, 13, 0, -60, 0)
    assert axdr.encode(value).hex() == "1907ea0b15060a350d00ffc400"
    assert axdr.datetime_to_bytes(value).hex() == "07ea0b15060a350d00ffc400"
    aware = value.to_datetime()
    assert aware == dt.datetime(2026, 11, 21, 9, 53, 13, tzinfo=dt.UTC)
    assert DateTime.from_datetime(aware.astimezone(dt.timezone(dt.timedelta(hours=1)))) == value


def test_date_time_wildcards_round_trip() -> None:
    wildcard = DateTime()
    raw = axdr.encode(wildcard)
    assert raw.hex() == "19ffffffffffffffffff800" + "0ff"
    assert axdr.decode(raw) == wildcard
    with pytest.raises(ValueError):
        wildcard.to_datetime()


def test_long_lengths_use_the_multi_octet_form() -> None:
    assert axdr.encode_length(0x7F) == b"\x7f"
    assert axdr.encode_length(0x80) == b"\x81\x80"
    assert axdr.encode_length(0x1234) == b"\x82\x12\x34"
    assert axdr.encode_length(0x1_0000_0000) == b"\x85\x01\x00\x00\x00\x00"
    big = OctetString(bytes(300))
    raw = axdr.encode(big)
    assert raw[:4] == bytes.fromhex("0982012c")
    assert axdr.decode(raw) == big


def test_compact_array_of_structures() -> None:
    # compact-array: tag 19, TypeDescription structure{long-unsigned, octet-string}, then the
    # byte length of the untagged contents (Blue Book 4.1.6.2).
    desc = TypeDescription(
        Tag.STRUCTURE, 0, (TypeDescription(Tag.LONG_UNSIGNED), TypeDescription(Tag.OCTET_STRING))
    )
    value = CompactArray(
        desc,
        [
            Structure([LongUnsigned(1), OctetString(b"ab")]),
            Structure([LongUnsigned(2), OctetString(b"c")]),
        ],
    )
    raw = axdr.encode(value)
    assert raw.hex() == "13" + "02021209" + "09" + "0001026162" + "00020163"
    assert axdr.decode(raw) == value


def test_compact_array_with_array_description() -> None:
    desc = TypeDescription(Tag.ARRAY, 3, (TypeDescription(Tag.UNSIGNED),))
    value = CompactArray(desc, [Array([Unsigned(1), Unsigned(2), Unsigned(3)])])
    raw = axdr.encode(value)
    assert raw.hex() == "13" + "01000311" + "03" + "010203"
    assert axdr.decode(raw) == value


@pytest.mark.parametrize(
    ("hex_input", "fragment"),
    [
        ("", "expected a data tag"),
        ("12", "truncated"),
        ("0905aabb", "exceeds"),
        ("0200", None),  # empty structure is fine
        ("07", "unknown data tag 0x07"),
        ("017f", "cannot fit"),
        ("01849999999900", "cannot fit"),
        ("0980", "invalid length form"),
        ("0989" + "00" * 9, "invalid length form"),
        ("0c02c328", "not valid UTF-8"),
        ("1907ea", "truncated date-time"),
        ("040a00", "exceeds"),
        ("13 01ffff00 00".replace(" ", ""), "occupies no bytes"),
        ("13 02 00 00".replace(" ", ""), "occupies no bytes"),
        ("1313", "cannot appear"),
        ("1312 05 0001".replace(" ", ""), "exceeds"),
        ("1312 03 000102".replace(" ", ""), "truncated"),
    ],
)
def test_malformed_input_raises_typed_error_with_offset(
    hex_input: str, fragment: str | None
) -> None:
    if fragment is None:
        assert axdr.decode(bytes.fromhex(hex_input)) == Structure([])
        return
    with pytest.raises(DecodeError) as info:
        axdr.decode(bytes.fromhex(hex_input))
    assert fragment in str(info.value)
    assert info.value.offset is not None


def test_trailing_bytes_are_reported_not_ignored() -> None:
    with pytest.raises(DecodeError, match="2 trailing bytes") as info:
        axdr.decode(bytes.fromhex("1100" + "abcd"))
    assert info.value.offset == 2
    value, pos = axdr.decode_from(bytes.fromhex("1100abcd"), 0)
    assert value == 0 and pos == 2


def test_nesting_is_bounded() -> None:
    deep = bytes.fromhex("0201") * (axdr.MAX_DEPTH + 1) + b"\x00"
    with pytest.raises(DecodeError, match="nesting deeper"):
        axdr.decode(deep)
    ok = bytes.fromhex("0201") * (axdr.MAX_DEPTH - 1) + b"\x00"
    assert axdr.decode(ok) is not None


def test_typed_ints_refuse_out_of_range_values() -> None:
    with pytest.raises(ValueError):
        Unsigned(256)
    with pytest.raises(ValueError):
        LongUnsigned(-1)
    with pytest.raises(ValueError):
        BitString("012")


def test_untyped_values_are_refused_with_a_hint() -> None:
    with pytest.raises(EncodeError, match="typed value"):
        axdr.encode(5)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        axdr.encode([Unsigned(1)])  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="single-octet"):
        axdr.encode(VisibleString("żółw"))


def test_typed_values_behave_as_numbers_and_strings() -> None:
    energy = DoubleLongUnsigned(12_345)
    assert energy + 5 == 12_350
    assert isinstance(energy, int)
    assert VisibleString("abc").upper() == "ABC"


# ------------------------------------------------------------------------------ property tests


def _leaf() -> st.SearchStrategy[object]:
    ints = [
        st.integers(cls.lo, cls.hi).map(cls)
        for cls in (
            Integer,
            Long,
            DoubleLong,
            Long64,
            Unsigned,
            LongUnsigned,
            DoubleLongUnsigned,
            Long64Unsigned,
            Enum,
            Bcd,
        )
    ]
    return st.one_of(
        st.none(),
        st.booleans(),
        st.binary(max_size=300).map(OctetString),
        st.text(alphabet=st.characters(max_codepoint=255), max_size=40).map(VisibleString),
        st.text(max_size=40).map(Utf8String),
        st.text(alphabet="01", max_size=70).map(BitString),
        st.floats(width=32, allow_nan=False).map(Float32),
        st.floats(allow_nan=False).map(Float64),
        st.builds(
            DateTime,
            st.integers(0, 0xFFFF),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(0, 255),
            st.integers(-0x8000, 0x7FFF),
            st.integers(0, 255),
        ),
        st.builds(Date, st.integers(0, 0xFFFF), *[st.integers(0, 255)] * 3),
        st.builds(Time, *[st.integers(0, 255)] * 4),
        *ints,
    )


DATA = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.lists(children, max_size=6).map(Structure), st.lists(children, max_size=6).map(Array)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(DATA)
def test_every_type_round_trips(value: object) -> None:
    raw = axdr.encode(value)  # type: ignore[arg-type]
    back = axdr.decode(raw)
    assert axdr.encode(back) == raw
    assert back == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_end_in_value_or_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        axdr.decode(raw)


def test_mutated_frames_are_bounded_in_time() -> None:
    """Fuzz: flip, cut and splice a realistic profile buffer; each decode ends fast and typed."""
    rng = random.Random(20261121)
    rows = Array(
        [
            Structure(
                [OctetString(bytes(12)), Unsigned(0)] + [DoubleLongUnsigned(i) for i in range(6)]
            )
            for _ in range(96)
        ]
    )
    base = bytearray(axdr.encode(rows))
    started = time.perf_counter()
    for _ in range(3000):
        buf = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(buf))
            if op < 0.5:
                buf[pos] = rng.randrange(256)
            elif op < 0.8:
                del buf[pos:]
                if not buf:
                    break
            else:
                buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        with contextlib.suppress(DecodeError):
            axdr.decode(bytes(buf))
    assert time.perf_counter() - started < 20
