"""general-signing and ECDSA in the DLMS plain format (CMD-6: commands signed, meter verifies)."""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError, EncodeError, SecurityError
from metra.dlms.signing import (
    public_key_from_bytes,
    public_key_to_bytes,
    sign_apdu,
    verify_raw,
    verify_signed_apdu,
)

ORIGINATOR = bytes.fromhex("4D4D4D0000BC614E")
RECIPIENT = bytes.fromhex("4D4D4D0000000001")
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
# action-request: disconnect control 0.0.96.3.10.255 method 1 (remote_disconnect)
CONTENT = bytes.fromhex("C30181000046000060030AFF010100")


def _signed(**overrides: bytes) -> bytes:
    fields = {
        "transaction_id": bytes.fromhex("0102030405060708"),
        "originator_system_title": ORIGINATOR,
        "recipient_system_title": RECIPIENT,
        "date_time": b"",
        "other_information": b"",
    }
    fields.update(overrides)
    return sign_apdu(CONTENT, private_key=KEY, **fields)


def test_green_book_annex_c_ecdsa_signature_verifies_in_plain_format() -> None:
    # Green Book Annex C (suite 1 test vectors): the client's signing key pair (private
    # 418073C2...B373) signs its ephemeral public key prefixed with key-id 00; the published
    # R || S signature 06F06077...64BB3 verifies with the published public key BAAFFDE0...7D25.
    public = public_key_from_bytes(
        bytes.fromhex(
            "BAAFFDE06A8CB1C9DAE8D94023C601DBBB249254BA22EDD827E820BCA2BCC643"
            "62FBB83D86A82B87BB8B7161D2AAB5521911A946B97A284A90F7785CD9047D25"
        )
    )
    ephemeral = bytes.fromhex(
        "2914D60E10AB705F62ED6CC349D7CB99B9AB3F3978E59278C7AF595B3AF98794"
        "1372DAB6D5AF1FA867E134167E6F23DE664A6693E05F43414611058D1B48F894"
    )
    signature = bytes.fromhex(
        "06F0607702AA0E2435A183E2F6B1ECD19629712E389A213610C03F77B2590860"
        "EA840AF5C3FA1F2BCDF055D4744E9A01CE9A0E55026BCAA4EEBEB764CED64BB3"
    )
    verify_raw(public, signature, b"\x00" + ephemeral)
    with pytest.raises(SecurityError):
        verify_raw(public, signature, b"\x01" + ephemeral)
    private = ec.derive_private_key(
        int("418073C239FA6125011DE4D6CD2E645780289F761BB21BFB0835CB5585E8B373", 16),
        ec.SECP256R1(),
    )
    assert public_key_to_bytes(private.public_key()) == public_key_to_bytes(public)


def test_cmd6_general_signing_layout_and_round_trip() -> None:
    # General-Signing ::= SEQUENCE { transaction-id, originator-system-title,
    # recipient-system-title, date-time, other-information, content, signature } (all
    # OCTET STRING), tag [223] (Green Book xDLMS ASN.1).
    apdu = _signed()
    head = b"\xdf\x08" + bytes.fromhex("0102030405060708") + b"\x08" + ORIGINATOR
    head += b"\x08" + RECIPIENT + b"\x00\x00" + bytes([len(CONTENT)]) + CONTENT
    assert apdu.startswith(head) and apdu[len(head)] == 64 and len(apdu) == len(head) + 65
    signed = verify_signed_apdu(apdu, KEY.public_key())
    assert signed.content == CONTENT
    assert signed.originator_system_title == ORIGINATOR
    assert signed.recipient_system_title == RECIPIENT
    assert signed.transaction_id == bytes.fromhex("0102030405060708")
    assert (signed.date_time, signed.other_information) == (b"", b"")


def test_cmd6_tampered_byte_or_wrong_key_is_refused() -> None:
    apdu = _signed(date_time=bytes.fromhex("07E8051FFF0C0000000000FF"))
    with pytest.raises(SecurityError):
        verify_signed_apdu(apdu, OTHER_KEY.public_key())
    for i in range(1, len(apdu)):
        bad = bytearray(apdu)
        bad[i] ^= 0x04
        with pytest.raises((SecurityError, DecodeError)):
            verify_signed_apdu(bytes(bad), KEY.public_key())


def test_cmd6_malformed_fields_are_refused_on_signing() -> None:
    with pytest.raises(EncodeError):
        _signed(date_time=b"\x07")
    with pytest.raises(EncodeError):
        _signed(originator_system_title=b"short")
    with pytest.raises(EncodeError):
        _signed(recipient_system_title=b"short")


def test_cmd6_message_without_a_single_recipient_still_verifies() -> None:
    apdu = _signed(recipient_system_title=b"")
    assert verify_signed_apdu(apdu, KEY.public_key()).recipient_system_title == b""


@settings(max_examples=30)
@given(
    content=st.binary(max_size=300),
    transaction_id=st.binary(max_size=20),
    other=st.binary(max_size=200),
)
def test_cmd6_round_trip_property(content: bytes, transaction_id: bytes, other: bytes) -> None:
    apdu = sign_apdu(
        content,
        transaction_id=transaction_id,
        originator_system_title=ORIGINATOR,
        recipient_system_title=RECIPIENT,
        date_time=b"",
        other_information=other,
        private_key=KEY,
    )
    signed = verify_signed_apdu(apdu, KEY.public_key())
    assert (signed.content, signed.transaction_id, signed.other_information) == (
        content,
        transaction_id,
        other,
    )


def test_public_key_bytes_round_trip_and_off_curve_refusal() -> None:
    for curve, size in ((ec.SECP256R1(), 64), (ec.SECP384R1(), 96)):
        public = ec.generate_private_key(curve).public_key()
        raw = public_key_to_bytes(public)
        assert len(raw) == size and public_key_to_bytes(public_key_from_bytes(raw)) == raw
    with pytest.raises(SecurityError):
        public_key_from_bytes(bytes(64))
    with pytest.raises(SecurityError):
        public_key_from_bytes(bytes(10))


def test_verify_signed_apdu_fuzz_ends_in_a_result_or_a_typed_error() -> None:
    rng = random.Random(223)
    seed = _signed()
    public = KEY.public_key()
    deadline = time.monotonic() + 10
    for i in range(1500):
        if i % 2:
            data = bytearray(seed)
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.5:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                else:
                    del data[rng.randrange(len(data)) :]
                    if not data:
                        break
            buf = bytes(data)
        else:
            buf = b"\xdf" + rng.randbytes(rng.randint(0, 80))
        with contextlib.suppress(DecodeError, SecurityError):
            verify_signed_apdu(buf, public)
        with contextlib.suppress(SecurityError):
            public_key_from_bytes(buf[:64])
    assert time.monotonic() < deadline
