"""Block transfer for GET/SET/ACTION: splitting, in-order assembly with a size bound, and a day
of load profile (96 rows x 8 columns) carried through GET-Response-With-Datablock (COL-3, COL-7)."""

from __future__ import annotations

import time

import pytest

from metra.dlms import axdr
from metra.dlms.data import Array, DoubleLongUnsigned, OctetString, Structure, Unsigned
from metra.dlms.xdlms.blocks import (
    BlockAssembler,
    BlockSequenceError,
    BlockSizeError,
    BlockTransferError,
    split_blocks,
)
from metra.dlms.xdlms.codec import decode_apdu, encode_apdu
from metra.dlms.xdlms.common import InvokeIdAndPriority
from metra.dlms.xdlms.get import GetRequestNext, GetResponseWithDataBlock


def test_split_blocks_cuts_at_block_size_and_keeps_every_byte() -> None:
    raw = bytes(range(256)) * 3
    blocks = split_blocks(raw, 100)
    assert [len(b) for b in blocks] == [100] * 7 + [68]
    assert b"".join(blocks) == raw
    assert split_blocks(b"", 10) == [b""]
    with pytest.raises(ValueError):
        split_blocks(raw, 0)


def test_assembler_accepts_blocks_in_order_from_one() -> None:
    assembler = BlockAssembler(max_total=1000)
    assert assembler.expected == 1
    assert assembler.add(1, b"ab", last_block=False) is False
    assert assembler.add(2, b"cd", last_block=True) is True
    assert assembler.complete and assembler.expected is None
    assert assembler.last_received == 2
    assert assembler.result() == b"abcd"


def test_assembler_rejects_a_wrong_block_number() -> None:
    assembler = BlockAssembler(max_total=1000)
    assembler.add(1, b"ab", last_block=False)
    with pytest.raises(BlockSequenceError) as info:
        assembler.add(3, b"cd", last_block=True)
    assert (info.value.expected, info.value.got) == (2, 3)
    with pytest.raises(BlockSequenceError):
        assembler.add(1, b"ab", last_block=False)  # a repeated block is no better


def test_assembler_rejects_blocks_after_the_last() -> None:
    assembler = BlockAssembler(max_total=1000)
    assembler.add(1, b"x", last_block=True)
    with pytest.raises(BlockSequenceError) as info:
        assembler.add(2, b"y", last_block=True)
    assert isinstance(info.value, BlockTransferError)
    assert info.value.expected is None


def test_assembler_lets_the_caller_track_the_last_block_flag() -> None:
    # The association layer reads last-block from the APDU itself and then takes the result.
    assembler = BlockAssembler(max_total=1000)
    assembler.add(1, b"ab")
    assembler.add(2, b"cd")
    assert not assembler.complete
    assert assembler.result() == b"abcd"


def test_assembler_bounds_the_total_size() -> None:
    assembler = BlockAssembler(max_total=5)
    assembler.add(1, b"abc", last_block=False)
    with pytest.raises(BlockSizeError):
        assembler.add(2, b"def", last_block=True)
    assert assembler.size == 3  # the refused block was not appended


def _day_of_profile() -> Array:
    """96 quarter-hour rows of 8 columns: clock, status, six energy registers."""
    rows = []
    for i in range(96):
        clock = OctetString(bytes([0x07, 0xE8, 3, 1, 5, i // 4, (i % 4) * 15, 0, 0, 0xFF, 0xC4, 0]))
        rows.append(
            Structure([clock, Unsigned(0)] + [DoubleLongUnsigned(1000 * i + c) for c in range(6)])
        )
    return Array(rows)


def test_col3_day_of_load_profile_through_get_datablocks() -> None:
    profile = _day_of_profile()
    encoded = axdr.encode(profile)
    invoke = InvokeIdAndPriority(1, True, True)
    blocks = split_blocks(encoded, 480)
    frames = [
        encode_apdu(GetResponseWithDataBlock(invoke, n == len(blocks), n, block))
        for n, block in enumerate(blocks, start=1)
    ]

    started = time.perf_counter()
    assembler = BlockAssembler(max_total=1 << 20)
    for frame in frames:
        response = decode_apdu(frame)
        assert isinstance(response, GetResponseWithDataBlock)
        assert isinstance(response.raw_data, bytes)
        if assembler.add(response.block_number, response.raw_data, response.last_block):
            break
        encode_apdu(GetRequestNext(invoke, response.block_number))  # the client's ack
    decoded = axdr.decode(assembler.result())
    elapsed = time.perf_counter() - started

    assert decoded == profile
    assert len(frames) == len(blocks) > 1
    assert elapsed < 0.5, f"decoding a day of profile took {elapsed:.3f}s"
