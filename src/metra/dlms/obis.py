"""OBIS codes: the six-group logical names of COSEM objects (IEC 62056-6-1, Blue Book 7).

A logical name travels on the wire as a 6-octet ``octet-string`` (A, B, C, D, E, F), but people,
meter documentation and configuration files write it in several textual notations. :class:`Obis`
accepts all the usual ones and always prints the canonical ``A-B:C.D.E.F``, so that logs, the
database and the CLI agree on one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import DecodeError

__all__ = ["Obis", "ObisError"]


class ObisError(DecodeError):
    """Text or bytes that are not an OBIS code; ``reason`` names what is wrong."""


#: ``A-B:C.D.E`` with an optional ``.F``, ``*F`` or ``&F`` (the IEC 62056-21 historical marker).
_FULL = re.compile(r"(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[.*&](\d{1,3}))?")
#: ``A.B.C.D.E.F`` as used by many tools and in the Blue Book's dotted tables.
_DOTTED = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")
_HEX = re.compile(r"[0-9A-Fa-f]{12}")
#: Longest text worth looking at; refuses megabyte strings before any regex runs.
_MAX_TEXT = 64


@dataclass(frozen=True, order=True, slots=True)
class Obis:
    """An OBIS code: six value groups A..F, each 0..255. Ordered group by group."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    def __post_init__(self) -> None:
        for name in ("a", "b", "c", "d", "e", "f"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ObisError(f"OBIS group {name.upper()} must be an int, not {value!r}")
            if not 0 <= value <= 255:
                raise ObisError(f"OBIS group {name.upper()} must be in 0..255, not {value}")

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Read ``1-0:1.8.0.255``, ``1-0:1.8.0*255``, ``1-0:1.8.0`` (F = 255), ``1.0.1.8.0.255`` or
        12 hex digits (``0100010800FF``); surrounding blanks are ignored."""
        if not isinstance(text, str):
            raise ObisError(f"an OBIS code is text, not {type(text).__name__}")
        s = text.strip()
        if len(s) > _MAX_TEXT:
            raise ObisError(f"OBIS text too long ({len(s)} characters)")
        if _HEX.fullmatch(s):
            return cls.from_bytes(bytes.fromhex(s))
        m = _FULL.fullmatch(s) or _DOTTED.fullmatch(s)
        if m is None:
            raise ObisError(f"not an OBIS code: {s!r}")
        groups = [int(g) for g in m.groups() if g is not None]
        if len(groups) == 5:
            groups.append(255)
        a, b, c, d, e, f = groups
        return cls(a, b, c, d, e, f)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Obis:
        """The logical name held in a 6-octet string (attribute 1 of every COSEM object)."""
        if len(raw) != 6:
            raise ObisError(f"a logical name is 6 octets, not {len(raw)}")
        a, b, c, d, e, f = raw
        return cls(a, b, c, d, e, f)

    def to_bytes(self) -> bytes:
        """The 6 octets A..F as sent in ``logical_name`` and in Cosem-Attribute-Descriptors."""
        return bytes((self.a, self.b, self.c, self.d, self.e, self.f))

    def dotted(self) -> str:
        """``A.B.C.D.E.F``."""
        return f"{self.a}.{self.b}.{self.c}.{self.d}.{self.e}.{self.f}"

    def __str__(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}.{self.f}"

    def __repr__(self) -> str:
        return f"Obis.parse({str(self)!r})"
