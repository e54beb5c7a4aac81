"""Who a virtual meter is and the secrets it holds.

The fleet and the head-end import these types, so they are kept free of behaviour. Secrets are
always fresh random values (MTR-1: no default or derived keys; optical-port keys differ from the
WAN keys), and nothing here ever shows a key in ``repr``, so a log line cannot leak one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "CLIENT_SAPS",
    "CUSTOMER_TYPES",
    "MANUFACTURER_ID",
    "KeySet",
    "MeterIdentity",
    "MeterSecrets",
    "system_title_for",
]

#: Non-public client SAPs that get keys: 1 management, 2 reading, 3 firmware.
CLIENT_SAPS = (1, 2, 3)
#: Customer types the measurement model knows.
CUSTOMER_TYPES = ("household", "household-pv", "small-business", "ev")
#: Three-letter manufacturer id (FLAG-style) that opens every system title of this fleet.
MANUFACTURER_ID = b"MTR"


@dataclass(frozen=True)
class KeySet:
    """The global unicast encryption key and the authentication key of one association."""

    encryption_key: bytes = field(repr=False)
    authentication_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.encryption_key) != 16 or len(self.authentication_key) != 16:
            raise ValueError("keys are 16 octets")

    @classmethod
    def generate(cls) -> KeySet:
        """Two fresh random keys."""
        return cls(secrets.token_bytes(16), secrets.token_bytes(16))

    def both(self) -> tuple[bytes, bytes]:
        """Both keys, for uniqueness checks."""
        return self.encryption_key, self.authentication_key


@dataclass(frozen=True)
class MeterSecrets:
    """Every secret of one meter: per-SAP WAN and optical keys, the HAN key, a signing key."""

    wan: Mapping[int, KeySet] = field(repr=False)
    optical: Mapping[int, KeySet] = field(repr=False)
    han_key: bytes = field(repr=False)
    signing_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    #: Key-encryption (master) key: new keys arrive wrapped under it (Security setup key_transfer).
    master_key: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)

    def __post_init__(self) -> None:
        if len(self.han_key) != 16:
            raise ValueError("the HAN key is 16 octets")
        wan = {k for ks in self.wan.values() for k in ks.both()}
        optical = {k for ks in self.optical.values() for k in ks.both()}
        if wan & optical:
            raise ValueError("optical-port keys must differ from the WAN keys (MTR-1)")

    @classmethod
    def generate(cls, *, suite1: bool = False) -> MeterSecrets:
        """Fresh random keys from :mod:`secrets`; never derived from the serial or a master key."""
        return cls(
            wan={sap: KeySet.generate() for sap in CLIENT_SAPS},
            optical={sap: KeySet.generate() for sap in CLIENT_SAPS},
            han_key=secrets.token_bytes(16),
            signing_key=ec.generate_private_key(ec.SECP256R1()) if suite1 else None,
        )


def system_title_for(serial: str) -> bytes:
    """The 8-octet system title: manufacturer id and the low 5 octets of the serial's number.

    Unique within a fleet as long as serial numbers are below 2**40, which a fleet never reaches.
    """
    digits = "".join(ch for ch in serial if ch.isdigit())
    number = int(digits) if digits else 0
    return MANUFACTURER_ID + (number % (1 << 40)).to_bytes(5, "big")


@dataclass(frozen=True)
class MeterIdentity:
    """Public facts of one meter; everything its measurement model derives comes from these."""

    serial: str
    system_title: bytes
    customer_type: str
    phases: int
    seed: int

    def __post_init__(self) -> None:
        if len(self.system_title) != 8:
            raise ValueError("a system title is 8 octets")
        if self.customer_type not in CUSTOMER_TYPES:
            raise ValueError(f"unknown customer type {self.customer_type!r}")
        if self.phases not in (1, 3):
            raise ValueError("a meter has 1 or 3 phases")

    @classmethod
    def for_number(
        cls, number: int, *, customer_type: str = "household", phases: int = 1, seed: int = 0
    ) -> MeterIdentity:
        """The identity of meter ``number`` of a fleet (serial ``MTR%08d``)."""
        serial = f"MTR{number:08d}"
        return cls(serial, system_title_for(serial), customer_type, phases, seed)
