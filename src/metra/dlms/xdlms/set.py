"""SET service APDUs (Green Book ``Set-Request`` [193] and ``Set-Response`` [197]).

SET writes attribute values. A value too large for one APDU is encoded once and sent as
``DataBlock-SA`` slices: the first block rides with the attribute descriptor(s), the following
ones alone, and the server acknowledges each block until the last one, answered with the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import axdr
from ..data import Data
from ..errors import DecodeError, EncodeError
from .common import (
    AttributeDescriptor,
    AttributeWithSelection,
    DataAccessResult,
    InvokeIdAndPriority,
    Reader,
    SelectiveAccess,
    put_attribute_list,
    put_count,
    put_data_block_sa,
    put_optional_access,
    put_u32,
    read_attribute_list,
    read_data_block_sa,
    read_enum,
    read_optional_access,
)

SET_REQUEST_TAG = 0xC1
SET_RESPONSE_TAG = 0xC5


@dataclass(frozen=True, slots=True)
class SetRequestNormal:
    """Write one attribute."""

    invoke: InvokeIdAndPriority
    attribute: AttributeDescriptor
    access: SelectiveAccess | None
    value: Data

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        self.attribute.encode_into(out)
        put_optional_access(out, self.access)
        axdr.encode_into(out, self.value)


@dataclass(frozen=True, slots=True)
class SetRequestWithFirstDataBlock:
    """Write one attribute whose encoded value starts in ``raw_data`` (block 1)."""

    invoke: InvokeIdAndPriority
    attribute: AttributeDescriptor
    access: SelectiveAccess | None
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        self.attribute.encode_into(out)
        put_optional_access(out, self.access)
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class SetRequestWithDataBlock:
    """A following block of a long SET."""

    invoke: InvokeIdAndPriority
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


def _check_pairs(items: list[AttributeWithSelection], values: list[Data]) -> None:
    if len(items) != len(values):
        raise EncodeError(f"{len(items)} attributes but {len(values)} values")


@dataclass(frozen=True, slots=True)
class SetRequestWithList:
    """Write several attributes; ``values[i]`` goes to ``items[i]``."""

    invoke: InvokeIdAndPriority
    items: list[AttributeWithSelection]
    values: list[Data]

    CHOICE: ClassVar[int] = 4

    def encode_into(self, out: bytearray) -> None:
        _check_pairs(self.items, self.values)
        out += bytes((SET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_attribute_list(out, self.items)
        put_count(out, len(self.values))
        for value in self.values:
            axdr.encode_into(out, value)


@dataclass(frozen=True, slots=True)
class SetRequestWithListAndFirstDataBlock:
    """Write several attributes whose encoded value list starts in ``raw_data``."""

    invoke: InvokeIdAndPriority
    items: list[AttributeWithSelection]
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 5

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_attribute_list(out, self.items)
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class SetResponseNormal:
    invoke: InvokeIdAndPriority
    result: DataAccessResult

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte(), self.result))


@dataclass(frozen=True, slots=True)
class SetResponseDataBlock:
    """Acknowledges block ``block_number`` of a long SET and asks for the next one."""

    invoke: InvokeIdAndPriority
    block_number: int

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_u32(out, self.block_number, "block number")


@dataclass(frozen=True, slots=True)
class SetResponseLastDataBlock:
    """The result of a long SET, sent after its last block."""

    invoke: InvokeIdAndPriority
    result: DataAccessResult
    block_number: int

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte(), self.result))
        put_u32(out, self.block_number, "block number")


def _put_results(out: bytearray, results: list[DataAccessResult]) -> None:
    put_count(out, len(results))
    out += bytes(results)


def _read_results(r: Reader) -> list[DataAccessResult]:
    n = r.count("result list")
    return [read_enum(r, DataAccessResult, "data-access-result") for _ in range(n)]


@dataclass(frozen=True, slots=True)
class SetResponseLastDataBlockWithList:
    """The results of a long SET-with-list, sent after its last block."""

    invoke: InvokeIdAndPriority
    results: list[DataAccessResult]
    block_number: int

    CHOICE: ClassVar[int] = 4

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        _put_results(out, self.results)
        put_u32(out, self.block_number, "block number")


@dataclass(frozen=True, slots=True)
class SetResponseWithList:
    invoke: InvokeIdAndPriority
    results: list[DataAccessResult]

    CHOICE: ClassVar[int] = 5

    def encode_into(self, out: bytearray) -> None:
        out += bytes((SET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        _put_results(out, self.results)


SetRequest = (
    SetRequestNormal
    | SetRequestWithFirstDataBlock
    | SetRequestWithDataBlock
    | SetRequestWithList
    | SetRequestWithListAndFirstDataBlock
)
SetResponse = (
    SetResponseNormal
    | SetResponseDataBlock
    | SetResponseLastDataBlock
    | SetResponseLastDataBlockWithList
    | SetResponseWithList
)


def decode_set_request(r: Reader) -> SetRequest:
    """The body of a set-request after its tag."""
    start = r.pos
    choice = r.u8("set-request choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == SetRequestNormal.CHOICE:
        attribute = AttributeDescriptor.read(r)
        access = read_optional_access(r)
        return SetRequestNormal(invoke, attribute, access, r.data())
    if choice == SetRequestWithFirstDataBlock.CHOICE:
        attribute = AttributeDescriptor.read(r)
        access = read_optional_access(r)
        return SetRequestWithFirstDataBlock(invoke, attribute, access, *read_data_block_sa(r))
    if choice == SetRequestWithDataBlock.CHOICE:
        return SetRequestWithDataBlock(invoke, *read_data_block_sa(r))
    if choice == SetRequestWithList.CHOICE:
        items = read_attribute_list(r)
        values_at = r.pos
        n = r.count("value list")
        if n != len(items):
            raise DecodeError(f"{len(items)} attributes but {n} values", values_at)
        return SetRequestWithList(invoke, items, [r.data() for _ in range(n)])
    if choice == SetRequestWithListAndFirstDataBlock.CHOICE:
        items = read_attribute_list(r)
        return SetRequestWithListAndFirstDataBlock(invoke, items, *read_data_block_sa(r))
    raise DecodeError(f"unknown set-request choice {choice}", start)


def decode_set_response(r: Reader) -> SetResponse:
    """The body of a set-response after its tag."""
    start = r.pos
    choice = r.u8("set-response choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == SetResponseNormal.CHOICE:
        return SetResponseNormal(invoke, read_enum(r, DataAccessResult, "data-access-result"))
    if choice == SetResponseDataBlock.CHOICE:
        return SetResponseDataBlock(invoke, r.u32("block number"))
    if choice == SetResponseLastDataBlock.CHOICE:
        result = read_enum(r, DataAccessResult, "data-access-result")
        return SetResponseLastDataBlock(invoke, result, r.u32("block number"))
    if choice == SetResponseLastDataBlockWithList.CHOICE:
        results = _read_results(r)
        return SetResponseLastDataBlockWithList(invoke, results, r.u32("block number"))
    if choice == SetResponseWithList.CHOICE:
        return SetResponseWithList(invoke, _read_results(r))
    raise DecodeError(f"unknown set-response choice {choice}", start)
