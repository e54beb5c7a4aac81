"""A small, bounded BER (ITU-T X.690) reader and writer for the ACSE APDUs.

DLMS uses BER only for the association APDUs (AARQ, AARE, RLRQ, RLRE) and for the conformance
block; everything else is A-XDR (:mod:`metra.dlms.axdr`). So this module holds just what those
need: tags of every class (including multi-octet tag numbers such as [APPLICATION 31]), definite
lengths, and the INTEGER, OBJECT IDENTIFIER and BIT STRING contents they carry.

It is bounded on purpose: a tag number may use at most :data:`MAX_TAG_OCTETS` continuation octets
and a length at most :data:`MAX_LENGTH_OCTETS`; every length is checked against the bytes that
remain before anything is copied; the indefinite length form (which would make the end of a value
depend on scanning nested content) is refused. The reader never recurses: callers walk the fixed,
shallow structure of the ACSE APDUs themselves, so nesting depth cannot be abused.

Offsets in :class:`~metra.dlms.errors.DecodeError` are positions in the caller's original input:
callers that decode a nested value pass its ``value_offset`` as ``base``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from .errors import DecodeError, EncodeError

#: Most continuation octets accepted in a high tag number (28 bits of tag number).
MAX_TAG_OCTETS = 4
#: Most octets accepted in a long-form length (lengths up to 4 GiB; far beyond any APDU).
MAX_LENGTH_OCTETS = 4
#: Most content octets accepted for an INTEGER decoded into a Python int.
MAX_INTEGER_OCTETS = 8


class TagClass(IntEnum):
    """The two class bits of an identifier octet (X.690 8.1.2.2)."""

    UNIVERSAL = 0
    APPLICATION = 1
    CONTEXT = 2
    PRIVATE = 3


@dataclass(frozen=True)
class Tag:
    """A BER tag: class, primitive/constructed, and number."""

    cls: TagClass
    number: int
    constructed: bool = False

    def encode(self) -> bytes:
        """Identifier octets: one octet for numbers below 31, else the high-tag-number form."""
        if self.number < 0:
            raise EncodeError(f"negative tag number {self.number}")
        lead = (int(self.cls) << 6) | (0x20 if self.constructed else 0)
        if self.number < 0x1F:
            return bytes((lead | self.number,))
        groups = []
        n = self.number
        while True:
            groups.append(n & 0x7F)
            n >>= 7
            if n == 0:
                break
        if len(groups) > MAX_TAG_OCTETS:
            raise EncodeError(f"tag number {self.number} too large")
        body = bytes(g | 0x80 for g in reversed(groups[1:])) + bytes((groups[0],))
        return bytes((lead | 0x1F,)) + body


# Universal tags used by the ACSE.
INTEGER = Tag(TagClass.UNIVERSAL, 2)
BIT_STRING = Tag(TagClass.UNIVERSAL, 3)
OCTET_STRING = Tag(TagClass.UNIVERSAL, 4)
OBJECT_IDENTIFIER = Tag(TagClass.UNIVERSAL, 6)


def context(number: int, constructed: bool = False) -> Tag:
    """A context-specific tag ``[number]``; most ACSE fields are one of these."""
    return Tag(TagClass.CONTEXT, number, constructed)


def application(number: int, constructed: bool = False) -> Tag:
    """An application tag ``[APPLICATION number]`` (the APDU tags, the conformance block)."""
    return Tag(TagClass.APPLICATION, number, constructed)


@dataclass(frozen=True)
class Tlv:
    """One decoded tag-length-value, with where it was found in the caller's input."""

    tag: Tag
    value: bytes
    offset: int
    value_offset: int


# ----------------------------------------------------------------------------------------- writing


def encode_length(n: int) -> bytes:
    """Definite length: short form below 128, else ``0x80 | k`` and ``k`` big-endian octets."""
    if n < 0:
        raise EncodeError(f"negative length {n}")
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(body) > MAX_LENGTH_OCTETS:
        raise EncodeError(f"length {n} too large")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: Tag, value: bytes) -> bytes:
    """Tag, definite length and value."""
    return tag.encode() + encode_length(len(value)) + value


def encode_constructed(tag: Tag, parts: Iterable[bytes]) -> bytes:
    """A constructed TLV whose value is the concatenation of already-encoded ``parts``."""
    return encode_tlv(Tag(tag.cls, tag.number, True), b"".join(parts))


def encode_integer(n: int) -> bytes:
    """INTEGER contents: minimal two's complement, at least one octet (X.690 8.3)."""
    size = max(1, (n + (n < 0)).bit_length() // 8 + 1)
    return n.to_bytes(size, "big", signed=True)


def encode_oid(arcs: tuple[int, ...]) -> bytes:
    """OBJECT IDENTIFIER contents (X.690 8.19): first two arcs joined, then base-128 arcs."""
    if len(arcs) < 2 or arcs[0] not in (0, 1, 2) or (arcs[0] < 2 and arcs[1] >= 40):
        raise EncodeError(f"invalid object identifier {arcs}")
    if any(a < 0 for a in arcs):
        raise EncodeError(f"negative arc in object identifier {arcs}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append((arc & 0x7F) | 0x80)
            arc >>= 7
        out += bytes(reversed(groups))
    return bytes(out)


def encode_bit_string(data: bytes, unused_bits: int) -> bytes:
    """BIT STRING contents: the count of unused trailing bits, then the bits, first bit as MSB."""
    if not 0 <= unused_bits <= 7 or (not data and unused_bits):
        raise EncodeError(f"invalid unused bit count {unused_bits}")
    return bytes((unused_bits,)) + data


# ----------------------------------------------------------------------------------------- reading


def read_tlv(buf: bytes, pos: int = 0, *, base: int = 0) -> tuple[Tlv, int]:
    """Read one TLV starting at ``pos``; returns it and the position just after it.

    ``base`` is added to every offset reported, so nested values report positions in the
    outermost input.
    """
    start = pos
    if pos >= len(buf):
        raise DecodeError("truncated: expected a tag", base + pos)
    first = buf[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        for i in range(MAX_TAG_OCTETS):
            if pos >= len(buf):
                raise DecodeError("truncated tag number", base + start)
            octet = buf[pos]
            pos += 1
            if i == 0 and octet == 0x80:
                raise DecodeError("tag number with a leading zero group", base + start)
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
        else:
            raise DecodeError("tag number too long", base + start)
        if number < 0x1F:
            raise DecodeError(f"tag number {number} in the high-tag-number form", base + start)
    tag = Tag(TagClass(first >> 6), number, bool(first & 0x20))
    length, pos = _read_length(buf, pos, base)
    if length > len(buf) - pos:
        raise DecodeError(
            f"value of {length} bytes exceeds the {len(buf) - pos} remaining", base + start
        )
    return Tlv(tag, bytes(buf[pos : pos + length]), base + start, base + pos), pos + length


def _read_length(buf: bytes, pos: int, base: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise DecodeError("truncated: expected a length", base + pos)
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x80:
        raise DecodeError("indefinite length is not accepted", base + pos)
    k = first & 0x7F
    if k > MAX_LENGTH_OCTETS:
        raise DecodeError(f"length of {k} octets is too long", base + pos)
    end = pos + 1 + k
    if end > len(buf):
        raise DecodeError("truncated length", base + pos)
    return int.from_bytes(buf[pos + 1 : end], "big"), end


def read_tlvs(buf: bytes, *, base: int = 0) -> list[Tlv]:
    """Every TLV in ``buf``, which they must fill exactly (the contents of a SEQUENCE)."""
    out = []
    pos = 0
    while pos < len(buf):
        tlv, pos = read_tlv(buf, pos, base=base)
        out.append(tlv)
    return out


def read_single(buf: bytes, expected: Tag, *, base: int = 0) -> Tlv:
    """The one TLV that fills ``buf`` exactly, which must carry the ``expected`` tag."""
    tlv, end = read_tlv(buf, 0, base=base)
    if tlv.tag != expected:
        raise DecodeError(f"expected tag {expected}, found {tlv.tag}", tlv.offset)
    if end != len(buf):
        raise DecodeError(f"{len(buf) - end} trailing bytes", base + end)
    return tlv


def decode_integer(tlv: Tlv) -> int:
    """The INTEGER held in ``tlv``'s contents (a tag already checked by the caller)."""
    if not tlv.value:
        raise DecodeError("empty INTEGER", tlv.value_offset)
    if len(tlv.value) > MAX_INTEGER_OCTETS:
        raise DecodeError(f"INTEGER of {len(tlv.value)} octets is too long", tlv.value_offset)
    return int.from_bytes(tlv.value, "big", signed=True)


def decode_oid(tlv: Tlv) -> tuple[int, ...]:
    """The OBJECT IDENTIFIER arcs held in ``tlv``'s contents."""
    raw = tlv.value
    if not raw:
        raise DecodeError("empty OBJECT IDENTIFIER", tlv.value_offset)
    if raw[-1] & 0x80:
        raise DecodeError("truncated OBJECT IDENTIFIER arc", tlv.value_offset + len(raw) - 1)
    values: list[int] = []
    arc = 0
    groups = 0
    for i, octet in enumerate(raw):
        if groups == 0 and octet == 0x80:
            raise DecodeError(
                "OBJECT IDENTIFIER arc with a leading zero group", tlv.value_offset + i
            )
        arc = (arc << 7) | (octet & 0x7F)
        groups += 1
        if groups > MAX_INTEGER_OCTETS:
            raise DecodeError("OBJECT IDENTIFIER arc too large", tlv.value_offset + i)
        if not octet & 0x80:
            values.append(arc)
            arc = 0
            groups = 0
    first = values[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *values[1:])


def decode_bit_string(tlv: Tlv) -> tuple[bytes, int]:
    """A BIT STRING's ``(bits, unused trailing bit count)`` from ``tlv``'s contents."""
    raw = tlv.value
    if not raw:
        raise DecodeError("empty BIT STRING", tlv.value_offset)
    unused = raw[0]
    if unused > 7 or (len(raw) == 1 and unused):
        raise DecodeError(f"invalid unused bit count {unused}", tlv.value_offset)
    return bytes(raw[1:]), unused
