"""Token gateway (class 115) and metra's credit transfer token (PRE-1, PRE-4).

A prepayment top-up must reach the meter exactly once: a head-end that lost the answer and sends
again must not double the customer's credit. The Blue Book's Token gateway is the object for it:
method 1 ``enter`` takes a token (octet-string), attribute 6 ``token_status`` says what became
of it. What a token contains is the payment scheme's business (STS tokens, for one, are 20
encrypted digits); metra's head-end and virtual meters use the **credit transfer token** defined
here, which carries a transfer id the meter remembers, so a token is applied at most once.

Both sides import this module (the meter model to read a token, the command engine to build
one), which is why it lives in the protocol core.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from ..data import BitString, Data, Enum, Structure
from ..errors import DecodeError
from ..obis import Obis
from . import _shape

__all__ = [
    "CREDIT_TOKEN_LENGTH",
    "CREDIT_TOKEN_VERSION",
    "TOKEN_EPOCH",
    "TOKEN_GATEWAY",
    "TOKEN_GATEWAY_CLASS",
    "CreditToken",
    "TokenDelivery",
    "TokenRefusal",
    "TokenStatus",
    "TokenStatusCode",
]

TOKEN_GATEWAY_CLASS = 115
#: The Token gateway's logical name (Blue Book OBIS for it).
TOKEN_GATEWAY = Obis(0, 0, 19, 40, 0, 255)


class TokenStatusCode(IntEnum):
    """``token_status.status_code`` (Blue Book, Token gateway)."""

    FORMAT_OK = 0
    AUTHENTICATION_OK = 1
    VALIDATION_OK = 2
    TOKEN_EXECUTION_OK = 3
    TOKEN_FORMAT_FAILURE = 4
    AUTHENTICATION_FAILURE = 5
    VALIDATION_RESULT_FAILURE = 6
    TOKEN_EXECUTION_RESULT_FAILURE = 7
    TOKEN_RECEIVED = 8


class TokenDelivery(IntEnum):
    """``token_delivery_method``: how the last token arrived."""

    REMOTE = 0
    LOCAL = 1
    MANUAL = 2


class TokenRefusal(IntEnum):
    """Bit positions of ``token_status.data_value`` (metra's meaning): why a credit transfer
    token was not (or not again) applied."""

    ALREADY_APPLIED = 0
    TOO_OLD = 1
    AMOUNT_NOT_POSITIVE = 2
    PREPAYMENT_OFF = 3


_REFUSAL_BITS = len(TokenRefusal)


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """``token_status``: structure {status_code: enum, data_value: bit-string}."""

    code: TokenStatusCode
    refusals: frozenset[TokenRefusal] = frozenset()

    def to_data(self) -> Structure:
        bits = "".join("1" if r in self.refusals else "0" for r in TokenRefusal)
        return Structure([Enum(self.code), BitString(bits)])

    @classmethod
    def from_data(cls, value: Data) -> TokenStatus:
        s = _shape.structure(value, 2, "token_status")
        code = _shape.member(TokenStatusCode, s[0], "token_status.status_code")
        bits = s[1]
        if not isinstance(bits, BitString):
            raise DecodeError("token_status.data_value must be a bit-string")
        refusals = frozenset(r for r in TokenRefusal if r < len(bits) and bits[r] == "1")
        return cls(code, refusals)


#: Version octet of the credit transfer token.
CREDIT_TOKEN_VERSION = 1
#: Octets: version (1), transfer id (16), issued (4), amount (4).
CREDIT_TOKEN_LENGTH = 25
#: ``issued`` counts seconds from this instant.
TOKEN_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_LAYOUT = struct.Struct(">B16sII")
_MAX_AMOUNT = 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class CreditToken:
    """A credit transfer: ``amount`` added to the meter's credit, at most once per
    ``transfer_id``.

    Layout (25 octets, big-endian): version 0x01 | transfer id, 16 octets (e.g. the UUID of the
    top-up) | issued, unsigned 32-bit seconds since 2000-01-01T00:00:00Z | amount, unsigned
    32-bit, in the credit's unit (the balance's minor currency unit, or Wh), 1 .. 2^31-1.
    """

    transfer_id: bytes
    issued: datetime
    amount: int

    def __post_init__(self) -> None:
        if len(self.transfer_id) != 16:
            raise ValueError("a transfer id is 16 octets")
        if self.issued.tzinfo is None:
            raise ValueError("issued must be an aware datetime")
        if not 0 <= (self.issued - TOKEN_EPOCH).total_seconds() <= 0xFFFFFFFF:
            raise ValueError("issued lies outside 2000-01-01 .. 2136")
        if not 0 <= self.amount <= _MAX_AMOUNT:
            raise ValueError(f"amount must lie in 0 .. {_MAX_AMOUNT}")

    def encode(self) -> bytes:
        seconds = int((self.issued - TOKEN_EPOCH).total_seconds())
        return _LAYOUT.pack(CREDIT_TOKEN_VERSION, self.transfer_id, seconds, self.amount)

    @classmethod
    def decode(cls, raw: bytes) -> CreditToken:
        """Read a token; a wrong length, version or amount raises :class:`DecodeError`."""
        if len(raw) != CREDIT_TOKEN_LENGTH:
            raise DecodeError(f"a credit token is {CREDIT_TOKEN_LENGTH} octets, not {len(raw)}")
        version, transfer_id, seconds, amount = _LAYOUT.unpack(raw)
        if version != CREDIT_TOKEN_VERSION:
            raise DecodeError(f"credit token version {version} is not {CREDIT_TOKEN_VERSION}")
        if amount > _MAX_AMOUNT:
            raise DecodeError("credit token amount beyond a double-long")
        return cls(transfer_id, TOKEN_EPOCH + timedelta(seconds=seconds), amount)
