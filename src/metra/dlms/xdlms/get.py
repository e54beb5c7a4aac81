"""GET service APDUs (Green Book ``Get-Request`` [192] and ``Get-Response`` [196]).

GET reads attribute values: one (normal), several (with-list), or one too large for a single APDU,
which the server then sends in numbered blocks the client asks for one at a time (next). The
dataclasses carry exactly what each CHOICE alternative carries on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..data import Data
from ..errors import DecodeError
from .common import (
    AttributeDescriptor,
    AttributeWithSelection,
    DataAccessResult,
    GetDataResult,
    InvokeIdAndPriority,
    Reader,
    SelectiveAccess,
    put_attribute_list,
    put_count,
    put_get_data_result,
    put_octets,
    put_optional_access,
    put_u32,
    read_attribute_list,
    read_enum,
    read_get_data_result,
    read_optional_access,
)

GET_REQUEST_TAG = 0xC0
GET_RESPONSE_TAG = 0xC4


@dataclass(frozen=True, slots=True)
class GetRequestNormal:
    """Read one attribute, optionally filtered by a selective access."""

    invoke: InvokeIdAndPriority
    attribute: AttributeDescriptor
    access: SelectiveAccess | None = None

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        self.attribute.encode_into(out)
        put_optional_access(out, self.access)


@dataclass(frozen=True, slots=True)
class GetRequestNext:
    """Ask for the next block of a long GET; ``block_number`` acknowledges the last one received."""

    invoke: InvokeIdAndPriority
    block_number: int

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_u32(out, self.block_number, "block number")


@dataclass(frozen=True, slots=True)
class GetRequestWithList:
    """Read several attributes in one request."""

    invoke: InvokeIdAndPriority
    items: list[AttributeWithSelection]

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_attribute_list(out, self.items)


@dataclass(frozen=True, slots=True)
class GetResponseNormal:
    """The value of one attribute, or the reason it could not be read."""

    invoke: InvokeIdAndPriority
    result: GetDataResult

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_get_data_result(out, self.result)


@dataclass(frozen=True, slots=True)
class GetResponseWithDataBlock:
    """One block of a long GET (``DataBlock-G``): a slice of the encoded result, or an error."""

    invoke: InvokeIdAndPriority
    last_block: bool
    block_number: int
    raw_data: bytes | DataAccessResult

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        out.append(1 if self.last_block else 0)
        put_u32(out, self.block_number, "block number")
        if isinstance(self.raw_data, DataAccessResult):
            out.append(1)
            out.append(self.raw_data)
        else:
            out.append(0)
            put_octets(out, self.raw_data)


@dataclass(frozen=True, slots=True)
class GetResponseWithList:
    """One result per requested attribute, in request order."""

    invoke: InvokeIdAndPriority
    results: list[Data | DataAccessResult]

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((GET_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_count(out, len(self.results))
        for result in self.results:
            put_get_data_result(out, result)


GetRequest = GetRequestNormal | GetRequestNext | GetRequestWithList
GetResponse = GetResponseNormal | GetResponseWithDataBlock | GetResponseWithList


def decode_get_request(r: Reader) -> GetRequest:
    """The body of a get-request after its tag."""
    start = r.pos
    choice = r.u8("get-request choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == GetRequestNormal.CHOICE:
        attribute = AttributeDescriptor.read(r)
        return GetRequestNormal(invoke, attribute, read_optional_access(r))
    if choice == GetRequestNext.CHOICE:
        return GetRequestNext(invoke, r.u32("block number"))
    if choice == GetRequestWithList.CHOICE:
        return GetRequestWithList(invoke, read_attribute_list(r))
    raise DecodeError(f"unknown get-request choice {choice}", start)


def decode_get_response(r: Reader) -> GetResponse:
    """The body of a get-response after its tag."""
    start = r.pos
    choice = r.u8("get-response choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == GetResponseNormal.CHOICE:
        return GetResponseNormal(invoke, read_get_data_result(r))
    if choice == GetResponseWithDataBlock.CHOICE:
        last = r.u8("last-block") != 0
        number = r.u32("block number")
        result_at = r.pos
        kind = r.u8("datablock result choice")
        raw: bytes | DataAccessResult
        if kind == 0:
            raw = r.octets("raw-data")
        elif kind == 1:
            raw = read_enum(r, DataAccessResult, "data-access-result")
        else:
            raise DecodeError(f"datablock result choice must be 0 or 1, not {kind}", result_at)
        return GetResponseWithDataBlock(invoke, last, number, raw)
    if choice == GetResponseWithList.CHOICE:
        n = r.count("get-response result list")
        return GetResponseWithList(invoke, [read_get_data_result(r) for _ in range(n)])
    raise DecodeError(f"unknown get-response choice {choice}", start)
