"""The fleet inventory: where each virtual meter listens and its keys, wrapped (SEC-2, SEC-7).

A head-end imports a fleet the way a utility imports a manufacturer's delivery file: one JSON
document with the public facts of every meter and its keys wrapped with AES key wrap (RFC 3394)
under a key-encryption key (KEK) the two sides share out of band. Plain keys exist only in memory
on either side; this module never writes them, and the wrapped form is what a log could show at
worst. The format is documented in ``docs/fleet.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.acse import Mechanism
from metra.dlms.errors import SecurityError
from metra.dlms.keywrap import unwrap_key, wrap_key

from .identity import KeySet

__all__ = [
    "FORMAT",
    "VERSION",
    "Inventory",
    "InventoryAssociation",
    "InventoryError",
    "InventoryMeter",
    "WrongKekError",
    "check_kek",
    "mechanism_name",
    "read_inventory",
    "write_inventory",
]

#: The ``format`` member that marks an inventory file.
FORMAT = "metra-fleet-inventory"
#: Version of the layout described in ``docs/fleet.md``.
VERSION = 1
#: Shortest KEK accepted: AES-128.
KEK_LENGTHS = (16, 24, 32)


class InventoryError(ValueError):
    """The inventory file is missing, not JSON, or not in the documented layout."""


class WrongKekError(SecurityError):
    """A wrapped key failed its RFC 3394 integrity check: the KEK is wrong (or the file altered)."""


def check_kek(kek: bytes) -> bytes:
    """Refuse a KEK that is not an AES key length; there is no default KEK to fall back on."""
    if len(kek) not in KEK_LENGTHS:
        raise SecurityError("the key-encryption key must be 16, 24 or 32 octets")
    return bytes(kek)


def mechanism_name(mechanism: Mechanism) -> str:
    """The inventory's spelling of a mechanism: ``none``, ``lls``, ``hls-gmac``, ``hls-ecdsa``."""
    return mechanism.name.lower().replace("_", "-")


def _mechanism_from_name(name: str) -> Mechanism:
    try:
        return Mechanism[name.upper().replace("-", "_")]
    except KeyError:
        raise InventoryError(f"unknown mechanism {name!r}") from None


@dataclass(frozen=True)
class InventoryAssociation:
    """One client SAP of a meter: its mechanism and, for keyed SAPs, its WAN and optical keys."""

    client_sap: int
    name: str
    mechanism: Mechanism
    suite: int = 0
    wan: KeySet | None = field(default=None, repr=False)
    optical: KeySet | None = field(default=None, repr=False)


@dataclass(frozen=True)
class InventoryMeter:
    """Everything a head-end needs to reach one meter (keys plain, in memory only)."""

    serial: str
    system_title: bytes
    customer_type: str
    phases: int
    host: str
    port: int
    transport: str
    tls: bool
    server_address: int
    physical_address: int
    security: str
    associations: Mapping[int, InventoryAssociation]
    han_key: bytes = field(repr=False)
    master_key: bytes = field(repr=False)
    meter_public_key: ec.EllipticCurvePublicKey | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Inventory:
    """A whole fleet: its meters, how it was made, and where the TLS CA certificate is.

    ``signing_keys`` are the fleet-wide private keys a head-end signs with, by role:
    ``operator`` (signed commands, HLS-ECDSA client) and ``firmware`` (image signatures); every
    meter of the fleet trusts their public halves.
    """

    meters: Sequence[InventoryMeter]
    seed: int
    profile: str
    security: str
    transport: str
    created: str
    ca_file: Path | None = None
    signing_keys: Mapping[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict, repr=False)

    def by_serial(self) -> dict[str, InventoryMeter]:
        """Meters keyed by serial number."""
        return {meter.serial: meter for meter in self.meters}


# ------------------------------------------------------------------------------------ writing


def _wrap(kek: bytes, key: bytes) -> str:
    return wrap_key(kek, key).hex()


def _keyset_json(kek: bytes, keys: KeySet) -> dict[str, str]:
    return {
        "encryption": _wrap(kek, keys.encryption_key),
        "authentication": _wrap(kek, keys.authentication_key),
    }


def _public_pem(key: ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _private_scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    size = (key.curve.key_size + 7) // 8
    return key.private_numbers().private_value.to_bytes(size, "big")


def _meter_json(kek: bytes, meter: InventoryMeter) -> dict[str, Any]:
    associations: dict[str, Any] = {}
    for sap, assoc in sorted(meter.associations.items()):
        entry: dict[str, Any] = {
            "name": assoc.name,
            "mechanism": mechanism_name(assoc.mechanism),
            "suite": assoc.suite,
        }
        if assoc.wan is not None:
            entry["wan"] = _keyset_json(kek, assoc.wan)
        if assoc.optical is not None:
            entry["optical"] = _keyset_json(kek, assoc.optical)
        associations[str(sap)] = entry
    return {
        "serial": meter.serial,
        "system_title": meter.system_title.hex(),
        "customer_type": meter.customer_type,
        "phases": meter.phases,
        "host": meter.host,
        "port": meter.port,
        "transport": meter.transport,
        "tls": meter.tls,
        "server_address": meter.server_address,
        "physical_address": meter.physical_address,
        "security": meter.security,
        "associations": associations,
        "han_key": _wrap(kek, meter.han_key),
        "master_key": _wrap(kek, meter.master_key),
        "meter_public_key": (
            _public_pem(meter.meter_public_key) if meter.meter_public_key is not None else None
        ),
    }


def write_inventory(path: Path, inventory: Inventory, kek: bytes) -> None:
    """Write ``inventory`` as JSON with every key wrapped under ``kek`` (never a plain key).

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    kek = check_kek(kek)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": inventory.created,
        "key_wrap": "aes-key-wrap-rfc3394",
        "seed": inventory.seed,
        "profile": inventory.profile,
        "security": inventory.security,
        "transport": inventory.transport,
        "tls_ca": str(inventory.ca_file) if inventory.ca_file is not None else None,
        "signing_keys": {
            role: {
                "curve": key.curve.name,
                "private_key": _wrap(kek, _private_scalar(key)),
                "public_key": _public_pem(key.public_key()),
            }
            for role, key in sorted(inventory.signing_keys.items())
        },
        "meters": [_meter_json(kek, meter) for meter in inventory.meters],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


# ------------------------------------------------------------------------------------ reading


class _Unwrapper:
    """Unwraps hex fields, turning any integrity failure into :class:`WrongKekError`."""

    def __init__(self, kek: bytes) -> None:
        self.kek = kek

    def key(self, text: object) -> bytes:
        if not isinstance(text, str):
            raise InventoryError("a wrapped key must be a hex string")
        try:
            wrapped = bytes.fromhex(text)
        except ValueError:
            raise InventoryError("a wrapped key is not hexadecimal") from None
        try:
            return unwrap_key(self.kek, wrapped)
        except SecurityError:
            raise WrongKekError(
                "cannot unwrap the inventory's keys: wrong key-encryption key or altered file"
            ) from None

    def keyset(self, entry: object) -> KeySet:
        if not isinstance(entry, dict):
            raise InventoryError("a key set must be an object")
        try:
            return KeySet(self.key(entry.get("encryption")), self.key(entry.get("authentication")))
        except ValueError as exc:
            if isinstance(exc, InventoryError):
                raise
            raise InventoryError("a key has the wrong length") from None


def _association(sap: str, entry: Any, unwrap: _Unwrapper) -> InventoryAssociation:
    return InventoryAssociation(
        client_sap=int(sap),
        name=str(entry["name"]),
        mechanism=_mechanism_from_name(str(entry["mechanism"])),
        suite=int(entry.get("suite", 0)),
        wan=unwrap.keyset(entry["wan"]) if "wan" in entry else None,
        optical=unwrap.keyset(entry["optical"]) if "optical" in entry else None,
    )


def _public_key(pem: object) -> ec.EllipticCurvePublicKey | None:
    if pem is None:
        return None
    key = serialization.load_pem_public_key(str(pem).encode("ascii"))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InventoryError("a public key is not an EC key")
    return key


def _meter(entry: Any, unwrap: _Unwrapper) -> InventoryMeter:
    return InventoryMeter(
        serial=str(entry["serial"]),
        system_title=bytes.fromhex(entry["system_title"]),
        customer_type=str(entry["customer_type"]),
        phases=int(entry["phases"]),
        host=str(entry["host"]),
        port=int(entry["port"]),
        transport=str(entry["transport"]),
        tls=bool(entry["tls"]),
        server_address=int(entry["server_address"]),
        physical_address=int(entry["physical_address"]),
        security=str(entry["security"]),
        associations={
            int(sap): _association(sap, assoc, unwrap)
            for sap, assoc in entry["associations"].items()
        },
        han_key=unwrap.key(entry["han_key"]),
        master_key=unwrap.key(entry["master_key"]),
        meter_public_key=_public_key(entry.get("meter_public_key")),
    )


def _signing_key(entry: Any, unwrap: _Unwrapper) -> ec.EllipticCurvePrivateKey:
    curves: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}
    curve = curves.get(str(entry["curve"]))
    if curve is None:
        raise InventoryError("a signing key is on an unknown curve")
    scalar = int.from_bytes(unwrap.key(entry["private_key"]), "big")
    return ec.derive_private_key(scalar, curve)


def read_inventory(path: Path, kek: bytes) -> Inventory:
    """Read an inventory and unwrap every key with ``kek``.

    A wrong KEK (or an altered wrapped key) raises :class:`WrongKekError` before anything is
    returned; a file not in the documented layout raises :class:`InventoryError`.
    """
    kek = check_kek(kek)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InventoryError(f"{path} is not a metra fleet inventory")
    if document.get("version") != VERSION:
        raise InventoryError(f"inventory version {document.get('version')!r} is not {VERSION}")
    unwrap = _Unwrapper(kek)
    try:
        meters = tuple(_meter(entry, unwrap) for entry in document["meters"])
        ca = document.get("tls_ca")
        return Inventory(
            meters=meters,
            seed=int(document["seed"]),
            profile=str(document["profile"]),
            security=str(document["security"]),
            transport=str(document["transport"]),
            created=str(document["created"]),
            ca_file=Path(ca) if ca else None,
            signing_keys={
                str(role): _signing_key(entry, unwrap)
                for role, entry in document.get("signing_keys", {}).items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, InventoryError):
            raise
        raise InventoryError(f"inventory {path} is malformed: {type(exc).__name__}") from None
