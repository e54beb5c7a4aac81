"""The key store: each meter's keys per interface and client SAP, encrypted at rest (SEC-7).

Keys are sealed with AES-256-GCM under a master key that never enters the database: it comes
from the environment (``METRA_MASTER_KEY``) or from a key file only its owner can read, and the
store refuses to start without one (no default, SEC-7). The store's ``meter_key`` table holds
only the sealed blobs and the id of the master key that sealed them. The associated data of each
seal names the meter, interface and kind, so a blob copied onto another row does not open.

Keys never appear in a repr, a log line, an exception or an audit entry; only the master key's id
(a fingerprint that reveals nothing usable) is shown. ``rotate`` re-seals every key in use under
a new master key, after which the old one can be destroyed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, insert, select

from metra.store import audit, keys
from metra.store.schema import audit_record, meter_key

from .errors import KeyStoreError, MasterKeyMissing

#: Environment variable holding the master key (64 hex digits or base64 of 32 octets).
MASTER_KEY_ENV = "METRA_MASTER_KEY"
#: Environment variable naming a key file, used when ``METRA_MASTER_KEY`` is not set.
MASTER_KEY_FILE_ENV = "METRA_MASTER_KEY_FILE"

_MASTER_LENGTH = 32
_NONCE_LENGTH = 12
_FORMAT = b"\x01"  # blob layout version: format || nonce || ciphertext+tag
INTERFACES = ("wan", "optical", "han")


class MasterKey:
    """The key-encryption key of the key store; shows only its id."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != _MASTER_LENGTH:
            raise MasterKeyMissing("the master key must be 32 octets (AES-256)")
        self._aead = AESGCM(bytes(key))
        digest = hashlib.sha256(b"metra master key id\x00" + bytes(key)).hexdigest()
        self.key_id = "mk-" + digest[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random master key (for provisioning and tests); print it with `export_hex`."""
        return cls(secrets.token_bytes(_MASTER_LENGTH))

    @classmethod
    def parse(cls, text: str | bytes) -> MasterKey:
        """Read a master key written as 64 hex digits or base64, or given as 32 raw octets."""
        if isinstance(text, bytes) and len(text) == _MASTER_LENGTH:
            return cls(text)
        raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        raw = raw.strip()
        try:
            key = bytes.fromhex(raw) if len(raw) == 2 * _MASTER_LENGTH else base64.b64decode(raw)
        except (ValueError, binascii.Error):
            raise MasterKeyMissing("the master key is neither hex nor base64") from None
        return cls(key)

    @classmethod
    def from_file(cls, path: str | Path) -> MasterKey:
        """Load from a key file that only its owner may read (mode 0600 or 0400)."""
        target = Path(path)
        try:
            mode = target.stat().st_mode
        except OSError as exc:
            raise MasterKeyMissing(f"master key file {target} is not readable: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MasterKeyMissing(
                f"master key file {target} is open to group or others: chmod 600 it"
            )
        return cls.parse(target.read_bytes())

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, path: str | Path | None = None
    ) -> MasterKey:
        """The configured master key: `path`, else ``METRA_MASTER_KEY``, else the file named by
        ``METRA_MASTER_KEY_FILE``; with none of them the head-end must not start."""
        environ = os.environ if env is None else env
        if path is not None:
            return cls.from_file(path)
        if environ.get(MASTER_KEY_ENV):
            return cls.parse(environ[MASTER_KEY_ENV])
        if environ.get(MASTER_KEY_FILE_ENV):
            return cls.from_file(environ[MASTER_KEY_FILE_ENV])
        raise MasterKeyMissing(
            f"no master key: set {MASTER_KEY_ENV} or {MASTER_KEY_FILE_ENV} (never defaulted)"
        )

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt and authenticate `plaintext` bound to `context` (the row it belongs to)."""
        nonce = secrets.token_bytes(_NONCE_LENGTH)
        return _FORMAT + nonce + self._aead.encrypt(nonce, bytes(plaintext), context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        """Decrypt a sealed blob; an altered blob, wrong row or wrong master key fails."""
        if len(blob) < 1 + _NONCE_LENGTH + 16 or blob[:1] != _FORMAT:
            raise KeyStoreError("sealed key blob is malformed")
        nonce, body = blob[1 : 1 + _NONCE_LENGTH], blob[1 + _NONCE_LENGTH :]
        try:
            return self._aead.decrypt(nonce, body, context)
        except InvalidTag:
            raise KeyStoreError("sealed key failed its integrity check") from None


@dataclass(frozen=True)
class AssociationKeys:
    """The global unicast encryption key and authentication key of one client SAP."""

    encryption_key: bytes = field(repr=False)
    authentication_key: bytes = field(repr=False)


def key_kind(name: str, client_sap: int | None = None) -> str:
    """The stored kind of a key: ``ek.2`` is the encryption key of client SAP 2."""
    return name if client_sap is None else f"{name}.{client_sap}"


def _context(meter_id: UUID, interface: str, kind: str) -> bytes:
    return b"metra key\x00" + meter_id.bytes + interface.encode() + b"\x00" + kind.encode()


class KeyStore:
    """Seal, store, open and rotate meter keys under the master key (and read older ones)."""

    def __init__(self, master: MasterKey, *, previous: Iterable[MasterKey] = ()) -> None:
        self.master = master
        self._masters = {m.key_id: m for m in (*previous, master)}

    def __repr__(self) -> str:
        return f"KeyStore(master={self.master!r})"

    def put(
        self,
        conn: Connection,
        meter_id: UUID,
        interface: str,
        kind: str,
        key: bytes,
        *,
        at: datetime,
        by: str,
    ) -> int:
        """Seal and store one key (retiring the previous one); returns its key version."""
        if interface not in INTERFACES:
            raise KeyStoreError(f"unknown interface {interface!r}")
        sealed = self.master.seal(key, _context(meter_id, interface, kind))
        version = keys.put(
            conn, meter_id, interface, kind, sealed, kek_id=self.master.key_id, at=at, by=by
        )
        audit.append(
            conn,
            at=at,
            actor=by,
            action="key.store",
            target_kind="meter",
            target_id=str(meter_id),
            details={"interface": interface, "kind": kind, "key_version": version},
        )
        return version

    def put_many(
        self,
        conn: Connection,
        new: Sequence[tuple[UUID, str, str, bytes]],
        *,
        at: datetime,
        by: str,
        action: str = "key.store",
        details: Mapping[UUID, Mapping[str, Any]] | None = None,
    ) -> list[int]:
        """Seal and store many keys (meter, interface, kind, key) at once; their versions.

        Same rows as `put` per key, in a few statements. The audit trail gets one `action`
        entry per meter naming every key written (interface, kind, version, never the key),
        merged with that meter's `details`, so an import audits each meter once (a meter in
        `details` without keys still gets its entry).
        """
        sealed: list[keys.NewKey] = []
        for meter_id, interface, kind, key in new:
            if interface not in INTERFACES:
                raise KeyStoreError(f"unknown interface {interface!r}")
            blob = self.master.seal(key, _context(meter_id, interface, kind))
            sealed.append(keys.NewKey(meter_id, interface, kind, blob))
        versions = keys.put_many(conn, sealed, kek_id=self.master.key_id, at=at, by=by)
        written: dict[UUID, list[dict[str, Any]]] = {}
        for entry, version in zip(sealed, versions, strict=True):
            written.setdefault(entry.meter_id, []).append(
                {"interface": entry.interface, "kind": entry.kind, "key_version": version}
            )
        extra = details or {}
        rows = [
            {
                "at": at,
                "actor": by,
                "action": action,
                "target_kind": "meter",
                "target_id": str(meter_id),
                "details": {**extra.get(meter_id, {}), "keys_stored": written.get(meter_id, [])},
                "prev_hash": None,
                "hash": None,
            }
            for meter_id in dict.fromkeys([*extra, *written])
        ]
        if rows:  # pending entries, sealed into the chain by the security layer's next record
            conn.execute(insert(audit_record), rows)
        return versions

    def get(self, conn: Connection, meter_id: UUID, interface: str, kind: str) -> bytes:
        """The key in use; a missing key or one that does not open raises KeyStoreError."""
        stored = keys.current(conn, meter_id, interface, kind)
        if stored is None:
            raise KeyStoreError(f"meter {meter_id} has no {interface} key {kind}")
        master = self._masters.get(stored.kek_id)
        if master is None:
            raise KeyStoreError(f"meter {meter_id} key {kind} is sealed under an unknown master")
        return master.open(stored.wrapped, _context(meter_id, interface, kind))

    def put_association(
        self,
        conn: Connection,
        meter_id: UUID,
        interface: str,
        client_sap: int,
        pair: AssociationKeys,
        *,
        at: datetime,
        by: str,
    ) -> None:
        """Store both keys of one client SAP on one interface."""
        for name, key in (("ek", pair.encryption_key), ("ak", pair.authentication_key)):
            self.put(conn, meter_id, interface, key_kind(name, client_sap), key, at=at, by=by)

    def association(
        self, conn: Connection, meter_id: UUID, interface: str, client_sap: int
    ) -> AssociationKeys:
        """Both keys of one client SAP on one interface."""
        return AssociationKeys(
            self.get(conn, meter_id, interface, key_kind("ek", client_sap)),
            self.get(conn, meter_id, interface, key_kind("ak", client_sap)),
        )

    def associations(
        self, conn: Connection, meter_ids: Iterable[UUID], interface: str, client_sap: int
    ) -> dict[UUID, AssociationKeys]:
        """Both keys of one client SAP for many meters in one query (a collection run's
        sessions); meters lacking a key are left out, and `association` says why for them."""
        wanted = sorted(set(meter_ids))
        kinds = (key_kind("ek", client_sap), key_kind("ak", client_sap))
        t = meter_key
        found: dict[UUID, dict[str, bytes]] = {}
        for i in range(0, len(wanted), 500):
            query = select(t.c.meter_id, t.c.kind, t.c.wrapped, t.c.kek_id).where(
                t.c.meter_id.in_(wanted[i : i + 500]),
                t.c.interface == interface,
                t.c.kind.in_(kinds),
                t.c.retired_at.is_(None),
            )
            for meter_id, kind, wrapped, kek_id in conn.execute(query):
                master = self._masters.get(kek_id)
                if master is None:
                    continue
                try:
                    plain = master.open(wrapped, _context(meter_id, interface, kind))
                except KeyStoreError:
                    continue
                found.setdefault(meter_id, {})[kind] = plain
        return {
            meter_id: AssociationKeys(pair[kinds[0]], pair[kinds[1]])
            for meter_id, pair in found.items()
            if len(pair) == 2
        }

    def rotate(self, conn: Connection, new_master: MasterKey, *, at: datetime, by: str) -> int:
        """Re-seal every key in use under `new_master`; returns how many were re-sealed.

        Run it in one transaction: either every key moves to the new master or none does. This
        store seals under `new_master` afterwards and still opens the old one's rows, so the
        retired history stays readable until the old master is destroyed.
        """
        t = meter_key
        current = conn.execute(
            select(t.c.meter_id, t.c.interface, t.c.kind).where(t.c.retired_at.is_(None))
        ).all()
        moved = 0
        for meter_id, interface, kind in current:
            plain = self.get(conn, meter_id, interface, kind)
            sealed = new_master.seal(plain, _context(meter_id, interface, kind))
            keys.put(
                conn, meter_id, interface, kind, sealed, kek_id=new_master.key_id, at=at, by=by
            )
            moved += 1
        audit.append(
            conn,
            at=at,
            actor=by,
            action="key.rotate_master",
            target_kind="key_store",
            details={"from": self.master.key_id, "to": new_master.key_id, "keys": moved},
        )
        self.master = new_master
        self._masters[new_master.key_id] = new_master
        return moved
