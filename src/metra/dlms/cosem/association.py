"""Value shapes of Association LN (class 15, version 2) attributes.

The ``object_list`` tells a client which objects an association can see and what it may do with
them; the other attributes describe the association itself (who is associated, which mechanism
authenticated it, which xDLMS parameters were negotiated).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import (
    BitString,
    Data,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
)
from ..obis import Obis
from . import _shape
from .access import AccessRights
from .enums import AssociationStatus

__all__ = [
    "AssociatedPartners",
    "MechanismName",
    "ObjectListElement",
    "XDlmsContextInfo",
    "association_status_from_data",
    "association_status_to_data",
]

#: {joint-iso-ctt(2) country(16) country-name(756) identified-organization(5) DLMS-UA(8)}
_DLMS_UA_ARCS = (2, 16, 756, 5, 8)
#: The BER encoding of those arcs: 2*40+16 = 0x60, 756 = 0x85 0x74, 5, 8.
_DLMS_UA_PREFIX = bytes.fromhex("6085740508")
#: The arc below DLMS-UA that names authentication mechanisms.
_MECHANISM_ARC = 2


@dataclass(frozen=True, slots=True)
class ObjectListElement:
    """One ``object_list`` element: structure {class_id: long-unsigned, version: unsigned,
    logical_name: octet-string, access_rights}."""

    class_id: int
    version: int
    logical_name: Obis
    access_rights: AccessRights

    def to_data(self) -> Structure:
        return Structure(
            [
                LongUnsigned(self.class_id),
                Unsigned(self.version),
                _shape.ln_data(self.logical_name),
                self.access_rights.to_data(),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> ObjectListElement:
        s = _shape.structure(value, 4, "object_list_element")
        return cls(
            _shape.integer(s[0], LongUnsigned, "object_list_element.class_id"),
            _shape.integer(s[1], Unsigned, "object_list_element.version"),
            _shape.logical_name(s[2], "object_list_element.logical_name"),
            AccessRights.from_data(s[3]),
        )


@dataclass(frozen=True, slots=True)
class AssociatedPartners:
    """``associated_partners_id``: structure {client_SAP: integer, server_SAP: long-unsigned}."""

    client_sap: int
    server_sap: int

    def to_data(self) -> Structure:
        return Structure([Integer(self.client_sap), LongUnsigned(self.server_sap)])

    @classmethod
    def from_data(cls, value: Data) -> AssociatedPartners:
        s = _shape.structure(value, 2, "associated_partners_id")
        return cls(
            _shape.integer(s[0], Integer, "associated_partners_id.client_SAP"),
            _shape.integer(s[1], LongUnsigned, "associated_partners_id.server_SAP"),
        )


@dataclass(frozen=True, slots=True)
class MechanismName:
    """``authentication_mechanism_name``: the OID {2 16 756 5 8 2 mechanism_id}.

    The Blue Book has carried it two ways: as a structure of the seven arcs (unsigned, unsigned,
    long-unsigned, unsigned, unsigned, unsigned, unsigned) and, in later editions, as an
    octet-string holding the BER-encoded OID (the same bytes as in the AARQ, e.g. ``60 85 74 05
    08 02 02`` for HLS). :meth:`from_data` reads both; :meth:`to_data` writes the structure
    unless ``as_octets`` is set."""

    mechanism_id: int

    def oid_bytes(self) -> bytes:
        """The BER contents of the OID, as carried in the AARQ ``mechanism-name``."""
        return _DLMS_UA_PREFIX + bytes((_MECHANISM_ARC, self.mechanism_id))

    def to_data(self, as_octets: bool = False) -> Data:
        if as_octets:
            return OctetString(self.oid_bytes())
        a, b, c, d, e = _DLMS_UA_ARCS
        return Structure(
            [
                Unsigned(a),
                Unsigned(b),
                LongUnsigned(c),
                Unsigned(d),
                Unsigned(e),
                Unsigned(_MECHANISM_ARC),
                Unsigned(self.mechanism_id),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> MechanismName:
        what = "authentication_mechanism_name"
        if isinstance(value, bytes):
            raw = bytes(value)
            if len(raw) != 7 or raw[:6] != _DLMS_UA_PREFIX + bytes((_MECHANISM_ARC,)):
                raise _shape.CosemValueError(f"{what}: not a DLMS UA mechanism name: {raw.hex()}")
            return cls(raw[6])
        s = _shape.structure(value, 7, what)
        kinds = (Unsigned, Unsigned, LongUnsigned, Unsigned, Unsigned, Unsigned, Unsigned)
        arcs = tuple(_shape.integer(v, k, what) for v, k in zip(s, kinds, strict=True))
        if arcs[:6] != (*_DLMS_UA_ARCS, _MECHANISM_ARC):
            raise _shape.CosemValueError(f"{what}: not a DLMS UA mechanism name: {arcs}")
        return cls(arcs[6])


@dataclass(frozen=True, slots=True)
class XDlmsContextInfo:
    """``xDLMS_context_info``: structure {conformance: bit-string, max_receive_pdu_size:
    long-unsigned, max_send_pdu_size: long-unsigned, dlms_version_number: unsigned,
    quality_of_service: integer, cyphering_info: octet-string}.

    ``conformance`` is the 24-bit conformance block as a string of '0'/'1', bit 0 first."""

    conformance: str
    max_receive_pdu_size: int
    max_send_pdu_size: int
    dlms_version_number: int = 6
    quality_of_service: int = 0
    cyphering_info: bytes = b""

    def to_data(self) -> Structure:
        return Structure(
            [
                BitString(self.conformance),
                LongUnsigned(self.max_receive_pdu_size),
                LongUnsigned(self.max_send_pdu_size),
                Unsigned(self.dlms_version_number),
                Integer(self.quality_of_service),
                OctetString(self.cyphering_info),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> XDlmsContextInfo:
        s = _shape.structure(value, 6, "xDLMS_context_info")
        if not isinstance(s[0], BitString):
            raise _shape.CosemValueError("xDLMS_context_info.conformance: expected a bit-string")
        return cls(
            str(s[0]),
            _shape.integer(s[1], LongUnsigned, "xDLMS_context_info.max_receive_pdu_size"),
            _shape.integer(s[2], LongUnsigned, "xDLMS_context_info.max_send_pdu_size"),
            _shape.integer(s[3], Unsigned, "xDLMS_context_info.dlms_version_number"),
            _shape.integer(s[4], Integer, "xDLMS_context_info.quality_of_service"),
            _shape.octets(s[5], "xDLMS_context_info.cyphering_info"),
        )


def association_status_to_data(status: AssociationStatus) -> Enum:
    """``association_status`` is a bare enum."""
    return Enum(status)


def association_status_from_data(value: Data) -> AssociationStatus:
    return _shape.member(AssociationStatus, value, "association_status")
