"""Firmware images: checked against the vendor's signature before they are kept and again before
each upload, the last three versions per meter type kept (CMD-7, SEC-11).

An image ends with the vendor's ECDSA P-256 / SHA-256 signature over everything before it, in the
DLMS plain form R || S (64 octets), which is what the meter checks again at verification before
it activates anything. The central system checks first so that an image that is not the
vendor's never leaves the building, and re-checks when loading it for upload so that an image
altered in the database is never sent either. A meter that then still refuses it (because its
trusted key differs) stops the update before activation; the executor never activates an image
the meter did not verify.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, insert, select, update

from metra.dlms.errors import SecurityError
from metra.dlms.signing import verify_raw
from metra.store import audit
from metra.store.command_schema import firmware_image

from .command_exec import Firmware
from .errors import HeadEndError

#: Length of the vendor's signature at the end of an image (P-256, R || S).
SIGNATURE_SIZE = 64
#: Versions kept per meter type (S3 B.10.4: the last three).
KEPT_VERSIONS = 3
#: Largest image accepted: four times the largest the virtual meter takes.
MAX_IMAGE = 16 * 1024 * 1024


class FirmwareRejected(HeadEndError):
    """The image is not the vendor's (signature), is malformed, or is not in the store."""


@dataclass(frozen=True)
class StoredImage:
    """A kept image, without its bytes."""

    id: UUID
    meter_type: str
    version: str
    identifier: bytes
    sha256: str
    added_at: datetime
    added_by: str


def verify_image(image: bytes, vendor_key: ec.EllipticCurvePublicKey) -> None:
    """Raise `FirmwareRejected` unless the image's trailing signature verifies."""
    if not SIGNATURE_SIZE < len(image) <= MAX_IMAGE:
        raise FirmwareRejected(f"an image is {SIGNATURE_SIZE + 1}..{MAX_IMAGE} octets")
    try:
        verify_raw(vendor_key, image[-SIGNATURE_SIZE:], image[:-SIGNATURE_SIZE])
    except SecurityError:
        raise FirmwareRejected("the vendor's signature does not verify") from None


class FirmwareStore:
    """Images in the store, verified with the vendor's public key on the way in and out."""

    def __init__(self, vendor_key: ec.EllipticCurvePublicKey) -> None:
        self.vendor_key = vendor_key

    def add(
        self,
        conn: Connection,
        meter_type: str,
        version: str,
        identifier: bytes,
        image: bytes,
        *,
        at: datetime,
        by: str,
    ) -> UUID:
        """Keep a verified image; versions beyond the newest three of the type are retired."""
        verify_image(image, self.vendor_key)
        if not meter_type or not version or not identifier:
            raise FirmwareRejected("an image needs a meter type, a version and an identifier")
        image_id = uuid4()
        digest = hashlib.sha256(image).hexdigest()
        conn.execute(
            insert(firmware_image).values(
                id=image_id,
                meter_type=meter_type,
                version=version,
                identifier=identifier,
                image=image,
                sha256=digest,
                added_at=at,
                added_by=by,
            )
        )
        kept = self.versions(conn, meter_type)
        for old in kept[KEPT_VERSIONS:]:
            conn.execute(
                update(firmware_image).where(firmware_image.c.id == old.id).values(removed_at=at)
            )
        audit.append(
            conn,
            at=at,
            actor=by,
            action="firmware.add",
            target_kind="firmware_image",
            target_id=str(image_id),
            details={"meter_type": meter_type, "version": version, "sha256": digest},
        )
        return image_id

    def versions(self, conn: Connection, meter_type: str) -> list[StoredImage]:
        """Kept images of a meter type, newest first."""
        t = firmware_image
        rows = conn.execute(
            select(
                t.c.id,
                t.c.meter_type,
                t.c.version,
                t.c.identifier,
                t.c.sha256,
                t.c.added_at,
                t.c.added_by,
            )
            .where(t.c.meter_type == meter_type)
            .where(t.c.removed_at.is_(None))
            .order_by(t.c.added_at.desc(), t.c.version.desc())
        )
        return [StoredImage(**row._mapping) for row in rows]

    def load(self, conn: Connection, image_id: UUID) -> Firmware:
        """An image for upload, verified again (an image altered at rest is never sent)."""
        t = firmware_image
        row = conn.execute(
            select(t.c.version, t.c.identifier, t.c.image, t.c.sha256)
            .where(t.c.id == image_id)
            .where(t.c.removed_at.is_(None))
        ).first()
        if row is None:
            raise FirmwareRejected(f"no kept firmware image {image_id}")
        image = bytes(row.image)
        if hashlib.sha256(image).hexdigest() != row.sha256:
            raise FirmwareRejected("the stored image does not match its digest")
        verify_image(image, self.vendor_key)
        return Firmware(identifier=bytes(row.identifier), image=image, version=row.version)
