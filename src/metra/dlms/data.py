"""COSEM data values: the Python side of the A-XDR ``Data`` CHOICE (IEC 62056-6-2).

DLMS needs the exact type of every value to answer a client byte-for-byte (an ``unsigned`` 5 and a
``long-unsigned`` 5 are different on the wire), yet every other layer wants to compute with plain
numbers and strings. So each type is a thin subclass of the matching Python builtin: a
``LongUnsigned(230)`` *is* an ``int`` for arithmetic and JSON, and still remembers its tag for the
encoder. Plain ``None``, ``bool`` and ``bytes`` are accepted where the mapping is unambiguous.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Union


class Tag(IntEnum):
    """A-XDR tags of the COSEM ``Data`` CHOICE (Blue Book 4.1.5, IEC 62056-6-2 clause 4.1.5)."""

    NULL_DATA = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27
    DONT_CARE = 255


#: The names DLMS translators and the Blue Book use for each tag.
TAG_NAMES: dict[int, str] = {
    Tag.NULL_DATA: "null-data",
    Tag.ARRAY: "array",
    Tag.STRUCTURE: "structure",
    Tag.BOOLEAN: "boolean",
    Tag.BIT_STRING: "bit-string",
    Tag.DOUBLE_LONG: "double-long",
    Tag.DOUBLE_LONG_UNSIGNED: "double-long-unsigned",
    Tag.OCTET_STRING: "octet-string",
    Tag.VISIBLE_STRING: "visible-string",
    Tag.UTF8_STRING: "utf8-string",
    Tag.BCD: "bcd",
    Tag.INTEGER: "integer",
    Tag.LONG: "long",
    Tag.UNSIGNED: "unsigned",
    Tag.LONG_UNSIGNED: "long-unsigned",
    Tag.COMPACT_ARRAY: "compact-array",
    Tag.LONG64: "long64",
    Tag.LONG64_UNSIGNED: "long64-unsigned",
    Tag.ENUM: "enum",
    Tag.FLOAT32: "float32",
    Tag.FLOAT64: "float64",
    Tag.DATE_TIME: "date-time",
    Tag.DATE: "date",
    Tag.TIME: "time",
    Tag.DONT_CARE: "dont-care",
}


class _TypedInt(int):
    """An ``int`` that remembers its DLMS integer type and refuses values outside its range."""

    __slots__ = ()
    tag: ClassVar[Tag]
    fmt: ClassVar[str]
    lo: ClassVar[int]
    hi: ClassVar[int]

    def __new__(cls, value: int = 0) -> _TypedInt:
        iv = int(value)
        if not cls.lo <= iv <= cls.hi:
            raise ValueError(f"{cls.__name__} must be in {cls.lo}..{cls.hi}, not {iv}")
        return int.__new__(cls, iv)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class Integer(_TypedInt):
    """``integer``: signed 8-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.INTEGER, ">b", -(2**7), 2**7 - 1


class Long(_TypedInt):
    """``long``: signed 16-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.LONG, ">h", -(2**15), 2**15 - 1


class DoubleLong(_TypedInt):
    """``double-long``: signed 32-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.DOUBLE_LONG, ">i", -(2**31), 2**31 - 1


class Long64(_TypedInt):
    """``long64``: signed 64-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.LONG64, ">q", -(2**63), 2**63 - 1


class Unsigned(_TypedInt):
    """``unsigned``: unsigned 8-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.UNSIGNED, ">B", 0, 2**8 - 1


class LongUnsigned(_TypedInt):
    """``long-unsigned``: unsigned 16-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.LONG_UNSIGNED, ">H", 0, 2**16 - 1


class DoubleLongUnsigned(_TypedInt):
    """``double-long-unsigned``: unsigned 32-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.DOUBLE_LONG_UNSIGNED, ">I", 0, 2**32 - 1


class Long64Unsigned(_TypedInt):
    """``long64-unsigned``: unsigned 64-bit."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.LONG64_UNSIGNED, ">Q", 0, 2**64 - 1


class Enum(_TypedInt):
    """``enum``: an 8-bit enumeration value; its meaning is given by the attribute that holds it."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.ENUM, ">B", 0, 2**8 - 1


class Bcd(_TypedInt):
    """``bcd``: one octet (Blue Book: Integer8) holding binary-coded decimal digits."""

    __slots__ = ()
    tag, fmt, lo, hi = Tag.BCD, ">b", -(2**7), 2**7 - 1


class Float32(float):
    """``float32``: IEEE 754 single precision (rounded to single precision on encode)."""

    __slots__ = ()
    tag: ClassVar[Tag] = Tag.FLOAT32
    fmt: ClassVar[str] = ">f"

    def __repr__(self) -> str:
        return f"Float32({float(self)!r})"


class Float64(float):
    """``float64``: IEEE 754 double precision."""

    __slots__ = ()
    tag: ClassVar[Tag] = Tag.FLOAT64
    fmt: ClassVar[str] = ">d"

    def __repr__(self) -> str:
        return f"Float64({float(self)!r})"


class OctetString(bytes):
    """``octet-string``. Plain ``bytes`` encode as this type too."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"OctetString({bytes(self).hex()!r})"


class VisibleString(str):
    """``visible-string``: octets as text, decoded as Latin-1 so that any octet round-trips."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"VisibleString({str(self)!r})"


class Utf8String(str):
    """``utf8-string``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Utf8String({str(self)!r})"


class BitString(str):
    """``bit-string`` as a string of ``'0'`` and ``'1'``, first bit first (Blue Book order)."""

    __slots__ = ()

    def __new__(cls, bits: str = "") -> BitString:
        if bits.strip("01"):
            raise ValueError("a BitString holds only the characters '0' and '1'")
        return str.__new__(cls, bits)

    def __repr__(self) -> str:
        return f"BitString({str(self)!r})"


class Array(list["Data"]):
    """``array``: elements of one type (the encoder does not police that; the Blue Book does)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Array({list.__repr__(self)})"


class Structure(list["Data"]):
    """``structure``: an ordered sequence of values of any types."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Structure({list.__repr__(self)})"


class DontCare:
    """``dont-care`` (tag 255): a placeholder with no content, used in selective-access filters."""

    __slots__ = ()
    _instance: ClassVar[DontCare | None] = None

    def __new__(cls) -> DontCare:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DontCare()"


#: Field value meaning "not specified" in DLMS date and time fields (Blue Book 4.1.6.1).
NOT_SPECIFIED = 0xFF
#: Year value meaning "not specified".
YEAR_NOT_SPECIFIED = 0xFFFF
#: Deviation value meaning "not specified".
DEVIATION_NOT_SPECIFIED = -0x8000


@dataclass(frozen=True, slots=True)
class Date:
    """COSEM ``date`` (5 octets). Fields hold raw values so that wildcards (0xFF), "last day of the
    month" (0xFE) and DST markers (0xFD/0xFE in month) survive a round trip unchanged."""

    year: int = YEAR_NOT_SPECIFIED
    month: int = NOT_SPECIFIED
    day: int = NOT_SPECIFIED
    weekday: int = NOT_SPECIFIED

    tag: ClassVar[Tag] = Tag.DATE

    @classmethod
    def from_date(cls, d: _dt.date) -> Date:
        """The fully specified COSEM date of ``d`` (weekday 1 = Monday, as COSEM counts)."""
        return cls(d.year, d.month, d.day, d.isoweekday())

    def to_date(self) -> _dt.date:
        """The calendar date; raises ``ValueError`` when a field is a wildcard."""
        if self.year == YEAR_NOT_SPECIFIED or self.month > 12 or self.day > 31:
            raise ValueError(f"{self} is not a specific date")
        return _dt.date(self.year, self.month, self.day)


@dataclass(frozen=True, slots=True)
class Time:
    """COSEM ``time`` (4 octets): hour, minute, second, hundredths; 0xFF is a wildcard."""

    hour: int = NOT_SPECIFIED
    minute: int = NOT_SPECIFIED
    second: int = NOT_SPECIFIED
    hundredths: int = NOT_SPECIFIED

    tag: ClassVar[Tag] = Tag.TIME

    @classmethod
    def from_time(cls, t: _dt.time) -> Time:
        return cls(t.hour, t.minute, t.second, t.microsecond // 10_000)

    def to_time(self) -> _dt.time:
        """The wall-clock time; unspecified seconds and hundredths count as zero."""
        if self.hour == NOT_SPECIFIED or self.minute == NOT_SPECIFIED:
            raise ValueError(f"{self} is not a specific time")
        second = 0 if self.second == NOT_SPECIFIED else self.second
        hundredths = 0 if self.hundredths == NOT_SPECIFIED else self.hundredths
        return _dt.time(self.hour, self.minute, second, hundredths * 10_000)


@dataclass(frozen=True, slots=True)
class DateTime:
    """COSEM ``date-time`` (12 octets).

    ``deviation`` follows the Blue Book: minutes *of local time to UTC*, i.e. ``UTC = local +
    deviation`` (CET in winter is ``-60``). ``clock_status`` bit 7 is daylight saving active.
    """

    year: int = YEAR_NOT_SPECIFIED
    month: int = NOT_SPECIFIED
    day: int = NOT_SPECIFIED
    weekday: int = NOT_SPECIFIED
    hour: int = NOT_SPECIFIED
    minute: int = NOT_SPECIFIED
    second: int = NOT_SPECIFIED
    hundredths: int = NOT_SPECIFIED
    deviation: int = DEVIATION_NOT_SPECIFIED
    clock_status: int = NOT_SPECIFIED

    tag: ClassVar[Tag] = Tag.DATE_TIME

    @classmethod
    def from_datetime(cls, value: _dt.datetime, clock_status: int = 0) -> DateTime:
        """Encode an aware ``datetime`` with its UTC offset, or a naive one with deviation unset."""
        offset = value.utcoffset()
        deviation = (
            DEVIATION_NOT_SPECIFIED if offset is None else -int(offset.total_seconds() // 60)
        )
        return cls(
            value.year,
            value.month,
            value.day,
            value.isoweekday(),
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 10_000,
            deviation,
            clock_status,
        )

    def to_datetime(self) -> _dt.datetime:
        """The instant; aware when the deviation is given. Raises ``ValueError`` on wildcards."""
        date = Date(self.year, self.month, self.day).to_date()
        time = Time(self.hour, self.minute, self.second, self.hundredths).to_time()
        tz = (
            None
            if self.deviation == DEVIATION_NOT_SPECIFIED
            else _dt.timezone(_dt.timedelta(minutes=-self.deviation))
        )
        return _dt.datetime.combine(date, time, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class TypeDescription:
    """The ``TypeDescription`` of a compact-array: a simple tag, or an array of ``count`` elements
    of one description, or a structure of several descriptions."""

    tag: Tag
    count: int = 0
    elements: tuple[TypeDescription, ...] = ()


@dataclass(slots=True)
class CompactArray:
    """``compact-array``: values of one description sent without per-value tags."""

    description: TypeDescription
    values: list[Data]


Data = Union[  # noqa: UP007 - a recursive alias reads better spelled out
    None,
    bool,
    bytes,
    _TypedInt,
    Float32,
    Float64,
    OctetString,
    VisibleString,
    Utf8String,
    BitString,
    Array,
    Structure,
    CompactArray,
    Date,
    Time,
    DateTime,
    DontCare,
]
"""Any COSEM data value."""

INTEGER_TYPES: tuple[type[_TypedInt], ...] = (
    Integer,
    Long,
    DoubleLong,
    Long64,
    Unsigned,
    LongUnsigned,
    DoubleLongUnsigned,
    Long64Unsigned,
    Enum,
    Bcd,
)
