"""One TCP session with one virtual meter: link, associations and the meter's own counters.

The session loop is :func:`metra.net.server.serve_link`; what a *stateful* meter adds is how an
association is opened: with the keys current at that moment (a key transfer takes effect for the
next association) and with the meter's persistent invocation counter and replay guard
(``meter.protection``), so a replayed frame from an earlier session is still refused and the
meter never reuses a GCM IV across sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Literal, Protocol

from metra.dlms.hdlc import HdlcAddress, HdlcSettings
from metra.dlms.hdlc_link import HdlcLink
from metra.dlms.link import Link, Role
from metra.dlms.protection import ApduProtection
from metra.dlms.server import AssociationConfig, CosemHandler, ServerAssociation, ServerEvent
from metra.dlms.wrapper_link import WrapperLink
from metra.net.server import serve_link

__all__ = [
    "SERVER_ADDRESS",
    "ServableMeter",
    "Transport",
    "make_server_link",
    "serve_session",
]

#: The two DLMS transports over TCP (same spelling as :class:`metra.net.client.Endpoint`).
Transport = Literal["wrapper", "hdlc"]

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
    await serve_link(
        make_server_link(transport),
        reader,
        writer,
        lambda sap: ServerAssociation(
            meter.associations("wan"), sap, meter.handler, protection=meter.protection("wan", sap)
        ),
        meter.on_server_event,
        idle_timeout=idle_timeout,
        allowed_hosts=allowed_hosts,
    )
