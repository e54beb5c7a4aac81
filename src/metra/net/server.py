"""The asyncio DLMS server: serves one logical device over TCP (wrapper or HDLC, optional TLS).

Each accepted connection gets its own link and its own :class:`ServerAssociation`, created for the
client SAP that opens it, so per-client access rights apply from the first byte. The virtual meter
supplies the :class:`CosemHandler` and the association configurations, and receives the server's
events (security alarms to journal). A connection from an address outside ``allowed_hosts`` (the
communication module's IP whitelist, MTR-2) is closed unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from metra.dlms.errors import DlmsError
from metra.dlms.hdlc import HdlcAddress, HdlcSettings
from metra.dlms.hdlc_link import HdlcLink
from metra.dlms.link import ApduReceived, Link, LinkDisconnected, Role
from metra.dlms.server import AssociationConfig, CosemHandler, ServerAssociation, ServerEvent
from metra.dlms.wrapper_link import WrapperLink

from .client import Transport

#: Bytes read from the socket per call.
READ_SIZE = 65536


@dataclass(frozen=True)
class ServedDevice:
    """Everything needed to serve one logical device."""

    associations: Mapping[int, AssociationConfig]
    handler: CosemHandler
    transport: Transport = "wrapper"
    server_address: int = 1
    physical_address: int = 0
    address_size: int = 1
    idle_timeout: float = 120.0
    allowed_hosts: Collection[str] | None = None
    on_event: Callable[[ServerEvent], None] | None = None

    def make_link(self) -> Link:
        if self.transport == "wrapper":
            return WrapperLink(Role.SERVER, None, self.server_address)
        address = HdlcAddress(self.server_address, self.physical_address, self.address_size)
        return HdlcLink(Role.SERVER, None, address, HdlcSettings())


async def handle_connection(
    device: ServedDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one connection to ``device`` (see :func:`serve_link`)."""
    await serve_link(
        device.make_link(),
        reader,
        writer,
        lambda sap: ServerAssociation(device.associations, sap, device.handler),
        device.on_event,
        idle_timeout=device.idle_timeout,
        allowed_hosts=device.allowed_hosts,
    )


async def serve_link(
    link: Link,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    open_association: Callable[[int], ServerAssociation],
    on_event: Callable[[ServerEvent], None] | None,
    *,
    idle_timeout: float,
    allowed_hosts: Collection[str] | None,
) -> None:
    """Serve one connection until the peer leaves, stays idle too long, or breaks the link.

    ``open_association(client_sap)`` makes the association of a client SAP the first time it
    speaks: a stateful meter passes one that continues its persistent invocation counters and
    replay guards. A source outside ``allowed_hosts`` is closed before a byte is read.
    """
    peer = writer.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) else None
    if allowed_hosts is not None and host not in allowed_hosts:
        writer.close()
        return
    associations: dict[int, ServerAssociation] = {}
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), idle_timeout)
            except TimeoutError:
                break
            if not data:
                break
            link.receive_data(data)
            closed = False
            while (event := link.next_event()) is not None:
                if isinstance(event, ApduReceived):
                    sap = link.client_address
                    if sap is None:
                        continue
                    association = associations.get(sap)
                    if association is None:
                        association = associations[sap] = open_association(sap)
                    association.receive_apdu(event.apdu)
                    for answer in association.apdus_to_send():
                        link.send_apdu(answer)
                    while (server_event := association.next_event()) is not None:
                        if on_event is not None:
                            on_event(server_event)
                elif isinstance(event, LinkDisconnected):
                    closed = True
            out = link.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()
            if closed:
                break
    except (DlmsError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)


async def serve(
    device: ServedDevice,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    tls: ssl.SSLContext | None = None,
) -> asyncio.Server:
    """Start serving ``device``; ``port=0`` picks a free port (read it from the returned server)."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle_connection(device, reader, writer)

    return await asyncio.start_server(on_connect, host, port, ssl=tls)
