"""Cryptographic protection of xDLMS APDUs (IEC 62056-5-3, DLMS UA Green Book security chapter).

Security suites 0 (AES-GCM-128), 1 (AES-GCM-128, ECDSA / ECDH P-256, SHA-256) and 2 (AES-GCM-256,
ECDSA / ECDH P-384, SHA-384) all protect APDUs the same way; they differ only in key lengths and in
the asymmetric algorithms used by :mod:`.hls`, :mod:`.signing` and :mod:`.keywrap`.

The security header is ``SC || IC``: the security-control byte says what was applied, the 32-bit
invocation counter goes into the GCM initialisation vector ``system title (8) || IC (4)`` together
with the *sender's* system title. The authentication key never travels: it is part of the GCM
additional authenticated data. Tags are the 12 leftmost octets of the GCM tag.

Everything that parses input is bounded: a frame that is truncated, too long for its length field,
or not a ciphered APDU raises :class:`DecodeError`; a frame whose tag does not verify raises
:class:`SecurityError`. No unverified plaintext is ever returned.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .axdr import decode_length, encode_length
from .errors import DecodeError, EncodeError, SecurityError

#: Length in octets of a DLMS system title (Green Book: 3 octets manufacturer, 5 serial).
SYSTEM_TITLE_LENGTH = 8
#: Length of the truncated GCM authentication tag used by every DLMS suite.
TAG_LENGTH = 12
#: Largest invocation counter: the counter is a 32-bit unsigned integer.
MAX_INVOCATION_COUNTER = 0xFFFFFFFF
#: Symmetric key length in octets for each supported suite.
SUITE_KEY_LENGTH = {0: 16, 1: 16, 2: 32}

_HEADER = struct.Struct(">BI")  # SC, IC


@dataclass(frozen=True)
class SecurityControl:
    """The security-control byte: bits 0-3 suite, 4 authentication, 5 encryption, 6 key set
    (broadcast key), 7 compression (Green Book, security header)."""

    suite: int
    authenticated: bool
    encrypted: bool
    broadcast: bool = False
    compressed: bool = False

    def __post_init__(self) -> None:
        if self.suite not in SUITE_KEY_LENGTH:
            raise EncodeError(f"unsupported security suite {self.suite}")

    def to_byte(self) -> int:
        """The byte as it appears on the wire."""
        return (
            self.suite
            | (0x10 if self.authenticated else 0)
            | (0x20 if self.encrypted else 0)
            | (0x40 if self.broadcast else 0)
            | (0x80 if self.compressed else 0)
        )

    @classmethod
    def from_byte(cls, value: int) -> SecurityControl:
        """Parse a received security-control byte; an unknown suite is a :class:`DecodeError`."""
        if not 0 <= value <= 0xFF:
            raise DecodeError(f"security control out of range: {value}")
        suite = value & 0x0F
        if suite not in SUITE_KEY_LENGTH:
            raise DecodeError(f"unsupported security suite {suite}")
        return cls(
            suite=suite,
            authenticated=bool(value & 0x10),
            encrypted=bool(value & 0x20),
            broadcast=bool(value & 0x40),
            compressed=bool(value & 0x80),
        )


# ----------------------------------------------------------------------------------- primitives


def _check_keys(suite: int, ek: bytes, ak: bytes) -> None:
    # A key of the wrong length is a configuration mistake; say so without echoing the key.
    length = SUITE_KEY_LENGTH[suite]
    if len(ek) != length:
        raise SecurityError(f"encryption key must be {length} octets for suite {suite}")
    if len(ak) != length:
        raise SecurityError(f"authentication key must be {length} octets for suite {suite}")


def _check_title(system_title: bytes) -> None:
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(f"system title must be {SYSTEM_TITLE_LENGTH} octets")


def _iv(system_title: bytes, invocation_counter: int) -> bytes:
    return bytes(system_title) + invocation_counter.to_bytes(4, "big")


def _ctr(ek: bytes, iv: bytes, data: bytes) -> bytes:
    # GCM's keystream for a 96-bit IV starts at counter block IV || 00000002 (J0 + 1), so
    # encryption-only protection is plain CTR from that block and needs no tag.
    encryptor = Cipher(algorithms.AES(ek), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _gcm_seal(ek: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    encryptor = Cipher(algorithms.AES(ek), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return ciphertext, encryptor.tag[:TAG_LENGTH]


def _gcm_open(ek: bytes, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    decryptor = Cipher(
        algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)
    ).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise SecurityError("authentication tag does not verify") from None


def gmac_tag(ek: bytes, system_title: bytes, invocation_counter: int, aad: bytes) -> bytes:
    """GMAC (GCM without plaintext) over ``aad``: the 12-octet tag used by authentication-only
    protection and by HLS-GMAC (authentication mechanism 5)."""
    _check_title(system_title)
    _check_counter(invocation_counter)
    return _gcm_seal(ek, _iv(system_title, invocation_counter), aad, b"")[1]


def verify_gmac_tag(
    ek: bytes, system_title: bytes, invocation_counter: int, aad: bytes, tag: bytes
) -> None:
    """Raise :class:`SecurityError` unless ``tag`` is the GMAC of ``aad`` (constant time)."""
    _check_title(system_title)
    if len(tag) != TAG_LENGTH:
        raise SecurityError("authentication tag has the wrong length")
    _gcm_open(ek, _iv(system_title, invocation_counter), aad, b"", tag)


def _check_counter(invocation_counter: int) -> None:
    if not 0 <= invocation_counter <= MAX_INVOCATION_COUNTER:
        raise EncodeError(f"invocation counter out of range: {invocation_counter}")


# ---------------------------------------------------------------------------- security header


def encrypt(
    sc: SecurityControl,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    plaintext: bytes,
) -> bytes:
    """Protect ``plaintext`` as ``sc`` asks; returns ``SC || IC || payload [|| tag]``.

    Authentication only: the payload is the plaintext and the tag covers ``SC || AK || plaintext``.
    Encryption only: the payload is the ciphertext, no tag. Both: ciphertext and a tag with
    ``SC || AK`` as additional data. ``system_title`` is the sender's own.
    """
    if not (sc.authenticated or sc.encrypted):
        raise EncodeError("security control applies no protection")
    if sc.compressed:
        raise EncodeError("compression is not supported")
    _check_title(system_title)
    _check_counter(invocation_counter)
    _check_keys(sc.suite, ek, ak)
    header = _HEADER.pack(sc.to_byte(), invocation_counter)
    iv = _iv(system_title, invocation_counter)
    if not sc.authenticated:
        return header + _ctr(ek, iv, plaintext)
    aad_prefix = bytes((sc.to_byte(),)) + bytes(ak)
    if not sc.encrypted:
        _, tag = _gcm_seal(ek, iv, aad_prefix + plaintext, b"")
        return header + plaintext + tag
    ciphertext, tag = _gcm_seal(ek, iv, aad_prefix, plaintext)
    return header + ciphertext + tag


def decrypt(
    system_title: bytes, ek: bytes, ak: bytes, data: bytes
) -> tuple[SecurityControl, int, bytes]:
    """Remove the protection from ``SC || IC || payload [|| tag]``.

    ``system_title`` is the *sender's*. Returns the security control, the invocation counter (for
    the caller's replay check) and the verified plaintext.
    """
    _check_title(system_title)
    if len(data) < _HEADER.size:
        raise DecodeError("truncated: security header needs 5 octets", len(data))
    sc_byte, invocation_counter = _HEADER.unpack_from(data)
    sc = SecurityControl.from_byte(sc_byte)
    if not (sc.authenticated or sc.encrypted):
        raise SecurityError("received APDU carries no protection")
    if sc.compressed:
        raise SecurityError("compressed APDUs are not supported")
    _check_keys(sc.suite, ek, ak)
    body = bytes(data[_HEADER.size :])
    iv = _iv(system_title, invocation_counter)
    if not sc.authenticated:
        return sc, invocation_counter, _ctr(ek, iv, body)
    if len(body) < TAG_LENGTH:
        raise DecodeError("truncated: authentication tag missing", len(data))
    payload, tag = body[:-TAG_LENGTH], body[-TAG_LENGTH:]
    aad_prefix = bytes((sc_byte,)) + bytes(ak)
    if not sc.encrypted:
        _gcm_open(ek, iv, aad_prefix + payload, b"", tag)
        return sc, invocation_counter, payload
    return sc, invocation_counter, _gcm_open(ek, iv, aad_prefix, payload, tag)


# ------------------------------------------------------------------------------ ciphered APDUs


class CipheringKind(enum.Enum):
    """Which key and which envelope protect an APDU: the global or the dedicated key, in a
    service-specific APDU (glo-/ded-) or a general-glo-/general-ded-ciphering APDU."""

    GLO = "glo"
    DED = "ded"
    GENERAL_GLO = "general-glo"
    GENERAL_DED = "general-ded"

    @property
    def dedicated(self) -> bool:
        """True when the dedicated (session) key protects the APDU."""
        return self in (CipheringKind.DED, CipheringKind.GENERAL_DED)


#: general-glo-ciphering [219] and general-ded-ciphering [220] (Green Book xDLMS ASN.1).
GENERAL_GLO_CIPHERING = 0xDB
GENERAL_DED_CIPHERING = 0xDC

#: Plain APDU tag -> (glo- tag, ded- tag), from the COSEMpdu CHOICE of the Green Book ASN.1:
#: initiateRequest [1] -> glo [33] / ded [65], readRequest [5] -> [37] / [69], writeRequest [6]
#: -> [38] / [70], initiateResponse [8] -> [40] / [72], readResponse [12] -> [44] / [76],
#: writeResponse [13] -> [45] / [77], confirmedServiceError [14] -> [46] / [78],
#: unconfirmedWriteRequest [22] -> [54] / [86], informationReportRequest [24] -> [56] / [88],
#: get-request [192] -> [200] / [208], set-request [193] -> [201] / [209],
#: event-notification-request [194] -> [202] / [210], action-request [195] -> [203] / [211],
#: get-response [196] -> [204] / [212], set-response [197] -> [205] / [213],
#: action-response [199] -> [207] / [215].
SERVICE_SPECIFIC_TAGS: dict[int, tuple[int, int]] = {
    1: (33, 65),
    5: (37, 69),
    6: (38, 70),
    8: (40, 72),
    12: (44, 76),
    13: (45, 77),
    14: (46, 78),
    22: (54, 86),
    24: (56, 88),
    192: (200, 208),
    193: (201, 209),
    194: (202, 210),
    195: (203, 211),
    196: (204, 212),
    197: (205, 213),
    199: (207, 215),
}

_GLO_TO_PLAIN = {glo: plain for plain, (glo, _) in SERVICE_SPECIFIC_TAGS.items()}
_DED_TO_PLAIN = {ded: plain for plain, (_, ded) in SERVICE_SPECIFIC_TAGS.items()}


def is_ciphered_tag(tag: int) -> bool:
    """True for every tag that :func:`decipher_apdu` can open."""
    return tag in _GLO_TO_PLAIN or tag in _DED_TO_PLAIN or tag in _GENERAL_KINDS


_GENERAL_KINDS = {
    GENERAL_GLO_CIPHERING: CipheringKind.GENERAL_GLO,
    GENERAL_DED_CIPHERING: CipheringKind.GENERAL_DED,
}


@dataclass(frozen=True)
class Deciphered:
    """A verified, deciphered APDU and how it was protected, so that an answer can be protected
    the same way and the counter can be checked against replay."""

    plaintext: bytes
    kind: CipheringKind
    sc: SecurityControl
    system_title: bytes
    invocation_counter: int


def _key_for(kind: CipheringKind, ek: bytes, dedicated_key: bytes | None) -> bytes:
    if not kind.dedicated:
        return ek
    if dedicated_key is None:
        raise SecurityError("a dedicated key is needed for ded- ciphering")
    return dedicated_key


def _octet_string(value: bytes) -> bytes:
    return encode_length(len(value)) + bytes(value)


def cipher_apdu(
    apdu: bytes,
    kind: CipheringKind,
    sc: SecurityControl,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    *,
    recipient_system_title: bytes | None = None,
    dedicated_key: bytes | None = None,
) -> bytes:
    """Protect a plain xDLMS APDU and wrap it in the envelope ``kind`` names.

    Service-specific kinds take their tag from the plain APDU's tag (get-request 0xC0 becomes
    glo-get-request 0xC8 or ded-get-request 0xD0); the general kinds carry ``system_title`` (the
    sender's) inside and work for any APDU. ``recipient_system_title`` is checked for form only:
    general-glo/-ded-ciphering carry just the originator's title (it goes into general-ciphering,
    which this module does not build).
    """
    if not apdu:
        raise EncodeError("empty APDU")
    if recipient_system_title is not None:
        _check_title(recipient_system_title)
    key = _key_for(kind, ek, dedicated_key)
    if kind in (CipheringKind.GLO, CipheringKind.DED):
        tags = SERVICE_SPECIFIC_TAGS.get(apdu[0])
        if tags is None:
            raise EncodeError(f"APDU tag 0x{apdu[0]:02x} has no service-specific ciphered form")
        tag = tags[1] if kind.dedicated else tags[0]
        protected = encrypt(sc, system_title, invocation_counter, key, ak, apdu)
        return bytes((tag,)) + _octet_string(protected)
    protected = encrypt(sc, system_title, invocation_counter, key, ak, apdu)
    tag = GENERAL_DED_CIPHERING if kind.dedicated else GENERAL_GLO_CIPHERING
    return bytes((tag,)) + _octet_string(system_title) + _octet_string(protected)


def _read_octet_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, start = decode_length(buf, pos)
    end = start + length
    if end > len(buf):
        raise DecodeError("truncated: octet-string longer than the APDU", pos)
    return bytes(buf[start:end]), end


def decipher_apdu(
    apdu: bytes,
    *,
    ek: bytes,
    ak: bytes,
    system_title: bytes | None = None,
    dedicated_key: bytes | None = None,
) -> Deciphered:
    """Verify and open a ciphered APDU of any supported kind.

    ``system_title`` is the sender's: required for service-specific APDUs (they do not carry it);
    for general-glo/-ded-ciphering the title inside is used and, when ``system_title`` is given,
    must equal it.
    """
    if not apdu:
        raise DecodeError("truncated: empty APDU", 0)
    tag = apdu[0]
    if tag in _GENERAL_KINDS:
        kind = _GENERAL_KINDS[tag]
        title, pos = _read_octet_string(apdu, 1)
        if len(title) != SYSTEM_TITLE_LENGTH:
            raise DecodeError("system title must be 8 octets", 1)
        if system_title is not None and title != bytes(system_title):
            raise SecurityError("system title in the APDU is not the expected sender's")
    elif tag in _GLO_TO_PLAIN or tag in _DED_TO_PLAIN:
        kind = CipheringKind.GLO if tag in _GLO_TO_PLAIN else CipheringKind.DED
        if system_title is None:
            raise SecurityError("the sender's system title is needed for a service-specific APDU")
        title, pos = bytes(system_title), 1
    else:
        raise DecodeError(f"tag 0x{tag:02x} is not a ciphered APDU", 0)
    content, end = _read_octet_string(apdu, pos)
    if end != len(apdu):
        raise DecodeError("trailing bytes after the ciphered content", end)
    key = _key_for(kind, ek, dedicated_key)
    sc, invocation_counter, plaintext = decrypt(title, key, ak, content)
    if kind in (CipheringKind.GLO, CipheringKind.DED):
        expected = _GLO_TO_PLAIN.get(tag) if kind is CipheringKind.GLO else _DED_TO_PLAIN.get(tag)
        if not plaintext or plaintext[0] != expected:
            raise SecurityError("deciphered APDU does not match the service of its envelope")
    return Deciphered(plaintext, kind, sc, title, invocation_counter)
