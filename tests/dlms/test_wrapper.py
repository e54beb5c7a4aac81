"""The IEC 62056-47 wrapper (TCP/UDP transport, SEC-2 transport layer) and the wrapper link.

Expected bytes are wrapper frames published in the OpenMUC jDLMS test suite (public client wPort
0x10 talking to the management logical device wPort 0x01), not our encoder's output.
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError, EncodeError, ProtocolError
from metra.dlms.link import ApduReceived, FrameRejected, LinkConnected, LinkDisconnected, Role
from metra.dlms.wrapper import HEADER_SIZE, WrapperDecoder, WrapperFrame
from metra.dlms.wrapper_link import WrapperLink

# OpenMUC jDLMS test suite (TcpClientLayer tests): AARQ from client wPort 16 to server wPort 1.
AARQ_FRAME = bytes.fromhex(
    "0001 0010 0001 001f 601d a109 0607 6085 7405 0801 01be 1004 0e01 0000 0006 5f1f 0400 00bc"
    "3fff ff"
)
# Same suite: the AARE answer from server wPort 1 to client wPort 16.
AARE_FRAME = bytes.fromhex(
    "0001 0001 0010 002b 6129 a109 0607 6085 7405 0801 01a2 0302 0100 a305 a103 0201 00be 1004"
    "0e08 0006 5f1f 0400 001c 1f05 dc00 07"
)
# Same suite: RLRQ (client -> server) and RLRE (server -> client).
RLRQ_FRAME = bytes.fromhex("0001 0010 0001 0005 6203 8001 00")
RLRE_FRAME = bytes.fromhex("0001 0001 0010 0005 6303 8001 00")


def test_sec2_wrapper_encodes_published_aarq_frame() -> None:
    frame = WrapperFrame(source=0x10, destination=0x01, payload=AARQ_FRAME[HEADER_SIZE:])
    assert frame.encode() == AARQ_FRAME


@pytest.mark.parametrize("raw", [AARQ_FRAME, AARE_FRAME, RLRQ_FRAME, RLRE_FRAME])
def test_sec2_wrapper_decodes_published_frames(raw: bytes) -> None:
    (frame,) = WrapperDecoder().feed(raw)
    assert frame.source == int.from_bytes(raw[2:4], "big")
    assert frame.destination == int.from_bytes(raw[4:6], "big")
    assert frame.payload == raw[8:]
    assert frame.encode() == raw


def test_decoder_joins_frames_split_over_reads_and_splits_packed_reads() -> None:
    stream = AARQ_FRAME + RLRQ_FRAME + AARE_FRAME
    decoder = WrapperDecoder()
    frames: list[WrapperFrame] = []
    for byte in stream:
        frames += decoder.feed(bytes((byte,)))
    assert [f.encode() for f in frames] == [AARQ_FRAME, RLRQ_FRAME, AARE_FRAME]
    assert WrapperDecoder().feed(stream) == frames
    assert decoder.buffered == 0


def test_decoder_refuses_wrong_version_with_offset_and_stays_failed() -> None:
    decoder = WrapperDecoder()
    decoder.feed(RLRQ_FRAME)
    with pytest.raises(DecodeError) as info:
        decoder.feed(b"\x00\x02" + RLRQ_FRAME[2:])
    assert info.value.offset == len(RLRQ_FRAME)
    with pytest.raises(DecodeError):
        decoder.feed(RLRQ_FRAME)


def test_decoder_bounds_buffered_bytes() -> None:
    decoder = WrapperDecoder(max_payload=100)
    with pytest.raises(DecodeError):
        decoder.feed(bytes.fromhex("0001 0010 0001 0065"))  # announces 101 bytes
    decoder = WrapperDecoder(max_payload=100)
    decoder.feed(bytes.fromhex("0001 0010 0001 0064") + bytes(50))
    assert decoder.buffered == HEADER_SIZE + 50


def test_encode_refuses_oversized_payload_and_ports() -> None:
    with pytest.raises(EncodeError):
        WrapperFrame(1, 1, bytes(0x10000)).encode()
    with pytest.raises(EncodeError):
        WrapperFrame(0x10000, 1, b"").encode()


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300)),
        max_size=5,
    ),
    st.integers(1, 64),
)
def test_roundtrip_any_chunking(items: list[tuple[int, int, bytes]], chunk: int) -> None:
    frames = [WrapperFrame(s, d, p) for s, d, p in items]
    stream = b"".join(f.encode() for f in frames)
    decoder = WrapperDecoder()
    out: list[WrapperFrame] = []
    for start in range(0, len(stream), chunk):
        out += decoder.feed(stream[start : start + chunk])
    assert out == frames


def test_fuzz_random_and_mutated_bytes_end_in_frames_or_decode_error() -> None:
    rng = random.Random(62056047)
    seeds = [AARQ_FRAME, AARE_FRAME + RLRQ_FRAME, RLRE_FRAME]
    deadline = time.monotonic() + 5
    for _ in range(3000):
        if rng.random() < 0.3:
            data = rng.randbytes(rng.randrange(0, 200))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        decoder = WrapperDecoder(max_payload=1024)
        with contextlib.suppress(DecodeError):
            decoder.feed(bytes(data))
        assert decoder.buffered <= HEADER_SIZE + 1024
    assert time.monotonic() < deadline


# ------------------------------------------------------------------------------------ the link


def _pump(a: WrapperLink, b: WrapperLink) -> None:
    for _ in range(10):
        x, y = a.data_to_send(), b.data_to_send()
        if not x and not y:
            return
        b.receive_data(x)
        a.receive_data(y)


def _events(link: WrapperLink) -> list[object]:
    out: list[object] = []
    while (event := link.next_event()) is not None:
        out.append(event)
    return out


def test_sec2_wrapper_link_client_sends_published_aarq_and_receives_aare() -> None:
    client = WrapperLink(Role.CLIENT, 0x10, 0x01)
    client.connect()
    assert _events(client) == [LinkConnected(None)]
    client.send_apdu(AARQ_FRAME[8:])
    assert client.data_to_send() == AARQ_FRAME
    client.receive_data(AARE_FRAME[:5])
    client.receive_data(AARE_FRAME[5:])
    assert _events(client) == [ApduReceived(AARE_FRAME[8:])]


def test_wrapper_server_answers_the_client_that_spoke_first() -> None:
    server = WrapperLink(Role.SERVER, None, 0x01)
    server.receive_data(AARQ_FRAME)
    assert _events(server) == [LinkConnected(None), ApduReceived(AARQ_FRAME[8:])]
    server.send_apdu(AARE_FRAME[8:])
    assert server.data_to_send() == AARE_FRAME


def test_wrapper_links_exchange_long_apdus_both_ways() -> None:
    client, server = WrapperLink(Role.CLIENT, 0x10, 1), WrapperLink(Role.SERVER, 0x10, 1)
    client.connect()
    server.connect()
    request, response = bytes(range(256)) * 40, bytes(60000)
    client.send_apdu(request)
    _pump(client, server)
    server.send_apdu(response)
    _pump(client, server)
    assert _events(server)[-1] == ApduReceived(request)
    assert _events(client)[-1] == ApduReceived(response)


def test_wrapper_frame_for_another_wport_is_rejected_not_delivered() -> None:
    client = WrapperLink(Role.CLIENT, 0x20, 0x01)
    client.connect()
    _events(client)
    client.receive_data(AARE_FRAME)  # addressed to wPort 0x10
    (event,) = _events(client)
    assert isinstance(event, FrameRejected)


def test_wrapper_broken_stream_disconnects() -> None:
    client = WrapperLink(Role.CLIENT, 0x10, 0x01)
    client.connect()
    _events(client)
    client.receive_data(b"\x7e\xa0\x07\x03\x21\x93\x0f\x01\x7e")  # HDLC bytes on a wrapper port
    events = _events(client)
    assert isinstance(events[0], FrameRejected)
    assert isinstance(events[1], LinkDisconnected)
    with pytest.raises(ProtocolError):
        client.send_apdu(b"\x62\x00")


def test_wrapper_disconnect_reports_once() -> None:
    client = WrapperLink(Role.CLIENT, 0x10, 0x01)
    client.connect()
    client.disconnect()
    client.disconnect()
    assert _events(client) == [LinkConnected(None), LinkDisconnected("closed locally")]
