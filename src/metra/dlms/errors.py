"""Typed errors of the DLMS/COSEM core.

Every failure the core can report is one of these, so that callers (head-end, virtual meter, CLI)
can tell bad input from a refused security check from a protocol misuse without parsing messages.
Errors carry *where* they happened (a byte offset for decoders) but never key material.
"""

from __future__ import annotations


class DlmsError(Exception):
    """Base class of every error raised by :mod:`metra.dlms`."""


class DecodeError(DlmsError, ValueError):
    """Input bytes are malformed, truncated, oversized or otherwise not decodable.

    ``offset`` is the byte position in the decoder's input where the problem was found, so that a
    user looking at a hex dump can find it.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"{reason} (at offset {offset})")


class EncodeError(DlmsError, ValueError):
    """A value cannot be encoded (wrong type, out of range for its DLMS type, too long)."""


class SecurityError(DlmsError):
    """A security check failed: wrong key, failed authentication tag or signature, replayed counter,
    or a security policy that refuses the message. The message never contains key material."""


class ProtocolError(DlmsError):
    """A state machine was driven against the protocol (e.g. a request before association, an
    answer that matches no outstanding request)."""
