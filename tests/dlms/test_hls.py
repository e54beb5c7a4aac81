"""HLS authentication functions (SEC-2, MTR-2): mechanism 5 against the Green Book example,
mechanism 7 for the message order the Green Book gives."""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.errors import DecodeError, SecurityError
from metra.dlms.hls import (
    ecdsa_sign_challenge,
    ecdsa_verify_challenge,
    gmac_response,
    verify_gmac_response,
)
from metra.dlms.security import SecurityControl
from metra.dlms.signing import verify_raw

# Green Book Ed. 8.1, 9.2.7.4, Table 43 "HLS example using authentication-mechanism5 with GMAC".
CLIENT_T = bytes.fromhex("4D4D4D0000000001")
SERVER_T = bytes.fromhex("4D4D4D0000BC614E")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SC = SecurityControl(0, authenticated=True, encrypted=False)
CTOS = b"K56iVagY"  # 4B35366956616759
STOC = b"P6wRJ21F"  # 503677524A323146
F_STOC = bytes.fromhex("10000000011A52FE7DD3E72748973C1E28")  # client, IC 00000001
F_CTOS = bytes.fromhex("1001234567FE1466AFB3DBCD4F9389E2B7")  # server, IC 01234567


def test_mtr2_hls_gmac_green_book_pass_3_and_4() -> None:
    assert gmac_response(SC, CLIENT_T, 1, EK, AK, STOC) == F_STOC
    assert gmac_response(SC, SERVER_T, 0x01234567, EK, AK, CTOS) == F_CTOS
    assert verify_gmac_response(F_STOC, CLIENT_T, EK, AK, STOC) == 1
    assert verify_gmac_response(F_CTOS, SERVER_T, EK, AK, CTOS) == 0x01234567


def test_mtr2_hls_gmac_refuses_wrong_challenge_title_key_or_byte() -> None:
    with pytest.raises(SecurityError):
        verify_gmac_response(F_STOC, CLIENT_T, EK, AK, CTOS)
    with pytest.raises(SecurityError):
        verify_gmac_response(F_STOC, SERVER_T, EK, AK, STOC)
    with pytest.raises(SecurityError):
        verify_gmac_response(F_STOC, CLIENT_T, EK, bytes(16), STOC)
    for i in range(len(F_STOC)):
        bad = bytearray(F_STOC)
        bad[i] ^= 0x80
        with pytest.raises((SecurityError, DecodeError)):
            verify_gmac_response(bytes(bad), CLIENT_T, EK, AK, STOC)
    with pytest.raises(DecodeError):
        verify_gmac_response(F_STOC[:-1], CLIENT_T, EK, AK, STOC)


def test_mtr2_hls_ecdsa_signs_own_title_peer_title_peer_challenge_own_challenge() -> None:
    client_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    # Pass 3: the client answers StoC over ST-C || ST-S || StoC || CtoS.
    f_stoc = ecdsa_sign_challenge(client_key, CLIENT_T, SERVER_T, STOC, CTOS)
    assert len(f_stoc) == 64
    verify_raw(client_key.public_key(), f_stoc, CLIENT_T + SERVER_T + STOC + CTOS)
    ecdsa_verify_challenge(client_key.public_key(), f_stoc, CLIENT_T, SERVER_T, STOC, CTOS)
    # Pass 4: the server answers CtoS over ST-S || ST-C || CtoS || StoC.
    f_ctos = ecdsa_sign_challenge(server_key, SERVER_T, CLIENT_T, CTOS, STOC)
    verify_raw(server_key.public_key(), f_ctos, SERVER_T + CLIENT_T + CTOS + STOC)
    ecdsa_verify_challenge(server_key.public_key(), f_ctos, SERVER_T, CLIENT_T, CTOS, STOC)
    # A reflected answer, a swapped challenge or the wrong key is refused.
    with pytest.raises(SecurityError):
        ecdsa_verify_challenge(client_key.public_key(), f_stoc, SERVER_T, CLIENT_T, CTOS, STOC)
    with pytest.raises(SecurityError):
        ecdsa_verify_challenge(client_key.public_key(), f_stoc, CLIENT_T, SERVER_T, CTOS, STOC)
    with pytest.raises(SecurityError):
        ecdsa_verify_challenge(server_key.public_key(), f_stoc, CLIENT_T, SERVER_T, STOC, CTOS)


def test_hls_ecdsa_p384_answers_are_96_octets() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    sig = ecdsa_sign_challenge(key, CLIENT_T, SERVER_T, STOC, CTOS)
    assert len(sig) == 96
    ecdsa_verify_challenge(key.public_key(), sig, CLIENT_T, SERVER_T, STOC, CTOS)


def test_hls_verifiers_fuzz_end_in_a_result_or_a_typed_error() -> None:
    rng = random.Random(5)
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    deadline = time.monotonic() + 10
    for _ in range(2000):
        buf = rng.randbytes(rng.choice([0, 1, 16, 17, 18, 63, 64, 65]))
        with contextlib.suppress(DecodeError, SecurityError):
            verify_gmac_response(buf, CLIENT_T, EK, AK, STOC)
        with contextlib.suppress(SecurityError):
            ecdsa_verify_challenge(public, buf, CLIENT_T, SERVER_T, STOC, CTOS)
    assert time.monotonic() < deadline
