"""The HDLC link state machine (IEC 62056-46): client and server pumped together in memory.

COL-10 (meters reached directly over HDLC) and SEC-2 (the transport under the secured APDUs). The
published session below (SNRM, UA, AARQ and AARE I-frames between client 1 and server 1) is a
capture published on GitHub whose HCS/FCS were checked against RFC 1662 FCS-16; see test_hdlc.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from metra.dlms.errors import ProtocolError
from metra.dlms.hdlc import (
    Control,
    FrameType,
    HdlcAddress,
    HdlcFrame,
    HdlcFrameDecoder,
    HdlcSettings,
    decode_frame,
)
from metra.dlms.hdlc_link import HdlcLink
from metra.dlms.link import (
    ApduReceived,
    FrameRejected,
    LinkConnected,
    LinkDisconnected,
    LinkEvent,
    Role,
)

H = bytes.fromhex
SNRM_1_1 = H("7E A0 07 03 03 93 8C 11 7E")
UA_1_1 = H(
    "7E A0 1E 03 03 73 40 CC 81 80 12 05 01 80 06 01 80 07 04 00 00 00 01 08 04 00 00 00 01"
    " 53 3B 7E"
)
AARQ_APDU = H(
    "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01 AC 0A 80 08 78"
    " 52 77 50 62 45 78 46 BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 00 7E 1F 01 00"
)
AARQ_I_FRAME = H("7E A0 44 03 03 10 65 94 E6 E6 00") + AARQ_APDU + H("AF DF 7E")
AARE_APDU = H(
    "61 29 A1 09 06 07 60 85 74 05 08 01 01 A2 03 02 01 00 A3 05 A1 03 02 01 00 BE 10 04 0E 08 00"
    " 06 5F 1F 04 00 00 18 1D 01 80 00 07"
)
AARE_I_FRAME = H("7E A0 37 03 03 30 EF CA E6 E7 00") + AARE_APDU + H("A1 DC 7E")

CLIENT, SERVER = HdlcAddress(1), HdlcAddress(1)

Channel = Callable[[list[bytes]], list[bytes]]


def _frames(data: bytes) -> list[bytes]:
    out = []
    for item in HdlcFrameDecoder().feed(data):
        assert isinstance(item, HdlcFrame)
        out.append(item.encode())
    return out


def _perfect(frames: list[bytes]) -> list[bytes]:
    return frames


def _pump(
    client: HdlcLink,
    server: HdlcLink,
    to_server: Channel = _perfect,
    to_client: Channel = _perfect,
    rounds: int = 500,
) -> None:
    """Move bytes both ways until both sides are quiet (every round must make progress)."""
    for _ in range(rounds):
        up, down = client.data_to_send(), server.data_to_send()
        if not up and not down:
            return
        for frame in to_server(_frames(up)):
            server.receive_data(frame)
        for frame in to_client(_frames(down)):
            client.receive_data(frame)
    raise AssertionError("links never went quiet")


def _events(link: HdlcLink) -> list[LinkEvent]:
    out = []
    while (event := link.next_event()) is not None:
        out.append(event)
    return out


def _apdus(link: HdlcLink) -> list[bytes]:
    return [e.apdu for e in _events(link) if isinstance(e, ApduReceived)]


def _connected(
    client_settings: HdlcSettings | None = None, server_settings: HdlcSettings | None = None
) -> tuple[HdlcLink, HdlcLink]:
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER, client_settings)
    server = HdlcLink(Role.SERVER, None, SERVER, server_settings)
    client.connect()
    _pump(client, server)
    assert isinstance(_events(client)[0], LinkConnected)
    assert isinstance(_events(server)[0], LinkConnected)
    return client, server


def test_col10_published_session_byte_for_byte() -> None:
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER)
    server = HdlcLink(Role.SERVER, None, SERVER)
    client.connect()
    assert client.data_to_send() == SNRM_1_1
    server.receive_data(SNRM_1_1)
    assert server.data_to_send() == UA_1_1
    client.receive_data(UA_1_1)
    assert _events(client) == [LinkConnected(HdlcSettings())]
    assert _events(server) == [LinkConnected(HdlcSettings())]
    client.send_apdu(AARQ_APDU)
    assert client.data_to_send() == AARQ_I_FRAME
    server.receive_data(AARQ_I_FRAME)
    assert _apdus(server) == [AARQ_APDU]
    server.send_apdu(AARE_APDU)
    assert server.data_to_send() == AARE_I_FRAME
    client.receive_data(AARE_I_FRAME)
    assert _apdus(client) == [AARE_APDU]


def test_negotiation_takes_the_minimum_of_both_sides() -> None:
    client, server = _connected(HdlcSettings(256, 512, 3, 7), HdlcSettings(1024, 128, 7, 2))
    assert client.params == HdlcSettings(max_info_tx=128, max_info_rx=512, window_tx=2, window_rx=7)
    assert server.params == HdlcSettings(max_info_tx=512, max_info_rx=128, window_tx=7, window_rx=2)


@pytest.mark.parametrize("window", [1, 3, 7])
def test_col10_long_apdus_both_ways_are_segmented_and_reassembled(window: int) -> None:
    settings = HdlcSettings(32, 32, window, window)
    client, server = _connected(settings, settings)
    request, response = bytes(range(256)) * 3, bytes(range(255, -1, -1)) * 9
    for _ in range(2):
        client.send_apdu(request)
        _pump(client, server)
        assert _apdus(server) == [request]
        server.send_apdu(response)
        _pump(client, server)
        assert _apdus(client) == [response]


def test_segments_respect_negotiated_length_and_window() -> None:
    client, _ = _connected(HdlcSettings(32, 32, 2, 2), HdlcSettings(32, 32, 2, 2))
    client.send_apdu(bytes(200))
    burst = [decode_frame(f) for f in _frames(client.data_to_send())]
    assert len(burst) == 2
    assert all(len(f.info) == 32 and f.segmented for f in burst)
    assert [f.control.pf for f in burst] == [False, True]
    assert [f.control.ns for f in burst] == [0, 1]


def _drop_nth(n: int) -> Channel:
    count = [0]

    def channel(frames: list[bytes]) -> list[bytes]:
        out = []
        for frame in frames:
            count[0] += 1
            if count[0] != n:
                out.append(frame)
        return out

    return channel


@pytest.mark.parametrize("lost", [1, 2, 3, 5])
@pytest.mark.parametrize("window", [1, 3])
def test_lost_client_frame_recovers_after_timeout(lost: int, window: int) -> None:
    settings = HdlcSettings(32, 32, window, window)
    client, server = _connected(settings, settings)
    request = bytes(range(200))
    client.send_apdu(request)
    _pump(client, server, to_server=_drop_nth(lost))
    for _ in range(3):
        if request in _apdus(server):
            break
        client.handle_timeout()
        _pump(client, server)
    else:
        pytest.fail("request never arrived")


@pytest.mark.parametrize("lost", [1, 2, 4])
def test_lost_server_frame_recovers_and_apdu_arrives_once(lost: int) -> None:
    settings = HdlcSettings(32, 32, 2, 2)
    client, server = _connected(settings, settings)
    client.send_apdu(b"\xc0\x01\x81")
    _pump(client, server)
    assert _apdus(server) == [b"\xc0\x01\x81"]
    response = bytes(range(150))
    server.send_apdu(response)
    _pump(client, server, to_client=_drop_nth(lost))
    received = _apdus(client)
    for _ in range(3):
        if received:
            break
        client.handle_timeout()
        _pump(client, server)
        received += _apdus(client)
    assert received == [response]
    assert _apdus(server) == []  # the repeated request was not delivered twice


def test_duplicated_frames_deliver_each_apdu_once() -> None:
    client, server = _connected(HdlcSettings(32, 32, 1, 1))

    def twice(frames: list[bytes]) -> list[bytes]:
        return [f for frame in frames for f in (frame, frame)]

    request, response = bytes(100), bytes(range(90))
    client.send_apdu(request)
    _pump(client, server, to_server=twice, to_client=twice)
    server_events = _events(server)
    assert [e.apdu for e in server_events if isinstance(e, ApduReceived)] == [request]
    assert any(isinstance(e, FrameRejected) for e in server_events)
    server.send_apdu(response)
    _pump(client, server, to_server=twice, to_client=twice)
    assert _apdus(client) == [response]


def test_bad_crc_is_rejected_and_recovered() -> None:
    client, server = _connected()
    client.send_apdu(AARQ_APDU)
    frame = bytearray(client.data_to_send())
    frame[30] ^= 0x40
    server.receive_data(bytes(frame))
    (event,) = _events(server)
    assert isinstance(event, FrameRejected)
    assert "FCS" in event.reason
    assert server.data_to_send() == b""
    client.handle_timeout()
    _pump(client, server)
    assert _apdus(server) == [AARQ_APDU]


def test_silent_server_ends_in_link_disconnected_not_a_hang() -> None:
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER, max_retries=2)
    client.connect()
    sent = [client.data_to_send()]
    for _ in range(3):
        client.handle_timeout()
        sent.append(client.data_to_send())
    assert sent[:3] == [SNRM_1_1] * 3
    assert _events(client) == [LinkDisconnected("no answer from the server after 2 retries")]


def test_disconnect_disc_ua_then_dm_when_not_connected() -> None:
    client, server = _connected()
    client.disconnect()
    disc = client.data_to_send()
    assert decode_frame(disc).control.kind is FrameType.DISC
    server.receive_data(disc)
    ua = server.data_to_send()
    assert decode_frame(ua).control.kind is FrameType.UA
    assert _events(server) == [LinkDisconnected("disconnected by the client")]
    server.receive_data(disc)  # DISC repeated (the UA was lost): DM now
    assert decode_frame(server.data_to_send()).control.kind is FrameType.DM
    client.receive_data(ua)
    assert _events(client) == [LinkDisconnected("disconnected")]


def test_server_answers_dm_to_polls_when_disconnected() -> None:
    server = HdlcLink(Role.SERVER, None, SERVER)
    server.receive_data(AARQ_I_FRAME)
    dm = decode_frame(server.data_to_send())
    assert dm.control.kind is FrameType.DM
    assert dm.destination == CLIENT
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER)
    client.connect()
    client.receive_data(dm.encode())
    assert _events(client) == [LinkDisconnected("server refused the link (DM)")]


def test_server_ignores_frames_for_another_address() -> None:
    server = HdlcLink(Role.SERVER, None, HdlcAddress(1, 17, 4))
    server.receive_data(SNRM_1_1)  # to server logical 1 without physical 17
    assert server.data_to_send() == b""
    assert _events(server) == []


def test_server_bound_to_a_client_rejects_others() -> None:
    server = HdlcLink(Role.SERVER, HdlcAddress(0x10), SERVER)
    server.receive_data(SNRM_1_1)  # from client 1
    assert server.data_to_send() == b""
    assert isinstance(_events(server)[0], FrameRejected)


def test_server_frame_rejects_invalid_nr_and_overlong_information() -> None:
    _, server = _connected()
    bad_nr = HdlcFrame(SERVER, CLIENT, Control(FrameType.RR, True, nr=5))
    server.receive_data(bad_nr.encode())
    frmr = decode_frame(server.data_to_send())
    assert frmr.control.kind is FrameType.FRMR
    assert frmr.info == bytes((0xB1, 0x00, 0x08))  # rejected control, V(R)/V(S), Z bit
    assert isinstance(_events(server)[0], FrameRejected)
    # Still in the frame-reject condition until SNRM: a poll gets FRMR again.
    server.receive_data(HdlcFrame(SERVER, CLIENT, Control(FrameType.RR, True)).encode())
    assert decode_frame(server.data_to_send()).control.kind is FrameType.FRMR
    _, server = _connected()
    long_i = HdlcFrame(SERVER, CLIENT, Control(FrameType.I), b"\xe6\xe6\x00" + bytes(200))
    server.receive_data(long_i.encode())
    assert decode_frame(server.data_to_send()).info[2] == 0x04  # Y bit: too long


def test_client_receiving_frmr_reports_and_disconnects() -> None:
    client, _ = _connected()
    frmr = HdlcFrame(CLIENT, SERVER, Control(FrameType.FRMR), b"\x10\x00\x01")
    client.receive_data(frmr.encode())
    events = _events(client)
    assert isinstance(events[0], FrameRejected)
    assert events[1] == LinkDisconnected("frame reject from the server")


def test_reassembly_is_bounded() -> None:
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER, HdlcSettings(32, 32))
    server = HdlcLink(Role.SERVER, None, SERVER, HdlcSettings(32, 32), max_apdu_size=100)
    client.connect()
    _pump(client, server)
    _events(server)
    client.send_apdu(bytes(500))
    _pump(client, server)
    events = _events(server)
    assert not any(isinstance(e, ApduReceived) for e in events)
    assert any(isinstance(e, FrameRejected) and "exceeds" in e.reason for e in events)
    client.send_apdu(bytes(50))
    _pump(client, server)
    assert _apdus(server) == [bytes(50)]


def test_send_before_connect_is_protocol_error() -> None:
    client = HdlcLink(Role.CLIENT, CLIENT, SERVER)
    with pytest.raises(ProtocolError):
        client.send_apdu(b"\x60\x00")
    client.connect()
    with pytest.raises(ProtocolError):
        client.connect()


def test_fuzz_random_and_mutated_bytes_into_both_roles() -> None:
    rng = random.Random(4662056)
    seeds = [SNRM_1_1, UA_1_1, AARQ_I_FRAME, AARE_I_FRAME]
    deadline = time.monotonic() + 10
    for _ in range(500):
        client, server = _connected()
        for link in (client, server):
            for _ in range(5):
                data = bytearray(rng.choice(seeds))
                if rng.random() < 0.5:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                else:
                    data = bytearray(rng.randbytes(rng.randrange(1, 60)))
                link.receive_data(bytes(data))
                assert len(link.data_to_send()) < 4096
            _events(link)
    assert time.monotonic() < deadline
