"""Turn xDLMS service APDUs into bytes and back, dispatching on the APDU's first octet.

``decode_apdu`` consumes the whole input: bytes left after a complete APDU are an error, since
they mean a framing layer handed over more (or other) than one APDU. InitiateRequest/Response,
ExceptionResponse, ConfirmedServiceError and ciphered APDUs are decoded elsewhere; their tags are
refused here with a ``DecodeError`` naming the tag.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import DecodeError
from .action import (
    ACTION_REQUEST_TAG,
    ACTION_RESPONSE_TAG,
    ActionRequest,
    ActionResponse,
    decode_action_request,
    decode_action_response,
)
from .common import Reader
from .get import (
    GET_REQUEST_TAG,
    GET_RESPONSE_TAG,
    GetRequest,
    GetResponse,
    decode_get_request,
    decode_get_response,
)
from .notification import (
    DATA_NOTIFICATION_TAG,
    EVENT_NOTIFICATION_TAG,
    DataNotification,
    EventNotificationRequest,
    decode_data_notification,
    decode_event_notification,
)
from .set import (
    SET_REQUEST_TAG,
    SET_RESPONSE_TAG,
    SetRequest,
    SetResponse,
    decode_set_request,
    decode_set_response,
)

Apdu = (
    GetRequest
    | GetResponse
    | SetRequest
    | SetResponse
    | ActionRequest
    | ActionResponse
    | DataNotification
    | EventNotificationRequest
)
"""Every service APDU this package encodes and decodes."""

_DECODERS: dict[int, Callable[[Reader], Apdu]] = {
    GET_REQUEST_TAG: decode_get_request,
    SET_REQUEST_TAG: decode_set_request,
    EVENT_NOTIFICATION_TAG: decode_event_notification,
    ACTION_REQUEST_TAG: decode_action_request,
    GET_RESPONSE_TAG: decode_get_response,
    SET_RESPONSE_TAG: decode_set_response,
    ACTION_RESPONSE_TAG: decode_action_response,
    DATA_NOTIFICATION_TAG: decode_data_notification,
}

#: The first octets :func:`decode_apdu` understands.
SERVICE_TAGS = frozenset(_DECODERS)


def encode_apdu(apdu: Apdu) -> bytes:
    """The wire form of ``apdu``; raises ``EncodeError`` for values that do not fit their type."""
    out = bytearray()
    apdu.encode_into(out)
    return bytes(out)


def decode_apdu(data: bytes) -> Apdu:
    """Decode exactly one service APDU occupying all of ``data``."""
    buf = data if type(data) is bytes else bytes(data)
    r = Reader(buf)
    tag = r.u8("APDU tag")
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise DecodeError(f"0x{tag:02x} is not a GET/SET/ACTION/notification APDU tag", 0)
    apdu = decoder(r)
    r.end()
    return apdu
