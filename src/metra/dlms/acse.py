"""The ACSE association APDUs of DLMS/COSEM: AARQ, AARE, RLRQ and RLRE (BER encoded).

These open and close an application association (IEC 62056-5-3, DLMS UA Green Book "ACSE
services"). They carry who is calling (the 8-octet system title, needed later as part of every
GCM nonce), which security mechanism is proposed (MTR-2: authentication before access) and its
authentication value, and, opaque to this layer, the xDLMS InitiateRequest / InitiateResponse in
user-information, which may be ciphered (SEC-2); so ``user_information`` stays ``bytes`` here and
is decoded by :mod:`metra.dlms.initiate` or the security layer.

Only the fields DLMS uses are modelled. Other optional ACSE fields (called AP title, invocation
identifiers, implementation information) are skipped safely when decoding and never emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from . import ber
from .ber import Tag, Tlv
from .errors import DecodeError, EncodeError

#: Length of a DLMS system title, the only AP-title form DLMS uses.
SYSTEM_TITLE_LENGTH = 8

# 2.16.756.5.8 = joint-iso-itu-t country(16) ch(756) identified-organization(5) dlms-ua(8)
_DLMS_UA = (2, 16, 756, 5, 8)
_APPLICATION_CONTEXT_ARC = 1
_MECHANISM_ARC = 2

# ACSE-requirements / protocol-version: BIT STRING with only bit 0 set (authentication, version1).
_BIT_ZERO = ber.encode_bit_string(b"\x80", 7)

AARQ_TAG = ber.application(0, constructed=True)
AARE_TAG = ber.application(1, constructed=True)
RLRQ_TAG = ber.application(2, constructed=True)
RLRE_TAG = ber.application(3, constructed=True)

_PROTOCOL_VERSION = ber.context(0)
_APPLICATION_CONTEXT_NAME = ber.context(1, constructed=True)
_USER_INFORMATION = ber.context(30, constructed=True)
# AARQ fields.
_CALLING_AP_TITLE = ber.context(6, constructed=True)
_CALLING_AE_QUALIFIER = ber.context(7, constructed=True)
_SENDER_ACSE_REQUIREMENTS = ber.context(10)
_AARQ_MECHANISM_NAME = ber.context(11)
_CALLING_AUTHENTICATION_VALUE = ber.context(12, constructed=True)
# AARE fields.
_RESULT = ber.context(2, constructed=True)
_RESULT_SOURCE_DIAGNOSTIC = ber.context(3, constructed=True)
_RESPONDING_AP_TITLE = ber.context(4, constructed=True)
_RESPONDING_AE_QUALIFIER = ber.context(5, constructed=True)
_RESPONDER_ACSE_REQUIREMENTS = ber.context(8)
_AARE_MECHANISM_NAME = ber.context(9)
_RESPONDING_AUTHENTICATION_VALUE = ber.context(10, constructed=True)
# RLRQ / RLRE field.
_REASON = ber.context(0)
# Authentication-value CHOICE: charstring [0] IMPLICIT GraphicString.
_CHARSTRING = ber.context(0)


class ApplicationContext(IntEnum):
    """Application context names 2.16.756.5.8.1.x: referencing and whether APDUs are ciphered."""

    LN = 1
    SN = 2
    LN_CIPHERED = 3
    SN_CIPHERED = 4


class Mechanism(IntEnum):
    """Authentication mechanism names 2.16.756.5.8.2.x."""

    NONE = 0
    LLS = 1
    HLS = 2
    HLS_MD5 = 3
    HLS_SHA1 = 4
    HLS_GMAC = 5
    HLS_SHA256 = 6
    HLS_ECDSA = 7


class AssociationResult(IntEnum):
    """Association-result of the AARE."""

    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class DiagnosticSource(IntEnum):
    """Which side of the ACSE produced the diagnostic (the CHOICE tag of the diagnostic)."""

    ACSE_SERVICE_USER = 1
    ACSE_SERVICE_PROVIDER = 2


class AcseServiceUserDiagnostic(IntEnum):
    """Diagnostics of the acse-service-user (the server application)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProviderDiagnostic(IntEnum):
    """Diagnostics of the acse-service-provider (the ACSE itself)."""

    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class ReleaseRequestReason(IntEnum):
    """Reason of an RLRQ."""

    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(IntEnum):
    """Reason of an RLRE."""

    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


class UnsupportedNameError(DecodeError):
    """A well-formed application-context-name or mechanism-name that is not a DLMS one.

    Its own type so that a server can answer with the matching AARE diagnostic
    (application-context-name-not-supported, authentication-mechanism-name-not-recognised)
    instead of dropping the request as garbage. ``field`` names which one it was.
    """

    def __init__(self, field: str, arcs: tuple[int, ...], offset: int) -> None:
        self.field = field
        self.arcs = arcs
        super().__init__(f"unsupported {field} {'.'.join(map(str, arcs))}", offset)


@dataclass(frozen=True)
class ResultSourceDiagnostic:
    """result-source-diagnostic of the AARE: its source and the diagnostic value there."""

    source: DiagnosticSource = DiagnosticSource.ACSE_SERVICE_USER
    value: AcseServiceUserDiagnostic | AcseServiceProviderDiagnostic = (
        AcseServiceUserDiagnostic.NULL
    )

    @classmethod
    def user(cls, value: AcseServiceUserDiagnostic) -> ResultSourceDiagnostic:
        """A diagnostic from the acse-service-user (the server application): the usual case."""
        return cls(DiagnosticSource.ACSE_SERVICE_USER, value)

    @classmethod
    def provider(cls, value: AcseServiceProviderDiagnostic) -> ResultSourceDiagnostic:
        """A diagnostic from the acse-service-provider (the ACSE itself)."""
        return cls(DiagnosticSource.ACSE_SERVICE_PROVIDER, value)


@dataclass(frozen=True)
class Aarq:
    """A-ASSOCIATE request. ``sender-acse-requirements`` is sent exactly when a mechanism is."""

    application_context: ApplicationContext
    calling_ap_title: bytes | None = None
    calling_ae_qualifier: bytes | None = None
    mechanism: Mechanism | None = None
    # An LLS password travels here: keep it out of reprs (and so out of logs).
    calling_authentication_value: bytes | None = field(default=None, repr=False)
    user_information: bytes | None = None

    def encode(self) -> bytes:
        """The BER encoding, fields in the order the ACSE abstract syntax gives them."""
        parts = [_encode_context_name(self.application_context)]
        if self.calling_ap_title is not None:
            parts.append(_encode_ap_title(_CALLING_AP_TITLE, self.calling_ap_title))
        if self.calling_ae_qualifier is not None:
            parts.append(_encode_octets_in(_CALLING_AE_QUALIFIER, self.calling_ae_qualifier))
        if self.mechanism is not None:
            parts.append(ber.encode_tlv(_SENDER_ACSE_REQUIREMENTS, _BIT_ZERO))
            parts.append(_encode_mechanism(_AARQ_MECHANISM_NAME, self.mechanism))
        if self.calling_authentication_value is not None:
            parts.append(
                _encode_auth_value(_CALLING_AUTHENTICATION_VALUE, self.calling_authentication_value)
            )
        if self.user_information is not None:
            parts.append(_encode_octets_in(_USER_INFORMATION, self.user_information))
        return ber.encode_constructed(AARQ_TAG, parts)


@dataclass(frozen=True)
class Aare:
    """A-ASSOCIATE response. ``responder-acse-requirements`` is sent exactly when a mechanism is."""

    application_context: ApplicationContext
    result: AssociationResult = AssociationResult.ACCEPTED
    diagnostic: ResultSourceDiagnostic = field(default_factory=ResultSourceDiagnostic)
    responding_ap_title: bytes | None = None
    responding_ae_qualifier: bytes | None = None
    mechanism: Mechanism | None = None
    responding_authentication_value: bytes | None = None
    user_information: bytes | None = None

    def encode(self) -> bytes:
        """The BER encoding, fields in the order the ACSE abstract syntax gives them."""
        diagnostic = ber.encode_constructed(
            ber.context(self.diagnostic.source),
            [ber.encode_tlv(ber.INTEGER, ber.encode_integer(self.diagnostic.value))],
        )
        parts = [
            _encode_context_name(self.application_context),
            ber.encode_constructed(
                _RESULT, [ber.encode_tlv(ber.INTEGER, ber.encode_integer(self.result))]
            ),
            ber.encode_constructed(_RESULT_SOURCE_DIAGNOSTIC, [diagnostic]),
        ]
        if self.responding_ap_title is not None:
            parts.append(_encode_ap_title(_RESPONDING_AP_TITLE, self.responding_ap_title))
        if self.responding_ae_qualifier is not None:
            parts.append(_encode_octets_in(_RESPONDING_AE_QUALIFIER, self.responding_ae_qualifier))
        if self.mechanism is not None:
            parts.append(ber.encode_tlv(_RESPONDER_ACSE_REQUIREMENTS, _BIT_ZERO))
            parts.append(_encode_mechanism(_AARE_MECHANISM_NAME, self.mechanism))
        if self.responding_authentication_value is not None:
            parts.append(
                _encode_auth_value(
                    _RESPONDING_AUTHENTICATION_VALUE, self.responding_authentication_value
                )
            )
        if self.user_information is not None:
            parts.append(_encode_octets_in(_USER_INFORMATION, self.user_information))
        return ber.encode_constructed(AARE_TAG, parts)


@dataclass(frozen=True)
class Rlrq:
    """A-RELEASE request; a ciphered context carries an InitiateRequest in user-information."""

    reason: ReleaseRequestReason | None = ReleaseRequestReason.NORMAL
    user_information: bytes | None = None

    def encode(self) -> bytes:
        """The BER encoding (``62 00`` when neither field is present)."""
        return _encode_release(RLRQ_TAG, self.reason, self.user_information)


@dataclass(frozen=True)
class Rlre:
    """A-RELEASE response; a ciphered context carries an InitiateResponse in user-information."""

    reason: ReleaseResponseReason | None = ReleaseResponseReason.NORMAL
    user_information: bytes | None = None

    def encode(self) -> bytes:
        """The BER encoding (``63 00`` when neither field is present)."""
        return _encode_release(RLRE_TAG, self.reason, self.user_information)


AcseApdu = Aarq | Aare | Rlrq | Rlre

_T = TypeVar("_T")
_E = TypeVar("_E", bound=IntEnum)


# ---------------------------------------------------------------------------------------- encoding


def _encode_context_name(context: ApplicationContext) -> bytes:
    oid = ber.encode_oid((*_DLMS_UA, _APPLICATION_CONTEXT_ARC, int(context)))
    return ber.encode_constructed(
        _APPLICATION_CONTEXT_NAME, [ber.encode_tlv(ber.OBJECT_IDENTIFIER, oid)]
    )


def _encode_mechanism(tag: Tag, mechanism: Mechanism) -> bytes:
    return ber.encode_tlv(tag, ber.encode_oid((*_DLMS_UA, _MECHANISM_ARC, int(mechanism))))


def _encode_ap_title(tag: Tag, title: bytes) -> bytes:
    if len(title) != SYSTEM_TITLE_LENGTH:
        raise EncodeError(f"AP title must be an {SYSTEM_TITLE_LENGTH}-octet system title")
    return _encode_octets_in(tag, title)


def _encode_octets_in(tag: Tag, value: bytes) -> bytes:
    return ber.encode_constructed(tag, [ber.encode_tlv(ber.OCTET_STRING, bytes(value))])


def _encode_auth_value(tag: Tag, value: bytes) -> bytes:
    return ber.encode_constructed(tag, [ber.encode_tlv(_CHARSTRING, bytes(value))])


def _encode_release(tag: Tag, reason: int | None, user_information: bytes | None) -> bytes:
    parts = []
    if reason is not None:
        parts.append(ber.encode_tlv(_REASON, ber.encode_integer(reason)))
    if user_information is not None:
        parts.append(_encode_octets_in(_USER_INFORMATION, user_information))
    return ber.encode_constructed(tag, parts)


# ---------------------------------------------------------------------------------------- decoding


def decode_acse(data: bytes) -> AcseApdu:
    """Decode one whole AARQ, AARE, RLRQ or RLRE; anything else raises :class:`DecodeError`.

    Unknown optional fields are skipped (they must still be well-formed TLVs); a field that
    appears twice, a missing mandatory field or trailing bytes are errors.
    """
    if not data:
        raise DecodeError("empty ACSE APDU", 0)
    decoders: dict[Tag, Callable[[dict[Tag, Tlv], Tlv], AcseApdu]] = {
        AARQ_TAG: _decode_aarq,
        AARE_TAG: _decode_aare,
        RLRQ_TAG: _decode_rlrq,
        RLRE_TAG: _decode_rlre,
    }
    outer, end = ber.read_tlv(data)
    decoder = decoders.get(outer.tag)
    if decoder is None:
        raise DecodeError(f"not an ACSE APDU: tag {outer.tag}", 0)
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing bytes", end)
    fields: dict[Tag, Tlv] = {}
    for tlv in ber.read_tlvs(outer.value, base=outer.value_offset):
        if tlv.tag in fields:
            raise DecodeError(f"duplicate field {tlv.tag}", tlv.offset)
        fields[tlv.tag] = tlv
    return decoder(fields, outer)


def _decode_aarq(fields: dict[Tag, Tlv], outer: Tlv) -> Aarq:
    _check_protocol_version(fields)
    _check_acse_requirements(fields.get(_SENDER_ACSE_REQUIREMENTS))
    return Aarq(
        application_context=_decode_context_name(
            _required(fields, _APPLICATION_CONTEXT_NAME, outer)
        ),
        calling_ap_title=_optional(fields, _CALLING_AP_TITLE, _decode_ap_title),
        calling_ae_qualifier=_optional(fields, _CALLING_AE_QUALIFIER, _decode_octets_in),
        mechanism=_optional(fields, _AARQ_MECHANISM_NAME, _decode_mechanism),
        calling_authentication_value=_optional(
            fields, _CALLING_AUTHENTICATION_VALUE, _decode_auth_value
        ),
        user_information=_optional(fields, _USER_INFORMATION, _decode_octets_in),
    )


def _decode_aare(fields: dict[Tag, Tlv], outer: Tlv) -> Aare:
    _check_protocol_version(fields)
    _check_acse_requirements(fields.get(_RESPONDER_ACSE_REQUIREMENTS))
    result_tlv = _required(fields, _RESULT, outer)
    result = _enum(AssociationResult, _decode_integer_in(result_tlv), result_tlv, "result")
    return Aare(
        application_context=_decode_context_name(
            _required(fields, _APPLICATION_CONTEXT_NAME, outer)
        ),
        result=result,
        diagnostic=_decode_diagnostic(_required(fields, _RESULT_SOURCE_DIAGNOSTIC, outer)),
        responding_ap_title=_optional(fields, _RESPONDING_AP_TITLE, _decode_ap_title),
        responding_ae_qualifier=_optional(fields, _RESPONDING_AE_QUALIFIER, _decode_octets_in),
        mechanism=_optional(fields, _AARE_MECHANISM_NAME, _decode_mechanism),
        responding_authentication_value=_optional(
            fields, _RESPONDING_AUTHENTICATION_VALUE, _decode_auth_value
        ),
        user_information=_optional(fields, _USER_INFORMATION, _decode_octets_in),
    )


def _decode_rlrq(fields: dict[Tag, Tlv], _: Tlv) -> Rlrq:
    reason_tlv = fields.get(_REASON)
    reason = None
    if reason_tlv is not None:
        reason = _enum(ReleaseRequestReason, ber.decode_integer(reason_tlv), reason_tlv, "reason")
    return Rlrq(reason, _optional(fields, _USER_INFORMATION, _decode_octets_in))


def _decode_rlre(fields: dict[Tag, Tlv], _: Tlv) -> Rlre:
    reason_tlv = fields.get(_REASON)
    reason = None
    if reason_tlv is not None:
        reason = _enum(ReleaseResponseReason, ber.decode_integer(reason_tlv), reason_tlv, "reason")
    return Rlre(reason, _optional(fields, _USER_INFORMATION, _decode_octets_in))


def _required(fields: dict[Tag, Tlv], tag: Tag, outer: Tlv) -> Tlv:
    tlv = fields.get(tag)
    if tlv is None:
        raise DecodeError(f"missing mandatory field {tag}", outer.offset)
    return tlv


def _optional(fields: dict[Tag, Tlv], tag: Tag, decode: Callable[[Tlv], _T]) -> _T | None:
    tlv = fields.get(tag)
    return None if tlv is None else decode(tlv)


def _enum(cls: type[_E], value: int, tlv: Tlv, what: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise DecodeError(f"unknown {what} {value}", tlv.value_offset) from None


def _inner(tlv: Tlv, expected: Tag) -> Tlv:
    return ber.read_single(tlv.value, expected, base=tlv.value_offset)


def _decode_integer_in(tlv: Tlv) -> int:
    return ber.decode_integer(_inner(tlv, ber.INTEGER))


def _decode_octets_in(tlv: Tlv) -> bytes:
    return _inner(tlv, ber.OCTET_STRING).value


def _decode_ap_title(tlv: Tlv) -> bytes:
    title = _decode_octets_in(tlv)
    if len(title) != SYSTEM_TITLE_LENGTH:
        raise DecodeError(
            f"AP title of {len(title)} octets is not a system title", tlv.value_offset
        )
    return title


def _decode_auth_value(tlv: Tlv) -> bytes:
    return _inner(tlv, _CHARSTRING).value


def _decode_dlms_name(tlv: Tlv, arc: int, what: str, cls: type[_E]) -> _E:
    """The ``cls`` member named by OID 2.16.756.5.8.``arc``.x, else UnsupportedNameError."""
    arcs = ber.decode_oid(tlv)
    if len(arcs) == len(_DLMS_UA) + 2 and arcs[:-1] == (*_DLMS_UA, arc):
        try:
            return cls(arcs[-1])
        except ValueError:
            pass
    raise UnsupportedNameError(what, arcs, tlv.value_offset)


def _decode_context_name(tlv: Tlv) -> ApplicationContext:
    oid = _inner(tlv, ber.OBJECT_IDENTIFIER)
    return _decode_dlms_name(
        oid, _APPLICATION_CONTEXT_ARC, "application-context-name", ApplicationContext
    )


def _decode_mechanism(tlv: Tlv) -> Mechanism:
    return _decode_dlms_name(tlv, _MECHANISM_ARC, "mechanism-name", Mechanism)


_DIAGNOSTIC_CHOICES = {
    ber.context(1, constructed=True): DiagnosticSource.ACSE_SERVICE_USER,
    ber.context(2, constructed=True): DiagnosticSource.ACSE_SERVICE_PROVIDER,
}


def _decode_diagnostic(tlv: Tlv) -> ResultSourceDiagnostic:
    inner, end = ber.read_tlv(tlv.value, base=tlv.value_offset)
    if end != len(tlv.value):
        raise DecodeError("trailing bytes in result-source-diagnostic", tlv.value_offset + end)
    choice = _DIAGNOSTIC_CHOICES.get(inner.tag)
    if choice is None:
        raise DecodeError(f"unknown result-source-diagnostic choice {inner.tag}", inner.offset)
    value = _decode_integer_in(inner)
    if choice is DiagnosticSource.ACSE_SERVICE_USER:
        return ResultSourceDiagnostic(
            choice, _enum(AcseServiceUserDiagnostic, value, inner, "diagnostic")
        )
    return ResultSourceDiagnostic(
        choice, _enum(AcseServiceProviderDiagnostic, value, inner, "diagnostic")
    )


def _check_protocol_version(fields: dict[Tag, Tlv]) -> None:
    """protocol-version defaults to version1; if sent, it must include version1 (bit 0)."""
    tlv = fields.get(_PROTOCOL_VERSION)
    if tlv is not None:
        bits, _ = ber.decode_bit_string(tlv)
        if not bits or not bits[0] & 0x80:
            raise DecodeError("protocol-version does not include version1", tlv.value_offset)


def _check_acse_requirements(tlv: Tlv | None) -> None:
    """ACSE-requirements is a BIT STRING; DLMS only uses bit 0 (authentication)."""
    if tlv is not None:
        ber.decode_bit_string(tlv)
