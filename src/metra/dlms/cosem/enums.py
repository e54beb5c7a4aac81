"""Enumerations and bit sets carried by COSEM attributes (Blue Book 4.3 .. 4.5).

Each one is the exact numbering the Blue Book gives for the attribute it names, so that the meter
model and the head-end compare meaningful names instead of bare numbers read off the wire.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "AssociationStatus",
    "AuthenticationMechanism",
    "ClockBase",
    "ClockStatus",
    "ControlMode",
    "ControlState",
    "DisconnectTrigger",
    "ImageTransferStatus",
    "KeyId",
    "PushMessageType",
    "ScriptServiceId",
    "SecurityPolicy",
    "SecuritySuite",
    "SingleActionType",
    "SortMethod",
    "TransportService",
]


class SortMethod(IntEnum):
    """Profile generic ``sort_method`` (class 7, attribute 5)."""

    FIFO = 1
    LIFO = 2
    LARGEST = 3
    SMALLEST = 4
    NEAREST_TO_ZERO = 5
    FARTHEST_FROM_ZERO = 6


class ClockBase(IntEnum):
    """Clock ``clock_base`` (class 8, attribute 9): what drives the meter's clock."""

    NOT_DEFINED = 0
    INTERNAL_CRYSTAL = 1
    MAINS_50_HZ = 2
    MAINS_60_HZ = 3
    GPS = 4
    RADIO_CONTROLLED = 5


class ClockStatus(IntFlag):
    """The ``clock_status`` octet of a date-time and of Clock ``status`` (Blue Book 4.1.6.1).

    Bits 4..6 are reserved; bit 7 says daylight saving time is in effect."""

    OK = 0
    INVALID_VALUE = 0x01
    DOUBTFUL_VALUE = 0x02
    DIFFERENT_CLOCK_BASE = 0x04
    INVALID_CLOCK_STATUS = 0x08
    DAYLIGHT_SAVING_ACTIVE = 0x80


class AssociationStatus(IntEnum):
    """Association LN ``association_status`` (class 15, attribute 8)."""

    NON_ASSOCIATED = 0
    ASSOCIATION_PENDING = 1
    ASSOCIATED = 2


class AuthenticationMechanism(IntEnum):
    """The last arc of ``authentication_mechanism_name`` {2 16 756 5 8 2 x} (Green Book 9.4.2)."""

    LOWEST = 0
    LOW = 1
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class ImageTransferStatus(IntEnum):
    """Image transfer ``image_transfer_status`` (class 18, attribute 6)."""

    NOT_INITIATED = 0
    INITIATED = 1
    VERIFICATION_INITIATED = 2
    VERIFICATION_SUCCESSFUL = 3
    VERIFICATION_FAILED = 4
    ACTIVATION_INITIATED = 5
    ACTIVATION_SUCCESSFUL = 6
    ACTIVATION_FAILED = 7


class ScriptServiceId(IntEnum):
    """``service_id`` of a Script table action (class 9, attribute 2)."""

    WRITE_ATTRIBUTE = 1
    EXECUTE_METHOD = 2


class SingleActionType(IntEnum):
    """Single action schedule ``type`` (class 22, attribute 3): how ``execution_time`` may look."""

    #: one entry; wildcards allowed in the date
    SINGLE_WILDCARD_DATE = 1
    #: n entries, all with the same time; no wildcards in the dates
    SAME_TIME_NO_WILDCARD = 2
    #: n entries, all with the same time; wildcards allowed in the dates
    SAME_TIME_WILDCARD_DATE = 3
    #: n entries, times may differ; no wildcards in the dates
    ANY_TIME_NO_WILDCARD = 4
    #: n entries, times may differ; wildcards allowed in the dates
    ANY_TIME_WILDCARD_DATE = 5


class TransportService(IntEnum):
    """``transport_service`` of Push setup ``send_destination_and_method`` (class 40, attr. 3).

    200..255 are manufacturer specific and are kept as plain ints."""

    TCP = 0
    UDP = 1
    FTP = 2
    SMTP = 3
    SMS = 4
    HDLC = 5
    M_BUS = 6
    ZIGBEE = 7
    DLMS_GATEWAY = 8


class PushMessageType(IntEnum):
    """``message`` of Push setup ``send_destination_and_method`` (128..255: manufacturer)."""

    AXDR_APDU = 0
    XML_APDU = 1


class SecuritySuite(IntEnum):
    """Security setup ``security_suite`` (class 64, attribute 3; Green Book 9.2.3.7)."""

    AES_GCM_128 = 0
    ECDH_ECDSA_AES_GCM_128_SHA_256 = 1
    ECDH_ECDSA_AES_GCM_256_SHA_384 = 2


class SecurityPolicy(IntFlag):
    """Security setup version 1 ``security_policy`` (class 64, attribute 2): bits 0 and 1 unused."""

    NONE = 0
    AUTHENTICATED_REQUEST = 0x04
    ENCRYPTED_REQUEST = 0x08
    DIGITALLY_SIGNED_REQUEST = 0x10
    AUTHENTICATED_RESPONSE = 0x20
    ENCRYPTED_RESPONSE = 0x40
    DIGITALLY_SIGNED_RESPONSE = 0x80


class KeyId(IntEnum):
    """``key_id`` of the key data passed to Security setup ``key_transfer`` (method 2)."""

    GLOBAL_UNICAST_ENCRYPTION_KEY = 0
    GLOBAL_BROADCAST_ENCRYPTION_KEY = 1
    AUTHENTICATION_KEY = 2
    MASTER_KEY = 3


class ControlState(IntEnum):
    """Disconnect control ``control_state`` (class 70, attribute 3)."""

    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


class ControlMode(IntEnum):
    """Disconnect control ``control_mode`` (class 70, attribute 4); see
    :func:`metra.dlms.cosem.disconnect.allowed_transition` for what each mode allows."""

    NONE = 0
    MODE_1 = 1
    MODE_2 = 2
    MODE_3 = 3
    MODE_4 = 4
    MODE_5 = 5
    MODE_6 = 6


class DisconnectTrigger(IntEnum):
    """What asks the disconnector to move: the triggers of the Blue Book's state diagram.

    Remote triggers are the methods (or scripts calling them); manual ones are the push button;
    local ones are the meter's own functions (limiter, supply supervision, prepayment)."""

    REMOTE_DISCONNECT = 1
    REMOTE_RECONNECT = 2
    MANUAL_DISCONNECT = 3
    MANUAL_RECONNECT = 4
    LOCAL_DISCONNECT = 5
    LOCAL_RECONNECT = 6
