"""xDLMS InitiateRequest / InitiateResponse, the conformance block, and the two error APDUs.

The InitiateRequest travels in the AARQ's user-information and proposes the DLMS version, the
services the client wants (the conformance block) and the largest APDU it can receive; the
InitiateResponse in the AARE answers with what the server grants. When the server refuses, it
answers with a ConfirmedServiceError (initiate-error) instead. ExceptionResponse is the server's
answer to an APDU it cannot handle at all (e.g. one it cannot decipher: SEC-2).

All are A-XDR (DLMS UA Green Book, xDLMS ASN.1), except the conformance block, which is a BER
``[APPLICATION 31] IMPLICIT BIT STRING (SIZE(24))`` even inside A-XDR: ``5F 1F 04 00 xx xx xx``.
Decoders take the whole APDU and refuse anything truncated, trailing, or out of range.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import TypeVar

from . import ber
from .axdr import decode_length, encode_length
from .errors import DecodeError, EncodeError

INITIATE_REQUEST_TAG = 0x01
INITIATE_RESPONSE_TAG = 0x08
CONFIRMED_SERVICE_ERROR_TAG = 0x0E
EXCEPTION_RESPONSE_TAG = 0xD8

#: vaa-name of a logical-name association (the SN one is 0xFA00).
LN_VAA_NAME = 0x0007

_CONFORMANCE_TAG = ber.application(31)
_CONFORMANCE_OCTETS = 3
#: Encoded size of the conformance block: 5F 1F, length 04, unused-bits 00, three octets.
_CONFORMANCE_SIZE = 7
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class Conformance(IntFlag):
    """The 24 conformance bits (Green Book ``Conformance ::= [APPLICATION 31] BIT STRING``).

    BER numbers bit 0 as the most significant bit of the first octet, so bit ``n`` is
    ``1 << (23 - n)`` here and ``int(c).to_bytes(3, "big")`` is exactly the encoded bit field.
    """

    RESERVED_ZERO = 1 << 23
    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    DELTA_VALUE_ENCODING = 1 << 17
    RESERVED_SEVEN = 1 << 16
    ATTRIBUTE0_SUPPORTED_WITH_SET = 1 << 15
    PRIORITY_MGMT_SUPPORTED = 1 << 14
    ATTRIBUTE0_SUPPORTED_WITH_GET = 1 << 13
    BLOCK_TRANSFER_WITH_GET_OR_READ = 1 << 12
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = 1 << 11
    BLOCK_TRANSFER_WITH_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0
    # Short names for the three long Green Book ones.
    ATTRIBUTE0_SET = ATTRIBUTE0_SUPPORTED_WITH_SET
    PRIORITY_MGMT = PRIORITY_MGMT_SUPPORTED
    ATTRIBUTE0_GET = ATTRIBUTE0_SUPPORTED_WITH_GET


def encode_conformance(conformance: Conformance) -> bytes:
    """The BER conformance block ``5F 1F 04 00 xx xx xx``."""
    bits = int(conformance)
    if not 0 <= bits < 1 << 24:
        raise EncodeError(f"conformance 0x{bits:x} does not fit in 24 bits")
    return ber.encode_tlv(
        _CONFORMANCE_TAG, ber.encode_bit_string(bits.to_bytes(_CONFORMANCE_OCTETS, "big"), 0)
    )


def decode_conformance(buf: bytes, pos: int = 0) -> tuple[Conformance, int]:
    """Read the conformance block at ``pos``; returns it and the position after it."""
    tlv, end = ber.read_tlv(buf[pos : pos + _CONFORMANCE_SIZE], base=pos)
    if tlv.tag != _CONFORMANCE_TAG:
        raise DecodeError(f"expected the conformance block, found tag {tlv.tag}", pos)
    bits, unused = ber.decode_bit_string(tlv)
    if len(bits) != _CONFORMANCE_OCTETS or unused != 0:
        raise DecodeError("conformance block is not 24 bits", tlv.value_offset)
    return Conformance(int.from_bytes(bits, "big")), pos + end


@dataclass(frozen=True)
class InitiateRequest:
    """xDLMS InitiateRequest: what the client proposes for the association."""

    proposed_conformance: Conformance
    client_max_receive_pdu_size: int
    proposed_dlms_version: int = 6
    # The dedicated key is secret: keep it out of reprs (and so out of logs).
    dedicated_key: bytes | None = field(default=None, repr=False)
    response_allowed: bool = True
    proposed_quality_of_service: int | None = None

    def encode(self) -> bytes:
        """A-XDR: optional dedicated key, DEFAULT response-allowed, optional QoS, then the rest."""
        out = bytearray((INITIATE_REQUEST_TAG,))
        if self.dedicated_key is None:
            out.append(0)
        else:
            out += b"\x01" + encode_length(len(self.dedicated_key)) + self.dedicated_key
        # DEFAULT TRUE: the default is sent as "absent".
        out += b"\x00" if self.response_allowed else b"\x01\x00"
        _encode_optional_integer8(out, self.proposed_quality_of_service)
        out.append(_unsigned8(self.proposed_dlms_version, "proposed-dlms-version-number"))
        out += encode_conformance(self.proposed_conformance)
        out += _unsigned16(self.client_max_receive_pdu_size, "client-max-receive-pdu-size")
        return bytes(out)


@dataclass(frozen=True)
class InitiateResponse:
    """xDLMS InitiateResponse: what the server grants for the association."""

    negotiated_conformance: Conformance
    server_max_receive_pdu_size: int
    negotiated_dlms_version: int = 6
    vaa_name: int = LN_VAA_NAME
    negotiated_quality_of_service: int | None = None

    def encode(self) -> bytes:
        """A-XDR: optional QoS, version, conformance, max PDU size, vaa-name."""
        out = bytearray((INITIATE_RESPONSE_TAG,))
        _encode_optional_integer8(out, self.negotiated_quality_of_service)
        out.append(_unsigned8(self.negotiated_dlms_version, "negotiated-dlms-version-number"))
        out += encode_conformance(self.negotiated_conformance)
        out += _unsigned16(self.server_max_receive_pdu_size, "server-max-receive-pdu-size")
        out += _unsigned16(self.vaa_name, "vaa-name")
        return bytes(out)


def decode_initiate_request(data: bytes) -> InitiateRequest:
    """Decode a whole InitiateRequest (tag 0x01)."""
    r = _Reader(data, INITIATE_REQUEST_TAG, "InitiateRequest")
    dedicated_key = None
    if r.flag("dedicated-key"):
        start = r.pos
        n, r.pos = decode_length(data, r.pos)
        dedicated_key = r.take(n, "dedicated-key", start)
    response_allowed = bool(r.u8("response-allowed")) if r.flag("response-allowed") else True
    qos = r.i8("proposed-quality-of-service") if r.flag("proposed-quality-of-service") else None
    version = r.u8("proposed-dlms-version-number")
    conformance = r.conformance()
    pdu_size = r.u16("client-max-receive-pdu-size")
    r.finish()
    return InitiateRequest(conformance, pdu_size, version, dedicated_key, response_allowed, qos)


def decode_initiate_response(data: bytes) -> InitiateResponse:
    """Decode a whole InitiateResponse (tag 0x08)."""
    r = _Reader(data, INITIATE_RESPONSE_TAG, "InitiateResponse")
    qos = r.i8("negotiated-quality-of-service") if r.flag("negotiated-quality-of-service") else None
    version = r.u8("negotiated-dlms-version-number")
    conformance = r.conformance()
    pdu_size = r.u16("server-max-receive-pdu-size")
    vaa_name = r.u16("vaa-name")
    r.finish()
    return InitiateResponse(conformance, pdu_size, version, vaa_name, qos)


# ------------------------------------------------------------------------- ConfirmedServiceError


class ConfirmedService(IntEnum):
    """Which confirmed service failed (the ConfirmedServiceError CHOICE)."""

    INITIATE_ERROR = 1
    GET_STATUS = 2
    GET_NAME_LIST = 3
    GET_VARIABLE_ATTRIBUTE = 4
    READ = 5
    WRITE = 6
    GET_DATA_SET_ATTRIBUTE = 7
    GET_TI_ATTRIBUTE = 8
    CHANGE_SCOPE = 9
    START = 10
    STOP = 11
    RESUME = 12
    MAKE_USABLE = 13
    INITIATE_LOAD = 14
    LOAD_SEGMENT = 15
    TERMINATE_LOAD = 16
    INITIATE_UPLOAD = 17
    UPLOAD_SEGMENT = 18
    TERMINATE_UPLOAD = 19


class ServiceErrorKind(IntEnum):
    """The ServiceError CHOICE: what kind of trouble (8, change-scope, is reserved)."""

    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    TASK = 9
    OTHER = 10


class ApplicationReferenceError(IntEnum):
    """DLMS-provider troubles reaching the peer application."""

    OTHER = 0
    TIME_ELAPSED = 1
    APPLICATION_UNREACHABLE = 2
    APPLICATION_REFERENCE_INVALID = 3
    APPLICATION_CONTEXT_UNSUPPORTED = 4
    PROVIDER_COMMUNICATION_ERROR = 5
    DECIPHERING_ERROR = 6


class HardwareResourceError(IntEnum):
    """Troubles with the server's hardware resources."""

    OTHER = 0
    MEMORY_UNAVAILABLE = 1
    PROCESSOR_RESOURCE_UNAVAILABLE = 2
    MASS_STORAGE_UNAVAILABLE = 3
    OTHER_RESOURCE_UNAVAILABLE = 4


class VdeStateError(IntEnum):
    """The virtual device is in a state that refuses the service."""

    OTHER = 0
    NO_DLMS_CONTEXT = 1
    LOADING_DATA_SET = 2
    STATUS_NOCHANGE = 3
    STATUS_INOPERABLE = 4


class ServiceError(IntEnum):
    """Service handling troubles (PDU too long, service not in the conformance block)."""

    OTHER = 0
    PDU_SIZE = 1
    SERVICE_UNSUPPORTED = 2


class DefinitionError(IntEnum):
    """The addressed object is undefined or inconsistent with the service."""

    OTHER = 0
    OBJECT_UNDEFINED = 1
    OBJECT_CLASS_INCONSISTENT = 2
    OBJECT_ATTRIBUTE_INCONSISTENT = 3


class AccessError(IntEnum):
    """The access was refused or failed."""

    OTHER = 0
    SCOPE_OF_ACCESS_VIOLATED = 1
    OBJECT_ACCESS_VIOLATED = 2
    HARDWARE_FAULT = 3
    OBJECT_UNAVAILABLE = 4


class InitiateError(IntEnum):
    """Why an InitiateRequest was refused; sent in a rejecting AARE."""

    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_THE_VDE_HANDLER = 4


class LoadDataSetError(IntEnum):
    """Data-set load service errors."""

    OTHER = 0
    PRIMITIVE_OUT_OF_SEQUENCE = 1
    NOT_LOADABLE = 2
    DATASET_SIZE_TOO_LARGE = 3
    NOT_AWAITED_SEGMENT = 4
    INTERPRETATION_FAILURE = 5
    STORAGE_FAILURE = 6
    DATA_SET_NOT_READY = 7


class TaskError(IntEnum):
    """Task-invocation service errors."""

    OTHER = 0
    NO_REMOTE_CONTROL = 1
    TI_STOPPED = 2
    TI_RUNNING = 3
    TI_UNUSABLE = 4


class OtherError(IntEnum):
    """The only value of the ``other`` choice."""

    OTHER = 0


#: The enumeration that types the value of each ServiceError choice.
SERVICE_ERROR_VALUES: dict[ServiceErrorKind, type[IntEnum]] = {
    ServiceErrorKind.APPLICATION_REFERENCE: ApplicationReferenceError,
    ServiceErrorKind.HARDWARE_RESOURCE: HardwareResourceError,
    ServiceErrorKind.VDE_STATE_ERROR: VdeStateError,
    ServiceErrorKind.SERVICE: ServiceError,
    ServiceErrorKind.DEFINITION: DefinitionError,
    ServiceErrorKind.ACCESS: AccessError,
    ServiceErrorKind.INITIATE: InitiateError,
    ServiceErrorKind.LOAD_DATA_SET: LoadDataSetError,
    ServiceErrorKind.TASK: TaskError,
    ServiceErrorKind.OTHER: OtherError,
}


@dataclass(frozen=True)
class ConfirmedServiceError:
    """confirmed-service-error (0x0E): the failed service, the error kind and its value.

    An AARE that refuses an InitiateRequest carries
    ``ConfirmedServiceError(INITIATE_ERROR, INITIATE, InitiateError.X)`` in user-information.
    """

    service: ConfirmedService
    kind: ServiceErrorKind
    value: IntEnum

    def __post_init__(self) -> None:
        expected = SERVICE_ERROR_VALUES[self.kind]
        if not isinstance(self.value, expected):
            raise EncodeError(f"{self.kind.name} error value must be a {expected.__name__}")

    @classmethod
    def initiate_error(cls, reason: InitiateError) -> ConfirmedServiceError:
        """The refusal of an InitiateRequest, sent in the user-information of a rejecting AARE."""
        return cls(ConfirmedService.INITIATE_ERROR, ServiceErrorKind.INITIATE, reason)

    @classmethod
    def initiate_dlms_version_too_low(cls) -> ConfirmedServiceError:
        """The refusal of a client that proposes a DLMS version below 6."""
        return cls.initiate_error(InitiateError.DLMS_VERSION_TOO_LOW)

    def encode(self) -> bytes:
        """Four octets: tag, service, error kind, value."""
        return bytes((CONFIRMED_SERVICE_ERROR_TAG, self.service, self.kind, self.value))


def decode_confirmed_service_error(data: bytes) -> ConfirmedServiceError:
    """Decode a whole ConfirmedServiceError (tag 0x0E)."""
    r = _Reader(data, CONFIRMED_SERVICE_ERROR_TAG, "ConfirmedServiceError")
    service = r.enum(ConfirmedService, "confirmed service")
    kind = r.enum(ServiceErrorKind, "service error kind")
    value = r.enum(SERVICE_ERROR_VALUES[kind], f"{kind.name} error")
    r.finish()
    return ConfirmedServiceError(service, kind, value)


# ----------------------------------------------------------------------------- ExceptionResponse


class StateError(IntEnum):
    """state-error of an ExceptionResponse."""

    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ExceptionServiceError(IntEnum):
    """service-error of an ExceptionResponse; INVOCATION_COUNTER_ERROR carries an Unsigned32."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6


@dataclass(frozen=True)
class ExceptionResponse:
    """exception-response (0xD8). ``invocation_counter`` is set exactly for an IC error: it is the
    counter value the server expects, so the client can resynchronise."""

    state_error: StateError
    service_error: ExceptionServiceError
    invocation_counter: int | None = None

    def __post_init__(self) -> None:
        carries_ic = self.service_error is ExceptionServiceError.INVOCATION_COUNTER_ERROR
        if carries_ic != (self.invocation_counter is not None):
            raise EncodeError("invocation_counter is required for, and only for, an IC error")

    @classmethod
    def deciphering_error(cls) -> ExceptionResponse:
        """The answer to an APDU that failed deciphering or authentication (SEC-2)."""
        return cls(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR)

    @classmethod
    def invocation_counter_error(cls, expected: int) -> ExceptionResponse:
        """The answer to a replayed or stale invocation counter; ``expected`` is the lowest the
        server will accept."""
        return cls(
            StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.INVOCATION_COUNTER_ERROR, expected
        )

    @classmethod
    def service_not_allowed(cls) -> ExceptionResponse:
        """The answer to a known service that the association's state or rights do not allow."""
        return cls(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OPERATION_NOT_POSSIBLE)

    @classmethod
    def service_unknown(cls) -> ExceptionResponse:
        """The answer to an APDU that is no service the server knows."""
        return cls(StateError.SERVICE_UNKNOWN, ExceptionServiceError.SERVICE_NOT_SUPPORTED)

    def encode(self) -> bytes:
        """Tag, state-error, service-error, and the Unsigned32 counter for an IC error."""
        out = bytes((EXCEPTION_RESPONSE_TAG, self.state_error, self.service_error))
        if self.invocation_counter is None:
            return out
        if not 0 <= self.invocation_counter <= 0xFFFFFFFF:
            raise EncodeError("invocation counter out of Unsigned32 range")
        return out + _U32.pack(self.invocation_counter)


def decode_exception_response(data: bytes) -> ExceptionResponse:
    """Decode a whole ExceptionResponse (tag 0xD8)."""
    r = _Reader(data, EXCEPTION_RESPONSE_TAG, "ExceptionResponse")
    state = r.enum(StateError, "state-error")
    service = r.enum(ExceptionServiceError, "service-error")
    counter = None
    if service is ExceptionServiceError.INVOCATION_COUNTER_ERROR:
        start = r.pos
        (counter,) = _U32.unpack(r.take(_U32.size, "invocation counter", start))
    r.finish()
    return ExceptionResponse(state, service, counter)


# ------------------------------------------------------------------------------------- internals

_E = TypeVar("_E", bound=IntEnum)


def _unsigned8(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise EncodeError(f"{what} {value} out of Unsigned8 range")
    return value


def _unsigned16(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{what} {value} out of Unsigned16 range")
    return _U16.pack(value)


def _encode_optional_integer8(out: bytearray, value: int | None) -> None:
    if value is None:
        out.append(0)
        return
    if not -128 <= value <= 127:
        raise EncodeError(f"quality-of-service {value} out of Integer8 range")
    out += b"\x01" + value.to_bytes(1, "big", signed=True)


class _Reader:
    """A cursor over one whole A-XDR APDU that reports offsets and refuses running past the end."""

    def __init__(self, data: bytes, tag: int, name: str) -> None:
        if not data:
            raise DecodeError(f"empty {name}", 0)
        if data[0] != tag:
            raise DecodeError(f"expected {name} tag 0x{tag:02x}, found 0x{data[0]:02x}", 0)
        self.data = data
        self.name = name
        self.pos = 1

    def take(self, n: int, what: str, start: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise DecodeError(f"truncated {what}", start)
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what, self.pos)[0]

    def i8(self, what: str) -> int:
        return int.from_bytes(self.take(1, what, self.pos), "big", signed=True)

    def u16(self, what: str) -> int:
        value: int = _U16.unpack(self.take(2, what, self.pos))[0]
        return value

    def flag(self, what: str) -> bool:
        """The presence octet of an OPTIONAL or DEFAULT component: 0 absent, 1 present."""
        start = self.pos
        octet = self.u8(what)
        if octet > 1:
            raise DecodeError(f"invalid presence flag 0x{octet:02x} for {what}", start)
        return octet == 1

    def enum(self, cls: type[_E], what: str) -> _E:
        start = self.pos
        value = self.u8(what)
        try:
            return cls(value)
        except ValueError:
            raise DecodeError(f"unknown {what} {value}", start) from None

    def conformance(self) -> Conformance:
        value, self.pos = decode_conformance(self.data, self.pos)
        return value

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(
                f"{len(self.data) - self.pos} trailing bytes after {self.name}", self.pos
            )
