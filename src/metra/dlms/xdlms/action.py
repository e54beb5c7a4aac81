"""ACTION service APDUs (Green Book ``Action-Request`` [195] and ``Action-Response`` [199]).

ACTION invokes methods (disconnect the relay, reset a register, answer an HLS challenge). Method
parameters and return data are OPTIONAL on the wire: ``None`` stands for *absent* and
:data:`EXPLICIT_NULL` for a present ``null-data``. Long parameter or return values travel as
``DataBlock-SA`` "p-blocks", numbered from 1 like GET and SET blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import axdr
from ..data import Data
from ..errors import DecodeError
from .common import (
    ActionResult,
    DataAccessResult,
    ExplicitNull,
    InvokeIdAndPriority,
    MethodDescriptor,
    Reader,
    put_count,
    put_data_block_sa,
    put_get_data_result,
    put_u32,
    read_data_block_sa,
    read_enum,
    read_get_data_result,
)

ACTION_REQUEST_TAG = 0xC3
ACTION_RESPONSE_TAG = 0xC7

Parameters = Data | ExplicitNull
"""Method invocation parameters: ``None`` = absent, :data:`EXPLICIT_NULL` = null-data."""

ReturnData = Data | DataAccessResult | ExplicitNull
"""Return parameters: ``None`` = absent, :data:`EXPLICIT_NULL` = null-data, or an error."""

ActionOutcome = tuple[ActionResult, ReturnData]
"""``Action-Response-With-Optional-Data``: the result and the optional return parameters."""


def _put_parameters(out: bytearray, parameters: Parameters) -> None:
    if parameters is None:
        out.append(0)
        return
    out.append(1)
    axdr.encode_into(out, None if isinstance(parameters, ExplicitNull) else parameters)


def _read_parameters(r: Reader) -> Parameters:
    if not r.present("method-invocation-parameters"):
        return None
    value = r.data()
    return ExplicitNull() if value is None else value


def _put_outcome(out: bytearray, result: ActionResult, data: ReturnData) -> None:
    out.append(result)
    if data is None:
        out.append(0)
        return
    out.append(1)
    put_get_data_result(out, None if isinstance(data, ExplicitNull) else data)


def _read_outcome(r: Reader) -> ActionOutcome:
    result = read_enum(r, ActionResult, "action-result")
    if not r.present("return-parameters"):
        return result, None
    data = read_get_data_result(r)
    return result, ExplicitNull() if data is None else data


@dataclass(frozen=True, slots=True)
class ActionRequestNormal:
    """Invoke one method."""

    invoke: InvokeIdAndPriority
    method: MethodDescriptor
    parameters: Parameters = None

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        self.method.encode_into(out)
        _put_parameters(out, self.parameters)


@dataclass(frozen=True, slots=True)
class ActionRequestNextPBlock:
    """Ask for the next block of long return data; acknowledges ``block_number``."""

    invoke: InvokeIdAndPriority
    block_number: int

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_u32(out, self.block_number, "block number")


@dataclass(frozen=True, slots=True)
class ActionRequestWithList:
    """Invoke several methods; ``parameters[i]`` goes to ``methods[i]`` (not OPTIONAL here)."""

    invoke: InvokeIdAndPriority
    methods: list[MethodDescriptor]
    parameters: list[Data]

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_count(out, len(self.methods))
        for method in self.methods:
            method.encode_into(out)
        put_count(out, len(self.parameters))
        for value in self.parameters:
            axdr.encode_into(out, value)


@dataclass(frozen=True, slots=True)
class ActionRequestWithFirstPBlock:
    """Invoke one method whose encoded parameters start in ``raw_data``."""

    invoke: InvokeIdAndPriority
    method: MethodDescriptor
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 4

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        self.method.encode_into(out)
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class ActionRequestWithListAndFirstPBlock:
    """Invoke several methods whose encoded parameter list starts in ``raw_data``."""

    invoke: InvokeIdAndPriority
    methods: list[MethodDescriptor]
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 5

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_count(out, len(self.methods))
        for method in self.methods:
            method.encode_into(out)
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class ActionRequestWithPBlock:
    """A following block of long method parameters."""

    invoke: InvokeIdAndPriority
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 6

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_REQUEST_TAG, self.CHOICE, self.invoke.to_byte()))
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class ActionResponseNormal:
    """The outcome of one method invocation."""

    invoke: InvokeIdAndPriority
    result: ActionResult
    return_data: ReturnData = None

    CHOICE: ClassVar[int] = 1

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        _put_outcome(out, self.result, self.return_data)


@dataclass(frozen=True, slots=True)
class ActionResponseWithPBlock:
    """One block of long return data (or, during a long request, the ack of a p-block)."""

    invoke: InvokeIdAndPriority
    last_block: bool
    block_number: int
    raw_data: bytes

    CHOICE: ClassVar[int] = 2

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_data_block_sa(out, self.last_block, self.block_number, self.raw_data)


@dataclass(frozen=True, slots=True)
class ActionResponseWithList:
    """One outcome per invoked method, in request order."""

    invoke: InvokeIdAndPriority
    results: list[ActionOutcome]

    CHOICE: ClassVar[int] = 3

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_count(out, len(self.results))
        for result, data in self.results:
            _put_outcome(out, result, data)


@dataclass(frozen=True, slots=True)
class ActionResponseNextPBlock:
    """Acknowledges p-block ``block_number`` of a long request and asks for the next one."""

    invoke: InvokeIdAndPriority
    block_number: int

    CHOICE: ClassVar[int] = 4

    def encode_into(self, out: bytearray) -> None:
        out += bytes((ACTION_RESPONSE_TAG, self.CHOICE, self.invoke.to_byte()))
        put_u32(out, self.block_number, "block number")


ActionRequest = (
    ActionRequestNormal
    | ActionRequestNextPBlock
    | ActionRequestWithList
    | ActionRequestWithFirstPBlock
    | ActionRequestWithListAndFirstPBlock
    | ActionRequestWithPBlock
)
ActionResponse = (
    ActionResponseNormal
    | ActionResponseWithPBlock
    | ActionResponseWithList
    | ActionResponseNextPBlock
)


def _read_methods(r: Reader) -> list[MethodDescriptor]:
    n = r.count("method-descriptor-list")
    return [MethodDescriptor.read(r) for _ in range(n)]


def decode_action_request(r: Reader) -> ActionRequest:
    """The body of an action-request after its tag."""
    start = r.pos
    choice = r.u8("action-request choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == ActionRequestNormal.CHOICE:
        method = MethodDescriptor.read(r)
        return ActionRequestNormal(invoke, method, _read_parameters(r))
    if choice == ActionRequestNextPBlock.CHOICE:
        return ActionRequestNextPBlock(invoke, r.u32("block number"))
    if choice == ActionRequestWithList.CHOICE:
        methods = _read_methods(r)
        values_at = r.pos
        n = r.count("parameter list")
        if n != len(methods):
            raise DecodeError(f"{len(methods)} methods but {n} parameters", values_at)
        return ActionRequestWithList(invoke, methods, [r.data() for _ in range(n)])
    if choice == ActionRequestWithFirstPBlock.CHOICE:
        method = MethodDescriptor.read(r)
        return ActionRequestWithFirstPBlock(invoke, method, *read_data_block_sa(r))
    if choice == ActionRequestWithListAndFirstPBlock.CHOICE:
        methods = _read_methods(r)
        return ActionRequestWithListAndFirstPBlock(invoke, methods, *read_data_block_sa(r))
    if choice == ActionRequestWithPBlock.CHOICE:
        return ActionRequestWithPBlock(invoke, *read_data_block_sa(r))
    raise DecodeError(f"unknown action-request choice {choice}", start)


def decode_action_response(r: Reader) -> ActionResponse:
    """The body of an action-response after its tag."""
    start = r.pos
    choice = r.u8("action-response choice")
    invoke = InvokeIdAndPriority.read(r)
    if choice == ActionResponseNormal.CHOICE:
        return ActionResponseNormal(invoke, *_read_outcome(r))
    if choice == ActionResponseWithPBlock.CHOICE:
        return ActionResponseWithPBlock(invoke, *read_data_block_sa(r))
    if choice == ActionResponseWithList.CHOICE:
        n = r.count("action-response list")
        return ActionResponseWithList(invoke, [_read_outcome(r) for _ in range(n)])
    if choice == ActionResponseNextPBlock.CHOICE:
        return ActionResponseNextPBlock(invoke, r.u32("block number"))
    raise DecodeError(f"unknown action-response choice {choice}", start)
