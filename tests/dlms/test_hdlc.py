"""HDLC frames of IEC 62056-46 (COL-10: meters reached over serial/HDLC as well as TCP).

Every expected frame below is a published capture, not our encoder's output; each one's HCS and
FCS were checked independently against RFC 1662 FCS-16 before it was adopted here:
- "classic" public-client SNRM ``7E A0 07 03 21 93 0F 01 7E`` as used in Gurux's DLMS examples and
  test suites (client 0x10, server logical 1);
- a client-1/server-1 session (SNRM, UA with negotiation field, AARQ I-frame whose APDU contains a
  0x7E byte, AARE I-frame) and an SNRM with two-byte negotiation values, all published as
  comments of a meter-reading program on GitHub;
- a DM and a UA with a two-byte server address, a 4-byte-address SNRM, a 4-byte-source UA, and a
  two-byte-address DISC, from public DLMS client sources on GitHub;
- a HAN push I-frame (client 0, two-byte server address, LLC E6 E7 00) from a public capture.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError, EncodeError
from metra.dlms.hdlc import (
    LLC_REQUEST,
    LLC_RESPONSE,
    MAX_FRAME_LENGTH,
    Control,
    FrameType,
    HdlcAddress,
    HdlcFrame,
    HdlcFrameDecoder,
    HdlcSettings,
    crc16_x25,
    decode_address,
    decode_frame,
    decode_parameters,
    encode_parameters,
)

H = bytes.fromhex

SNRM_PUBLIC = H("7E A0 07 03 21 93 0F 01 7E")
SNRM_1_1 = H("7E A0 07 03 03 93 8C 11 7E")
UA_1_1 = H(
    "7E A0 1E 03 03 73 40 CC 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00 00 01"
    " 53 3B 7E"
)
SNRM_TWO_BYTE_VALUES = H(
    "7E A0 20 03 03 93 FE C9 81 80 14 05 02 00 80 06 02 00 80 07 04 00 00 00 01 08 04 00 00 00 01"
    " CE 6A 7E"
)
AARQ_APDU = H(
    "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 78"
    " 52 77 50 62 45 78 46 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 01 00"
)
AARQ_I_FRAME = H("7E A0 44 03 03 10 65 94") + LLC_REQUEST + AARQ_APDU + H("AF DF 7E")
AARE_APDU = H(
    "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00"
    " 06 5F 1F 04 00 00 18 1D 01 80 00 07"
)
AARE_I_FRAME = H("7E A0 37 03 03 30 EF CA") + LLC_RESPONSE + AARE_APDU + H("A1 DC 7E")
DM_TWO_BYTE_SOURCE = H("7E A0 08 21 00 41 1F 4D 09 7E")
DISC_TWO_BYTE_DEST = H("7E A0 08 02 65 21 53 1E 72 7E")
SNRM_FOUR_BYTE_DEST = H("7E A0 0A 00 02 00 23 F1 93 23 2E 7E")
UA_FOUR_BYTE_SOURCE = H(
    "7E A0 21 03 00 02 50 83 73 67 53 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00 00"
    " 01 53 3B 7E"
)
HAN_PUSH = H(
    "7E A0 27 01 02 01 10 5A 87 E6 E7 00 0F 40 00 00 00 09 0C 07 E1 09 0C 02 17 12 2A FF 80 00 00"
    " 02 01 06 00 00 05 28 B8 0C 7E"
)
PUBLISHED = [
    SNRM_PUBLIC,
    SNRM_1_1,
    UA_1_1,
    SNRM_TWO_BYTE_VALUES,
    AARQ_I_FRAME,
    AARE_I_FRAME,
    DM_TWO_BYTE_SOURCE,
    DISC_TWO_BYTE_DEST,
    SNRM_FOUR_BYTE_DEST,
    UA_FOUR_BYTE_SOURCE,
    HAN_PUSH,
]


def test_crc16_x25_check_value() -> None:
    # CRC catalogue (reveng), CRC-16/IBM-SDLC alias X-25: check("123456789") = 0x906E; this is the
    # FCS-16 of RFC 1662.
    assert crc16_x25(b"123456789") == 0x906E


def test_col10_public_client_snrm_encodes_byte_for_byte() -> None:
    frame = HdlcFrame(HdlcAddress(1), HdlcAddress(0x10), Control(FrameType.SNRM))
    assert frame.encode() == SNRM_PUBLIC


def test_col10_aarq_inside_i_frame_encodes_byte_for_byte() -> None:
    frame = HdlcFrame(
        HdlcAddress(1), HdlcAddress(1), Control(FrameType.I, True, 0, 0), LLC_REQUEST + AARQ_APDU
    )
    assert frame.encode() == AARQ_I_FRAME


def test_col10_ua_with_default_negotiation_encodes_byte_for_byte() -> None:
    frame = HdlcFrame(
        HdlcAddress(1), HdlcAddress(1), Control(FrameType.UA), encode_parameters(HdlcSettings())
    )
    assert frame.encode() == UA_1_1


@pytest.mark.parametrize("raw", PUBLISHED)
def test_col10_published_frames_decode_and_reencode(raw: bytes) -> None:
    frame = decode_frame(raw)
    assert frame.encode() == raw


def test_published_frames_fields() -> None:
    aarq = decode_frame(AARQ_I_FRAME)
    assert aarq.control == Control(FrameType.I, True, 0, 0)
    assert aarq.info == LLC_REQUEST + AARQ_APDU
    aare = decode_frame(AARE_I_FRAME)
    assert aare.control == Control(FrameType.I, True, 0, 1)  # control 0x30: N(R)=1, F
    dm = decode_frame(DM_TWO_BYTE_SOURCE)
    assert dm.control.kind is FrameType.DM
    assert dm.destination == HdlcAddress(0x10)
    assert dm.source == HdlcAddress(0, 0x20, 2)
    disc = decode_frame(DISC_TWO_BYTE_DEST)
    assert disc.control.kind is FrameType.DISC
    assert disc.destination == HdlcAddress(1, 0x32, 2)
    snrm = decode_frame(SNRM_FOUR_BYTE_DEST)
    assert snrm.destination == HdlcAddress(1, 17, 4)
    assert snrm.source == HdlcAddress(0x78)
    ua = decode_frame(UA_FOUR_BYTE_SOURCE)
    assert ua.source == HdlcAddress(1, 0x1441, 4)
    push = decode_frame(HAN_PUSH)
    assert push.destination == HdlcAddress(0)
    assert push.source == HdlcAddress(1, 0, 2)
    assert push.info.startswith(LLC_RESPONSE)


def test_negotiation_parameters_published_values() -> None:
    assert decode_parameters(decode_frame(UA_1_1).info) == HdlcSettings(128, 128, 1, 1)
    # Two-byte length values (00 80) are read the same as one-byte ones.
    assert decode_parameters(decode_frame(SNRM_TWO_BYTE_VALUES).info) == HdlcSettings()
    assert decode_parameters(b"") == HdlcSettings()
    # An absent parameter keeps its default; an unknown one is skipped.
    assert decode_parameters(H("81 80 07 05 02 01 00 09 01 AA")) == HdlcSettings(max_info_tx=256)
    assert encode_parameters(HdlcSettings(256, 512, 7, 7)) == H(
        "81 80 14 05 02 01 00 06 02 02 00 07 04 00 00 00 07 08 04 00 00 00 07"
    )


@pytest.mark.parametrize(
    "info",
    [
        "82 80 00",
        "81 80 05 05 01 80",
        "81 80 03 05 05 01",
        "81 80 03 07 01 08",
        "81 80 03 05 01 10",
    ],
)
def test_bad_negotiation_field_is_decode_error(info: str) -> None:
    with pytest.raises(DecodeError):
        decode_parameters(H(info))


@pytest.mark.parametrize(
    ("control", "byte"),
    [
        (Control(FrameType.I, True, 0, 0), 0x10),
        (Control(FrameType.I, False, 3, 2), 0x46),
        (Control(FrameType.RR, True, nr=3), 0x71),
        (Control(FrameType.RNR, True, nr=1), 0x35),
        (Control(FrameType.SNRM), 0x93),
        (Control(FrameType.DISC), 0x53),
        (Control(FrameType.UA), 0x73),
        (Control(FrameType.DM), 0x1F),
        (Control(FrameType.FRMR), 0x97),
        (Control(FrameType.UI, False), 0x03),
    ],
)
def test_control_field_values_of_iec_62056_46(control: Control, byte: int) -> None:
    # Control codes as tabulated in IEC 62056-46 / Green Book "Control field format".
    assert control.encode() == byte
    assert Control.decode(byte) == control


def test_undefined_control_is_decode_error() -> None:
    with pytest.raises(DecodeError):
        Control.decode(0x0B)  # unnumbered code not used by IEC 62056-46
    with pytest.raises(DecodeError):
        Control.decode(0x09)  # REJ is not part of the DLMS HDLC profile


def test_address_sizes_and_limits() -> None:
    assert HdlcAddress(1).encode() == H("03")
    assert HdlcAddress(1, 0x11, 2).encode() == H("02 23")
    assert HdlcAddress(0x1234, 0x3FFF, 4).encode() == H("48 68 FE FF")
    for bad in ((0x80, 0, 1), (1, 1, 1), (0x80, 0, 2), (0x4000, 0, 4), (1, 0, 3)):
        with pytest.raises(EncodeError):
            HdlcAddress(*bad)
    with pytest.raises(DecodeError):
        decode_address(H("02 04 07"), 0, 3)  # three-byte address
    with pytest.raises(DecodeError):
        decode_address(H("02 04"), 0, 2)  # no last byte


def test_bad_crc_is_rejected() -> None:
    damaged = bytearray(AARQ_I_FRAME)
    damaged[20] ^= 0x01
    with pytest.raises(DecodeError, match="FCS"):
        decode_frame(bytes(damaged))
    # Header damaged and both checks recomputed except the HCS: the HCS catches it.
    body = bytearray(AARQ_I_FRAME[1:-3])
    body[5:7] = b"\x00\x00"
    fcs = crc16_x25(body).to_bytes(2, "little")
    with pytest.raises(DecodeError, match="HCS"):
        decode_frame(b"\x7e" + bytes(body) + fcs + b"\x7e")


def test_frame_too_long_is_encode_error() -> None:
    frame = HdlcFrame(HdlcAddress(1), HdlcAddress(1), Control(FrameType.I), bytes(MAX_FRAME_LENGTH))
    with pytest.raises(EncodeError):
        frame.encode()


def test_decoder_resynchronises_on_flags_and_reports_damage() -> None:
    damaged = bytearray(UA_1_1)
    damaged[12] ^= 0xFF
    stream = b"\x00noise\x7e\x7e" + SNRM_1_1 + bytes(damaged) + AARQ_I_FRAME + b"\x7e\x7e"
    stream += SNRM_PUBLIC[:-1] + AARE_I_FRAME  # shared flag between two frames
    decoder = HdlcFrameDecoder()
    out = []
    for start in range(0, len(stream), 7):
        out += decoder.feed(stream[start : start + 7])
    kinds = [type(item).__name__ for item in out]
    assert kinds == ["HdlcFrame", "DecodeError", "HdlcFrame", "HdlcFrame", "HdlcFrame"]
    assert [item.encode() for item in out if isinstance(item, HdlcFrame)] == [
        SNRM_1_1,
        AARQ_I_FRAME,
        SNRM_PUBLIC,
        AARE_I_FRAME,
    ]


def test_decoder_buffer_is_bounded() -> None:
    decoder = HdlcFrameDecoder()
    decoder.feed(b"\x7e\xa7\xff" + bytes(5000))  # announces 2047 bytes, no closing flag there
    assert decoder.buffered < MAX_FRAME_LENGTH + 2
    decoder.feed(bytes(100_000))
    assert decoder.buffered == 0


addresses = st.one_of(
    st.builds(HdlcAddress, st.integers(0, 0x7F)),
    st.builds(HdlcAddress, st.integers(0, 0x7F), st.integers(0, 0x7F), st.just(2)),
    st.builds(HdlcAddress, st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)
controls = st.one_of(
    st.builds(Control, st.just(FrameType.I), st.booleans(), st.integers(0, 7), st.integers(0, 7)),
    st.builds(
        Control,
        st.sampled_from([FrameType.RR, FrameType.RNR]),
        st.booleans(),
        st.just(0),
        st.integers(0, 7),
    ),
    st.builds(Control, st.sampled_from(list(FrameType)[3:]), st.booleans()),
)


@given(addresses, addresses, controls, st.binary(max_size=300), st.booleans(), st.integers(1, 50))
def test_roundtrip_frames_through_streaming_decoder(
    dest: HdlcAddress,
    src: HdlcAddress,
    control: Control,
    info: bytes,
    segmented: bool,
    chunk: int,
) -> None:
    frame = HdlcFrame(dest, src, control, info, segmented)
    stream = frame.encode() * 2
    decoder = HdlcFrameDecoder()
    out = []
    for start in range(0, len(stream), chunk):
        out += decoder.feed(stream[start : start + chunk])
    assert out == [frame, frame]


@given(st.integers(32, 2030), st.integers(32, 2030), st.integers(1, 7), st.integers(1, 7))
def test_roundtrip_negotiation_parameters(tx: int, rx: int, wtx: int, wrx: int) -> None:
    settings = HdlcSettings(tx, rx, wtx, wrx)
    assert decode_parameters(encode_parameters(settings)) == settings


def test_fuzz_random_and_mutated_bytes_end_in_result_or_decode_error() -> None:
    rng = random.Random(6205646)
    deadline = time.monotonic() + 10
    for _ in range(3000):
        if rng.random() < 0.3:
            data = rng.randbytes(rng.randrange(0, 300))
        else:
            data = bytearray(rng.choice(PUBLISHED) * rng.randrange(1, 3))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        decoder = HdlcFrameDecoder()
        for item in decoder.feed(data):
            assert isinstance(item, HdlcFrame | DecodeError)
        assert decoder.buffered <= MAX_FRAME_LENGTH + 2
        with contextlib.suppress(DecodeError):
            decode_frame(data)
        with contextlib.suppress(DecodeError):
            decode_parameters(data[:40])
    assert time.monotonic() < deadline
