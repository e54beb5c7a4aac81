"""ACSE APDUs (AARQ, AARE, RLRQ, RLRE) against the published DLMS examples (SEC-2, MTR-2).

Sources of the vectors:
- [GB] DLMS UA Green Book (DLMS UA 1000-2) Ed. 10, AARQ/AARE encoding examples (p. 444 ff.), as
  reproduced byte for byte in the public test suite of u9n/dlms-cosem
  (tests/test_asce/test_aarq.py, test_aare.py, test_rlrq.py, test_rlre.py). The Green Book
  security example values are the system title 4D4D4D0000BC614E, the LLS password "12345678",
  the HLS challenges CtoS "K56iVagY" / StoC "P6wRJ21F" and the glo-initiate-request
  21 30 30 01234567 ...
- [GO] Public captures in the test suite of a public Go DLMS client (dlmsclient tests): the empty
  RLRQ/RLRE "62 00" / "63 00" and AAREs rejecting an initiate.
- [HX] A public capture of a real meter's HLS-GMAC AARE in a ciphered context (responding AP title,
  StoC and a glo-initiate-response), from a public Java head-end's test (TestMessageGate).
"""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metra.dlms.acse import (
    Aare,
    Aarq,
    AcseServiceProviderDiagnostic,
    AcseServiceUserDiagnostic,
    ApplicationContext,
    AssociationResult,
    DiagnosticSource,
    Mechanism,
    ReleaseRequestReason,
    ReleaseResponseReason,
    ResultSourceDiagnostic,
    Rlre,
    Rlrq,
    UnsupportedNameError,
    decode_acse,
)
from metra.dlms.errors import DecodeError, EncodeError

INITIATE_REQUEST = bytes.fromhex("01000000065F1F0400007E1F04B0")
INITIATE_RESPONSE = bytes.fromhex("0800065F1F040000501F01F40007")
GB_SYSTEM_TITLE = bytes.fromhex("4D4D4D0000BC614E")
# [GB] glo-initiate-request: SC 0x30, IC 01234567, ciphertext and 12-octet tag.
GB_GLO_INITIATE_REQUEST = bytes.fromhex(
    "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB8E356855"
)
# [GB] glo-initiate-response (RLRE example).
GB_GLO_INITIATE_RESPONSE = bytes.fromhex(
    "281F3001234567891214A0845E475714383F65BC19745CA235906525E4F3E1C893"
)

# [GB] LN referencing, no security.
AARQ_NO_SECURITY = "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0"
# [GB] LN referencing, LLS, password "12345678".
AARQ_LLS = (
    "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
    "BE10040E01000000065F1F0400007E1F04B0"
)
# [GB] LN referencing, HLS-GMAC (mechanism 5), CtoS "K56iVagY".
AARQ_HLS_GMAC = (
    "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE10040E01000000065F1F0400007E1F04B0"
)
# [GB] LN referencing with ciphering: calling AP title, LLS, glo-initiate-request.
AARQ_CIPHERED = (
    "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201"
    "AC0A80083132333435363738BE340432" + GB_GLO_INITIATE_REQUEST.hex().upper()
)
# [GB] accepted, no security.
AARE_ACCEPTED = (
    "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
)
# [GB] rejected: application context name not supported.
AARE_BAD_CONTEXT = (
    "6129A109060760857405080101A203020101A305A103020102BE10040E0800065F1F040000501F01F40007"
)
# [GB] rejected: InitiateRequest refused (confirmed-service-error, dlms-version-too-low).
AARE_INITIATE_ERROR = "611FA109060760857405080101A203020101A305A103020101BE0604040E010601"
# [GB] HLS-GMAC accepted pending authentication: authentication-required, StoC "P6wRJ21F".
AARE_HLS_GMAC = (
    "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205"
    "AA0A8008503677524A323146BE10040E0800065F1F040000501F01F40007"
)
# [HX] HLS-GMAC in a ciphered context: responding AP title and a glo-initiate-response.
AARE_HLS_GMAC_CIPHERED = (
    "6161A109060760857405080103A203020100A305A10302010EA40A040848584501353EC609"
    "88020780890760857405080205AA0A80084630433537353942BE230421281F3000000DF7EC99"
    "33D1A0BE2DF245B2768E39EB37E3869E960F795B6861BEAB"
)

PUBLISHED = [
    (
        AARQ_NO_SECURITY,
        Aarq(ApplicationContext.LN, user_information=INITIATE_REQUEST),
    ),
    (
        AARQ_LLS,
        Aarq(
            ApplicationContext.LN,
            mechanism=Mechanism.LLS,
            calling_authentication_value=b"12345678",
            user_information=INITIATE_REQUEST,
        ),
    ),
    (
        AARQ_HLS_GMAC,
        Aarq(
            ApplicationContext.LN,
            mechanism=Mechanism.HLS_GMAC,
            calling_authentication_value=b"K56iVagY",
            user_information=INITIATE_REQUEST,
        ),
    ),
    (
        AARQ_CIPHERED,
        Aarq(
            ApplicationContext.LN_CIPHERED,
            calling_ap_title=GB_SYSTEM_TITLE,
            mechanism=Mechanism.LLS,
            calling_authentication_value=b"12345678",
            user_information=GB_GLO_INITIATE_REQUEST,
        ),
    ),
    (
        AARE_ACCEPTED,
        Aare(ApplicationContext.LN, user_information=INITIATE_RESPONSE),
    ),
    (
        AARE_BAD_CONTEXT,
        Aare(
            ApplicationContext.LN,
            AssociationResult.REJECTED_PERMANENT,
            ResultSourceDiagnostic.user(
                AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED
            ),
            user_information=INITIATE_RESPONSE,
        ),
    ),
    (
        AARE_INITIATE_ERROR,
        Aare(
            ApplicationContext.LN,
            AssociationResult.REJECTED_PERMANENT,
            ResultSourceDiagnostic.user(AcseServiceUserDiagnostic.NO_REASON_GIVEN),
            user_information=bytes.fromhex("0E010601"),
        ),
    ),
    (
        AARE_HLS_GMAC,
        Aare(
            ApplicationContext.LN,
            diagnostic=ResultSourceDiagnostic.user(
                AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED
            ),
            mechanism=Mechanism.HLS_GMAC,
            responding_authentication_value=b"P6wRJ21F",
            user_information=INITIATE_RESPONSE,
        ),
    ),
    (
        AARE_HLS_GMAC_CIPHERED,
        Aare(
            ApplicationContext.LN_CIPHERED,
            diagnostic=ResultSourceDiagnostic.user(
                AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED
            ),
            responding_ap_title=bytes.fromhex("48584501353EC609"),
            mechanism=Mechanism.HLS_GMAC,
            responding_authentication_value=b"F0C5759B",
            user_information=bytes.fromhex(AARE_HLS_GMAC_CIPHERED[-66:]),
        ),
    ),
    # [GB] RLRQ / RLRE, reason normal.
    ("6203800100", Rlrq(ReleaseRequestReason.NORMAL)),
    ("6303800100", Rlre(ReleaseResponseReason.NORMAL)),
    # [GO] empty RLRQ / RLRE.
    ("6200", Rlrq(None)),
    ("6300", Rlre(None)),
    # [GB] RLRQ carrying a glo-initiate-request, RLRE carrying an InitiateResponse / glo one.
    (
        "6239800100BE3404" + "32" + GB_GLO_INITIATE_REQUEST.hex(),
        Rlrq(ReleaseRequestReason.NORMAL, GB_GLO_INITIATE_REQUEST),
    ),
    (
        "6316800100BE11040F080100065F1F0400001E1D04C80007",
        Rlre(
            ReleaseResponseReason.NORMAL,
            bytes.fromhex("080100065F1F0400001E1D04C80007"),
        ),
    ),
    (
        "6328800100BE2304" + "21" + GB_GLO_INITIATE_RESPONSE.hex(),
        Rlre(ReleaseResponseReason.NORMAL, GB_GLO_INITIATE_RESPONSE),
    ),
]


@pytest.mark.parametrize(("hex_apdu", "apdu"), PUBLISHED)
def test_sec2_mtr2_published_acse_apdus_encode_and_decode_byte_for_byte(
    hex_apdu: str, apdu: Aarq | Aare | Rlrq | Rlre
) -> None:
    data = bytes.fromhex(hex_apdu)
    assert apdu.encode() == data
    assert decode_acse(data) == apdu


def test_published_ciphered_aarq_carries_the_green_book_glo_initiate_request() -> None:
    aarq = decode_acse(bytes.fromhex(AARQ_CIPHERED))
    assert isinstance(aarq, Aarq)
    assert aarq.user_information == GB_GLO_INITIATE_REQUEST


def test_sec2_hls_gmac_aarq_in_ciphered_context_with_calling_ap_title() -> None:
    # No public copy of this exact Green Book AARQ was found; it is composed from two [GB]
    # examples: the ciphered AARQ (AP title, glo-initiate-request) with the HLS-GMAC mechanism and
    # CtoS of the HLS example. Same length as the ciphered example, field bytes taken verbatim.
    expected = bytes.fromhex(
        AARQ_CIPHERED.replace("8B0760857405080201", "8B0760857405080205").replace(
            "AC0A80083132333435363738", "AC0A80084B35366956616759"
        )
    )
    aarq = Aarq(
        ApplicationContext.LN_CIPHERED,
        calling_ap_title=GB_SYSTEM_TITLE,
        mechanism=Mechanism.HLS_GMAC,
        calling_authentication_value=b"K56iVagY",
        user_information=GB_GLO_INITIATE_REQUEST,
    )
    assert aarq.encode() == expected
    assert decode_acse(expected) == aarq


def test_oids_are_the_dlms_ua_names() -> None:
    # Green Book: application context 2.16.756.5.8.1.x, mechanism 2.16.756.5.8.2.x.
    for context in ApplicationContext:
        encoded = Aarq(context).encode()
        assert encoded[4:13] == bytes.fromhex("0607608574050801") + bytes((context,))
    for mechanism in Mechanism:
        encoded = Aarq(ApplicationContext.LN, mechanism=mechanism).encode()
        assert bytes.fromhex("8A0207808B07608574050802") + bytes((mechanism,)) in encoded


def test_mtr2_password_and_challenge_are_not_in_the_repr() -> None:
    aarq = Aarq(
        ApplicationContext.LN, mechanism=Mechanism.LLS, calling_authentication_value=b"s3cr3t"
    )
    assert "s3cr3t" not in repr(aarq)


def test_provider_diagnostic_round_trips() -> None:
    aare = Aare(
        ApplicationContext.LN,
        AssociationResult.REJECTED_TRANSIENT,
        ResultSourceDiagnostic.provider(AcseServiceProviderDiagnostic.NO_COMMON_ACSE_VERSION),
    )
    encoded = aare.encode()
    assert bytes.fromhex("A305A203020102") in encoded
    decoded = decode_acse(encoded)
    assert isinstance(decoded, Aare)
    assert decoded.diagnostic.source is DiagnosticSource.ACSE_SERVICE_PROVIDER


def test_unknown_optional_fields_are_skipped() -> None:
    # called-AP-title [2], calling-AP-invocation-id [8] and implementation-information [29] are not
    # modelled; protocol-version [0] = version1 is accepted.
    base = bytes.fromhex(AARQ_NO_SECURITY)
    extra = bytes.fromhex("80020780A20A04080102030405060708A8030201019D03414243")
    data = bytes((0x60, base[1] + len(extra))) + extra + base[2:]
    assert decode_acse(data) == decode_acse(base)


def test_unsupported_application_context_is_reported_for_the_aare_diagnostic() -> None:
    data = bytearray.fromhex(AARQ_NO_SECURITY)
    data[12] = 9  # 2.16.756.5.8.1.9
    with pytest.raises(UnsupportedNameError) as info:
        decode_acse(bytes(data))
    assert info.value.field == "application-context-name"
    assert info.value.offset == 6


def test_unsupported_mechanism_is_reported() -> None:
    data = bytearray.fromhex(AARQ_LLS)
    data[25] = 0x42  # 2.16.756.5.8.2.66
    with pytest.raises(UnsupportedNameError) as info:
        decode_acse(bytes(data))
    assert info.value.field == "mechanism-name"


@pytest.mark.parametrize(
    ("hex_apdu", "offset"),
    [
        ("", 0),
        ("64027F00", 0),  # not an ACSE APDU tag
        (AARQ_NO_SECURITY + "00", 31),  # trailing byte
        ("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04", 0),  # truncated
        ("6080A10906076085740508010100 00".replace(" ", ""), 1),  # indefinite length
        ("6000", 0),  # AARQ without application-context-name
        ("610BA109060760857405080101", 0),  # AARE without result
        ("6016A109060760857405080101A109060760857405080101", 13),  # duplicate field
        ("6012A109060760857405080101A60504030102 03".replace(" ", ""), 15),  # AP title of 3 octets
        ("6012A109060760857405080101AC05810300 0000".replace(" ", ""), 15),  # bitstring auth value
        ("6203800105", 4),  # unknown release reason
    ],
)
def test_malformed_acse_raises_decode_error_with_offset(hex_apdu: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_acse(bytes.fromhex(hex_apdu))
    assert info.value.offset == offset


def test_every_truncation_of_every_vector_is_refused() -> None:
    for hex_apdu, _ in PUBLISHED:
        data = bytes.fromhex(hex_apdu)
        for n in range(len(data)):
            with pytest.raises(DecodeError):
                decode_acse(data[:n])


def test_encoder_refuses_an_ap_title_that_is_not_a_system_title() -> None:
    with pytest.raises(EncodeError):
        Aarq(ApplicationContext.LN_CIPHERED, calling_ap_title=b"short").encode()


opt_bytes = st.none() | st.binary(max_size=200)
titles = st.none() | st.binary(min_size=8, max_size=8)
mechanisms = st.none() | st.sampled_from(list(Mechanism))
contexts = st.sampled_from(list(ApplicationContext))
diagnostics = st.sampled_from(list(AcseServiceUserDiagnostic)).map(ResultSourceDiagnostic.user) | (
    st.sampled_from(list(AcseServiceProviderDiagnostic)).map(ResultSourceDiagnostic.provider)
)


@given(st.builds(Aarq, contexts, titles, opt_bytes, mechanisms, opt_bytes, opt_bytes))
def test_aarq_round_trip(aarq: Aarq) -> None:
    assert decode_acse(aarq.encode()) == aarq


@given(
    st.builds(
        Aare,
        contexts,
        st.sampled_from(list(AssociationResult)),
        diagnostics,
        titles,
        opt_bytes,
        mechanisms,
        opt_bytes,
        opt_bytes,
    )
)
def test_aare_round_trip(aare: Aare) -> None:
    assert decode_acse(aare.encode()) == aare


@given(st.none() | st.sampled_from(list(ReleaseRequestReason)), opt_bytes)
def test_release_round_trip(reason: ReleaseRequestReason | None, info: bytes | None) -> None:
    assert decode_acse(Rlrq(reason, info).encode()) == Rlrq(reason, info)
    rlre_reason = None if reason is None else ReleaseResponseReason(reason)
    assert decode_acse(Rlre(rlre_reason, info).encode()) == Rlre(rlre_reason, info)


def test_fuzz_random_and_mutated_acse_ends_in_result_or_decode_error() -> None:
    rng = random.Random(62056)
    seeds = [bytes.fromhex(h) for h, _ in PUBLISHED]
    deadline = time.monotonic() + 10
    for i in range(20000):
        if i % 4 == 0:
            data = rng.randbytes(rng.randint(0, 120))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 5)):
                op = rng.randrange(3)
                pos = rng.randrange(len(buf))
                if op == 0:
                    buf[pos] = rng.randrange(256)
                elif op == 1:
                    buf.insert(pos, rng.randrange(256))
                elif len(buf) > 1:
                    del buf[pos]
            data = bytes(buf)
        with contextlib.suppress(DecodeError):
            decode_acse(data)
        assert time.monotonic() < deadline
