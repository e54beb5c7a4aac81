"""xDLMS InitiateRequest / InitiateResponse, conformance block and error APDUs (SEC-2, MTR-2).

Sources of the vectors:
- [GB] DLMS UA Green Book (DLMS UA 1000-2) Ed. 10: the user-information of its AARQ / AARE / RLRE
  examples (p. 444 ff.), the conformance block examples (p. 437), and the ciphered
  glo-initiate-request example (system title 4D4D4D0000BC614E, EK 000102...0F, AK D0D1...DF,
  SC 0x30, IC 01234567), as reproduced byte for byte in the public test suite of u9n/dlms-cosem
  (tests/test_xdlms/test_initiate.py, tests/test_asce/test_conformance.py, test_aare.py).
- [GO] Public captures in the test suite of a public Go DLMS client (dlmsclient tests):
  exception-response "D8 01 01" and confirmed-service-errors "0E 01 03 02", "0E 01 06 04".
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.errors import DecodeError, EncodeError
from metra.dlms.initiate import (
    ConfirmedService,
    ConfirmedServiceError,
    Conformance,
    ExceptionResponse,
    ExceptionServiceError,
    InitiateError,
    InitiateRequest,
    InitiateResponse,
    ServiceError,
    ServiceErrorKind,
    StateError,
    decode_confirmed_service_error,
    decode_conformance,
    decode_exception_response,
    decode_initiate_request,
    decode_initiate_response,
    encode_conformance,
)

C = Conformance
# [GB] conformance 00 7E 1F (the client proposal of the AARQ examples).
GB_CLIENT_CONFORMANCE = (
    C.PRIORITY_MGMT_SUPPORTED
    | C.ATTRIBUTE0_SUPPORTED_WITH_GET
    | C.BLOCK_TRANSFER_WITH_GET_OR_READ
    | C.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | C.BLOCK_TRANSFER_WITH_ACTION
    | C.MULTIPLE_REFERENCES
    | C.GET
    | C.SET
    | C.SELECTIVE_ACCESS
    | C.EVENT_NOTIFICATION
    | C.ACTION
)
# [GB] conformance 00 50 1F (the server grant of the AARE examples).
GB_SERVER_CONFORMANCE = (
    C.PRIORITY_MGMT_SUPPORTED
    | C.BLOCK_TRANSFER_WITH_GET_OR_READ
    | C.GET
    | C.SET
    | C.SELECTIVE_ACCESS
    | C.EVENT_NOTIFICATION
    | C.ACTION
)
GB_DEDICATED_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


@pytest.mark.parametrize(
    ("conformance", "encoded"),
    [(GB_CLIENT_CONFORMANCE, "5F1F0400007E1F"), (GB_SERVER_CONFORMANCE, "5F1F040000501F")],
)
def test_conformance_bit_numbering_matches_green_book(conformance: C, encoded: str) -> None:
    assert encode_conformance(conformance) == bytes.fromhex(encoded)
    assert decode_conformance(bytes.fromhex(encoded)) == (conformance, 7)


def test_conformance_names_follow_green_book_bit_positions() -> None:
    # Green Book Conformance ::= BIT STRING: bit 0 is the MSB of the first of three octets.
    positions = {
        1: C.GENERAL_PROTECTION,
        2: C.GENERAL_BLOCK_TRANSFER,
        3: C.READ,
        4: C.WRITE,
        5: C.UNCONFIRMED_WRITE,
        6: C.DELTA_VALUE_ENCODING,
        8: C.ATTRIBUTE0_SET,
        9: C.PRIORITY_MGMT,
        10: C.ATTRIBUTE0_GET,
        11: C.BLOCK_TRANSFER_WITH_GET_OR_READ,
        12: C.BLOCK_TRANSFER_WITH_SET_OR_WRITE,
        13: C.BLOCK_TRANSFER_WITH_ACTION,
        14: C.MULTIPLE_REFERENCES,
        15: C.INFORMATION_REPORT,
        16: C.DATA_NOTIFICATION,
        17: C.ACCESS,
        18: C.PARAMETERIZED_ACCESS,
        19: C.GET,
        20: C.SET,
        21: C.SELECTIVE_ACCESS,
        22: C.EVENT_NOTIFICATION,
        23: C.ACTION,
    }
    for bit, flag in positions.items():
        octets = encode_conformance(flag)[4:]
        assert octets[bit // 8] == 0x80 >> (bit % 8)
    assert len(list(C)) == 24


PUBLISHED_REQUESTS = [
    # [GB] InitiateRequest of the AARQ examples.
    ("01000000065F1F0400007E1F04B0", InitiateRequest(GB_CLIENT_CONFORMANCE, 1200)),
    # [GB] plaintext of the glo-initiate-request example: with a dedicated key.
    (
        "01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0",
        InitiateRequest(GB_CLIENT_CONFORMANCE, 1200, dedicated_key=GB_DEDICATED_KEY),
    ),
]
PUBLISHED_RESPONSES = [
    # [GB] InitiateResponse of the AARE examples.
    ("0800065F1F040000501F01F40007", InitiateResponse(GB_SERVER_CONFORMANCE, 500)),
    # [GB] InitiateResponse of the RLRE example: with negotiated-quality-of-service 0.
    (
        "080100065F1F0400001E1D04C80007",
        InitiateResponse(
            C.BLOCK_TRANSFER_WITH_GET_OR_READ
            | C.BLOCK_TRANSFER_WITH_SET_OR_WRITE
            | C.BLOCK_TRANSFER_WITH_ACTION
            | C.MULTIPLE_REFERENCES
            | C.GET
            | C.SET
            | C.SELECTIVE_ACCESS
            | C.ACTION,
            1224,
            negotiated_quality_of_service=0,
        ),
    ),
]


@pytest.mark.parametrize(("hex_apdu", "apdu"), PUBLISHED_REQUESTS)
def test_published_initiate_request_byte_for_byte(hex_apdu: str, apdu: InitiateRequest) -> None:
    assert apdu.encode() == bytes.fromhex(hex_apdu)
    assert decode_initiate_request(bytes.fromhex(hex_apdu)) == apdu


@pytest.mark.parametrize(("hex_apdu", "apdu"), PUBLISHED_RESPONSES)
def test_published_initiate_response_byte_for_byte(hex_apdu: str, apdu: InitiateResponse) -> None:
    assert apdu.encode() == bytes.fromhex(hex_apdu)
    assert decode_initiate_response(bytes.fromhex(hex_apdu)) == apdu


def test_sec2_green_book_glo_initiate_request_deciphers_to_our_initiate_request() -> None:
    # [GB] AES-GCM-128, IV = system title || IC, AAD = SC || AK, 12-octet tag.
    glo = bytes.fromhex(
        "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE"
        "6841DB204D39EE6FDB8E356855"
    )
    ek = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    ak = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
    iv = bytes.fromhex("4D4D4D0000BC614E") + glo[3:7]
    body, tag = glo[7:-12], glo[-12:]
    decryptor = Cipher(algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=12)).decryptor()
    decryptor.authenticate_additional_data(glo[2:3] + ak)
    plain = decryptor.update(body) + decryptor.finalize()
    request = decode_initiate_request(plain)
    assert request.dedicated_key == GB_DEDICATED_KEY
    assert request.proposed_conformance == GB_CLIENT_CONFORMANCE
    assert request.encode() == plain


def test_response_allowed_false_and_quality_of_service_are_encoded_as_present() -> None:
    request = InitiateRequest(C.GET, 0xFFFF, response_allowed=False, proposed_quality_of_service=-1)
    assert request.encode() == bytes.fromhex(
        "01000100 01FF 06 5F1F04000000 10 FFFF".replace(" ", "")
    )
    assert decode_initiate_request(request.encode()) == request


def test_sec2_dedicated_key_is_not_in_the_repr() -> None:
    request = InitiateRequest(C.GET, 1200, dedicated_key=GB_DEDICATED_KEY)
    assert GB_DEDICATED_KEY.hex() not in repr(request).lower()
    assert "dedicated_key" not in repr(request)


@pytest.mark.parametrize(
    ("hex_apdu", "error"),
    [
        # [GB] AARE example: initiate refused, dlms-version-too-low.
        (
            "0E010601",
            ConfirmedServiceError.initiate_error(InitiateError.DLMS_VERSION_TOO_LOW),
        ),
        # [GO] initiate refused by the VDE handler; service unsupported.
        (
            "0E010604",
            ConfirmedServiceError.initiate_error(InitiateError.REFUSED_BY_THE_VDE_HANDLER),
        ),
        (
            "0E010302",
            ConfirmedServiceError(
                ConfirmedService.INITIATE_ERROR,
                ServiceErrorKind.SERVICE,
                ServiceError.SERVICE_UNSUPPORTED,
            ),
        ),
    ],
)
def test_published_confirmed_service_errors(hex_apdu: str, error: ConfirmedServiceError) -> None:
    assert error.encode() == bytes.fromhex(hex_apdu)
    assert decode_confirmed_service_error(bytes.fromhex(hex_apdu)) == error


def test_confirmed_service_error_value_must_match_its_kind() -> None:
    with pytest.raises(EncodeError):
        ConfirmedServiceError(
            ConfirmedService.READ, ServiceErrorKind.ACCESS, InitiateError.PDU_SIZE_TOO_SHORT
        )


@pytest.mark.parametrize(
    ("hex_apdu", "response"),
    [
        # [GO] exception-response service-not-allowed / operation-not-possible.
        (
            "D80101",
            ExceptionResponse(
                StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE
            ),
        ),
        # Green Book ExceptionResponse ASN.1: deciphering-error [5] NULL, invocation-counter-error
        # [6] Unsigned32 (constructed from the ASN.1; no published capture was found).
        ("D80105", ExceptionResponse.deciphering_error()),
        ("D8010600000102", ExceptionResponse.invocation_counter_error(0x102)),
        ("D80202", ExceptionResponse.service_unknown()),
    ],
)
def test_exception_responses(hex_apdu: str, response: ExceptionResponse) -> None:
    assert response.encode() == bytes.fromhex(hex_apdu)
    assert decode_exception_response(bytes.fromhex(hex_apdu)) == response


def test_exception_response_counter_only_with_ic_error() -> None:
    with pytest.raises(EncodeError):
        ExceptionResponse(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON, 5)
    with pytest.raises(EncodeError):
        ExceptionResponse(
            StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.INVOCATION_COUNTER_ERROR
        )


@pytest.mark.parametrize(
    ("decoder", "hex_apdu", "offset"),
    [
        (decode_initiate_request, "", 0),
        (decode_initiate_request, "08000000065F1F0400007E1F04B0", 0),  # wrong tag
        (decode_initiate_request, "01020000065F1F0400007E1F04B0", 1),  # bad presence flag
        (decode_initiate_request, "0101FF", 2),  # dedicated key longer than the input
        (decode_initiate_request, "01000000065F1F0400007E1F04B000", 14),  # trailing byte
        (decode_initiate_request, "01000000065F1F0300007E04B0", 8),  # conformance 16 bits
        (decode_initiate_request, "01000000065F1F0401007E1F04B0", 8),  # unused bits
        (decode_initiate_request, "010000000604040000007E1F04B0", 5),  # not [APPLICATION 31]
        (decode_initiate_response, "0800065F1F040000501F01F400", 12),  # truncated vaa-name
        (decode_confirmed_service_error, "0E140601", 1),  # unknown service
        (decode_confirmed_service_error, "0E010609", 3),  # unknown initiate error
        (decode_confirmed_service_error, "0E010801", 2),  # change-scope is reserved
        (decode_exception_response, "D8010600", 3),  # truncated invocation counter
        (decode_exception_response, "D80307", 1),  # unknown state-error
    ],
)
def test_malformed_apdus_raise_decode_error_with_offset(
    decoder: Callable[[bytes], object], hex_apdu: str, offset: int
) -> None:
    with pytest.raises(DecodeError) as info:
        decoder(bytes.fromhex(hex_apdu))
    assert info.value.offset == offset


def test_every_truncation_is_refused() -> None:
    cases = [(decode_initiate_request, h) for h, _ in PUBLISHED_REQUESTS] + [
        (decode_initiate_response, h) for h, _ in PUBLISHED_RESPONSES
    ]
    cases += [
        (decode_confirmed_service_error, "0E010601"),
        (decode_exception_response, "D8010600000102"),
    ]
    for decoder, hex_apdu in cases:
        data = bytes.fromhex(hex_apdu)
        for n in range(len(data)):
            with pytest.raises(DecodeError):
                decoder(data[:n])


conformances = st.integers(0, (1 << 24) - 1).map(Conformance)


@given(
    st.builds(
        InitiateRequest,
        conformances,
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFF),
        st.none() | st.binary(max_size=40),
        st.booleans(),
        st.none() | st.integers(-128, 127),
    )
)
def test_initiate_request_round_trip(request: InitiateRequest) -> None:
    assert decode_initiate_request(request.encode()) == request


@given(
    st.builds(
        InitiateResponse,
        conformances,
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFF),
        st.integers(0, 0xFFFF),
        st.none() | st.integers(-128, 127),
    )
)
def test_initiate_response_round_trip(response: InitiateResponse) -> None:
    assert decode_initiate_response(response.encode()) == response


def test_fuzz_random_and_mutated_bytes_at_every_decoder() -> None:
    rng = random.Random(5362)
    seeds = {
        decode_initiate_request: [bytes.fromhex(h) for h, _ in PUBLISHED_REQUESTS],
        decode_initiate_response: [bytes.fromhex(h) for h, _ in PUBLISHED_RESPONSES],
        decode_confirmed_service_error: [bytes.fromhex("0E010601")],
        decode_exception_response: [bytes.fromhex("D8010600000102")],
    }
    deadline = time.monotonic() + 10
    for decoder, samples in seeds.items():
        for i in range(4000):
            if i % 4 == 0:
                data = bytes((samples[0][0],)) + rng.randbytes(rng.randint(0, 40))
            else:
                buf = bytearray(rng.choice(samples))
                for _ in range(rng.randint(1, 4)):
                    pos = rng.randrange(len(buf))
                    if rng.random() < 0.7:
                        buf[pos] = rng.randrange(256)
                    else:
                        del buf[pos]
                        if not buf:
                            break
                data = bytes(buf)
            with contextlib.suppress(DecodeError):
                decoder(data)
            assert time.monotonic() < deadline
