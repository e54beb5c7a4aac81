"""Unsolicited APDUs a meter sends on its own: DataNotification [15] and EventNotification [194].

These carry the push facility (COL-9): the Push Setup object of a meter sends a
DataNotification with the pushed values, and alarms may arrive as EventNotification requests.
Neither is answered at the xDLMS level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import axdr
from ..data import Data, DateTime
from ..errors import DecodeError
from .common import AttributeDescriptor, Reader, put_u32

DATA_NOTIFICATION_TAG = 0x0F
EVENT_NOTIFICATION_TAG = 0xC2

_DATETIME_SIZE = 12


def _read_date_time(r: Reader, what: str) -> DateTime:
    start = r.pos
    raw = r.octets(what)
    if len(raw) != _DATETIME_SIZE:
        raise DecodeError(f"{what} must be 12 octets, not {len(raw)}", start)
    return axdr.datetime_from_bytes(raw)


@dataclass(frozen=True, slots=True)
class DataNotification:
    """``Data-Notification``: long invoke id and priority, an optional time stamp, the body.

    ``long_invoke_id_and_priority`` keeps the raw 32 bits (bits 0-23 invoke id, 28
    self-descriptive, 29 break-on-error, 30 confirmed, 31 high priority). The date-time is an
    octet-string of 0 octets (no time stamp) or 12 octets.
    """

    long_invoke_id_and_priority: int
    date_time: DateTime | None
    body: Data

    TAG: ClassVar[int] = DATA_NOTIFICATION_TAG

    @property
    def invoke_id(self) -> int:
        """The 24-bit long invoke id that numbers pushes from one meter."""
        return self.long_invoke_id_and_priority & 0xFFFFFF

    def encode_into(self, out: bytearray) -> None:
        out.append(self.TAG)
        put_u32(out, self.long_invoke_id_and_priority, "long-invoke-id-and-priority")
        if self.date_time is None:
            out.append(0)
        else:
            out.append(_DATETIME_SIZE)
            out += axdr.datetime_to_bytes(self.date_time)
        axdr.encode_into(out, self.body)


@dataclass(frozen=True, slots=True)
class EventNotificationRequest:
    """``EventNotificationRequest``: an optional time, the attribute that changed, its value."""

    time: DateTime | None
    attribute: AttributeDescriptor
    value: Data

    TAG: ClassVar[int] = EVENT_NOTIFICATION_TAG

    def encode_into(self, out: bytearray) -> None:
        out.append(self.TAG)
        if self.time is None:
            out.append(0)
        else:
            out += bytes((1, _DATETIME_SIZE))
            out += axdr.datetime_to_bytes(self.time)
        self.attribute.encode_into(out)
        axdr.encode_into(out, self.value)


def decode_data_notification(r: Reader) -> DataNotification:
    """The body of a data-notification after its tag."""
    long_invoke = r.u32("long-invoke-id-and-priority")
    start = r.pos
    raw = r.octets("date-time")
    if len(raw) not in (0, _DATETIME_SIZE):
        raise DecodeError(f"date-time must be 0 or 12 octets, not {len(raw)}", start)
    date_time = axdr.datetime_from_bytes(raw) if raw else None
    return DataNotification(long_invoke, date_time, r.data())


def decode_event_notification(r: Reader) -> EventNotificationRequest:
    """The body of an event-notification-request after its tag."""
    time = _read_date_time(r, "time") if r.present("time") else None
    attribute = AttributeDescriptor.read(r)
    return EventNotificationRequest(time, attribute, r.data())
