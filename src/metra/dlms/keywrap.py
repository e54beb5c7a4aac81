"""Key transport and key agreement for key changes (SEC-7, CMD-10).

New symmetric keys reach a meter wrapped with its key-encryption key (AES key wrap, RFC 3394, as
the Green Book prescribes for the Security setup ``key_transfer`` method), or are agreed with
ECDH (suites 1 and 2) and derived with the NIST SP 800-56A concatenation KDF:
``K = Hash(00000001 || Z || AlgorithmID || PartyUInfo || PartyVInfo)``, truncated to the key
length, where the party infos are the system titles of party U and party V.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from .errors import SecurityError

#: AlgorithmID for the KDF: OID 2.16.756.5.8.3.0 (aes-gcm-128), BER-encoded value octets.
ALGORITHM_ID_AES_GCM_128 = bytes.fromhex("60857405080300")
#: AlgorithmID for the KDF: OID 2.16.756.5.8.3.1 (aes-gcm-256).
ALGORITHM_ID_AES_GCM_256 = bytes.fromhex("60857405080301")

_KEY_LENGTHS = (16, 24, 32)


def new_key(length: int = 16) -> bytes:
    """A fresh random symmetric key from the OS CSPRNG: every meter and interface gets its own,
    never a fixed or derived default (SEC-7)."""
    if length not in _KEY_LENGTHS:
        raise ValueError(f"AES keys are 16, 24 or 32 octets, not {length}")
    return secrets.token_bytes(length)


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """Wrap ``key`` with the key-encryption key ``kek`` (RFC 3394)."""
    if len(kek) not in _KEY_LENGTHS:
        raise SecurityError("key-encryption key must be 16, 24 or 32 octets")
    if len(key) < 16 or len(key) % 8:
        raise SecurityError("key to wrap must be a multiple of 8 octets, at least 16")
    return aes_key_wrap(bytes(kek), bytes(key))


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """Unwrap a key; a wrong KEK or an altered byte fails the RFC 3394 integrity check and
    raises :class:`SecurityError`."""
    if len(kek) not in _KEY_LENGTHS:
        raise SecurityError("key-encryption key must be 16, 24 or 32 octets")
    if len(wrapped) < 24 or len(wrapped) % 8:
        raise SecurityError("wrapped key must be a multiple of 8 octets, at least 24")
    try:
        return aes_key_unwrap(bytes(kek), bytes(wrapped))
    except InvalidUnwrap:
        raise SecurityError("wrapped key failed its integrity check") from None


def kdf(
    z: bytes,
    *,
    algorithm_id: bytes,
    party_u_info: bytes,
    party_v_info: bytes,
    length: int = 16,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    """NIST SP 800-56A concatenation KDF with OtherInfo ``AlgorithmID || PartyUInfo ||
    PartyVInfo`` (SHA-256 unless ``hash_algorithm`` says otherwise)."""
    other_info = bytes(algorithm_id) + bytes(party_u_info) + bytes(party_v_info)
    return ConcatKDFHash(hash_algorithm or hashes.SHA256(), length, other_info).derive(bytes(z))


def ecdh_agree(
    private_key: ec.EllipticCurvePrivateKey,
    peer_public_key: ec.EllipticCurvePublicKey,
    *,
    party_u_system_title: bytes,
    party_v_system_title: bytes,
    algorithm_id: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """Agree a symmetric key with ECDH and the concatenation KDF, as suite 1 (P-256, SHA-256,
    AES-128) or suite 2 (P-384, SHA-384, AES-256) by the keys' curve.

    Party U is the initiator (for the client-to-server direction, the client). Both sides pass the
    same U and V titles and so derive the same key.
    """
    if private_key.curve.name != peer_public_key.curve.name:
        raise SecurityError("the two keys are on different curves")
    if private_key.curve.name == "secp256r1":
        hash_algorithm: hashes.HashAlgorithm = hashes.SHA256()
        default_id, default_length = ALGORITHM_ID_AES_GCM_128, 16
    elif private_key.curve.name == "secp384r1":
        hash_algorithm = hashes.SHA384()
        default_id, default_length = ALGORITHM_ID_AES_GCM_256, 32
    else:
        raise SecurityError(f"curve {private_key.curve.name} is not used by any DLMS suite")
    if len(party_u_system_title) != 8 or len(party_v_system_title) != 8:
        raise SecurityError("system titles must be 8 octets")
    z = private_key.exchange(ec.ECDH(), peer_public_key)
    return kdf(
        z,
        algorithm_id=default_id if algorithm_id is None else algorithm_id,
        party_u_info=party_u_system_title,
        party_v_info=party_v_system_title,
        length=default_length if length is None else length,
        hash_algorithm=hash_algorithm,
    )
