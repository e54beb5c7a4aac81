"""Shared pieces for association tests: a small in-memory object model behind a server.

The model is deliberately tiny (a dict of attribute values); the association machines under test
are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metra.dlms.client import ClientAssociation
from metra.dlms.cosem.access import (
    AccessRights,
    AttributeAccess,
    AttributeAccessMode,
    MethodAccess,
    MethodAccessMode,
)
from metra.dlms.data import Data
from metra.dlms.server import RequestContext, ServerAssociation
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
    SelectiveAccess,
)


@dataclass
class DictModel:
    """Objects as {(class_id, logical name): {attribute: value}} with one rights table per
    association name; methods append their parameters to ``calls``."""

    values: dict[tuple[int, bytes], dict[int, Data]]
    rights_by_association: dict[str, AccessRights]
    calls: list[tuple[str, MethodDescriptor, Data | None, bool]] = field(default_factory=list)

    def rights(self, ctx: RequestContext, class_id: int, instance: bytes) -> AccessRights | None:
        if (class_id, instance) not in self.values:
            return None
        return self.rights_by_association.get(ctx.association)

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        obj = self.values[(attribute.class_id, bytes(attribute.instance_id))]
        if attribute.attribute_id not in obj:
            return DataAccessResult.OBJECT_UNAVAILABLE
        return obj[attribute.attribute_id]

    def set(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult:
        self.values[(attribute.class_id, bytes(attribute.instance_id))][attribute.attribute_id] = (
            value
        )
        return DataAccessResult.SUCCESS

    def action(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]:
        self.calls.append((ctx.association, method, parameters, ctx.signed))
        return ActionResult.SUCCESS, None


def rights(read: list[int], write: list[int] = [], methods: list[int] = []) -> AccessRights:  # noqa: B006
    """Rights with the given attributes readable / writable and methods callable."""
    attrs = {a: AttributeAccessMode.READ_ONLY for a in read}
    for a in write:
        attrs[a] = AttributeAccessMode.READ_AND_WRITE
    return AccessRights(
        tuple(AttributeAccess(a, mode) for a, mode in sorted(attrs.items())),
        tuple(MethodAccess(m, MethodAccessMode.ACCESS) for m in methods),
    )


def pump(client: ClientAssociation, server: ServerAssociation, limit: int = 1000) -> None:
    """Move APDUs both ways until both sides are quiet."""
    for _ in range(limit):
        to_server = client.apdus_to_send()
        for apdu in to_server:
            server.receive_apdu(apdu)
        to_client = server.apdus_to_send()
        for apdu in to_client:
            client.receive_apdu(apdu)
        if not to_server and not to_client:
            return
    raise AssertionError("the two machines never went quiet")
