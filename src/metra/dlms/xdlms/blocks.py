"""Block transfer helpers for GET, SET and ACTION (Green Book "service specific block transfer").

A value too large for the negotiated APDU size is encoded once and sent as numbered slices,
starting at block 1. The sender uses :func:`split_blocks`; the receiver feeds each block to a
:class:`BlockAssembler`, which insists on the next number in sequence and on a total size bound,
so a confused or hostile peer can neither reorder data nor exhaust memory.
"""

from __future__ import annotations

from ..errors import ProtocolError


class BlockTransferError(ProtocolError):
    """A block transfer went wrong; the peer should be answered with an abort/error result."""


class BlockSequenceError(BlockTransferError):
    """A block arrived with an unexpected number, or after the last block."""

    def __init__(self, expected: int | None, got: int) -> None:
        self.expected = expected
        self.got = got
        if expected is None:
            super().__init__(f"block {got} received after the last block")
        else:
            super().__init__(f"expected block {expected}, got block {got}")


class BlockSizeError(BlockTransferError):
    """The blocks together exceed the size the receiver accepts."""

    def __init__(self, max_total: int) -> None:
        self.max_total = max_total
        super().__init__(f"block transfer exceeds the limit of {max_total} bytes")


def split_blocks(raw: bytes, block_size: int) -> list[bytes]:
    """Cut ``raw`` into blocks of ``block_size`` bytes (the last may be shorter).

    An empty value still yields one (empty, last) block, since a transfer has at least one.
    """
    if block_size < 1:
        raise ValueError(f"block size must be positive, not {block_size}")
    if not raw:
        return [b""]
    view = memoryview(raw)
    return [bytes(view[i : i + block_size]) for i in range(0, len(raw), block_size)]


class BlockAssembler:
    """Collects the blocks of one transfer, in order, into a single buffer.

    Blocks are appended to one ``bytearray`` as they arrive (no list of parts to join later), and
    :meth:`result` hands out the bytes once. ``max_total`` bounds the assembled size. The caller
    may pass each APDU's last-block flag to :meth:`add` (then later blocks are refused) or watch
    the flag itself and call :meth:`result` when it sees it.
    """

    __slots__ = ("_buf", "_complete", "_next", "max_total")

    def __init__(self, max_total: int, first_block: int = 1) -> None:
        if max_total < 0:
            raise ValueError(f"max_total must not be negative, not {max_total}")
        self.max_total = max_total
        self._next = first_block
        self._buf = bytearray()
        self._complete = False

    @property
    def expected(self) -> int | None:
        """The number of the block that may come next; ``None`` once the last block arrived."""
        return None if self._complete else self._next

    @property
    def last_received(self) -> int:
        """The number of the last block accepted (``first_block - 1`` before any)."""
        return self._next - 1

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def size(self) -> int:
        return len(self._buf)

    def add(self, block_number: int, raw: bytes, last_block: bool = False) -> bool:
        """Accept one block; returns ``True`` when it was marked as the last one."""
        if self._complete or block_number != self._next:
            raise BlockSequenceError(self.expected, block_number)
        if len(self._buf) + len(raw) > self.max_total:
            raise BlockSizeError(self.max_total)
        self._buf += raw
        self._next += 1
        self._complete = last_block
        return last_block

    def result(self) -> bytes:
        """The bytes assembled so far: the whole value once the last block has been added."""
        return bytes(self._buf)
