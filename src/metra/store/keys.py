"""Meter keys, stored only as encrypted (wrapped) blobs (SEC-7).

Encryption is the key store's business (head-end / security layer): it hands in a blob wrapped
under a key-encryption key named by `kek_id`, and gets the same blob back. No column can hold a
plaintext key. A new key for a meter, interface and kind gets the next version and retires the
previous one, so the history of key changes stays traceable (SEC-7 central update, STO-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, RowMapping, func, insert, select, update

from metra.store.schema import meter_key


@dataclass(frozen=True)
class WrappedKey:
    """A stored key: its identity and the wrapped bytes, never the plaintext."""

    meter_id: UUID
    interface: str
    kind: str
    key_version: int
    wrapped: bytes
    kek_id: str
    created_at: datetime
    created_by: str | None
    retired_at: datetime | None

    def __repr__(self) -> str:
        # Even wrapped material stays out of logs and tracebacks.
        return (
            f"WrappedKey(meter_id={self.meter_id}, interface={self.interface!r}, "
            f"kind={self.kind!r}, key_version={self.key_version}, kek_id={self.kek_id!r})"
        )


def _scope(meter_id: UUID, interface: str, kind: str) -> list[ColumnElement[bool]]:
    t = meter_key
    return [t.c.meter_id == meter_id, t.c.interface == interface, t.c.kind == kind]


def put(
    conn: Connection,
    meter_id: UUID,
    interface: str,
    kind: str,
    wrapped: bytes,
    *,
    kek_id: str,
    at: datetime,
    by: str | None = None,
) -> int:
    """Store a new wrapped key for (meter, interface, kind), retiring the current one."""
    t = meter_key
    scope = _scope(meter_id, interface, kind)
    newest = conn.execute(select(func.max(t.c.key_version)).where(*scope)).scalar_one()
    version = 1 if newest is None else int(newest) + 1
    conn.execute(update(t).where(*scope, t.c.retired_at.is_(None)).values(retired_at=at))
    conn.execute(
        insert(t).values(
            meter_id=meter_id,
            interface=interface,
            kind=kind,
            key_version=version,
            wrapped=wrapped,
            kek_id=kek_id,
            created_at=at,
            created_by=by,
        )
    )
    return version


def current(conn: Connection, meter_id: UUID, interface: str, kind: str) -> WrappedKey | None:
    """The key in use for (meter, interface, kind), or None."""
    t = meter_key
    query = select(t).where(*_scope(meter_id, interface, kind), t.c.retired_at.is_(None))
    row = conn.execute(query).first()
    return None if row is None else _key(row._mapping)


def history(conn: Connection, meter_id: UUID) -> list[WrappedKey]:
    """Every key the meter had, by interface, kind and version."""
    t = meter_key
    query = (
        select(t).where(t.c.meter_id == meter_id).order_by(t.c.interface, t.c.kind, t.c.key_version)
    )
    return [_key(row._mapping) for row in conn.execute(query)]


def _key(mapping: RowMapping) -> WrappedKey:
    return WrappedKey(**{name: mapping[name] for name in WrappedKey.__dataclass_fields__})
