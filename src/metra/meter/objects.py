"""COSEM objects as small tables of attribute readers, writers and methods, and who may use them.

A meter's object model is a dictionary of these keyed by (class id, logical name). The access
rights of each association follow from the object's flags and the client's role alone, so the
object list a client browses and the rights the server enforces are the same data (MTR-2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from metra.dlms.cosem.access import (
    AccessRights,
    AttributeAccess,
    AttributeAccessMode,
    MethodAccess,
    MethodAccessMode,
)
from metra.dlms.data import Data, OctetString
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult, SelectiveAccess

__all__ = ["Attr", "CosemObject", "Getter", "Method", "Role", "Setter"]

Getter = Callable[[SelectiveAccess | None], Data | DataAccessResult]
Setter = Callable[[RequestContext, Data], DataAccessResult]
Method = Callable[[RequestContext, Data | None], tuple[ActionResult, Data | None]]


class Role(Enum):
    """The four client associations of every virtual meter (association name = value)."""

    PUBLIC = "public"
    MANAGEMENT = "management"
    READING = "reading"
    FIRMWARE = "firmware"


@dataclass(frozen=True)
class Attr:
    """One attribute: how to read it, optionally how to write it, who may see it."""

    get: Getter
    set: Setter | None = None
    public: bool = False
    selectors: tuple[int, ...] | None = None


@dataclass
class CosemObject:
    """One interface-class instance.

    ``firmware`` marks the objects the firmware client may use (image transfer); ``public``
    attributes are readable by the Public client, which never sees anything else but names.
    """

    class_id: int
    version: int
    logical_name: Obis
    attrs: dict[int, Attr] = field(default_factory=dict)
    methods: dict[int, Method] = field(default_factory=dict)
    firmware: bool = False

    def __post_init__(self) -> None:
        name = OctetString(self.logical_name.to_bytes())
        self.attrs.setdefault(1, Attr(lambda _access: name, public=True))

    def rights(self, role: Role) -> AccessRights | None:
        """This object's access rights for ``role`` (``None``: the object is not visible)."""
        if role is Role.FIRMWARE and not self.firmware:
            return None
        attrs = []
        for attr_id, attr in sorted(self.attrs.items()):
            mode = AttributeAccessMode.NO_ACCESS
            if role is Role.PUBLIC:
                mode = AttributeAccessMode.READ_ONLY if attr.public else mode
            elif role is Role.MANAGEMENT and attr.set is not None:
                mode = AttributeAccessMode.READ_AND_WRITE
            else:
                mode = AttributeAccessMode.READ_ONLY
            attrs.append(AttributeAccess(attr_id, mode, attr.selectors))
        may_act = role is Role.MANAGEMENT or (role is Role.FIRMWARE and self.firmware)
        methods = tuple(
            MethodAccess(m, MethodAccessMode.ACCESS if may_act else MethodAccessMode.NO_ACCESS)
            for m in sorted(self.methods)
        )
        return AccessRights(tuple(attrs), methods)
