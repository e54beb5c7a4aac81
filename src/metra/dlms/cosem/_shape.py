"""Checks shared by every ``from_data``: is this COSEM value the shape the Blue Book says?

Values read from a meter (or written by a client) arrive as generic :mod:`metra.dlms.data` values.
Each structure's ``from_data`` checks the outer shape and the type of every field here, so that a
malformed value fails at once with a :class:`CosemValueError` naming the field, instead of failing
later somewhere in the meter model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Protocol, TypeVar

from .. import axdr
from ..data import Array, Data, Date, DateTime, Enum, OctetString, Structure, Time, _TypedInt
from ..errors import DecodeError
from ..obis import Obis, ObisError

_E = TypeVar("_E", bound=IntEnum)
_T = TypeVar("_T")


class CosemValueError(DecodeError):
    """A COSEM value does not have the shape its attribute requires (wrong type, wrong count)."""


def structure(value: Data, size: int, what: str) -> Structure:
    """``value`` as a structure of exactly ``size`` elements."""
    if not isinstance(value, Structure):
        raise CosemValueError(f"{what}: expected a structure, got {type(value).__name__}")
    if len(value) != size:
        raise CosemValueError(f"{what}: expected {size} elements, got {len(value)}")
    return value


def array(value: Data, what: str) -> Array:
    """``value`` as an array."""
    if not isinstance(value, Array):
        raise CosemValueError(f"{what}: expected an array, got {type(value).__name__}")
    return value


def integer(value: Data, kind: type[_TypedInt], what: str) -> int:
    """``value`` as a plain int, requiring exactly the DLMS integer type ``kind``."""
    if type(value) is not kind:
        raise CosemValueError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")
    return int(value)


def enum(value: Data, what: str) -> int:
    """``value`` as the int of an ``enum``."""
    return integer(value, Enum, what)


def octets(value: Data, what: str) -> bytes:
    """``value`` as the bytes of an ``octet-string``."""
    if not isinstance(value, bytes):
        raise CosemValueError(f"{what}: expected an octet-string, got {type(value).__name__}")
    return bytes(value)


def boolean(value: Data, what: str) -> bool:
    """``value`` as a ``boolean``."""
    if not isinstance(value, bool):
        raise CosemValueError(f"{what}: expected a boolean, got {type(value).__name__}")
    return value


def logical_name(value: Data, what: str) -> Obis:
    """``value`` as a logical name (6-octet ``octet-string``)."""
    raw = octets(value, what)
    try:
        return Obis.from_bytes(raw)
    except ObisError as exc:
        raise CosemValueError(f"{what}: {exc.reason}") from exc


def ln_data(obis: Obis) -> OctetString:
    """A logical name as the ``octet-string`` the Blue Book sends it in."""
    return OctetString(obis.to_bytes())


def member(kind: type[_E], value: Data, what: str) -> _E:
    """``value`` (an ``enum``) as a member of ``kind``; codes the Blue Book does not define fail."""
    code = enum(value, what)
    try:
        return kind(code)
    except ValueError:
        raise CosemValueError(f"{what}: {code} is not a defined {kind.__name__}") from None


def member_or_int(kind: type[_E], value: Data, what: str) -> _E | int:
    """``value`` (an ``enum``) as a member of ``kind``, or the plain code where the Blue Book
    leaves a range to manufacturers."""
    code = enum(value, what)
    return kind(code) if code in kind._value2member_map_ else code


def date_time(value: Data, what: str) -> DateTime:
    """A date-time sent, as the Blue Book specifies, in a 12-octet ``octet-string`` (a typed
    ``date-time`` is accepted too, as some meters send one)."""
    if isinstance(value, DateTime):
        return value
    try:
        return axdr.datetime_from_bytes(octets(value, what))
    except CosemValueError:
        raise
    except DecodeError as exc:
        raise CosemValueError(f"{what}: {exc.reason}") from exc


def date(value: Data, what: str) -> Date:
    """A date in a 5-octet ``octet-string`` (or a typed ``date``)."""
    if isinstance(value, Date):
        return value
    try:
        return axdr.date_from_bytes(octets(value, what))
    except CosemValueError:
        raise
    except DecodeError as exc:
        raise CosemValueError(f"{what}: {exc.reason}") from exc


def time(value: Data, what: str) -> Time:
    """A time in a 4-octet ``octet-string`` (or a typed ``time``)."""
    if isinstance(value, Time):
        return value
    try:
        return axdr.time_from_bytes(octets(value, what))
    except CosemValueError:
        raise
    except DecodeError as exc:
        raise CosemValueError(f"{what}: {exc.reason}") from exc


def date_time_data(value: DateTime) -> OctetString:
    return OctetString(axdr.datetime_to_bytes(value))


def date_data(value: Date) -> OctetString:
    return OctetString(axdr.date_to_bytes(value))


def time_data(value: Time) -> OctetString:
    return OctetString(axdr.time_to_bytes(value))


class _ToData(Protocol):
    def to_data(self) -> Data: ...


def array_of(items: Iterable[_ToData]) -> Array:
    """An ``array`` of structures (``push_object_list``, ``season_profile``, ``scripts``, ...)."""
    return Array([item.to_data() for item in items])


def parse_array(value: Data, parse: Callable[[Data], _T], what: str) -> tuple[_T, ...]:
    """Each element of an ``array`` read with ``parse`` (typically a ``from_data``)."""
    return tuple(parse(item) for item in array(value, what))
