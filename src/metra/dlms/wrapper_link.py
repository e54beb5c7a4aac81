"""The wrapper (IEC 62056-47) as a :class:`metra.dlms.link.Link`, so that the transports drive
TCP/UDP meters exactly as they drive HDLC ones.

TCP already delivers bytes reliably and in order, so there is nothing to negotiate, acknowledge or
repeat: the link is up as soon as the transport connection is, and a wrapper frame carries a whole
APDU (no segmentation). What it does check is framing and addressing: a frame for another wPort is
rejected, and a broken header ends the link because a TCP stream cannot be resynchronised.
"""

from __future__ import annotations

from collections import deque

from .errors import DecodeError, EncodeError, ProtocolError
from .link import (
    ApduReceived,
    FrameRejected,
    LinkConnected,
    LinkDisconnected,
    LinkEvent,
    Role,
)
from .wrapper import MAX_PAYLOAD, WrapperDecoder, WrapperFrame


class WrapperLink:
    """One end of a wrapper link.

    A server given ``client_wport=None`` serves whichever client wPort speaks first and answers
    it; otherwise frames from any other wPort are rejected.
    """

    def __init__(
        self,
        role: Role,
        client_wport: int | None,
        server_wport: int,
        *,
        max_apdu_size: int = MAX_PAYLOAD,
    ) -> None:
        if role is Role.CLIENT and client_wport is None:
            raise ProtocolError("a wrapper client needs its own wPort")
        self._role = role
        self._client = client_wport
        self._server = server_wport
        self._decoder = WrapperDecoder(max_apdu_size)
        self._events: deque[LinkEvent] = deque()
        self._out = bytearray()
        self._connected = False
        self._broken = False

    @property
    def is_connected(self) -> bool:
        """Whether APDUs may be exchanged now."""
        return self._connected

    @property
    def client_address(self) -> int | None:
        """The client wPort (client SAP): a client's own, or the one a server learned."""
        return self._client

    def connect(self) -> None:
        """The transport connection is up: report the link up (nothing goes on the wire)."""
        if not self._connected and not self._broken:
            self._connected = True
            self._events.append(LinkConnected(None))

    def send_apdu(self, apdu: bytes) -> None:
        """Queue the APDU in one wrapper frame."""
        if not self._connected:
            raise ProtocolError("send_apdu() while the wrapper link is down")
        if self._client is None:
            raise ProtocolError("the server does not yet know the client's wPort")
        if self._role is Role.CLIENT:
            frame = WrapperFrame(self._client, self._server, bytes(apdu))
        else:
            frame = WrapperFrame(self._server, self._client, bytes(apdu))
        try:
            self._out += frame.encode()
        except EncodeError as exc:
            raise EncodeError(f"APDU does not fit a wrapper frame: {exc}") from exc

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes. A server takes data before :meth:`connect` as the link opening."""
        if self._broken:
            return
        if not self._connected:
            if self._role is Role.CLIENT:
                self._events.append(FrameRejected("data while the wrapper link is down"))
                return
            self.connect()
        try:
            frames = self._decoder.feed(data)
        except DecodeError as exc:
            self._events.append(FrameRejected(str(exc)))
            self._broken = True
            self._connected = False
            self._events.append(LinkDisconnected("wrapper stream lost its framing"))
            return
        for frame in frames:
            self._accept(frame)

    def _accept(self, frame: WrapperFrame) -> None:
        client_role = self._role is Role.CLIENT
        own = self._client if client_role else self._server
        remote = self._server if client_role else self._client
        if frame.destination != own or (remote is not None and frame.source != remote):
            self._events.append(
                FrameRejected(
                    f"wrapper frame {frame.source}->{frame.destination} is not for this link"
                )
            )
            return
        if remote is None:
            self._client = frame.source  # a server without a fixed client answers this one
        self._events.append(ApduReceived(frame.payload))

    def next_event(self) -> LinkEvent | None:
        """The next pending event, or ``None``."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Frames to write to the transport now."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def disconnect(self) -> None:
        """Report the link down; the transport closes the connection (the wrapper has no frame
        for it: the association is released above, by RLRQ/RLRE)."""
        if self._connected:
            self._connected = False
            self._events.append(LinkDisconnected("closed locally"))

    def handle_timeout(self) -> None:
        """Nothing to repeat over a reliable stream; the caller's own timeout decides."""
