"""Key transport and agreement for key changes (SEC-7, CMD-10): RFC 3394 vectors and the Green
Book Annex C suite 1 key-agreement vectors."""

from __future__ import annotations

import contextlib
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import SecurityError
from metra.dlms.keywrap import (
    ALGORITHM_ID_AES_GCM_128,
    ecdh_agree,
    kdf,
    new_key,
    unwrap_key,
    wrap_key,
)
from metra.dlms.signing import public_key_from_bytes

KEY_DATA_128 = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
KEY_DATA_256 = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
KEK_128 = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
KEK_192 = bytes.fromhex("000102030405060708090A0B0C0D0E0F1011121314151617")
KEK_256 = bytes.fromhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")

# RFC 3394 section 4.1, 4.2, 4.3 and 4.6.
RFC3394 = [
    (KEK_128, KEY_DATA_128, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
    (KEK_192, KEY_DATA_128, "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
    (KEK_256, KEY_DATA_128, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"),
    (
        KEK_256,
        KEY_DATA_256,
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
    ),
]

# Green Book Annex C, Table C.2 (key agreement, One-Pass Diffie-Hellman C(1e, 1s, ECC CDH),
# suite 1): client = party U, server = party V.
SYS_TC = bytes.fromhex("4D4D4D0000BC614E")
SYS_TS = bytes.fromhex("4D4D4D0000000001")
CLIENT_EPHEMERAL_PUBLIC = bytes.fromhex(
    "C323C2BD45711DE4688637D919F92E9DB8FB2DFC213A88D21C9DC8DCBA917D81"
    "70511DE1BADB360D50058F794B0960AE11FA28D392CFF907A62D13E3357B1DC0"
)
CLIENT_EPHEMERAL_PRIVATE = "47DAB03842E5B6E74828EF4F449B378D7DD1A5DAE1FFCA5AE0B0BE0AD18EC57E"
SERVER_STATIC_PRIVATE = "AAD3FD0732E991CF52A74C66C1F2827DDC53522A2E0A169D7C4FFCC0FB5D6A4D"
SERVER_STATIC_PUBLIC = bytes.fromhex(
    "A653565B0E06070BAE9FBE140A5D2156812AEE2DD525053E3EFC850BF13BFDFF"
    "CB240BC7B77BFF5883344E7275908D2287BEFA3725017295A096989D2338290B"
)
Z_CLIENT_TO_SERVER = bytes.fromhex(
    "0D4385BA0DD756CBCAB9887EB538396EE8F090A14C1079B4359F115B977F4615"
)
# The derived key that protects the Table C.2 general-ciphering APDU.
KEY_CLIENT_TO_SERVER = bytes.fromhex("59A71FD81C929A86A99438DA17A66C05")
# Table C.2 server-to-client direction: Z and the key derived with U = server, V = client.
Z_SERVER_TO_CLIENT = bytes.fromhex(
    "2B4302DC49790E2E78D990CFB52ED6E2F273DECE441A2D95E4301B93812A9FAC"
)
KEY_SERVER_TO_CLIENT = bytes.fromhex("F0184BDA9466BFA4601A64A7EF46504A")


def _private(hex_scalar: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(hex_scalar, 16), ec.SECP256R1())


@pytest.mark.parametrize(("kek", "key", "wrapped"), RFC3394)
def test_cmd10_rfc3394_key_wrap_vectors(kek: bytes, key: bytes, wrapped: str) -> None:
    assert wrap_key(kek, key) == bytes.fromhex(wrapped)
    assert unwrap_key(kek, bytes.fromhex(wrapped)) == key


def test_cmd10_unwrap_integrity_failure_is_a_security_error() -> None:
    wrapped = bytearray(bytes.fromhex(RFC3394[0][2]))
    wrapped[5] ^= 1
    with pytest.raises(SecurityError) as err:
        unwrap_key(KEK_128, bytes(wrapped))
    assert KEK_128.hex() not in str(err.value).lower()
    with pytest.raises(SecurityError):
        unwrap_key(KEK_192[:16][::-1], bytes.fromhex(RFC3394[0][2]))
    for bad in (b"", bytes(8), bytes(25)):
        with pytest.raises(SecurityError):
            unwrap_key(KEK_128, bad)
    with pytest.raises(SecurityError):
        wrap_key(KEK_128, bytes(15))


def test_sec7_green_book_table_c2_kdf() -> None:
    assert (
        kdf(
            Z_CLIENT_TO_SERVER,
            algorithm_id=ALGORITHM_ID_AES_GCM_128,
            party_u_info=SYS_TC,
            party_v_info=SYS_TS,
        )
        == KEY_CLIENT_TO_SERVER
    )
    assert (
        kdf(
            Z_SERVER_TO_CLIENT,
            algorithm_id=ALGORITHM_ID_AES_GCM_128,
            party_u_info=SYS_TS,
            party_v_info=SYS_TC,
        )
        == KEY_SERVER_TO_CLIENT
    )


def test_sec7_green_book_table_c2_one_pass_agreement_both_sides() -> None:
    server = _private(SERVER_STATIC_PRIVATE)
    client_ephemeral = _private(CLIENT_EPHEMERAL_PRIVATE)
    assert public_key_from_bytes(SERVER_STATIC_PUBLIC).public_numbers() == (
        server.public_key().public_numbers()
    )
    on_server = ecdh_agree(
        server,
        public_key_from_bytes(CLIENT_EPHEMERAL_PUBLIC),
        party_u_system_title=SYS_TC,
        party_v_system_title=SYS_TS,
    )
    on_client = ecdh_agree(
        client_ephemeral,
        public_key_from_bytes(SERVER_STATIC_PUBLIC),
        party_u_system_title=SYS_TC,
        party_v_system_title=SYS_TS,
    )
    assert on_server == on_client == KEY_CLIENT_TO_SERVER


def test_sec7_p384_agreement_gives_aes_256_keys_and_curves_must_match() -> None:
    a, b = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    k1 = ecdh_agree(a, b.public_key(), party_u_system_title=SYS_TC, party_v_system_title=SYS_TS)
    k2 = ecdh_agree(b, a.public_key(), party_u_system_title=SYS_TC, party_v_system_title=SYS_TS)
    assert k1 == k2 and len(k1) == 32
    with pytest.raises(SecurityError):
        ecdh_agree(
            a,
            _private(SERVER_STATIC_PRIVATE).public_key(),
            party_u_system_title=SYS_TC,
            party_v_system_title=SYS_TS,
        )


def test_sec7_new_keys_are_fresh_and_sized() -> None:
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50 and all(len(k) == 16 for k in keys)
    assert len(new_key(32)) == 32
    with pytest.raises(ValueError):
        new_key(15)


@given(kek=st.sampled_from([16, 24, 32]), blocks=st.integers(2, 8), data=st.data())
def test_cmd10_wrap_unwrap_round_trip(kek: int, blocks: int, data: st.DataObject) -> None:
    kek_bytes = data.draw(st.binary(min_size=kek, max_size=kek))
    key = data.draw(st.binary(min_size=8 * blocks, max_size=8 * blocks))
    assert unwrap_key(kek_bytes, wrap_key(kek_bytes, key)) == key


def test_unwrap_fuzz_ends_in_a_result_or_a_typed_error() -> None:
    rng = random.Random(3394)
    for _ in range(2000):
        with contextlib.suppress(SecurityError):
            unwrap_key(KEK_128, rng.randbytes(rng.randint(0, 48)))
