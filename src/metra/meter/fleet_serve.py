"""One TCP session with one virtual meter: link, associations and the meter's own counters.

This is :func:`metra.net.server.handle_connection` with the two things a *stateful* meter needs
that a generic served device does not: every association is opened with the keys current at that
moment (a key transfer takes effect for the next association) and with the meter's persistent
invocation counter and replay guard (``meter.protection``), so a replayed frame from an earlier
session is still refused and the meter never reuses a GCM IV across sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping
from typing import Literal, Protocol

from metra.dlms.errors import DlmsError
from metra.dlms.hdlc import HdlcAddress, HdlcSettings
from metra.dlms.hdlc_link import HdlcLink
from metra.dlms.link import ApduReceived, Link, LinkDisconnected, Role
from metra.dlms.protection import ApduProtection
from metra.dlms.server import AssociationConfig, CosemHandler, ServerAssociation, ServerEvent
from metra.dlms.wrapper_link import WrapperLink

__all__ = [
    "READ_SIZE",
    "SERVER_ADDRESS",
    "ServableMeter",
    "Transport",
    "make_server_link",
    "serve_session",
]

#: The two DLMS transports over TCP (same spelling as :class:`metra.net.client.Endpoint`).
Transport = Literal["wrapper", "hdlc"]

#: Bytes read from the socket per call.
READ_SIZE = 65536
#: The logical device every virtual meter serves (the management logical device).
SERVER_ADDRESS = 1


class ServableMeter(Protocol):
    """What the fleet needs of a meter (``metra.meter.meter.VirtualMeter`` provides it)."""

    handler: CosemHandler

    def associations(
        self, interface: Literal["wan", "optical"] = "wan"
    ) -> Mapping[int, AssociationConfig]:
        """The association configuration of each client SAP, with the keys current now."""
        ...

    def protection(self, interface: Literal["wan", "optical"], sap: int) -> ApduProtection:
        """APDU protection that continues the SAP's invocation counter and replay guard."""
        ...

    def on_server_event(self, event: ServerEvent) -> None:
        """Journal a security event the server machine reported."""
        ...


def make_server_link(transport: Transport) -> Link:
    """The server side of the link: wrapper, or HDLC with a one-octet server address."""
    if transport == "wrapper":
        return WrapperLink(Role.SERVER, None, SERVER_ADDRESS)
    return HdlcLink(Role.SERVER, None, HdlcAddress(SERVER_ADDRESS, 0, 1), HdlcSettings())


async def serve_session(
    meter: ServableMeter,
    transport: Transport,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    idle_timeout: float,
    allowed_hosts: Collection[str] | None,
) -> None:
    """Serve one connection until the peer leaves, stays idle too long, or breaks the link.

    A source outside ``allowed_hosts`` (the communication module's IP whitelist, MTR-2) is closed
    before a byte is read.
    """
    peer = writer.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) else None
    if allowed_hosts is not None and host not in allowed_hosts:
        writer.close()
        return
    link = make_server_link(transport)
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
                if isinstance(event, LinkDisconnected):
                    closed = True
                if not isinstance(event, ApduReceived) or link.client_address is None:
                    continue
                sap = link.client_address
                association = associations.get(sap)
                if association is None:
                    association = ServerAssociation(
                        meter.associations("wan"),
                        sap,
                        meter.handler,
                        protection=meter.protection("wan", sap),
                    )
                    associations[sap] = association
                association.receive_apdu(event.apdu)
                for answer in association.apdus_to_send():
                    link.send_apdu(answer)
                while (server_event := association.next_event()) is not None:
                    meter.on_server_event(server_event)
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
