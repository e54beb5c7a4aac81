"""COSEM objects as small tables of attribute readers, writers and methods, shared by all meters.

A meter's object model is a dictionary of these keyed by (class id, logical name). Each reader,
writer and method is a plain function of *the meter it serves*, so the table holds no meter
state: one :class:`ObjectTable` per object layout (1- or 3-phase) serves every meter of a fleet,
and a meter that has been used costs its few state fields, not a copy of its object list.

The access rights of each association follow from the object's flags and the client's role alone,
so the object list a client browses and the rights the server enforces are the same data (MTR-2);
both are computed once per table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from metra.dlms.cosem.access import (
    AccessRights,
    AttributeAccess,
    AttributeAccessMode,
    MethodAccess,
    MethodAccessMode,
)
from metra.dlms.data import Array, Data, LongUnsigned, OctetString, Structure, Unsigned
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult, SelectiveAccess

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["Attr", "CosemObject", "Getter", "Method", "ObjectTable", "Role", "Setter", "who"]

Getter = Callable[["VirtualMeter", SelectiveAccess | None], Data | DataAccessResult]
Setter = Callable[["VirtualMeter", RequestContext, Data], DataAccessResult]
Method = Callable[["VirtualMeter", RequestContext, Data | None], tuple[ActionResult, Data | None]]


class Role(Enum):
    """The four client associations of every virtual meter (association name = value)."""

    PUBLIC = "public"
    MANAGEMENT = "management"
    READING = "reading"
    FIRMWARE = "firmware"


def who(ctx: RequestContext) -> str:
    """The user behind a request, for journals: the service tool's system title when given."""
    title = ctx.client_system_title
    return f"{ctx.association}:{title.hex()}" if title else ctx.association


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute: how to read it, optionally how to write it, who may see it."""

    get: Getter
    set: Setter | None = None
    public: bool = False
    selectors: tuple[int, ...] | None = None


def _logical_name(obj: CosemObject) -> Getter:
    name = OctetString(obj.logical_name.to_bytes())
    return lambda _meter, _access: name


@dataclass(frozen=True)
class CosemObject:
    """One interface-class instance.

    ``firmware`` marks the objects the firmware client may use (image transfer); ``public``
    attributes are readable by the Public client, which never sees anything else but names.
    Attribute 1 (``logical_name``) is added here, public, as every class has it.
    """

    class_id: int
    version: int
    logical_name: Obis
    attrs: dict[int, Attr] = field(default_factory=dict)
    methods: dict[int, Method] = field(default_factory=dict)
    firmware: bool = False

    def __post_init__(self) -> None:
        self.attrs.setdefault(1, Attr(_logical_name(self), public=True))

    @property
    def key(self) -> tuple[int, bytes]:
        return self.class_id, self.logical_name.to_bytes()

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


class ObjectTable:
    """The fixed part of a meter's object model: objects, rights per role, object list per role.

    Built once per layout and shared; nothing in it refers to a particular meter.
    """

    __slots__ = ("_lists", "_rights", "objects")

    def __init__(self, objects: Iterable[CosemObject]) -> None:
        self.objects: dict[tuple[int, bytes], CosemObject] = {}
        for obj in objects:
            if obj.key in self.objects:
                raise ValueError(f"object {obj.logical_name} (class {obj.class_id}) listed twice")
            self.objects[obj.key] = obj
        self._rights: dict[tuple[Role, tuple[int, bytes]], AccessRights] = {}
        self._lists: dict[Role, Array] = {}
        for role in Role:
            items: list[Data] = []
            for key, obj in self.objects.items():
                rights = obj.rights(role)
                if rights is None:
                    continue
                self._rights[(role, key)] = rights
                items.append(
                    Structure(
                        [
                            LongUnsigned(obj.class_id),
                            Unsigned(obj.version),
                            OctetString(obj.logical_name.to_bytes()),
                            rights.to_data(),
                        ]
                    )
                )
            self._lists[role] = Array(items)

    def get(self, key: tuple[int, bytes]) -> CosemObject | None:
        return self.objects.get(key)

    def rights(self, role: Role, key: tuple[int, bytes]) -> AccessRights | None:
        """What ``role`` may do with the object ``key`` (``None``: not visible to it)."""
        return self._rights.get((role, key))

    def object_list(self, role: Role) -> Array:
        """Association LN ``object_list`` for ``role``: every visible object with its rights."""
        return self._lists[role]

    def __len__(self) -> int:
        return len(self.objects)

    def values(self) -> Iterable[CosemObject]:
        return self.objects.values()
