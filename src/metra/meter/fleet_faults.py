"""Transport-level faults of a served meter: slow answers, a corrupted frame, a dropped session.

The fleet puts a :class:`FaultyWriter` between the DLMS server loop and the socket of a meter
whose :class:`~metra.meter.faults.MeterFaults` ask for it. The server loop does not know: it
writes whole frames and drains, and the writer delays, corrupts or cuts what reaches the wire,
exactly as a bad mobile link would. Offline windows are applied before the loop starts (the
connection is closed at once), see :mod:`metra.meter.fleet`.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from .faults import MeterFaults

__all__ = ["FaultyWriter", "needs_faulty_writer"]


def needs_faulty_writer(faults: MeterFaults | None) -> bool:
    """True when some transport fault changes what this meter sends."""
    return faults is not None and (
        faults.drop_after_bytes is not None
        or faults.slow_answer_seconds > 0
        or faults.corrupt_frame_probability > 0
    )


class FaultyWriter:
    """A stand-in for :class:`asyncio.StreamWriter` that applies one meter's transport faults.

    ``rng`` is seeded per meter and connection by the fleet, so which frame gets corrupted repeats
    from run to run. A corrupted frame has one bit flipped past its first two octets (so it is still
    recognisable as a frame and the receiver's check - HDLC FCS, GCM tag, A-XDR decoding - is what
    catches it). A dropped session sends the first ``drop_after_bytes`` octets of the session and
    then aborts the connection.
    """

    def __init__(
        self, writer: asyncio.StreamWriter, faults: MeterFaults, rng: random.Random
    ) -> None:
        self._writer = writer
        self._faults = faults
        self._rng = rng
        self._pending = bytearray()
        self.sent = 0

    def write(self, data: bytes) -> None:
        self._pending += data

    async def drain(self) -> None:
        data = bytes(self._pending)
        self._pending.clear()
        if not data:
            return
        faults = self._faults
        if faults.slow_answer_seconds > 0:
            await asyncio.sleep(faults.slow_answer_seconds)
        corrupt = faults.corrupt_frame_probability
        if corrupt > 0 and len(data) > 2 and self._rng.random() < corrupt:
            data = self._corrupt(data)
        limit = faults.drop_after_bytes
        if limit is not None and self.sent + len(data) >= limit:
            self._writer.write(data[: max(0, limit - self.sent)])
            self.sent = limit
            self._writer.transport.abort()
            raise ConnectionResetError("session dropped by the meter's fault plan")
        self.sent += len(data)
        self._writer.write(data)
        await self._writer.drain()

    def _corrupt(self, data: bytes) -> bytes:
        position = self._rng.randrange(2, len(data))
        corrupted = bytearray(data)
        corrupted[position] ^= 1 << self._rng.randrange(8)
        return bytes(corrupted)

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._writer.get_extra_info(name, default)
