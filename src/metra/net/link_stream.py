"""An asyncio stream pair bound to a sans-IO :class:`metra.dlms.link.Link`.

The link decides everything about frames; this class only moves bytes, and owns the one clock in
the stack: when the peer is silent past ``timeout`` it tells the link (which may repeat a frame)
and finally gives up with :class:`ResponseTimeout`, so a dead meter never hangs a session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from metra.dlms.errors import DlmsError
from metra.dlms.link import ApduReceived, FrameRejected, Link, LinkConnected, LinkDisconnected

from .errors import ResponseTimeout, TransportError

#: Bytes read from the socket per call.
READ_SIZE = 65536


class LinkStream:
    """Sends and receives whole APDUs over one TCP (or TLS) connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: Link,
        *,
        timeout: float = 10.0,
        max_timeouts: int = 3,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.link = link
        self.timeout = timeout
        self.max_timeouts = max_timeouts
        self.connected = False
        self.rejected_frames = 0
        self._apdus: deque[bytes] = deque()
        self._closed_reason: str | None = None

    async def flush(self) -> None:
        """Write whatever the link has queued."""
        data = self.link.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def open(self) -> None:
        """Client side: bring the link up (SNRM/UA for HDLC; immediate for the wrapper)."""
        self.link.connect()
        await self.flush()
        await self._pump_until(lambda: self.connected)

    async def send(self, apdu: bytes) -> None:
        self.link.send_apdu(apdu)
        await self.flush()

    async def receive(self) -> bytes:
        """The next complete APDU from the peer."""
        await self._pump_until(lambda: bool(self._apdus))
        return self._apdus.popleft()

    async def close(self) -> None:
        """Disconnect the link politely (bounded in time), then close the socket."""
        try:
            if self.connected and self._closed_reason is None:
                self.link.disconnect()
                await self.flush()
                await asyncio.wait_for(self._pump_until(lambda: not self.connected), 2.0)
        except (TimeoutError, TransportError, DlmsError, OSError):
            pass
        finally:
            self.writer.close()
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self.writer.wait_closed(), 2.0)

    def _drain_events(self) -> None:
        while (event := self.link.next_event()) is not None:
            if isinstance(event, ApduReceived):
                self._apdus.append(event.apdu)
            elif isinstance(event, LinkConnected):
                self.connected = True
            elif isinstance(event, LinkDisconnected):
                self.connected = False
                self._closed_reason = event.reason
            elif isinstance(event, FrameRejected):
                self.rejected_frames += 1

    async def _pump_until(self, done: object) -> None:
        assert callable(done)
        timeouts = 0
        while True:
            self._drain_events()
            await self.flush()
            if done():
                return
            if self._closed_reason is not None:
                raise TransportError(f"link closed: {self._closed_reason}")
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), self.timeout)
            except TimeoutError:
                timeouts += 1
                if timeouts > self.max_timeouts:
                    raise ResponseTimeout(
                        f"no answer within {self.timeout:g} s ({timeouts} tries)"
                    ) from None
                self.link.handle_timeout()
                continue
            except OSError as exc:
                raise TransportError(f"connection failed: {exc}") from exc
            if not data:
                self._closed_reason = "peer closed the connection"
                self.connected = False
                self._drain_events()
                if done():
                    return
                raise TransportError("peer closed the connection")
            timeouts = 0
            self.link.receive_data(data)
