"""Image transfer (class 18) value shapes: the firmware update handshake's parameters.

The ``image_transfer_status`` enumeration is
:class:`~metra.dlms.cosem.enums.ImageTransferStatus`."""

from __future__ import annotations

from dataclasses import dataclass

from ..data import Data, DoubleLongUnsigned, OctetString, Structure
from . import _shape

__all__ = ["ImageBlock", "ImageToActivateInfo", "ImageTransferInitiate"]


@dataclass(frozen=True, slots=True)
class ImageToActivateInfo:
    """``image_to_activate_info`` element: structure {image_to_activate_size:
    double-long-unsigned, image_to_activate_identification: octet-string,
    image_to_activate_signature: octet-string}."""

    size: int
    identification: bytes
    signature: bytes

    def to_data(self) -> Structure:
        return Structure(
            [
                DoubleLongUnsigned(self.size),
                OctetString(self.identification),
                OctetString(self.signature),
            ]
        )

    @classmethod
    def from_data(cls, value: Data) -> ImageToActivateInfo:
        what = "image_to_activate_info_element"
        s = _shape.structure(value, 3, what)
        return cls(
            _shape.integer(s[0], DoubleLongUnsigned, f"{what}.image_to_activate_size"),
            _shape.octets(s[1], f"{what}.image_to_activate_identification"),
            _shape.octets(s[2], f"{what}.image_to_activate_signature"),
        )


@dataclass(frozen=True, slots=True)
class ImageTransferInitiate:
    """Parameter of method 1 ``image_transfer_initiate``: structure {image_identifier:
    octet-string, image_size: double-long-unsigned}."""

    image_identifier: bytes
    image_size: int

    def to_data(self) -> Structure:
        return Structure([OctetString(self.image_identifier), DoubleLongUnsigned(self.image_size)])

    @classmethod
    def from_data(cls, value: Data) -> ImageTransferInitiate:
        s = _shape.structure(value, 2, "image_transfer_initiate")
        return cls(
            _shape.octets(s[0], "image_transfer_initiate.image_identifier"),
            _shape.integer(s[1], DoubleLongUnsigned, "image_transfer_initiate.image_size"),
        )


@dataclass(frozen=True, slots=True)
class ImageBlock:
    """Parameter of method 2 ``image_block_transfer``: structure {image_block_number:
    double-long-unsigned, image_block_value: octet-string}."""

    number: int
    value: bytes

    def to_data(self) -> Structure:
        return Structure([DoubleLongUnsigned(self.number), OctetString(self.value)])

    @classmethod
    def from_data(cls, value: Data) -> ImageBlock:
        s = _shape.structure(value, 2, "image_block_transfer")
        return cls(
            _shape.integer(s[0], DoubleLongUnsigned, "image_block_transfer.image_block_number"),
            _shape.octets(s[1], "image_block_transfer.image_block_value"),
        )
