"""Delivery of the pushes the fleet's meters produce (ACC-1 HAN push, COL-9 WAN push).

Meters are sans-IO: each returns its due pushes, ciphered (:meth:`VirtualMeter.due_pushes`).
:class:`PushSender` asks every meter that has been made, once a tick, and delivers each push to
its ``send_destination_and_method`` over TCP in a wrapper frame (IEC 62056-47), one ordered
queue and one kept connection per destination, retrying ``number_of_retries`` times
``repetition_delay`` seconds apart. A meter whose push setups have no destination costs one
attribute check per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from metra.dlms.wrapper import WrapperFrame

from .push import OutgoingPush

__all__ = ["PUSH_CLIENT_WPORT", "PushSender", "PushingMeter"]

#: wPort a meter addresses its pushes to (the push client's SAP, IDIS: 0x66).
PUSH_CLIENT_WPORT = 0x66
_SERVER_WPORT = 1
_CONNECT_TIMEOUT = 5.0


@runtime_checkable
class PushingMeter(Protocol):
    """A meter that sends pushes of its own."""

    def due_pushes(self) -> list[OutgoingPush]: ...


class PushSender:
    """Collects due pushes from meters every ``tick`` seconds and delivers them."""

    def __init__(self, tick: float = 1.0) -> None:
        self.tick = tick
        self.sent = 0
        self.failed = 0
        self._queues: dict[bytes, asyncio.Queue[OutgoingPush]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    async def run(self, meters: Callable[[], Iterable[object]]) -> None:
        """Run until cancelled; ``meters()`` gives the meters made so far."""
        try:
            while True:
                self.collect(meters())
                await asyncio.sleep(self.tick)
        finally:
            for task in self._workers:
                task.cancel()
            if self._workers:
                await asyncio.gather(*self._workers, return_exceptions=True)

    def collect(self, meters: Iterable[object]) -> int:
        """Queue every push due now; returns how many."""
        count = 0
        for meter in meters:
            if not isinstance(meter, PushingMeter):
                continue
            for push in meter.due_pushes():
                self._queue(push.destination.destination).put_nowait(push)
                count += 1
        return count

    def _queue(self, destination: bytes) -> asyncio.Queue[OutgoingPush]:
        queue = self._queues.get(destination)
        if queue is None:
            queue = self._queues[destination] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(self._deliver(destination, queue))
            self._workers.add(task)
        return queue

    @staticmethod
    async def _connect(host: str, port: int) -> asyncio.StreamWriter:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), _CONNECT_TIMEOUT)
        return writer

    async def _deliver(self, destination: bytes, queue: asyncio.Queue[OutgoingPush]) -> None:
        host, _, port = destination.decode("ascii").rpartition(":")
        writer: asyncio.StreamWriter | None = None
        try:
            while True:
                push = await queue.get()
                for attempt in range(push.retries + 1):
                    try:
                        if writer is None or writer.is_closing():
                            writer = await self._connect(host, int(port))
                        frame = WrapperFrame(_SERVER_WPORT, PUSH_CLIENT_WPORT, push.apdu)
                        writer.write(frame.encode())
                        await writer.drain()
                        self.sent += 1
                        break
                    except (OSError, TimeoutError):
                        if writer is not None:
                            writer.close()
                        writer = None
                        if attempt < push.retries:
                            await asyncio.sleep(push.repetition_delay)
                else:
                    self.failed += 1
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
