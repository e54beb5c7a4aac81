"""OBIS codes: notations, byte form, ordering and refusal of bad input (IEC 62056-6-1)."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError
from metra.dlms.obis import Obis, ObisError

groups = st.integers(min_value=0, max_value=255)
obis_codes = st.builds(Obis, groups, groups, groups, groups, groups, groups)


def test_every_usual_notation_names_the_same_code() -> None:
    expected = Obis(1, 0, 1, 8, 0, 255)
    for text in (
        "1-0:1.8.0.255",
        "1.0.1.8.0.255",
        "1-0:1.8.0",
        "1-0:1.8.0*255",
        "0100010800FF",
        "0100010800ff",
        "  1-0:1.8.0.255 ",
    ):
        assert Obis.parse(text) == expected, text


def test_canonical_and_dotted_text() -> None:
    code = Obis.parse("1-0:1.8.0*255")
    assert str(code) == "1-0:1.8.0.255"
    assert code.dotted() == "1.0.1.8.0.255"
    assert Obis.parse(repr(code).removeprefix("Obis.parse(").strip("')")) == code


def test_byte_form_matches_published_get_requests() -> None:
    # Get-Request-Normal APDUs from a public HDLC trace of a real meter (GitHub code index);
    #   clock      C0 01 C1 00 08 | 00 00 01 00 00 FF | 02 00  (class 8, 0-0:1.0.0.255, attr 2)
    #   energy     C0 01 C1 00 03 | 01 00 01 08 00 FF | 02 00  (class 3, 1-0:1.8.0.255)
    #   frequency  C0 01 02 00 03 | 01 00 0E 07 00 FF | 02 00  (class 3, 1-0:14.7.0.255).
    # Bytes 5..10 of each are the logical name.
    for apdu, text in (
        ("C001C100080000010000FF0200", "0-0:1.0.0.255"),
        ("C001C100030100010800FF0200", "1-0:1.8.0.255"),
        ("C00102000301000E0700FF0200", "1-0:14.7.0.255"),
    ):
        raw = bytes.fromhex(apdu)[5:11]
        assert Obis.from_bytes(raw) == Obis.parse(text)
        assert Obis.parse(text).to_bytes() == raw


def test_f_defaults_to_255() -> None:
    assert Obis(0, 0, 96, 1, 0).f == 255
    assert Obis.parse("0-0:96.1.0").to_bytes() == bytes.fromhex("00006001 00FF".replace(" ", ""))


def test_codes_are_ordered_group_by_group_and_hashable() -> None:
    codes = [Obis.parse(t) for t in ("1-0:2.8.0", "0-0:1.0.0", "1-0:1.8.1", "1-0:1.8.0")]
    assert [str(c) for c in sorted(codes)] == [
        "0-0:1.0.0.255",
        "1-0:1.8.0.255",
        "1-0:1.8.1.255",
        "1-0:2.8.0.255",
    ]
    assert len({Obis.parse("1-0:1.8.0"), Obis.parse("1.0.1.8.0.255")}) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not an OBIS code"),
        ("1-0:1.8", "not an OBIS code"),
        ("1-0:1.8.0.255.1", "not an OBIS code"),
        ("1-0:256.8.0.255", "group C must be in 0..255"),
        ("1.0.1.8.0.300", "group F must be in 0..255"),
        ("0100010800F", "not an OBIS code"),
        ("a-b:c.d.e", "not an OBIS code"),
        ("1" * 100, "too long"),
    ],
)
def test_bad_text_is_a_typed_error_naming_the_problem(text: str, reason: str) -> None:
    with pytest.raises(ObisError) as info:
        Obis.parse(text)
    assert reason in str(info.value)
    assert isinstance(info.value, DecodeError)
    assert isinstance(info.value, ValueError)


def test_bad_bytes_and_values_are_typed_errors() -> None:
    with pytest.raises(ObisError, match="6 octets"):
        Obis.from_bytes(b"\x01\x00\x01\x08\x00")
    with pytest.raises(ObisError, match="group A"):
        Obis(-1, 0, 0, 0, 0)
    with pytest.raises(ObisError, match="must be an int"):
        Obis(True, 0, 0, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(ObisError):
        Obis.parse(b"1-0:1.8.0")  # type: ignore[arg-type]


@given(obis_codes)
def test_text_and_bytes_round_trip(code: Obis) -> None:
    assert Obis.parse(str(code)) == code
    assert Obis.parse(code.dotted()) == code
    assert Obis.parse(code.to_bytes().hex()) == code
    assert Obis.from_bytes(code.to_bytes()) == code


@given(st.text(max_size=80))
def test_random_text_parses_or_raises_obis_error(text: str) -> None:
    with contextlib.suppress(ObisError):
        Obis.parse(text)


def test_huge_input_is_refused_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(ObisError):
        Obis.parse("1." * 5_000_000)
    with pytest.raises(ObisError):
        Obis.from_bytes(bytes(10_000_000))
    assert time.perf_counter() - start < 1.0
