"""Security setup (class 64, version 1) value shapes.

``key_transfer`` (method 2; called ``global_key_transfer`` in version 0) carries new keys wrapped
with the master key (AES key wrap, RFC 3394), so key material never travels in clear. This module
only shapes the data; wrapping is done by the security layer. ``repr`` of :class:`KeyData` hides
the wrapped key so that it cannot leak into logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data import Data, Enum, OctetString, Structure
from . import _shape
from .enums import KeyId, SecurityPolicy, SecuritySuite

__all__ = [
    "KeyData",
    "security_policy_from_data",
    "security_policy_to_data",
    "security_suite_from_data",
    "security_suite_to_data",
]


@dataclass(frozen=True, slots=True)
class KeyData:
    """One element of the ``key_transfer`` parameter (an array of these): structure
    {key_id: enum, key_wrapped: octet-string}."""

    key_id: KeyId
    key_wrapped: bytes = field(repr=False)

    def to_data(self) -> Structure:
        return Structure([Enum(self.key_id), OctetString(self.key_wrapped)])

    @classmethod
    def from_data(cls, value: Data) -> KeyData:
        s = _shape.structure(value, 2, "key_data")
        return cls(
            _shape.member(KeyId, s[0], "key_data.key_id"),
            _shape.octets(s[1], "key_data.key_wrapped"),
        )


#: Bits 0 and 1 of ``security_policy`` are unused in version 1.
_POLICY_UNUSED = 0x03


def security_policy_to_data(policy: SecurityPolicy) -> Enum:
    """``security_policy`` is an enum whose bits 2..7 are the flags of :class:`SecurityPolicy`."""
    return Enum(int(policy))


def security_policy_from_data(value: Data) -> SecurityPolicy:
    code = _shape.enum(value, "security_policy")
    if code & _POLICY_UNUSED:
        raise _shape.CosemValueError(f"security_policy: unused bits set in 0x{code:02x}")
    return SecurityPolicy(code)


def security_suite_to_data(suite: SecuritySuite) -> Enum:
    return Enum(suite)


def security_suite_from_data(value: Data) -> SecuritySuite:
    return _shape.member(SecuritySuite, value, "security_suite")
