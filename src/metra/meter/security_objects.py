"""Security setup (64) and Association LN (15) objects of the virtual meter (MTR-1, MTR-2).

The object lists the associations return are the shared table's, computed once per layout; the
current association (0-0:40.0.0.255) answers with the list of whoever asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.enums import SecurityPolicy
from metra.dlms.cosem.objects import association, security_setup
from metra.dlms.cosem.security import KeyData
from metra.dlms.data import Data, Enum, OctetString
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult

from .objects import Attr, CosemObject, Method, Role

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["ASSOCIATION_INSTANCES", "association_objects", "security_objects"]

#: Association LN instances 0-0:40.0.x.255 per client role (x = 1 Public, 2 management, ...).
ASSOCIATION_INSTANCES = (
    (1, Role.PUBLIC),
    (2, Role.MANAGEMENT),
    (3, Role.READING),
    (4, Role.FIRMWARE),
)
_PROTECTED = (
    SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.ENCRYPTED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE
    | SecurityPolicy.ENCRYPTED_RESPONSE
)


def _key_transfer(sap: int) -> Method:
    def run(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
        items = [KeyData.from_data(x) for x in _shape.array(p, "key_data")]
        ok = m.transfer_keys(sap, items)
        return (ActionResult.SUCCESS if ok else ActionResult.OTHER_REASON), None

    return run


def _security_setup(sap: int) -> CosemObject:
    def policy(m: VirtualMeter) -> Data:
        return Enum(SecurityPolicy.NONE if m.security == "none" else _PROTECTED)

    def suite(m: VirtualMeter) -> Data:
        return Enum(1 if m.security == "suite1" and sap == 1 else 0)

    return CosemObject(
        64,
        1,
        security_setup(sap),
        {
            2: Attr(lambda m, _a: policy(m)),
            3: Attr(lambda m, _a: suite(m)),
            4: Attr(lambda _m, _a: OctetString(b"")),
            5: Attr(lambda m, _a: OctetString(m.identity.system_title)),
        },
        {2: _key_transfer(sap)},
    )


def security_objects() -> list[CosemObject]:
    return [_security_setup(sap) for sap in (1, 2, 3)]


def _association(instance: int, role: Role | None) -> CosemObject:
    """Association LN: ``role`` None is the current association (0-0:40.0.0.255)."""
    current = role is None
    return CosemObject(
        15,
        2,
        association(instance),
        {
            2: Attr(lambda m, _a: m.objects.object_list(role or m.role), public=current),
            8: Attr(lambda _m, _a: Enum(2), public=current),  # associated
        },
        firmware=current,
    )


def association_objects() -> list[CosemObject]:
    return [_association(i, role) for i, role in ASSOCIATION_INSTANCES] + [_association(0, None)]
