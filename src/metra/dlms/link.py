"""The data-link protocol shared by the HDLC and the wrapper links, and the events they emit.

The asyncio transports (:mod:`metra.net`) drive either link the same way, in the style of h11:
feed received bytes with :meth:`Link.receive_data`, drain :meth:`Link.next_event` until it returns
``None``, write whatever :meth:`Link.data_to_send` returns. The links never read a clock; when the
transport's own timer says an answer is overdue it calls :meth:`Link.handle_timeout`, and the link
decides whether to repeat a frame or give up (so a lost frame ends in an event, never a hang).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from .hdlc import HdlcSettings


class Role(enum.Enum):
    """Which end this machine plays: the head-end is the client, the meter the server."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True)
class LinkConnected:
    """The link is up. ``params`` are the negotiated HDLC parameters (``None`` for the wrapper,
    which has nothing to negotiate)."""

    params: HdlcSettings | None


@dataclass(frozen=True)
class ApduReceived:
    """A complete APDU arrived (reassembled from its segments, link headers stripped)."""

    apdu: bytes


@dataclass(frozen=True)
class LinkDisconnected:
    """The link is down: closed by either side, refused, or given up after repeated timeouts."""

    reason: str


@dataclass(frozen=True)
class FrameRejected:
    """A received frame was discarded (bad checksum, wrong sequence number, not addressed to us,
    malformed). The link goes on unless a :class:`LinkDisconnected` follows."""

    reason: str


LinkEvent = LinkConnected | ApduReceived | LinkDisconnected | FrameRejected


class Link(Protocol):
    """What a transport needs from a data link; both :class:`HdlcLink` and :class:`WrapperLink`
    implement it."""

    @property
    def client_address(self) -> int | None:
        """The client SAP of this link (a server knows it once the client has spoken)."""

    def connect(self) -> None:
        """Start the link (client: queue SNRM for HDLC; the wrapper only reports it is up)."""

    def send_apdu(self, apdu: bytes) -> None:
        """Queue an APDU, segmented into frames as the link requires."""

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the transport; events become available from :meth:`next_event`."""

    def next_event(self) -> LinkEvent | None:
        """The next pending event, or ``None`` when there is none."""

    def data_to_send(self) -> bytes:
        """Bytes to write to the transport now (empty when there is nothing to send)."""

    def disconnect(self) -> None:
        """Close the link (client: DISC for HDLC)."""

    def handle_timeout(self) -> None:
        """The transport's timer expired while waiting for the peer: repeat or give up."""
