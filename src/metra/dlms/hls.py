"""High-level-security authentication functions (Green Book, HLS authentication mechanisms).

In passes 3 and 4 of HLS each side proves it holds a secret by processing the challenge the other
side sent. Mechanism 5 (HLS-GMAC) answers ``SC || IC || GMAC(SC || AK || challenge)`` with the IV
built from the answering side's system title and counter. Mechanism 7 (HLS-ECDSA) answers with a
signature over ``own system title || peer system title || challenge received || challenge sent``:
the client signs ``ST-C || ST-S || StoC || CtoS`` and the server ``ST-S || ST-C || CtoS || StoC``,
so an answer cannot be reflected back to the side that asked or replayed in another association.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import DecodeError, SecurityError
from .security import TAG_LENGTH, SecurityControl, gmac_tag, verify_gmac_tag
from .signing import sign_raw, verify_raw

_HEADER = struct.Struct(">BI")
#: Length of an HLS-GMAC answer: SC (1) || IC (4) || tag (12).
GMAC_RESPONSE_LENGTH = _HEADER.size + TAG_LENGTH


def gmac_response(
    sc: SecurityControl,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    challenge: bytes,
) -> bytes:
    """The HLS-GMAC answer to the peer's ``challenge``; ``system_title`` is the answering
    (own) side's."""
    aad = bytes((sc.to_byte(),)) + bytes(ak) + bytes(challenge)
    tag = gmac_tag(ek, system_title, invocation_counter, aad)
    return _HEADER.pack(sc.to_byte(), invocation_counter) + tag


def verify_gmac_response(
    response: bytes, system_title: bytes, ek: bytes, ak: bytes, challenge: bytes
) -> int:
    """Check the peer's HLS-GMAC answer to the ``challenge`` we sent; ``system_title`` is the
    peer's. Returns the peer's invocation counter (for the replay check); raises
    :class:`SecurityError` if the answer does not verify, :class:`DecodeError` if malformed."""
    if len(response) != GMAC_RESPONSE_LENGTH:
        raise DecodeError(f"HLS-GMAC answer must be {GMAC_RESPONSE_LENGTH} octets", 0)
    sc_byte, invocation_counter = _HEADER.unpack_from(response)
    if not SecurityControl.from_byte(sc_byte).authenticated:
        raise SecurityError("HLS-GMAC answer does not claim authentication")
    aad = bytes((sc_byte,)) + bytes(ak) + bytes(challenge)
    verify_gmac_tag(ek, system_title, invocation_counter, aad, bytes(response[_HEADER.size :]))
    return int(invocation_counter)


def _ecdsa_message(
    signer_title: bytes, verifier_title: bytes, challenge_to_signer: bytes, signer_challenge: bytes
) -> bytes:
    if len(signer_title) != 8 or len(verifier_title) != 8:
        raise SecurityError("system titles must be 8 octets")
    return bytes(signer_title) + bytes(verifier_title) + challenge_to_signer + signer_challenge


def ecdsa_sign_challenge(
    private_key: ec.EllipticCurvePrivateKey,
    own_system_title: bytes,
    peer_system_title: bytes,
    peer_challenge: bytes,
    own_challenge: bytes,
) -> bytes:
    """The HLS-ECDSA answer (raw ``R || S``) to ``peer_challenge``, the challenge the peer sent
    us; ``own_challenge`` is the one we sent the peer."""
    message = _ecdsa_message(own_system_title, peer_system_title, peer_challenge, own_challenge)
    return sign_raw(private_key, message)


def ecdsa_verify_challenge(
    public_key: ec.EllipticCurvePublicKey,
    signature: bytes,
    peer_system_title: bytes,
    own_system_title: bytes,
    own_challenge: bytes,
    peer_challenge: bytes,
) -> None:
    """Check the peer's HLS-ECDSA answer ``signature`` to ``own_challenge`` (the challenge we sent
    it) with the peer's ``public_key``; ``peer_challenge`` is the one it sent us. Raises
    :class:`SecurityError` on failure."""
    message = _ecdsa_message(peer_system_title, own_system_title, own_challenge, peer_challenge)
    verify_raw(public_key, bytes(signature), message)
