"""Building blocks shared by the xDLMS service APDUs (IEC 62056-5-3 clause 9, Green Book ASN.1).

Every GET, SET and ACTION APDU starts with the same invoke-id-and-priority octet and addresses
attributes or methods with the same descriptors; their results use the same enumerations and
their block transfers the same DataBlock layouts. Keeping those pieces here lets each service
module read like its ASN.1 definition, and gives all decoders one bounded byte reader.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeVar

from .. import axdr
from ..data import (
    Array,
    Data,
    DoubleLongUnsigned,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
)
from ..errors import DecodeError, EncodeError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

# ------------------------------------------------------------------------------------------ reader


class Reader:
    """A cursor over an APDU that refuses to read past its end.

    Each read names what it expected, so a truncated frame reports both *what* was missing and the
    byte offset where it should have been.
    """

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def u8(self, what: str) -> int:
        if self.pos >= len(self.buf):
            raise DecodeError(f"truncated: expected {what}", self.pos)
        value = self.buf[self.pos]
        self.pos += 1
        return value

    def u16(self, what: str) -> int:
        if self.pos + 2 > len(self.buf):
            raise DecodeError(f"truncated: expected {what}", self.pos)
        value: int = _U16.unpack_from(self.buf, self.pos)[0]
        self.pos += 2
        return value

    def u32(self, what: str) -> int:
        if self.pos + 4 > len(self.buf):
            raise DecodeError(f"truncated: expected {what}", self.pos)
        value: int = _U32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.buf) - self.pos:
            raise DecodeError(f"truncated: {what} needs {n} bytes, {self.remaining} left", self.pos)
        value = self.buf[self.pos : self.pos + n]
        self.pos += n
        return value

    def octets(self, what: str) -> bytes:
        """An A-XDR OCTET STRING without a fixed size: a length, then that many bytes."""
        start = self.pos
        n, self.pos = axdr.decode_length(self.buf, self.pos)
        if n > self.remaining:
            raise DecodeError(f"{what} of {n} bytes exceeds the {self.remaining} remaining", start)
        return self.take(n, what)

    def count(self, what: str) -> int:
        """A SEQUENCE OF count, refused when the elements cannot all fit (each takes a byte)."""
        start = self.pos
        n, self.pos = axdr.decode_length(self.buf, self.pos)
        if n > self.remaining:
            raise DecodeError(f"{what} of {n} items cannot fit in {self.remaining} bytes", start)
        return n

    def present(self, what: str) -> bool:
        """The usage flag of an OPTIONAL component: 0x00 absent, 0x01 present."""
        start = self.pos
        flag = self.u8(f"usage flag of {what}")
        if flag > 1:
            raise DecodeError(f"usage flag of {what} must be 0 or 1, not 0x{flag:02x}", start)
        return flag == 1

    def data(self) -> Data:
        """One tagged COSEM ``Data`` value (bounded by :mod:`metra.dlms.axdr`)."""
        value, self.pos = axdr.decode_from(self.buf, self.pos)
        return value

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise DecodeError(f"{self.remaining} trailing bytes after the APDU", self.pos)


_E = TypeVar("_E", bound=IntEnum)


def read_enum(r: Reader, enum: type[_E], what: str) -> _E:
    """An ENUMERATED octet; values the Green Book does not define are a decode error."""
    start = r.pos
    raw = r.u8(what)
    try:
        return enum(raw)
    except ValueError:
        raise DecodeError(f"undefined {what} value {raw}", start) from None


def put_u32(out: bytearray, value: int, what: str) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise EncodeError(f"{what} must fit in 32 bits, not {value}")
    out += _U32.pack(value)


def put_octets(out: bytearray, value: bytes) -> None:
    out += axdr.encode_length(len(value))
    out += value


def put_count(out: bytearray, n: int) -> None:
    out += axdr.encode_length(n)


# ----------------------------------------------------------------------------- invoke and priority


@dataclass(frozen=True, slots=True)
class InvokeIdAndPriority:
    """The first octet of every confirmed-service APDU (Green Book ``Invoke-Id-And-Priority``).

    Bits 0-3 carry the invoke id that pairs a response with its request, bit 6 the service class
    (1 = confirmed) and bit 7 the priority (1 = high). Bits 4-5 are reserved: written as zero and
    ignored on reading, so that a meter setting them does not lose its answer.
    """

    invoke_id: int = 1
    confirmed: bool = True
    high_priority: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.invoke_id <= 15:
            raise EncodeError(f"invoke id must be 0..15, not {self.invoke_id}")

    def to_byte(self) -> int:
        service_class = 0x40 if self.confirmed else 0
        return self.invoke_id | service_class | (0x80 if self.high_priority else 0)

    @classmethod
    def from_byte(cls, value: int) -> InvokeIdAndPriority:
        return cls(value & 0x0F, bool(value & 0x40), bool(value & 0x80))

    @classmethod
    def read(cls, r: Reader) -> InvokeIdAndPriority:
        return cls.from_byte(r.u8("invoke-id-and-priority"))


# ------------------------------------------------------------------------------------ descriptors


def _check_descriptor(class_id: int, instance_id: bytes, member: int, what: str) -> None:
    if not 0 <= class_id <= 0xFFFF:
        raise EncodeError(f"class id must be 0..65535, not {class_id}")
    if not isinstance(instance_id, bytes) or len(instance_id) != 6:
        raise EncodeError("instance id (logical name) must be 6 octets")
    if not 0 <= member <= 0xFF:
        raise EncodeError(f"{what} must be one octet, not {member}")


@dataclass(frozen=True, slots=True)
class AttributeDescriptor:
    """``Cosem-Attribute-Descriptor``: class id, logical name (6 octets), attribute id.

    ``attribute_id`` is kept as the raw octet (0..255): the ASN.1 type is Integer8, but meters
    and the Blue Book number attributes from 1 upwards and nothing is gained by a sign.
    """

    class_id: int
    instance_id: bytes
    attribute_id: int

    SIZE: ClassVar[int] = 9

    def __post_init__(self) -> None:
        object.__setattr__(self, "instance_id", bytes(self.instance_id))
        _check_descriptor(self.class_id, self.instance_id, self.attribute_id, "attribute id")

    def encode_into(self, out: bytearray) -> None:
        out += _U16.pack(self.class_id)
        out += self.instance_id
        out.append(self.attribute_id)

    @classmethod
    def read(cls, r: Reader) -> AttributeDescriptor:
        class_id = r.u16("class id")
        return cls(class_id, r.take(6, "logical name"), r.u8("attribute id"))


@dataclass(frozen=True, slots=True)
class MethodDescriptor:
    """``Cosem-Method-Descriptor``: class id, logical name (6 octets), method id (raw octet)."""

    class_id: int
    instance_id: bytes
    method_id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "instance_id", bytes(self.instance_id))
        _check_descriptor(self.class_id, self.instance_id, self.method_id, "method id")

    def encode_into(self, out: bytearray) -> None:
        out += _U16.pack(self.class_id)
        out += self.instance_id
        out.append(self.method_id)

    @classmethod
    def read(cls, r: Reader) -> MethodDescriptor:
        class_id = r.u16("class id")
        return cls(class_id, r.take(6, "logical name"), r.u8("method id"))


# ---------------------------------------------------------------------------------------- results


class DataAccessResult(IntEnum):
    """``Data-Access-Result`` (Green Book / IEC 62056-5-3 ASN.1): why a GET or SET failed."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(IntEnum):
    """``Action-Result`` (Green Book ASN.1): the outcome of an ACTION (method invocation)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


class ExplicitNull:
    """A present ``null-data`` where the encoding also allows *absent*.

    ACTION parameters and return data are ``OPTIONAL``: ``None`` means absent (``00``), while a
    present null-data value (``01 00``) is this sentinel, since ``None`` is already taken.
    """

    __slots__ = ()
    _instance: ClassVar[ExplicitNull | None] = None

    def __new__(cls) -> ExplicitNull:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EXPLICIT_NULL"


EXPLICIT_NULL = ExplicitNull()

GetDataResult = Data | DataAccessResult
"""``Get-Data-Result``: the value read, or why it could not be read."""


def put_get_data_result(out: bytearray, result: GetDataResult) -> None:
    """``Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] IMPLICIT ... }``"""
    if isinstance(result, DataAccessResult):
        out.append(1)
        out.append(result)
    else:
        out.append(0)
        axdr.encode_into(out, result)


def read_get_data_result(r: Reader) -> GetDataResult:
    start = r.pos
    choice = r.u8("get-data-result choice")
    if choice == 0:
        return r.data()
    if choice == 1:
        return read_enum(r, DataAccessResult, "data-access-result")
    raise DecodeError(f"get-data-result choice must be 0 or 1, not {choice}", start)


def put_data_block_sa(out: bytearray, last_block: bool, block_number: int, raw: bytes) -> None:
    """``DataBlock-SA ::= SEQUENCE { last-block BOOLEAN, block-number Unsigned32, raw-data }``"""
    out.append(1 if last_block else 0)
    put_u32(out, block_number, "block number")
    put_octets(out, raw)


def read_data_block_sa(r: Reader) -> tuple[bool, int, bytes]:
    last = r.u8("last-block") != 0
    number = r.u32("block number")
    return last, number, r.octets("raw-data")


# ------------------------------------------------------------------------------- selective access


@dataclass(frozen=True, slots=True)
class SelectiveAccess:
    """``Selective-Access-Descriptor``: an access selector and its parameters as COSEM data.

    Which selectors an attribute accepts is up to its interface class (Profile Generic buffer: 1
    by range, 2 by entry); the wrapper carries any of them unchanged.
    """

    selector: int
    parameters: Data

    def __post_init__(self) -> None:
        if not 0 <= self.selector <= 0xFF:
            raise EncodeError(f"access selector must be one octet, not {self.selector}")

    def encode_into(self, out: bytearray) -> None:
        out.append(self.selector)
        axdr.encode_into(out, self.parameters)

    @classmethod
    def read(cls, r: Reader) -> SelectiveAccess:
        selector = r.u8("access selector")
        return cls(selector, r.data())


def put_optional_access(out: bytearray, access: SelectiveAccess | None) -> None:
    if access is None:
        out.append(0)
    else:
        out.append(1)
        access.encode_into(out)


def read_optional_access(r: Reader) -> SelectiveAccess | None:
    return SelectiveAccess.read(r) if r.present("access-selection") else None


AttributeWithSelection = tuple[AttributeDescriptor, SelectiveAccess | None]
"""``Cosem-Attribute-Descriptor-With-Selection`` as used in the -with-list requests."""


def put_attribute_list(out: bytearray, items: list[AttributeWithSelection]) -> None:
    put_count(out, len(items))
    for attribute, access in items:
        attribute.encode_into(out)
        put_optional_access(out, access)


def read_attribute_list(r: Reader) -> list[AttributeWithSelection]:
    n = r.count("attribute-descriptor-list")
    items: list[AttributeWithSelection] = []
    for _ in range(n):
        attribute = AttributeDescriptor.read(r)
        items.append((attribute, read_optional_access(r)))
    return items


def _structure(value: Data, size: int, what: str) -> Structure:
    if not isinstance(value, Structure) or len(value) != size:
        raise DecodeError(f"{what} must be a structure of {size} elements")
    return value


def _int(value: Data, kind: type[int], what: str) -> int:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DecodeError(f"{what} must be {kind.__name__}, not {type(value).__name__}")
    return int(value)


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """``capture_object_definition`` of Profile Generic (Blue Book, class 7): one column.

    ``data_index`` 0 selects the whole attribute; a positive value one element of it.
    """

    class_id: int
    logical_name: bytes
    attribute_index: int
    data_index: int = 0

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.class_id),
                OctetString(self.logical_name),
                Integer(self.attribute_index),
                LongUnsigned(self.data_index),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> CaptureObject:
        s = _structure(value, 4, "capture_object_definition")
        if not isinstance(s[1], bytes) or len(s[1]) != 6:
            raise DecodeError("capture object logical name must be an octet-string of 6")
        return cls(
            _int(s[0], LongUnsigned, "class_id"),
            bytes(s[1]),
            _int(s[2], Integer, "attribute_index"),
            _int(s[3], LongUnsigned, "data_index"),
        )


def _columns_to_data(columns: list[CaptureObject]) -> Array:
    return Array([column.to_data() for column in columns])


def _columns_from_data(value: Data) -> list[CaptureObject]:
    if not isinstance(value, Array):
        raise DecodeError("selected_values must be an array of capture_object_definition")
    return [CaptureObject.from_data(item) for item in value]


@dataclass(frozen=True, slots=True)
class RangeDescriptor:
    """Access selector 1 of Profile Generic ``buffer``: rows whose ``restricting_object`` value
    lies in ``from_value..to_value``, limited to ``selected_values`` columns (empty = all)."""

    restricting_object: CaptureObject
    from_value: Data
    to_value: Data
    selected_values: list[CaptureObject]

    SELECTOR: ClassVar[int] = 1

    def to_data(self) -> Structure:
        return Structure(
            [
                self.restricting_object.to_data(),
                self.from_value,
                self.to_value,
                _columns_to_data(self.selected_values),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> RangeDescriptor:
        s = _structure(value, 4, "range_descriptor")
        return cls(CaptureObject.from_data(s[0]), s[1], s[2], _columns_from_data(s[3]))

    def to_access(self) -> SelectiveAccess:
        return SelectiveAccess(self.SELECTOR, self.to_data())


@dataclass(frozen=True, slots=True)
class EntryDescriptor:
    """Access selector 2 of Profile Generic ``buffer``: rows ``from_entry..to_entry`` (1-based;
    ``to_entry`` 0 = up to the last) and columns ``from_selected_value..to_selected_value``
    (``to_selected_value`` 0 = up to the last)."""

    from_entry: int
    to_entry: int = 0
    from_selected_value: int = 1
    to_selected_value: int = 0

    SELECTOR: ClassVar[int] = 2

    def to_data(self) -> Structure:
        return Structure(
            [
                DoubleLongUnsigned(self.from_entry),
                DoubleLongUnsigned(self.to_entry),
                LongUnsigned(self.from_selected_value),
                LongUnsigned(self.to_selected_value),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> EntryDescriptor:
        s = _structure(value, 4, "entry_descriptor")
        return cls(
            _int(s[0], DoubleLongUnsigned, "from_entry"),
            _int(s[1], DoubleLongUnsigned, "to_entry"),
            _int(s[2], LongUnsigned, "from_selected_value"),
            _int(s[3], LongUnsigned, "to_selected_value"),
        )

    def to_access(self) -> SelectiveAccess:
        return SelectiveAccess(self.SELECTOR, self.to_data())


def parse_profile_access(access: SelectiveAccess) -> RangeDescriptor | EntryDescriptor:
    """Interpret a Profile Generic ``buffer`` access selection (selectors 1 and 2)."""
    if access.selector == RangeDescriptor.SELECTOR:
        return RangeDescriptor.from_data(access.parameters)
    if access.selector == EntryDescriptor.SELECTOR:
        return EntryDescriptor.from_data(access.parameters)
    raise DecodeError(f"Profile Generic has no access selector {access.selector}")
