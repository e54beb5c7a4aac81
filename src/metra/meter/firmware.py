"""Image transfer (class 18): firmware arrives in blocks, is verified, then activated (MTR-4).

The image's last :data:`SIGNATURE_SIZE` octets are an ECDSA P-256 signature (R || S) over the
rest, checked with the meter's ``firmware_public_key`` at verify; a bad image is refused and
journaled, and only a verified image can be activated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.enums import ImageTransferStatus
from metra.dlms.cosem.objects import IMAGE_TRANSFER
from metra.dlms.data import Array, BitString, Data, DoubleLongUnsigned, Enum, OctetString, Structure
from metra.dlms.errors import SecurityError
from metra.dlms.server import RequestContext
from metra.dlms.signing import verify_raw
from metra.dlms.xdlms.common import ActionResult

from .journal import EventCode, Log
from .objects import Attr, CosemObject

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["IMAGE_BLOCK_SIZE", "MAX_IMAGE_SIZE", "SIGNATURE_SIZE", "Image", "image_transfer"]

IMAGE_BLOCK_SIZE = 200
SIGNATURE_SIZE = 64
MAX_IMAGE_SIZE = 4 * 1024 * 1024


@dataclass(slots=True)
class Image:
    """The image being transferred to one meter."""

    identifier: bytes = b""
    size: int = 0
    blocks: dict[int, bytes] | None = None
    status: ImageTransferStatus = ImageTransferStatus.NOT_INITIATED

    def assembled(self) -> bytes:
        blocks = self.blocks or {}
        n = -(-self.size // IMAGE_BLOCK_SIZE)
        return b"".join(blocks.get(i, b"") for i in range(n))

    def transferred(self) -> BitString:
        n = -(-self.size // IMAGE_BLOCK_SIZE) if self.size else 0
        return BitString("".join("1" if i in (self.blocks or {}) else "0" for i in range(n)))


def _initiate(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    image = m.image
    s = _shape.structure(p, 2, "image_transfer_initiate")
    identifier = _shape.octets(s[0], "image_identifier")
    size = _shape.integer(s[1], DoubleLongUnsigned, "image_size")
    if size > MAX_IMAGE_SIZE or size <= SIGNATURE_SIZE:
        return ActionResult.OTHER_REASON, None
    image.identifier, image.size = identifier, size
    image.blocks, image.status = {}, ImageTransferStatus.INITIATED
    return ActionResult.SUCCESS, None


def _block(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
    image = m.image
    s = _shape.structure(p, 2, "image_block_transfer")
    number = _shape.integer(s[0], DoubleLongUnsigned, "image_block_number")
    if image.blocks is None or number * IMAGE_BLOCK_SIZE >= image.size:
        return ActionResult.OTHER_REASON, None
    image.blocks[number] = _shape.octets(s[1], "image_block_value")
    return ActionResult.SUCCESS, None


def _verify(m: VirtualMeter, ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, None]:
    image = m.image
    data = image.assembled()
    key = m.firmware_public_key
    ok = len(data) == image.size and key is not None
    if key is not None and ok:
        try:
            verify_raw(key, data[-SIGNATURE_SIZE:], data[:-SIGNATURE_SIZE])
        except SecurityError:
            ok = False
    name = image.identifier.hex()
    if not ok:
        image.status = ImageTransferStatus.VERIFICATION_FAILED
        m.journals.add(Log.FIRMWARE, m.now(), EventCode.FIRMWARE_VERIFICATION_FAILED, name)
        return ActionResult.OTHER_REASON, None
    image.status = ImageTransferStatus.VERIFICATION_SUCCESSFUL
    m.journals.add(Log.FIRMWARE, m.now(), EventCode.FIRMWARE_READY, name)
    return ActionResult.SUCCESS, None


def _activate(m: VirtualMeter, ctx: RequestContext, _p: Data | None) -> tuple[ActionResult, None]:
    image = m.image
    if image.status is not ImageTransferStatus.VERIFICATION_SUCCESSFUL:
        return ActionResult.OTHER_REASON, None
    m.firmware_id = image.identifier
    image.status, image.blocks = ImageTransferStatus.ACTIVATION_SUCCESSFUL, None
    m.journals.add(Log.FIRMWARE, m.now(), EventCode.FIRMWARE_ACTIVATED, image.identifier.hex())
    return ActionResult.SUCCESS, None


def _first_missing(image: Image) -> int:
    bits = image.transferred()
    return bits.find("0") if "0" in bits else len(bits)


def _to_activate(image: Image) -> Array:
    if not image.size:
        return Array([])
    signature = OctetString(image.assembled()[-SIGNATURE_SIZE:])
    info: list[Data] = [DoubleLongUnsigned(image.size), OctetString(image.identifier), signature]
    return Array([Structure(info)])


def image_transfer() -> CosemObject:
    return CosemObject(
        18,
        0,
        IMAGE_TRANSFER,
        {
            2: Attr(lambda _m, _a: DoubleLongUnsigned(IMAGE_BLOCK_SIZE)),
            3: Attr(lambda m, _a: m.image.transferred()),
            4: Attr(lambda m, _a: DoubleLongUnsigned(_first_missing(m.image))),
            5: Attr(lambda _m, _a: True),
            6: Attr(lambda m, _a: Enum(m.image.status)),
            7: Attr(lambda m, _a: _to_activate(m.image)),
        },
        {1: _initiate, 2: _block, 3: _verify, 4: _activate},
        firmware=True,
    )
