"""Access rights of an association to an object's attributes and methods (Association LN v2).

Each Association LN object lists, per visible object, what its client may do (the
``access_rights`` of an ``object_list`` element). The server enforces them on every GET, SET and
ACTION (MTR-2: nothing but the Public association reads without authentication), and a client
can read them to know what it may ask. :class:`AccessRights` answers both questions from the same
data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..data import Array, Data, Enum, Integer, Structure
from . import _shape

__all__ = [
    "AccessRights",
    "AttributeAccess",
    "AttributeAccessMode",
    "MethodAccess",
    "MethodAccessMode",
]


class AttributeAccessMode(IntEnum):
    """``attribute_access_item.access_mode`` of Association LN versions 1 and 2.

    The ``AUTHENTICATED_*`` modes grant access only to requests that are authenticated (sent
    ciphered with authentication), the others to any request on the association."""

    NO_ACCESS = 0
    READ_ONLY = 1
    WRITE_ONLY = 2
    READ_AND_WRITE = 3
    AUTHENTICATED_READ_ONLY = 4
    AUTHENTICATED_WRITE_ONLY = 5
    AUTHENTICATED_READ_AND_WRITE = 6


class MethodAccessMode(IntEnum):
    """``method_access_item.access_mode`` of Association LN versions 1 and 2."""

    NO_ACCESS = 0
    ACCESS = 1
    AUTHENTICATED_ACCESS = 2


_READS = {AttributeAccessMode.READ_ONLY, AttributeAccessMode.READ_AND_WRITE}
_WRITES = {AttributeAccessMode.WRITE_ONLY, AttributeAccessMode.READ_AND_WRITE}
_AUTH_READS = {
    AttributeAccessMode.AUTHENTICATED_READ_ONLY,
    AttributeAccessMode.AUTHENTICATED_READ_AND_WRITE,
}
_AUTH_WRITES = {
    AttributeAccessMode.AUTHENTICATED_WRITE_ONLY,
    AttributeAccessMode.AUTHENTICATED_READ_AND_WRITE,
}


@dataclass(frozen=True, slots=True)
class AttributeAccess:
    """``attribute_access_item``: structure {attribute_id: integer, access_mode: enum,
    access_selectors: CHOICE {null-data, array of integer}}.

    ``access_selectors`` is ``None`` when selective access is not supported for the attribute."""

    attribute_id: int
    access_mode: AttributeAccessMode
    access_selectors: tuple[int, ...] | None = None

    def to_data(self) -> Structure:
        selectors: Data = (
            None
            if self.access_selectors is None
            else Array([Integer(s) for s in self.access_selectors])
        )
        return Structure([Integer(self.attribute_id), Enum(self.access_mode), selectors])

    @classmethod
    def from_data(cls, value: Data) -> AttributeAccess:
        s = _shape.structure(value, 3, "attribute_access_item")
        attribute_id = _shape.integer(s[0], Integer, "attribute_access_item.attribute_id")
        mode = _shape.member(AttributeAccessMode, s[1], "attribute_access_item.access_mode")
        selectors: tuple[int, ...] | None = None
        if s[2] is not None:
            items = _shape.array(s[2], "attribute_access_item.access_selectors")
            selectors = tuple(
                _shape.integer(x, Integer, "attribute_access_item.access_selectors[]")
                for x in items
            )
        return cls(attribute_id, mode, selectors)


@dataclass(frozen=True, slots=True)
class MethodAccess:
    """``method_access_item``: structure {method_id: integer, access_mode: enum}."""

    method_id: int
    access_mode: MethodAccessMode

    def to_data(self) -> Structure:
        return Structure([Integer(self.method_id), Enum(self.access_mode)])

    @classmethod
    def from_data(cls, value: Data) -> MethodAccess:
        """Also reads Association LN version 0 lists, whose ``access_mode`` is a boolean
        (true = access); such an item re-encodes in the enum form of versions 1 and 2."""
        s = _shape.structure(value, 2, "method_access_item")
        method_id = _shape.integer(s[0], Integer, "method_access_item.method_id")
        if isinstance(s[1], bool):
            mode = MethodAccessMode.ACCESS if s[1] else MethodAccessMode.NO_ACCESS
            return cls(method_id, mode)
        return cls(
            method_id, _shape.member(MethodAccessMode, s[1], "method_access_item.access_mode")
        )


@dataclass(frozen=True, slots=True)
class AccessRights:
    """``access_rights``: structure {attribute_access: array, method_access: array}.

    An attribute or method that is not listed has no access, as the Blue Book specifies."""

    attributes: tuple[AttributeAccess, ...] = ()
    methods: tuple[MethodAccess, ...] = ()

    def attribute_mode(self, attribute_id: int) -> AttributeAccessMode:
        """The access mode of attribute ``attribute_id`` (``NO_ACCESS`` when not listed)."""
        for item in self.attributes:
            if item.attribute_id == attribute_id:
                return item.access_mode
        return AttributeAccessMode.NO_ACCESS

    def method_mode(self, method_id: int) -> MethodAccessMode:
        """The access mode of method ``method_id`` (``NO_ACCESS`` when not listed)."""
        for item in self.methods:
            if item.method_id == method_id:
                return item.access_mode
        return MethodAccessMode.NO_ACCESS

    def may_read(self, attribute_id: int, authenticated: bool = False) -> bool:
        """May a GET of the attribute be served; ``authenticated`` tells whether the request
        arrived with cryptographic authentication."""
        mode = self.attribute_mode(attribute_id)
        return mode in _READS or (authenticated and mode in _AUTH_READS)

    def may_write(self, attribute_id: int, authenticated: bool = False) -> bool:
        """May a SET of the attribute be served (see :meth:`may_read`)."""
        mode = self.attribute_mode(attribute_id)
        return mode in _WRITES or (authenticated and mode in _AUTH_WRITES)

    def may_call(self, method_id: int, authenticated: bool = False) -> bool:
        """May an ACTION on the method be served (see :meth:`may_read`)."""
        mode = self.method_mode(method_id)
        return mode == MethodAccessMode.ACCESS or (
            authenticated and mode == MethodAccessMode.AUTHENTICATED_ACCESS
        )

    def selectors(self, attribute_id: int) -> tuple[int, ...]:
        """The selective-access selectors allowed on the attribute (empty when none)."""
        for item in self.attributes:
            if item.attribute_id == attribute_id:
                return item.access_selectors or ()
        return ()

    def to_data(self) -> Structure:
        return Structure(
            [
                Array([a.to_data() for a in self.attributes]),
                Array([m.to_data() for m in self.methods]),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> AccessRights:
        s = _shape.structure(value, 2, "access_rights")
        attrs = _shape.array(s[0], "access_rights.attribute_access")
        meths = _shape.array(s[1], "access_rights.method_access")
        return cls(
            tuple(AttributeAccess.from_data(a) for a in attrs),
            tuple(MethodAccess.from_data(m) for m in meths),
        )
