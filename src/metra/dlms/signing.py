"""ECDSA signatures as DLMS uses them, and the general-signing APDU (Green Book, tag [223]).

DLMS encodes an ECDSA signature in the plain format ``R || S`` with each half left-padded to the
curve's octet length (64 octets for P-256, 96 for P-384), not the DER form most libraries emit, and
public keys as the bare ``X || Y`` coordinates. Suite 1 pairs P-256 with SHA-256, suite 2 P-384
with SHA-384; the hash here follows the key's curve.

general-signing gives commands integrity and non-repudiation (CMD-6): every field is an A-XDR
octet-string, and the signature covers the APDU from its tag through the content, lengths
included, so no field can be altered, moved or dropped without breaking it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .axdr import decode_length, encode_length
from .errors import DecodeError, EncodeError, SecurityError

#: general-signing [223].
GENERAL_SIGNING = 0xDF

_CURVES: dict[str, tuple[ec.EllipticCurve, int, type[hashes.HashAlgorithm]]] = {
    "secp256r1": (ec.SECP256R1(), 32, hashes.SHA256),
    "secp384r1": (ec.SECP384R1(), 48, hashes.SHA384),
}


def _curve_params(curve: ec.EllipticCurve) -> tuple[int, type[hashes.HashAlgorithm]]:
    params = _CURVES.get(curve.name)
    if params is None:
        raise SecurityError(f"curve {curve.name} is not used by any DLMS security suite")
    return params[1], params[2]


def sign_raw(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA signature of ``data`` in the DLMS plain format ``R || S``."""
    size, hash_cls = _curve_params(private_key.curve)
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hash_cls())))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_raw(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    """Raise :class:`SecurityError` unless ``signature`` (``R || S``) signs ``data``."""
    size, hash_cls = _curve_params(public_key.curve)
    if len(signature) != 2 * size:
        raise SecurityError(f"signature must be {2 * size} octets")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        raise SecurityError("signature does not verify") from None


def public_key_to_bytes(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The DLMS form of a public key: ``X || Y`` without the SEC1 ``04`` prefix."""
    size, _ = _curve_params(public_key.curve)
    numbers = public_key.public_numbers()
    return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")


def public_key_from_bytes(data: bytes) -> ec.EllipticCurvePublicKey:
    """Parse ``X || Y`` (64 octets: P-256, 96: P-384); a point off the curve is refused."""
    for curve, size, _ in _CURVES.values():
        if len(data) == 2 * size:
            try:
                return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + bytes(data))
            except ValueError:
                raise SecurityError("public key is not a point on the curve") from None
    raise SecurityError("public key must be 64 (P-256) or 96 (P-384) octets")


# ------------------------------------------------------------------------------ general-signing


@dataclass(frozen=True)
class SignedApdu:
    """The fields of a verified general-signing APDU."""

    content: bytes
    transaction_id: bytes
    originator_system_title: bytes
    recipient_system_title: bytes
    date_time: bytes
    other_information: bytes


def _octet_string(value: bytes) -> bytes:
    return encode_length(len(value)) + bytes(value)


def sign_apdu(
    content: bytes,
    *,
    transaction_id: bytes,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    date_time: bytes,
    other_information: bytes,
    private_key: ec.EllipticCurvePrivateKey,
) -> bytes:
    """Build a general-signing APDU carrying ``content`` signed with ``private_key``.

    ``date_time`` is empty or a 12-octet COSEM date-time; the originator's system title is 8
    octets, the recipient's 8 or empty (a message not addressed to one party).
    """
    if len(date_time) not in (0, 12):
        raise EncodeError("date-time must be empty or 12 octets")
    if len(originator_system_title) != 8:
        raise EncodeError("originator system title must be 8 octets")
    if len(recipient_system_title) not in (0, 8):
        raise EncodeError("recipient system title must be empty or 8 octets")
    signed = bytes((GENERAL_SIGNING,)) + b"".join(
        _octet_string(field)
        for field in (
            transaction_id,
            originator_system_title,
            recipient_system_title,
            date_time,
            other_information,
            content,
        )
    )
    return signed + _octet_string(sign_raw(private_key, signed))


def verify_signed_apdu(apdu: bytes, public_key: ec.EllipticCurvePublicKey) -> SignedApdu:
    """Parse a general-signing APDU and verify its signature with the originator's key.

    Malformed input raises :class:`DecodeError`; a wrong key or any altered byte raises
    :class:`SecurityError`. Nothing is returned unless the signature verifies.
    """
    if not apdu or apdu[0] != GENERAL_SIGNING:
        raise DecodeError("not a general-signing APDU", 0)
    fields: list[bytes] = []
    pos = 1
    signed_end = 0
    for index in range(7):
        if index == 6:
            signed_end = pos  # the signature covers everything before its own field
        length, start = decode_length(apdu, pos)
        end = start + length
        if end > len(apdu):
            raise DecodeError("truncated: field longer than the APDU", pos)
        fields.append(bytes(apdu[start:end]))
        pos = end
    if pos != len(apdu):
        raise DecodeError("trailing bytes after the signature", pos)
    transaction_id, originator, recipient, date_time, other, content, signature = fields
    verify_raw(public_key, signature, bytes(apdu[:signed_end]))
    return SignedApdu(content, transaction_id, originator, recipient, date_time, other)
