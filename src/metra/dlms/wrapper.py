"""The DLMS/COSEM wrapper of IEC 62056-47 (TCP and UDP transport).

Every APDU is prefixed by an 8-byte header: version (always 0x0001), source wPort, destination
wPort and the APDU length, all 16-bit big-endian. TCP is a byte stream, so the decoder must cope
with a frame split over several reads or several frames packed into one; it keeps at most one
frame's worth of bytes, so a peer cannot make it buffer without bound.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import DecodeError, EncodeError

#: The only wrapper version defined by IEC 62056-47.
WRAPPER_VERSION = 0x0001
#: Header size in bytes.
HEADER_SIZE = 8
#: Largest APDU the 16-bit length field can describe.
MAX_PAYLOAD = 0xFFFF

_HEADER = struct.Struct(">HHHH")


@dataclass(frozen=True)
class WrapperFrame:
    """One wrapper frame: the wPorts of both ends and the APDU it carries."""

    source: int
    destination: int
    payload: bytes

    def encode(self) -> bytes:
        """Header followed by the payload; ports must fit 16 bits and the payload 65535 bytes."""
        for name, port in (("source", self.source), ("destination", self.destination)):
            if not 0 <= port <= 0xFFFF:
                raise EncodeError(f"{name} wPort {port} outside 0..65535")
        if len(self.payload) > MAX_PAYLOAD:
            raise EncodeError(f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}")
        header = _HEADER.pack(WRAPPER_VERSION, self.source, self.destination, len(self.payload))
        return header + bytes(self.payload)


class WrapperDecoder:
    """Streaming decoder: feed any chunks, get back the complete frames they finish.

    A wrong version means the stream is not a wrapper stream (or lost its framing); TCP gives no way
    to find the next header again, so :class:`DecodeError` is raised and the decoder stays failed.
    ``max_payload`` bounds what a single frame may announce and hence the buffered bytes.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload
        self._consumed = 0
        self._failed: DecodeError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[WrapperFrame]:
        """Add ``data`` and return every frame now complete, in order."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        frames: list[WrapperFrame] = []
        pos = 0
        buf = self._buffer
        while len(buf) - pos >= HEADER_SIZE:
            version, source, destination, length = _HEADER.unpack_from(buf, pos)
            if version != WRAPPER_VERSION:
                self._failed = DecodeError(
                    f"wrapper version {version:#06x}, expected {WRAPPER_VERSION:#06x}",
                    self._consumed + pos,
                )
                del buf[:]
                raise self._failed
            if length > self._max_payload:
                self._failed = DecodeError(
                    f"wrapper length {length} exceeds the limit {self._max_payload}",
                    self._consumed + pos + 6,
                )
                del buf[:]
                raise self._failed
            end = pos + HEADER_SIZE + length
            if end > len(buf):
                break
            frames.append(WrapperFrame(source, destination, bytes(buf[pos + HEADER_SIZE : end])))
            pos = end
        del buf[:pos]
        self._consumed += pos
        return frames
