"""HDLC frames of IEC 62056-46 (frame format type 3), as used by DLMS/COSEM on serial lines.

A frame is ``7E | format(2) | dest addr | src addr | control | [HCS(2) | info] | FCS(2) | 7E``.
The format field holds the type (0xA), the segmentation bit and an 11-bit length counting every
byte between the flags. DLMS does no byte stuffing: the length, not a closing flag, says where a
frame ends, so a 0x7E inside the information field is ordinary data. HCS and FCS are the FCS-16 of
RFC 1662 (CRC-16/X.25), sent least significant byte first.

The streaming :class:`HdlcFrameDecoder` finds frames between flags, reports a damaged frame as a
:class:`DecodeError` value and carries on at the next flag. It never holds more than one maximal
frame (2049 bytes) of input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import DecodeError, EncodeError

FLAG = 0x7E
#: Frame format type 3 in the upper nibble of the format field.
FORMAT_TYPE_3 = 0xA000
SEGMENTATION_BIT = 0x0800
LENGTH_MASK = 0x07FF
#: Largest number of bytes between the flags (11-bit length).
MAX_FRAME_LENGTH = LENGTH_MASK

#: LLC header prefixed to the APDU in I-frames (IEC 62056-46, 8.4.2.3 in the Green Book).
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

#: Defaults of the negotiation parameters when SNRM/UA carry none (IEC 62056-46).
DEFAULT_MAX_INFO = 128
DEFAULT_WINDOW = 1
#: Largest information field that fits the 11-bit length with 4-byte addresses.
MAX_INFO_LENGTH = 2030
#: Our floor for a negotiated information field: smaller would make absurd numbers of segments.
MIN_INFO_LENGTH = 32
#: Modulo-8 sequence numbers allow at most 7 outstanding frames.
MAX_WINDOW = 7

# --------------------------------------------------------------------------------------------- CRC


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_table()


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """FCS-16 of RFC 1662 (CRC-16/X.25: reflected poly 0x1021, init and xor-out 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def _fcs_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return crc16_x25(data).to_bytes(2, "little")


# ----------------------------------------------------------------------------------------- address


@dataclass(frozen=True)
class HdlcAddress:
    """An HDLC address of 1, 2 or 4 bytes.

    Each byte carries 7 address bits and, in bit 0, the extension bit that marks the last byte. A
    server address has an upper part (the logical device) and, in 2- and 4-byte forms, a lower part
    (the physical device); a client address is one byte with only the upper part.
    """

    logical: int
    physical: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size == 1:
            if not 0 <= self.logical <= 0x7F or self.physical != 0:
                raise EncodeError(f"1-byte HDLC address holds 0..127 only: {self}")
        elif self.size == 2:
            if not (0 <= self.logical <= 0x7F and 0 <= self.physical <= 0x7F):
                raise EncodeError(f"2-byte HDLC address parts hold 0..127: {self}")
        elif self.size == 4:
            if not (0 <= self.logical <= 0x3FFF and 0 <= self.physical <= 0x3FFF):
                raise EncodeError(f"4-byte HDLC address parts hold 0..16383: {self}")
        else:
            raise EncodeError(f"HDLC address size must be 1, 2 or 4, not {self.size}")

    def encode(self) -> bytes:
        """The address bytes, extension bit set on the last one only."""
        if self.size == 1:
            return bytes(((self.logical << 1) | 1,))
        if self.size == 2:
            return bytes((self.logical << 1, (self.physical << 1) | 1))
        lo, ph = self.logical, self.physical
        return bytes(((lo >> 7) << 1, (lo & 0x7F) << 1, (ph >> 7) << 1, ((ph & 0x7F) << 1) | 1))

    def same_device(self, other: HdlcAddress) -> bool:
        """Same logical and physical device, whatever byte size each was written in."""
        return (self.logical, self.physical) == (other.logical, other.physical)


def decode_address(buf: bytes | bytearray, pos: int, end: int) -> tuple[HdlcAddress, int]:
    """Read an address at ``pos``; returns it and the position after it."""
    start = pos
    while True:
        if pos >= end or pos - start >= 4:
            raise DecodeError("HDLC address without its last byte", pos)
        last = buf[pos] & 1
        pos += 1
        if last:
            break
    parts = [b >> 1 for b in buf[start:pos]]
    size = pos - start
    if size == 1:
        return HdlcAddress(parts[0]), pos
    if size == 2:
        return HdlcAddress(parts[0], parts[1], 2), pos
    if size == 4:
        return HdlcAddress((parts[0] << 7) | parts[1], (parts[2] << 7) | parts[3], 4), pos
    raise DecodeError("HDLC address of 3 bytes", start)


# ----------------------------------------------------------------------------------------- control


class FrameType(enum.Enum):
    """Frame kinds used by IEC 62056-46, valued by their control byte with P/F and counters zero."""

    I = 0x00  # noqa: E741 - the standard's name for an information frame
    RR = 0x01
    RNR = 0x05
    SNRM = 0x83
    DISC = 0x43
    UA = 0x63
    DM = 0x0F
    FRMR = 0x87
    UI = 0x03


_UNNUMBERED = {t.value: t for t in FrameType if t.value & 0x03 == 0x03}
POLL_FINAL = 0x10


@dataclass(frozen=True)
class Control:
    """A control field: frame type, poll/final bit and (for I and S frames) N(S) and N(R)."""

    kind: FrameType
    pf: bool = True
    ns: int = 0
    nr: int = 0

    def encode(self) -> int:
        """The control byte (modulo-8 numbering)."""
        pf = POLL_FINAL if self.pf else 0
        base: int = self.kind.value
        if self.kind is FrameType.I:
            return (self.nr & 7) << 5 | pf | (self.ns & 7) << 1
        if self.kind in (FrameType.RR, FrameType.RNR):
            return (self.nr & 7) << 5 | pf | base
        return base | pf

    @classmethod
    def decode(cls, byte: int, offset: int | None = None) -> Control:
        """Parse a control byte; an undefined unnumbered code is a :class:`DecodeError`."""
        pf = bool(byte & POLL_FINAL)
        if byte & 1 == 0:
            return cls(FrameType.I, pf, (byte >> 1) & 7, byte >> 5)
        if byte & 3 == 1:
            kind = {0x01: FrameType.RR, 0x05: FrameType.RNR}.get(byte & 0x0F)
            if kind is None:
                raise DecodeError(f"unsupported supervisory control {byte:#04x}", offset)
            return cls(kind, pf, 0, byte >> 5)
        unnumbered = _UNNUMBERED.get(byte & ~POLL_FINAL & 0xFF)
        if unnumbered is None:
            raise DecodeError(f"undefined unnumbered control {byte:#04x}", offset)
        return cls(unnumbered, pf)


# ------------------------------------------------------------------------------------------- frame


@dataclass(frozen=True)
class HdlcFrame:
    """One HDLC frame. ``segmented`` is the format field's S bit: more segments follow."""

    destination: HdlcAddress
    source: HdlcAddress
    control: Control
    info: bytes = b""
    segmented: bool = False

    def encode(self) -> bytes:
        """Flag to flag, with HCS (only when there is an information field) and FCS."""
        addresses = self.destination.encode() + self.source.encode()
        header_len = 2 + len(addresses) + 1
        length = header_len + (2 + len(self.info) if self.info else 0) + 2
        if length > MAX_FRAME_LENGTH:
            raise EncodeError(f"HDLC frame of {length} bytes exceeds the 11-bit length field")
        fmt = FORMAT_TYPE_3 | (SEGMENTATION_BIT if self.segmented else 0) | length
        body = bytearray(fmt.to_bytes(2, "big"))
        body += addresses
        body.append(self.control.encode())
        if self.info:
            body += _fcs_bytes(body)
            body += self.info
        body += _fcs_bytes(body)
        return bytes((FLAG,)) + bytes(body) + bytes((FLAG,))


def decode_frame(data: bytes | bytearray, offset: int = 0) -> HdlcFrame:
    """Parse one complete frame, flags included; ``offset`` is added to error positions."""
    if len(data) < 9 or data[0] != FLAG or data[-1] != FLAG:
        raise DecodeError("HDLC frame must be at least 9 bytes between two flags", offset)
    fmt = int.from_bytes(data[1:3], "big")
    if fmt & 0xF000 != FORMAT_TYPE_3:
        raise DecodeError(f"HDLC format type {fmt >> 12:#x}, expected 0xa", offset + 1)
    length = fmt & LENGTH_MASK
    if length != len(data) - 2:
        raise DecodeError(f"HDLC length {length} but {len(data) - 2} bytes between flags", offset)
    end = len(data) - 1
    if _fcs_bytes(memoryview(data)[1 : end - 2]) != data[end - 2 : end]:
        raise DecodeError("HDLC frame check sequence (FCS) mismatch", offset + end - 2)
    fcs_at = end - 2
    destination, pos = decode_address(data, 3, fcs_at)
    source, pos = decode_address(data, pos, fcs_at)
    if pos >= fcs_at:
        raise DecodeError("HDLC frame without control field", offset + pos)
    control = Control.decode(data[pos], offset + pos)
    pos += 1
    info = b""
    if pos < fcs_at:
        if fcs_at - pos < 3:
            raise DecodeError("HDLC information field without room for its HCS", offset + pos)
        if _fcs_bytes(memoryview(data)[1:pos]) != data[pos : pos + 2]:
            raise DecodeError("HDLC header check sequence (HCS) mismatch", offset + pos)
        info = bytes(data[pos + 2 : fcs_at])
    return HdlcFrame(destination, source, control, info, bool(fmt & SEGMENTATION_BIT))


class HdlcFrameDecoder:
    """Streaming frame finder: feed any chunks, get the frames (or the errors) they complete.

    A damaged frame does not stop the stream: it comes back as a :class:`DecodeError` value and the
    decoder resynchronises on the next flag. Bytes outside frames (line noise, fill flags) are
    dropped. The closing flag of a frame may also open the next one, as IEC 62056-46 allows.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._consumed = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame (never more than one maximal frame)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[HdlcFrame | DecodeError]:
        """Add ``data``; return each frame completed, or the error that discarded it, in order."""
        self._buffer += data
        buf = self._buffer
        out: list[HdlcFrame | DecodeError] = []
        pos = 0
        while True:
            flag = buf.find(FLAG, pos)
            if flag < 0:
                pos = len(buf)
                break
            pos = flag
            if len(buf) - pos < 3:
                break
            if buf[pos + 1] == FLAG or buf[pos + 1] & 0xF0 != FORMAT_TYPE_3 >> 8:
                pos += 1  # fill flag, or a closing flag followed by noise
                continue
            length = int.from_bytes(buf[pos + 1 : pos + 3], "big") & LENGTH_MASK
            if length < 7:
                out.append(DecodeError(f"HDLC length {length} too short", self._consumed + pos))
                pos += 1
                continue
            end = pos + length + 1  # index of the closing flag
            if end >= len(buf):
                break
            if buf[end] != FLAG:
                out.append(DecodeError("HDLC frame without closing flag", self._consumed + end))
                pos += 1
                continue
            try:
                out.append(decode_frame(buf[pos : end + 1], self._consumed + pos))
            except DecodeError as exc:
                out.append(exc)
            pos = end  # the closing flag may open the next frame
        del buf[:pos]
        self._consumed += pos
        return out


# ------------------------------------------------------------------------- SNRM / UA parameters


@dataclass(frozen=True)
class HdlcSettings:
    """Link parameters negotiated by SNRM/UA, from the point of view of the side that holds them.

    ``max_info_tx``/``max_info_rx`` bound the information field this side sends/accepts;
    ``window_tx``/``window_rx`` the number of I-frames it sends/accepts before an acknowledgement.
    """

    max_info_tx: int = DEFAULT_MAX_INFO
    max_info_rx: int = DEFAULT_MAX_INFO
    window_tx: int = DEFAULT_WINDOW
    window_rx: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        for name in ("max_info_tx", "max_info_rx"):
            value = getattr(self, name)
            if not MIN_INFO_LENGTH <= value <= MAX_INFO_LENGTH:
                raise EncodeError(f"{name} {value} outside {MIN_INFO_LENGTH}..{MAX_INFO_LENGTH}")
        for name in ("window_tx", "window_rx"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_WINDOW:
                raise EncodeError(f"{name} {value} outside 1..{MAX_WINDOW}")


_FORMAT_ID = 0x81
_GROUP_ID = 0x80
_PARAM_MAX_INFO_TX = 0x05
_PARAM_MAX_INFO_RX = 0x06
_PARAM_WINDOW_TX = 0x07
_PARAM_WINDOW_RX = 0x08


def encode_parameters(settings: HdlcSettings) -> bytes:
    """SNRM/UA information field: format 0x81, group 0x80, then the four parameters.

    Lengths are written in one byte when they fit, else two; window sizes in four bytes, as the
    examples in the DLMS UA Green Book and real meters do.
    """

    def param(ident: int, value: int, width: int) -> bytes:
        return bytes((ident, width)) + value.to_bytes(width, "big")

    def info_width(value: int) -> int:
        return 1 if value <= 0xFF else 2

    group = (
        param(_PARAM_MAX_INFO_TX, settings.max_info_tx, info_width(settings.max_info_tx))
        + param(_PARAM_MAX_INFO_RX, settings.max_info_rx, info_width(settings.max_info_rx))
        + param(_PARAM_WINDOW_TX, settings.window_tx, 4)
        + param(_PARAM_WINDOW_RX, settings.window_rx, 4)
    )
    return bytes((_FORMAT_ID, _GROUP_ID, len(group))) + group


def decode_parameters(info: bytes) -> HdlcSettings:
    """Parse an SNRM/UA information field; absent parameters take their defaults (128, 1).

    Unknown parameters are skipped; a value outside what this implementation supports is a
    :class:`DecodeError` naming it.
    """
    if not info:
        return HdlcSettings()
    if len(info) < 3 or info[0] != _FORMAT_ID or info[1] != _GROUP_ID:
        raise DecodeError("negotiation field must start 81 80 <group length>", 0)
    if info[2] != len(info) - 3:
        raise DecodeError(f"group length {info[2]} but {len(info) - 3} bytes follow", 2)
    values = {
        _PARAM_MAX_INFO_TX: DEFAULT_MAX_INFO,
        _PARAM_MAX_INFO_RX: DEFAULT_MAX_INFO,
        _PARAM_WINDOW_TX: DEFAULT_WINDOW,
        _PARAM_WINDOW_RX: DEFAULT_WINDOW,
    }
    pos = 3
    while pos < len(info):
        if pos + 2 > len(info):
            raise DecodeError("negotiation parameter without its length", pos)
        ident, width = info[pos], info[pos + 1]
        if pos + 2 + width > len(info):
            raise DecodeError(f"negotiation parameter {ident:#04x} truncated", pos)
        if ident in values:
            if not 1 <= width <= 4:
                raise DecodeError(f"negotiation parameter {ident:#04x} of {width} bytes", pos)
            values[ident] = int.from_bytes(info[pos + 2 : pos + 2 + width], "big")
        pos += 2 + width
    max_tx, max_rx = values[_PARAM_MAX_INFO_TX], values[_PARAM_MAX_INFO_RX]
    win_tx, win_rx = values[_PARAM_WINDOW_TX], values[_PARAM_WINDOW_RX]
    for value, name in ((max_tx, "max info transmit"), (max_rx, "max info receive")):
        if not MIN_INFO_LENGTH <= value <= MAX_INFO_LENGTH:
            raise DecodeError(f"{name} {value} outside {MIN_INFO_LENGTH}..{MAX_INFO_LENGTH}")
    for value, name in ((win_tx, "window transmit"), (win_rx, "window receive")):
        if not 1 <= value <= MAX_WINDOW:
            raise DecodeError(f"{name} {value} outside 1..{MAX_WINDOW}")
    return HdlcSettings(max_tx, max_rx, win_tx, win_rx)
