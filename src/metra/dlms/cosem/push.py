"""Push setup (class 40, version 0) value shapes.

``push_object_list`` uses :class:`~metra.dlms.cosem.references.CaptureObjectDefinition`
(the Blue Book's ``object_definition`` has the same four fields)."""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, DateTime, Enum, OctetString, Structure
from . import _shape
from .enums import PushMessageType, TransportService

__all__ = ["SendDestinationAndMethod", "WindowElement"]


@dataclass(frozen=True, slots=True)
class SendDestinationAndMethod:
    """``send_destination_and_method``: structure {transport_service: enum, destination:
    octet-string, message: enum}. ``destination`` is e.g. ``b"192.0.2.1:4059"`` for TCP.

    Manufacturer-specific codes (transport 200..255, message 128..255) are kept as ints."""

    transport_service: TransportService | int
    destination: bytes
    message: PushMessageType | int = PushMessageType.AXDR_APDU

    def to_data(self) -> Structure:
        return Structure(
            [
                Enum(int(self.transport_service)),
                OctetString(self.destination),
                Enum(int(self.message)),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> SendDestinationAndMethod:
        what = "send_destination_and_method"
        s = _shape.structure(value, 3, what)
        return cls(
            _shape.member_or_int(TransportService, s[0], f"{what}.transport_service"),
            _shape.octets(s[1], f"{what}.destination"),
            _shape.member_or_int(PushMessageType, s[2], f"{what}.message"),
        )


@dataclass(frozen=True, slots=True)
class WindowElement:
    """``communication_window`` element: structure {start_time: octet-string (date-time),
    end_time: octet-string (date-time)}; wildcards make the window recur."""

    start_time: DateTime
    end_time: DateTime

    def to_data(self) -> Structure:
        return Structure(
            [_shape.date_time_data(self.start_time), _shape.date_time_data(self.end_time)]
        )

    @classmethod
    def from_data(cls, value: Data) -> WindowElement:
        s = _shape.structure(value, 2, "window_element")
        return cls(
            _shape.date_time(s[0], "window_element.start_time"),
            _shape.date_time(s[1], "window_element.end_time"),
        )
