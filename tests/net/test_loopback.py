"""The asyncio transport over real loopback sockets: wrapper and HDLC, plain and HLS-GMAC.

Proves the I/O layer binds the sans-IO machines faithfully (COL-7 on-demand reads, SEC-2 ciphered
sessions end to end) and that failures end in typed errors, not hangs.
"""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest
from support.dlms_model import DictModel, rights

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.data import DoubleLongUnsigned, OctetString
from metra.dlms.errors import SecurityError
from metra.dlms.protection import SecurityContext
from metra.dlms.server import AssociationConfig, SecurityAlarm, SecurityEvent, ServerEvent
from metra.dlms.xdlms.common import DataAccessResult
from metra.net.client import DlmsClient, Endpoint, refuse_self_connect
from metra.net.errors import RequestRefused, ResponseTimeout, TransportError
from metra.net.server import ServedDevice, serve

ENERGY = bytes.fromhex("0100010800ff")
DISCONNECT = bytes.fromhex("0000600300ff")
CLIENT_TITLE = bytes.fromhex("4d4d4d0000000001")
SERVER_TITLE = bytes.fromhex("4d4d4d0000bc614e")


def model() -> DictModel:
    return DictModel(
        values={
            (3, ENERGY): {1: OctetString(ENERGY), 2: DoubleLongUnsigned(987_654)},
            (70, DISCONNECT): {1: OctetString(DISCONNECT), 2: True},
        },
        rights_by_association={
            "public": rights(read=[1]),
            "management": rights(read=[1, 2], write=[2], methods=[1, 2]),
        },
    )


async def run_with_server(device: ServedDevice, body):  # type: ignore[no-untyped-def]
    server = await serve(device)
    port = server.sockets[0].getsockname()[1]
    try:
        return await asyncio.wait_for(body(port), 30)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_public_read_over_tcp(transport: str) -> None:
    device = ServedDevice({16: AssociationConfig(16, "public")}, model(), transport)  # type: ignore[arg-type]

    async def body(port: int) -> None:
        endpoint = Endpoint("127.0.0.1", port, transport, 16, 1)  # type: ignore[arg-type]
        async with DlmsClient(endpoint, ClientSettings()) as meter:
            assert await meter.get(3, ENERGY, 1) == ENERGY
            with pytest.raises(RequestRefused) as info:
                await meter.get(3, ENERGY, 2)
            assert info.value.result is DataAccessResult.READ_WRITE_DENIED

    asyncio.run(run_with_server(device, body))


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_hls_gmac_session_over_tcp(transport: str) -> None:
    # SEC-2: an authenticated, encrypted session end to end over a socket.
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    events: list[ServerEvent] = []
    configs = {
        1: AssociationConfig(
            1, "management", Mechanism.HLS_GMAC, security=SecurityContext(SERVER_TITLE, ek, ak)
        )
    }
    the_model = model()
    device = ServedDevice(configs, the_model, transport, on_event=events.append)  # type: ignore[arg-type]
    settings = ClientSettings(
        mechanism=Mechanism.HLS_GMAC, security=SecurityContext(CLIENT_TITLE, ek, ak)
    )

    async def body(port: int) -> None:
        endpoint = Endpoint("127.0.0.1", port, transport, 1, 1)  # type: ignore[arg-type]
        async with DlmsClient(endpoint, settings) as meter:
            assert await meter.get(3, ENERGY, 2) == 987_654
            await meter.set(70, DISCONNECT, 2, False)
            assert await meter.action(70, DISCONNECT, 1) is None

    asyncio.run(run_with_server(device, body))
    assert the_model.values[(70, DISCONNECT)][2] is False
    assert the_model.calls and the_model.calls[0][0] == "management"


def test_wrong_key_is_refused_over_tcp() -> None:
    # SEC-3 / MTR-2: a client with the wrong key gets no session; the meter raises an alarm.
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    events: list[ServerEvent] = []
    configs = {
        1: AssociationConfig(
            1, "management", Mechanism.HLS_GMAC, security=SecurityContext(SERVER_TITLE, ek, ak)
        )
    }
    device = ServedDevice(configs, model(), on_event=events.append)
    wrong = ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(CLIENT_TITLE, secrets.token_bytes(16), ak),
    )

    async def body(port: int) -> None:
        with pytest.raises(SecurityError):
            async with DlmsClient(Endpoint("127.0.0.1", port, "wrapper", 1, 1), wrong):
                pass

    asyncio.run(run_with_server(device, body))
    assert any(
        isinstance(e, SecurityEvent) and e.alarm is SecurityAlarm.AUTHENTICATION_FAILED
        for e in events
    )


def test_ip_whitelist_closes_unknown_sources() -> None:
    # MTR-2: the communication module answers only whitelisted addresses.
    device = ServedDevice(
        {16: AssociationConfig(16, "public")}, model(), allowed_hosts={"192.0.2.1"}
    )

    async def body(port: int) -> None:
        with pytest.raises(TransportError):
            async with DlmsClient(
                Endpoint("127.0.0.1", port, "wrapper", 16, 1, timeout=2), ClientSettings()
            ):
                pass

    asyncio.run(run_with_server(device, body))


def test_silent_peer_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.sleep(5)
        writer.close()

    async def body() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(ResponseTimeout):
                async with DlmsClient(
                    Endpoint("127.0.0.1", port, "hdlc", 16, 1, timeout=0.2), ClientSettings()
                ):
                    pass
        finally:
            server.close()

    asyncio.run(asyncio.wait_for(body(), 20))


def test_connection_refused_is_typed() -> None:
    async def body() -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(TransportError):
            async with DlmsClient(Endpoint("127.0.0.1", port, timeout=2), ClientSettings()):
                pass

    asyncio.run(body())


def test_profile_read_sends_range_on_the_clock_column() -> None:
    # COL-3 / COL-7: a profile by range: the meter receives selector 1 restricted on the clock
    # (class 8, 0-0:1.0.0.255, attribute 2) with the two instants as date-time octet-strings.
    import datetime as dt

    from metra.dlms.axdr import datetime_from_bytes
    from metra.dlms.data import Array, Structure, Unsigned
    from metra.dlms.server import RequestContext
    from metra.dlms.xdlms.common import (
        AttributeDescriptor,
        RangeDescriptor,
        SelectiveAccess,
        parse_profile_access,
    )

    profile_ln = bytes.fromhex("0100630100ff")
    seen: list[SelectiveAccess | None] = []

    class ProfileModel(DictModel):
        def get(self, ctx: RequestContext, attribute: AttributeDescriptor, access):  # type: ignore[no-untyped-def, override]
            seen.append(access)
            return super().get(ctx, attribute, access)

    rows = Array([Structure([OctetString(bytes(12)), Unsigned(0), DoubleLongUnsigned(1)])])
    the_model = ProfileModel(
        values={(7, profile_ln): {2: rows}},
        rights_by_association={"public": rights(read=[2])},
    )
    device = ServedDevice({16: AssociationConfig(16, "public")}, the_model)
    start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)

    async def body(port: int) -> None:
        async with DlmsClient(Endpoint("127.0.0.1", port), ClientSettings()) as meter:
            assert await meter.get_profile(profile_ln, start, end) == rows

    asyncio.run(run_with_server(device, body))
    assert seen and seen[0] is not None and seen[0].selector == 1
    descriptor = parse_profile_access(seen[0])
    assert isinstance(descriptor, RangeDescriptor)
    assert descriptor.restricting_object.class_id == 8
    assert bytes(descriptor.restricting_object.logical_name) == bytes.fromhex("0000010000ff")
    assert descriptor.restricting_object.attribute_index == 2
    assert isinstance(descriptor.from_value, bytes)
    assert isinstance(descriptor.to_value, bytes)
    assert datetime_from_bytes(descriptor.from_value).to_datetime() == start
    assert datetime_from_bytes(descriptor.to_value).to_datetime() == end


def test_tcp_self_connect_is_no_connection() -> None:
    """A socket connected to its own address (loopback simultaneous open) is refused (COL-6)."""

    async def scenario() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.connect(sock.getsockname())
        _, writer = await asyncio.open_connection(sock=sock)
        with pytest.raises(TransportError, match="connected to itself"):
            refuse_self_connect(writer, "127.0.0.1")
        assert writer.is_closing()

    asyncio.run(scenario())
