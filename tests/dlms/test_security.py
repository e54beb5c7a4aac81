"""APDU protection with AES-GCM (SEC-2, MTR-2), checked against the DLMS UA Green Book examples
and the NIST GCM test vectors."""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError, EncodeError, SecurityError
from metra.dlms.security import (
    CipheringKind,
    SecurityControl,
    cipher_apdu,
    decipher_apdu,
    decrypt,
    encrypt,
    gmac_tag,
    is_ciphered_tag,
)

# Green Book, "Encoding example: global-get-request xDLMS APDU" (DLMS UA 1000-2 Ed. 7 p.133-134 /
# Ed. 8.1 Table 40): the security material of every symmetric example below.
SYS_T = bytes.fromhex("4D4D4D0000BC614E")
IC = 0x01234567
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
# get-request-normal for attribute 2 of the Clock object 0.0.1.0.0.255
GET_REQUEST = bytes.fromhex("C0010000080000010000FF0200")
# Green Book xDLMS InitiateRequest ciphering example (Ed. 7 p.265, glo-initiateRequest)
INITIATE_REQUEST = bytes.fromhex("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")

AUTH = SecurityControl(0, authenticated=True, encrypted=False)
ENC = SecurityControl(0, authenticated=False, encrypted=True)
BOTH = SecurityControl(0, authenticated=True, encrypted=True)

# Green Book Table 40: the three protections of the glo-get-request, whole APDUs.
GLO_GET_REQUEST = {
    AUTH: "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516",
    ENC: "C8122001234567411312FF935A47566827C467BC",
    BOTH: "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B",
}


def test_sec2_security_control_byte_bits() -> None:
    # Green Book security header: bits 0-3 suite, 4 A, 5 E, 6 key set, 7 compression.
    assert AUTH.to_byte() == 0x10 and ENC.to_byte() == 0x20 and BOTH.to_byte() == 0x30
    assert SecurityControl(1, True, True).to_byte() == 0x31
    assert SecurityControl(0, True, True, broadcast=True).to_byte() == 0x70
    assert SecurityControl(2, False, True, compressed=True).to_byte() == 0xA2
    for value in range(256):
        if value & 0x0F in (0, 1, 2):
            assert SecurityControl.from_byte(value).to_byte() == value
        else:
            with pytest.raises(DecodeError):
                SecurityControl.from_byte(value)


@pytest.mark.parametrize("sc", [AUTH, ENC, BOTH])
def test_sec2_green_book_glo_get_request(sc: SecurityControl) -> None:
    expected = bytes.fromhex(GLO_GET_REQUEST[sc])
    assert cipher_apdu(GET_REQUEST, CipheringKind.GLO, sc, SYS_T, IC, EK, AK) == expected
    opened = decipher_apdu(expected, ek=EK, ak=AK, system_title=SYS_T)
    assert opened.plaintext == GET_REQUEST
    assert opened.kind is CipheringKind.GLO
    assert opened.sc == sc and opened.invocation_counter == IC and opened.system_title == SYS_T


def test_sec2_green_book_glo_initiate_request() -> None:
    # Green Book glo-initiateRequest [33] with authenticated encryption.
    expected = bytes.fromhex(
        "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B"
        "175BD52211BE6841DB204D39EE6FDB8E356855"
    )
    assert cipher_apdu(INITIATE_REQUEST, CipheringKind.GLO, BOTH, SYS_T, IC, EK, AK) == expected
    assert encrypt(BOTH, SYS_T, IC, EK, AK, INITIATE_REQUEST) == expected[2:]
    assert decrypt(SYS_T, EK, AK, expected[2:]) == (BOTH, IC, INITIATE_REQUEST)


def test_nist_gcm_test_case_3_keystream_is_encryption_only() -> None:
    # McGrew & Viega, "The Galois/Counter Mode of Operation", Test Case 3 (NIST GCM vectors):
    # encryption-only protection is the GCM ciphertext without its tag. IV = title || IC.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    )
    ciphertext = bytes.fromhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
    )
    title, counter = bytes.fromhex("cafebabefacedbad"), 0xDECAF888
    out = encrypt(ENC, title, counter, key, AK, plaintext)
    assert out == bytes([0x20]) + counter.to_bytes(4, "big") + ciphertext


def test_nist_gcm_test_case_1_gmac_of_nothing() -> None:
    # McGrew & Viega Test Case 1: K = 0, IV = 0, no data: T = 58e2fccefa7e3061367f1d57a4e7455a.
    tag = gmac_tag(bytes(16), bytes(8), 0, b"")
    assert tag == bytes.fromhex("58e2fccefa7e3061367f1d57a4e7455a")[:12]


def test_sec2_service_specific_tags_follow_the_green_book() -> None:
    # Green Book COSEMpdu: glo-get-request [200] ... ded-action-response [215].
    cases = {
        0x01: (33, 65),
        0x08: (40, 72),
        0x0E: (46, 78),
        0xC0: (0xC8, 0xD0),
        0xC1: (0xC9, 0xD1),
        0xC2: (0xCA, 0xD2),
        0xC3: (0xCB, 0xD3),
        0xC4: (0xCC, 0xD4),
        0xC5: (0xCD, 0xD5),
        0xC7: (0xCF, 0xD7),
    }
    ded = bytes(range(0x40, 0x50))
    for plain, (glo_tag, ded_tag) in cases.items():
        apdu = bytes([plain, 1, 2, 3])
        glo = cipher_apdu(apdu, CipheringKind.GLO, BOTH, SYS_T, 1, EK, AK)
        dd = cipher_apdu(apdu, CipheringKind.DED, BOTH, SYS_T, 1, EK, AK, dedicated_key=ded)
        assert glo[0] == glo_tag and dd[0] == ded_tag
        assert is_ciphered_tag(glo_tag) and is_ciphered_tag(ded_tag)
        assert not is_ciphered_tag(plain)
    assert is_ciphered_tag(0xDB) and is_ciphered_tag(0xDC)
    with pytest.raises(EncodeError):
        cipher_apdu(bytes([0x60, 0]), CipheringKind.GLO, BOTH, SYS_T, 1, EK, AK)


def test_sec2_general_glo_ciphering_carries_the_system_title() -> None:
    # general-glo-ciphering [219] ::= SEQUENCE { system-title OCTET STRING,
    # ciphered-content OCTET STRING } (Green Book xDLMS ASN.1); the content is the Table 40 one.
    apdu = cipher_apdu(GET_REQUEST, CipheringKind.GENERAL_GLO, BOTH, SYS_T, IC, EK, AK)
    content = bytes.fromhex(GLO_GET_REQUEST[BOTH])[2:]
    assert apdu == b"\xdb\x08" + SYS_T + bytes([len(content)]) + content
    opened = decipher_apdu(apdu, ek=EK, ak=AK)
    assert opened.kind is CipheringKind.GENERAL_GLO and opened.system_title == SYS_T
    assert opened.plaintext == GET_REQUEST
    with pytest.raises(SecurityError):
        decipher_apdu(apdu, ek=EK, ak=AK, system_title=bytes(8))


def test_sec2_dedicated_kinds_use_the_dedicated_key() -> None:
    ded = bytes(range(0x60, 0x70))
    for kind in (CipheringKind.DED, CipheringKind.GENERAL_DED):
        apdu = cipher_apdu(GET_REQUEST, kind, BOTH, SYS_T, 7, EK, AK, dedicated_key=ded)
        with pytest.raises(SecurityError):
            decipher_apdu(apdu, ek=EK, ak=AK, system_title=SYS_T)
        with pytest.raises(SecurityError):
            decipher_apdu(apdu, ek=EK, ak=AK, system_title=SYS_T, dedicated_key=EK)
        opened = decipher_apdu(apdu, ek=EK, ak=AK, system_title=SYS_T, dedicated_key=ded)
        assert opened.kind is kind and opened.plaintext == GET_REQUEST
    with pytest.raises(SecurityError):
        cipher_apdu(GET_REQUEST, CipheringKind.DED, BOTH, SYS_T, 7, EK, AK)


def test_sec2_any_altered_byte_fails_the_tag_without_leaking_keys() -> None:
    for sc in (AUTH, BOTH):
        apdu = bytes.fromhex(GLO_GET_REQUEST[sc])
        for i in range(2, len(apdu)):
            bad = bytearray(apdu)
            bad[i] ^= 0x01
            with pytest.raises((SecurityError, DecodeError)) as err:
                decipher_apdu(bytes(bad), ek=EK, ak=AK, system_title=SYS_T)
            assert EK.hex() not in str(err.value).lower()
            assert AK.hex() not in str(err.value).lower()
        with pytest.raises(SecurityError):
            decipher_apdu(apdu, ek=EK, ak=bytes(16), system_title=SYS_T)
        with pytest.raises(SecurityError):
            decipher_apdu(apdu, ek=EK, ak=AK, system_title=bytes(8))


def test_sec2_unprotected_or_compressed_headers_are_refused() -> None:
    with pytest.raises(EncodeError):
        encrypt(SecurityControl(0, False, False), SYS_T, 1, EK, AK, b"x")
    with pytest.raises(SecurityError):
        decrypt(SYS_T, EK, AK, bytes.fromhex("0001234567C001"))
    with pytest.raises(SecurityError):
        decrypt(SYS_T, EK, AK, bytes.fromhex("B001234567") + bytes(20))
    with pytest.raises(EncodeError):
        encrypt(BOTH, SYS_T, 2**32, EK, AK, b"x")
    with pytest.raises(SecurityError):
        encrypt(BOTH, SYS_T, 1, EK[:8], AK, b"x")


def test_sec2_suite_2_uses_256_bit_keys() -> None:
    sc = SecurityControl(2, True, True)
    ek, ak = bytes(range(32)), bytes(range(32, 64))
    apdu = cipher_apdu(GET_REQUEST, CipheringKind.GLO, sc, SYS_T, 5, ek, ak)
    assert decipher_apdu(apdu, ek=ek, ak=ak, system_title=SYS_T).plaintext == GET_REQUEST
    with pytest.raises(SecurityError):
        cipher_apdu(GET_REQUEST, CipheringKind.GLO, sc, SYS_T, 5, EK, AK)


@given(
    body=st.binary(min_size=0, max_size=300),
    service=st.sampled_from([0x01, 0x08, 0x0E, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7]),
    kind=st.sampled_from(list(CipheringKind)),
    sc_byte=st.sampled_from([0x10, 0x20, 0x30, 0x11, 0x31, 0x50, 0x70]),
    counter=st.integers(0, 2**32 - 1),
    title=st.binary(min_size=8, max_size=8),
)
def test_sec2_cipher_decipher_round_trip(
    body: bytes, service: int, kind: CipheringKind, sc_byte: int, counter: int, title: bytes
) -> None:
    apdu = bytes([service]) + body
    sc = SecurityControl.from_byte(sc_byte)
    ded = bytes(range(100, 116))
    out = cipher_apdu(apdu, kind, sc, title, counter, EK, AK, dedicated_key=ded)
    opened = decipher_apdu(out, ek=EK, ak=AK, system_title=title, dedicated_key=ded)
    assert (opened.plaintext, opened.kind, opened.sc) == (apdu, kind, sc)
    assert (opened.system_title, opened.invocation_counter) == (title, counter)


def test_decipher_fuzz_ends_in_a_result_or_a_typed_error() -> None:
    rng = random.Random(62056)
    seeds = [bytes.fromhex(v) for v in GLO_GET_REQUEST.values()]
    seeds.append(cipher_apdu(GET_REQUEST, CipheringKind.GENERAL_GLO, BOTH, SYS_T, IC, EK, AK))
    deadline = time.monotonic() + 10
    for i in range(4000):
        if i % 2:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                op = rng.randrange(3)
                if op == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif op == 1 and data:
                    del data[rng.randrange(len(data)) :]
                else:
                    data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            buf = bytes(data)
        else:
            buf = rng.randbytes(rng.randint(0, 64))
        with contextlib.suppress(DecodeError, SecurityError):
            decipher_apdu(buf, ek=EK, ak=AK, system_title=SYS_T, dedicated_key=EK)
        with contextlib.suppress(DecodeError, SecurityError):
            decrypt(SYS_T, EK, AK, buf)
    assert time.monotonic() < deadline
