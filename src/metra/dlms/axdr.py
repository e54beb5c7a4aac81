"""A-XDR codec for COSEM data (IEC 61334-6 A-XDR as profiled by IEC 62056-6-2).

Decoding is *bounded*: every length and element count is checked against the bytes that remain
before anything is allocated, nesting is limited to :data:`MAX_DEPTH`, and a compact-array whose
element description occupies no bytes is refused (it could otherwise describe billions of values in
zero bytes). So no input can make the decoder hang or allocate beyond a small multiple of its size.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from .data import (
    INTEGER_TYPES,
    TAG_NAMES,
    Array,
    BitString,
    CompactArray,
    Data,
    Date,
    DateTime,
    DontCare,
    Float32,
    Float64,
    OctetString,
    Structure,
    Tag,
    Time,
    TypeDescription,
    Utf8String,
    VisibleString,
    _TypedInt,
)
from .errors import DecodeError, EncodeError

#: Deepest nesting of arrays / structures accepted by the decoder. Real COSEM data rarely exceed 5.
MAX_DEPTH = 32

_U16 = struct.Struct(">H")
_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBBB")
_DATETIME = struct.Struct(">HBBBBBBBhB")

# ----------------------------------------------------------------------------------------- length


def encode_length(n: int) -> bytes:
    """A-XDR length: one octet below 128, else ``0x80 | k`` followed by ``k`` big-endian octets."""
    if n < 0:
        raise EncodeError(f"negative length {n}")
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(body) > 0x7F:
        raise EncodeError("length too large to encode")
    return bytes((0x80 | len(body),)) + body


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an A-XDR length at ``pos``; returns ``(length, next position)``.

    The caller still checks the length against what remains; this only refuses forms that cannot
    be a length of anything held in memory (more than 8 length octets, indefinite form).
    """
    if pos >= len(buf):
        raise DecodeError("truncated: expected a length", pos)
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    k = first & 0x7F
    if k == 0 or k > 8:
        raise DecodeError(f"invalid length form 0x{first:02x}", pos)
    end = pos + 1 + k
    if end > len(buf):
        raise DecodeError("truncated length field", pos)
    return int.from_bytes(buf[pos + 1 : end], "big"), end


# ---------------------------------------------------------------------------------------- encoding


def encode(value: Data) -> bytes:
    """Encode one COSEM data value with its tag."""
    out = bytearray()
    encode_into(out, value)
    return bytes(out)


def encode_into(out: bytearray, value: Data) -> None:
    """Append the tagged encoding of ``value`` to ``out`` (avoids copies when building APDUs)."""
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _encoder_for_subclass(value)
    encoder(out, value)


def _encoder_for_subclass(value: object) -> Callable[[bytearray, object], None]:
    for base, enc in _ENCODERS.items():
        if base is not type(None) and isinstance(value, base) and base not in (int, str, list):
            return enc
    raise EncodeError(
        f"cannot encode {type(value).__name__} as COSEM data: use a typed value such as "
        "LongUnsigned(…), Structure([...]) or VisibleString(…)"
    )


def _enc_null(out: bytearray, _: object) -> None:
    out.append(Tag.NULL_DATA)


def _enc_bool(out: bytearray, value: object) -> None:
    out.append(Tag.BOOLEAN)
    out.append(0xFF if value else 0x00)


def _enc_int(out: bytearray, value: object) -> None:
    assert isinstance(value, _TypedInt)
    out.append(value.tag)
    out += struct.pack(value.fmt, value)


def _enc_float(out: bytearray, value: object) -> None:
    assert isinstance(value, Float32 | Float64)
    out.append(value.tag)
    out += struct.pack(value.fmt, value)


def _enc_octets(out: bytearray, value: object) -> None:
    assert isinstance(value, bytes)
    out.append(Tag.OCTET_STRING)
    out += encode_length(len(value))
    out += value


def _enc_visible(out: bytearray, value: object) -> None:
    assert isinstance(value, str)
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise EncodeError("visible-string holds only single-octet characters") from exc
    out.append(Tag.VISIBLE_STRING)
    out += encode_length(len(raw))
    out += raw


def _enc_utf8(out: bytearray, value: object) -> None:
    assert isinstance(value, str)
    raw = value.encode("utf-8")
    out.append(Tag.UTF8_STRING)
    out += encode_length(len(raw))
    out += raw


def _enc_bits(out: bytearray, value: object) -> None:
    assert isinstance(value, str)
    out.append(Tag.BIT_STRING)
    out += encode_length(len(value))
    out += _bits_to_bytes(value)


def _bits_to_bytes(bits: str) -> bytes:
    nbytes = (len(bits) + 7) // 8
    if nbytes == 0:
        return b""
    return int(bits.ljust(nbytes * 8, "0"), 2).to_bytes(nbytes, "big")


def _enc_seq(out: bytearray, value: object) -> None:
    assert isinstance(value, list)
    out.append(Tag.ARRAY if isinstance(value, Array) else Tag.STRUCTURE)
    out += encode_length(len(value))
    for item in value:
        encode_into(out, item)


def _enc_date(out: bytearray, value: object) -> None:
    assert isinstance(value, Date)
    out.append(Tag.DATE)
    out += date_to_bytes(value)


def _enc_time(out: bytearray, value: object) -> None:
    assert isinstance(value, Time)
    out.append(Tag.TIME)
    out += time_to_bytes(value)


def _enc_datetime(out: bytearray, value: object) -> None:
    assert isinstance(value, DateTime)
    out.append(Tag.DATE_TIME)
    out += datetime_to_bytes(value)


def _enc_dont_care(out: bytearray, _: object) -> None:
    out.append(Tag.DONT_CARE)


def _enc_compact(out: bytearray, value: object) -> None:
    assert isinstance(value, CompactArray)
    out.append(Tag.COMPACT_ARRAY)
    _encode_description(out, value.description)
    content = bytearray()
    for item in value.values:
        _encode_untagged(content, value.description, item)
    out += encode_length(len(content))
    out += content


def _encode_description(out: bytearray, desc: TypeDescription) -> None:
    out.append(desc.tag)
    if desc.tag == Tag.ARRAY:
        if len(desc.elements) != 1:
            raise EncodeError("an array type description has exactly one element description")
        out += _U16.pack(desc.count)
        _encode_description(out, desc.elements[0])
    elif desc.tag == Tag.STRUCTURE:
        out += encode_length(len(desc.elements))
        for element in desc.elements:
            _encode_description(out, element)


def _encode_untagged(out: bytearray, desc: TypeDescription, value: Data) -> None:
    """A value inside a compact-array: its tagged form without the tag (lengths stay)."""
    if desc.tag == Tag.ARRAY:
        if not isinstance(value, list) or len(value) != desc.count:
            raise EncodeError(f"compact-array element must be an array of {desc.count}")
        for item in value:
            _encode_untagged(out, desc.elements[0], item)
        return
    if desc.tag == Tag.STRUCTURE:
        if not isinstance(value, list) or len(value) != len(desc.elements):
            raise EncodeError(f"compact-array element must be a structure of {len(desc.elements)}")
        for element, item in zip(desc.elements, value, strict=True):
            _encode_untagged(out, element, item)
        return
    tagged = encode(value)
    if tagged[0] != desc.tag:
        raise EncodeError(
            f"compact-array element of type {tagged[0]} does not match description {desc.tag}"
        )
    out += tagged[1:]


_ENCODERS: dict[type, Callable[[bytearray, object], None]] = {
    type(None): _enc_null,
    bool: _enc_bool,
    bytes: _enc_octets,
    OctetString: _enc_octets,
    VisibleString: _enc_visible,
    Utf8String: _enc_utf8,
    BitString: _enc_bits,
    Array: _enc_seq,
    Structure: _enc_seq,
    Float32: _enc_float,
    Float64: _enc_float,
    Date: _enc_date,
    Time: _enc_time,
    DateTime: _enc_datetime,
    DontCare: _enc_dont_care,
    CompactArray: _enc_compact,
    **{cls: _enc_int for cls in INTEGER_TYPES},
}

# ------------------------------------------------------------------------- date and time octets


def date_to_bytes(value: Date) -> bytes:
    """The 5 octets of a COSEM date (also used bare inside octet-strings)."""
    try:
        return _DATE.pack(value.year, value.month, value.day, value.weekday)
    except struct.error as exc:
        raise EncodeError(f"date field out of range: {value}") from exc


def time_to_bytes(value: Time) -> bytes:
    """The 4 octets of a COSEM time."""
    try:
        return _TIME.pack(value.hour, value.minute, value.second, value.hundredths)
    except struct.error as exc:
        raise EncodeError(f"time field out of range: {value}") from exc


def datetime_to_bytes(value: DateTime) -> bytes:
    """The 12 octets of a COSEM date-time. Clock attributes carry these inside an octet-string."""
    try:
        return _DATETIME.pack(
            value.year,
            value.month,
            value.day,
            value.weekday,
            value.hour,
            value.minute,
            value.second,
            value.hundredths,
            value.deviation,
            value.clock_status,
        )
    except struct.error as exc:
        raise EncodeError(f"date-time field out of range: {value}") from exc


def date_from_bytes(raw: bytes) -> Date:
    if len(raw) != 5:
        raise DecodeError(f"a date is 5 octets, not {len(raw)}")
    return Date(*_DATE.unpack(raw))


def time_from_bytes(raw: bytes) -> Time:
    if len(raw) != 4:
        raise DecodeError(f"a time is 4 octets, not {len(raw)}")
    return Time(*_TIME.unpack(raw))


def datetime_from_bytes(raw: bytes) -> DateTime:
    """Parse the 12 octets of a date-time (e.g. the octet-string value of Clock.time)."""
    if len(raw) != 12:
        raise DecodeError(f"a date-time is 12 octets, not {len(raw)}")
    return DateTime(*_DATETIME.unpack(raw))


# ---------------------------------------------------------------------------------------- decoding


def decode(buf: bytes) -> Data:
    """Decode exactly one value occupying all of ``buf``; trailing bytes are an error."""
    value, pos = decode_from(buf, 0)
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} trailing bytes after the value", pos)
    return value


def decode_from(buf: bytes, pos: int = 0) -> tuple[Data, int]:
    """Decode one value starting at ``pos``; returns ``(value, next position)``."""
    return _decode(bytes(buf) if not isinstance(buf, bytes) else buf, pos, 0)


_Ctor = Callable[..., Any]

#: Fixed-size types: tag -> (class, struct, constructor). The constructor bypasses the range check
#: of ``_TypedInt.__new__``: a value unpacked from its own struct format is always in range.
_FIXED: dict[int, tuple[type, struct.Struct, _Ctor]] = {
    **{int(cls.tag): (cls, struct.Struct(cls.fmt), int.__new__) for cls in INTEGER_TYPES},
    int(Tag.FLOAT32): (Float32, struct.Struct(">f"), float.__new__),
    int(Tag.FLOAT64): (Float64, struct.Struct(">d"), float.__new__),
}


def _decode(buf: bytes, pos: int, depth: int) -> tuple[Data, int]:
    end = len(buf)
    if pos >= end:
        raise DecodeError("truncated: expected a data tag", pos)
    tag = buf[pos]
    start = pos
    pos += 1
    fixed = _FIXED.get(tag)
    if fixed is not None:
        cls, st, ctor = fixed
        if pos + st.size > end:
            raise DecodeError(f"truncated {cls.__name__}", start)
        return ctor(cls, st.unpack_from(buf, pos)[0]), pos + st.size
    if tag == Tag.STRUCTURE or tag == Tag.ARRAY:
        if depth >= MAX_DEPTH:
            raise DecodeError(f"nesting deeper than {MAX_DEPTH}", start)
        count, pos = decode_length(buf, pos)
        if count > end - pos:
            raise DecodeError(
                f"{TAG_NAMES[tag]} of {count} elements cannot fit in {end - pos} bytes", start
            )
        items, pos = _decode_elements(buf, pos, count, depth + 1)
        return (Structure(items) if tag == Tag.STRUCTURE else Array(items)), pos
    if tag == Tag.OCTET_STRING:
        raw_bytes, pos = _read_counted(buf, pos, start, "octet-string")
        return OctetString(raw_bytes), pos
    if tag == Tag.VISIBLE_STRING:
        raw_bytes, pos = _read_counted(buf, pos, start, "visible-string")
        return VisibleString(raw_bytes.decode("latin-1")), pos
    if tag == Tag.UTF8_STRING:
        raw_bytes, pos = _read_counted(buf, pos, start, "utf8-string")
        try:
            return Utf8String(raw_bytes.decode("utf-8")), pos
        except UnicodeDecodeError as exc:
            raise DecodeError(f"utf8-string is not valid UTF-8: {exc.reason}", start) from None
    if tag == Tag.NULL_DATA:
        return None, pos
    if tag == Tag.BOOLEAN:
        if pos >= end:
            raise DecodeError("truncated boolean", start)
        return buf[pos] != 0, pos + 1
    if tag == Tag.BIT_STRING:
        nbits, pos = decode_length(buf, pos)
        nbytes = (nbits + 7) // 8
        if nbytes > end - pos:
            raise DecodeError(f"bit-string of {nbits} bits exceeds the input", start)
        raw = int.from_bytes(buf[pos : pos + nbytes], "big")
        bits = format(raw, f"0{nbytes * 8}b")[:nbits] if nbytes else ""
        return BitString(bits), pos + nbytes
    if tag == Tag.DATE_TIME:
        return datetime_from_bytes(_take(buf, pos, 12, start, "date-time")), pos + 12
    if tag == Tag.DATE:
        return date_from_bytes(_take(buf, pos, 5, start, "date")), pos + 5
    if tag == Tag.TIME:
        return time_from_bytes(_take(buf, pos, 4, start, "time")), pos + 4
    if tag == Tag.COMPACT_ARRAY:
        return _decode_compact(buf, pos, start, depth)
    if tag == Tag.DONT_CARE:
        return DontCare(), pos
    raise DecodeError(f"unknown data tag 0x{tag:02x}", start)


def _decode_elements(buf: bytes, pos: int, count: int, depth: int) -> tuple[list[Data], int]:
    """The elements of an array or structure.

    Profile buffers are thousands of fixed-size numbers and short octet-strings; decoding those
    inline, without a call per value, is what makes a daily profile read cheap. Every other type
    goes through :func:`_decode` with the same bounds checks.
    """
    end = len(buf)
    items: list[Data] = []
    append = items.append
    fixed_types = _FIXED
    for _ in range(count):
        if pos >= end:
            raise DecodeError("truncated: expected a data tag", pos)
        tag = buf[pos]
        fixed = fixed_types.get(tag)
        if fixed is not None:
            cls, st, ctor = fixed
            nxt = pos + 1 + st.size
            if nxt > end:
                raise DecodeError(f"truncated {cls.__name__}", pos)
            append(ctor(cls, st.unpack_from(buf, pos + 1)[0]))
            pos = nxt
        elif tag == Tag.OCTET_STRING and pos + 1 < end and buf[pos + 1] < 0x80:
            nxt = pos + 2 + buf[pos + 1]
            if nxt > end:
                raise DecodeError(
                    f"octet-string of {buf[pos + 1]} bytes exceeds the {end - pos - 2} remaining",
                    pos,
                )
            append(OctetString(buf[pos + 2 : nxt]))
            pos = nxt
        else:
            item, pos = _decode(buf, pos, depth)
            append(item)
    return items, pos


def _take(buf: bytes, pos: int, n: int, start: int, what: str) -> bytes:
    if pos + n > len(buf):
        raise DecodeError(f"truncated {what}", start)
    return buf[pos : pos + n]


def _read_counted(buf: bytes, pos: int, start: int, what: str) -> tuple[bytes, int]:
    n, pos = decode_length(buf, pos)
    if n > len(buf) - pos:
        raise DecodeError(f"{what} of {n} bytes exceeds the {len(buf) - pos} remaining", start)
    return buf[pos : pos + n], pos + n


def _decode_description(buf: bytes, pos: int, depth: int) -> tuple[TypeDescription, int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"type description nested deeper than {MAX_DEPTH}", pos)
    if pos >= len(buf):
        raise DecodeError("truncated type description", pos)
    tag = buf[pos]
    start = pos
    pos += 1
    if tag == Tag.ARRAY:
        if pos + 2 > len(buf):
            raise DecodeError("truncated array type description", start)
        count = _U16.unpack_from(buf, pos)[0]
        inner, pos = _decode_description(buf, pos + 2, depth + 1)
        return TypeDescription(Tag.ARRAY, count, (inner,)), pos
    if tag == Tag.STRUCTURE:
        n, pos = decode_length(buf, pos)
        if n > len(buf) - pos:
            raise DecodeError(f"structure description of {n} elements exceeds the input", start)
        elements = []
        for _ in range(n):
            element, pos = _decode_description(buf, pos, depth + 1)
            elements.append(element)
        return TypeDescription(Tag.STRUCTURE, 0, tuple(elements)), pos
    if tag == Tag.COMPACT_ARRAY or tag not in _SIMPLE_SIZES:
        raise DecodeError(f"tag 0x{tag:02x} cannot appear in a type description", start)
    return TypeDescription(Tag(tag)), pos


#: Minimum encoded size of each simple type inside a compact-array (length-prefixed ones: 1).
_SIMPLE_SIZES: dict[int, int] = {
    **{int(cls.tag): struct.calcsize(cls.fmt) for cls in INTEGER_TYPES},
    int(Tag.FLOAT32): 4,
    int(Tag.FLOAT64): 8,
    int(Tag.NULL_DATA): 0,
    int(Tag.BOOLEAN): 1,
    int(Tag.BIT_STRING): 1,
    int(Tag.OCTET_STRING): 1,
    int(Tag.VISIBLE_STRING): 1,
    int(Tag.UTF8_STRING): 1,
    int(Tag.DATE_TIME): 12,
    int(Tag.DATE): 5,
    int(Tag.TIME): 4,
    int(Tag.DONT_CARE): 0,
}


def _min_size(desc: TypeDescription) -> int:
    if desc.tag == Tag.ARRAY:
        return desc.count * _min_size(desc.elements[0])
    if desc.tag == Tag.STRUCTURE:
        return sum(_min_size(e) for e in desc.elements)
    return _SIMPLE_SIZES[desc.tag]


def _has_empty_repetition(desc: TypeDescription) -> bool:
    """True when an array repeats an element that occupies no bytes (unbounded in zero input)."""
    if desc.tag == Tag.ARRAY:
        inner = desc.elements[0]
        return (desc.count > 0 and _min_size(inner) == 0) or _has_empty_repetition(inner)
    if desc.tag == Tag.STRUCTURE:
        return any(_has_empty_repetition(e) for e in desc.elements)
    return False


def _decode_compact(buf: bytes, pos: int, start: int, depth: int) -> tuple[Data, int]:
    desc, pos = _decode_description(buf, pos, depth)
    if _min_size(desc) == 0 or _has_empty_repetition(desc):
        raise DecodeError("compact-array element description occupies no bytes", start)
    content_len, pos = decode_length(buf, pos)
    content_end = pos + content_len
    if content_end > len(buf):
        raise DecodeError(f"compact-array content of {content_len} bytes exceeds the input", start)
    content = buf[:content_end]
    values: list[Data] = []
    while pos < content_end:
        value, pos = _decode_untagged(content, pos, desc, depth + 1)
        values.append(value)
    return CompactArray(desc, values), pos


def _decode_untagged(buf: bytes, pos: int, desc: TypeDescription, depth: int) -> tuple[Data, int]:
    if desc.tag == Tag.ARRAY:
        items: list[Data] = []
        for _ in range(desc.count):
            item, pos = _decode_untagged(buf, pos, desc.elements[0], depth + 1)
            items.append(item)
        return Array(items), pos
    if desc.tag == Tag.STRUCTURE:
        fields: list[Data] = []
        for element in desc.elements:
            item, pos = _decode_untagged(buf, pos, element, depth + 1)
            fields.append(item)
        return Structure(fields), pos
    # Re-use the tagged decoder on a virtual tag: keeps one set of bounds and type checks.
    span = _untagged_span(buf, pos, desc)
    value, _ = _decode(bytes((desc.tag,)) + buf[pos : pos + span], 0, depth)
    return value, pos + span


def _untagged_span(buf: bytes, pos: int, desc: TypeDescription) -> int:
    """How many bytes a simple untagged value at ``pos`` occupies (bounds-checked)."""
    size = _SIMPLE_SIZES[desc.tag]
    if desc.tag in (Tag.OCTET_STRING, Tag.VISIBLE_STRING, Tag.UTF8_STRING, Tag.BIT_STRING):
        n, body = decode_length(buf, pos)
        if desc.tag == Tag.BIT_STRING:
            n = (n + 7) // 8
        size = body - pos + n
    if pos + size > len(buf):
        raise DecodeError("truncated compact-array element", pos)
    return size
