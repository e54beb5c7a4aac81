"""BER TLV codec: tags of every class, multi-octet tag numbers, definite lengths, bounded decoding.

Tag and length forms are those of ITU-T X.690 (8.1.2, 8.1.3); the OID vector is the DLMS
application context name 2.16.756.5.8.1.1 as encoded in the Green Book AARQ examples.
"""

from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms import ber
from metra.dlms.ber import Tag, TagClass
from metra.dlms.errors import DecodeError, EncodeError


@pytest.mark.parametrize(
    ("tag", "encoded"),
    [
        (ber.application(0, constructed=True), "60"),  # AARQ
        (ber.application(1, constructed=True), "61"),  # AARE
        (ber.context(30, constructed=True), "BE"),  # user-information
        (ber.context(11), "8B"),  # AARQ mechanism-name
        (ber.application(31), "5F1F"),  # conformance block (X.690 8.1.2.4: high tag number)
        (Tag(TagClass.PRIVATE, 200, True), "FF8148"),
        (ber.OCTET_STRING, "04"),
    ],
)
def test_tag_encoding_matches_x690(tag: Tag, encoded: str) -> None:
    assert tag.encode() == bytes.fromhex(encoded)
    tlv, _ = ber.read_tlv(bytes.fromhex(encoded) + b"\x00")
    assert tlv.tag == tag


def test_dlms_application_context_oid_matches_green_book() -> None:
    # Green Book AARQ examples: A1 09 06 07 60 85 74 05 08 01 01 (2.16.756.5.8.1.1).
    content = bytes.fromhex("60857405080101")
    assert ber.encode_oid((2, 16, 756, 5, 8, 1, 1)) == content
    tlv = ber.read_single(bytes.fromhex("0607") + content, ber.OBJECT_IDENTIFIER)
    assert ber.decode_oid(tlv) == (2, 16, 756, 5, 8, 1, 1)


@pytest.mark.parametrize(
    ("n", "encoded"), [(0, "00"), (127, "7F"), (128, "8180"), (300, "82012C"), (65536, "83010000")]
)
def test_definite_length_forms(n: int, encoded: str) -> None:
    assert ber.encode_length(n) == bytes.fromhex(encoded)


@pytest.mark.parametrize(("n", "encoded"), [(0, "00"), (127, "7F"), (128, "0080"), (-1, "FF")])
def test_integer_contents_are_minimal_twos_complement(n: int, encoded: str) -> None:
    assert ber.encode_integer(n) == bytes.fromhex(encoded)


def test_long_value_round_trips_with_long_form_length() -> None:
    value = bytes(range(256)) * 2
    encoded = ber.encode_tlv(ber.OCTET_STRING, value)
    assert encoded[:4] == bytes.fromhex("04820200")
    assert ber.read_single(encoded, ber.OCTET_STRING).value == value


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        ("", 0),  # no tag
        ("04", 1),  # no length
        ("0480", 1),  # indefinite length refused
        ("0485FFFFFFFFFF", 1),  # length of more than four octets
        ("0482FF", 1),  # truncated length
        ("0405AABB", 0),  # value longer than what remains
        ("1F", 0),  # truncated high tag number
        ("1F80", 0),  # leading zero group
        ("1F05", 0),  # small number in the high form
        ("1FFFFFFFFF7F00", 0),  # tag number too long
    ],
)
def test_malformed_tlv_raises_decode_error_with_offset(data: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        ber.read_tlvs(bytes.fromhex(data)) if data else ber.read_tlv(b"")
    assert info.value.offset == offset


def test_nested_offsets_are_absolute() -> None:
    data = bytes.fromhex("A104020501 02".replace(" ", ""))
    tlv = ber.read_single(data, ber.context(1, constructed=True))
    with pytest.raises(DecodeError) as info:
        ber.read_single(tlv.value, ber.INTEGER, base=tlv.value_offset)
    assert info.value.offset == 2


def test_wrong_tag_and_trailing_bytes_are_refused() -> None:
    with pytest.raises(DecodeError):
        ber.read_single(bytes.fromhex("020100"), ber.OCTET_STRING)
    with pytest.raises(DecodeError) as info:
        ber.read_single(bytes.fromhex("04010000"), ber.OCTET_STRING)
    assert info.value.offset == 3


def test_encoder_refuses_impossible_values() -> None:
    with pytest.raises(EncodeError):
        ber.encode_length(-1)
    with pytest.raises(EncodeError):
        Tag(TagClass.CONTEXT, 1 << 40).encode()
    with pytest.raises(EncodeError):
        ber.encode_oid((3, 1))
    with pytest.raises(EncodeError):
        ber.encode_bit_string(b"", 3)


tags = st.builds(Tag, st.sampled_from(list(TagClass)), st.integers(0, (1 << 28) - 1), st.booleans())


@given(tags, st.binary(max_size=300))
def test_tlv_round_trip(tag: Tag, value: bytes) -> None:
    encoded = ber.encode_tlv(tag, value)
    tlv = ber.read_single(encoded, tag)
    assert (tlv.tag, tlv.value, tlv.offset) == (tag, value, 0)


@given(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 1 << 40), max_size=8))
def test_oid_round_trip(first: int, second: int, rest: list[int]) -> None:
    arcs = (first, second, *rest)
    tlv = ber.read_single(
        ber.encode_tlv(ber.OBJECT_IDENTIFIER, ber.encode_oid(arcs)), ber.OBJECT_IDENTIFIER
    )
    assert ber.decode_oid(tlv) == arcs


@given(st.integers(-(1 << 63), (1 << 63) - 1))
def test_integer_round_trip(n: int) -> None:
    tlv = ber.read_single(ber.encode_tlv(ber.INTEGER, ber.encode_integer(n)), ber.INTEGER)
    assert ber.decode_integer(tlv) == n


def test_fuzz_random_and_mutated_bytes_end_in_result_or_decode_error() -> None:
    rng = random.Random(1234)
    seeds = [bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")]
    deadline = time.monotonic() + 5
    for i in range(5000):
        if i % 2:
            data = os.urandom(rng.randint(0, 64))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        try:
            for tlv in ber.read_tlvs(data):
                ber.read_tlvs(tlv.value, base=tlv.value_offset)
        except DecodeError:
            pass
        assert time.monotonic() < deadline
