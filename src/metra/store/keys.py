"""Meter keys, stored only as encrypted (wrapped) blobs (SEC-7).

Encryption is the key store's business (head-end / security layer): it hands in a blob wrapped
under a key-encryption key named by `kek_id`, and gets the same blob back. No column can hold a
plaintext key. A new key for a meter, interface and kind gets the next version and retires the
previous one, so the history of key changes stays traceable (SEC-7 central update, STO-5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    bindparam,
    func,
    insert,
    select,
    update,
)

from metra.store.errors import InvalidData
from metra.store.schema import meter_key

#: Meter ids per ``IN (...)`` list: below SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500


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


@dataclass(frozen=True)
class NewKey:
    """One wrapped key to store with `put_many`."""

    meter_id: UUID
    interface: str
    kind: str
    wrapped: bytes

    def __repr__(self) -> str:
        return f"NewKey(meter_id={self.meter_id}, interface={self.interface!r}, kind={self.kind!r})"


def put_many(
    conn: Connection,
    new: Sequence[NewKey],
    *,
    kek_id: str,
    at: datetime,
    by: str | None = None,
) -> list[int]:
    """`put` for many keys in a few statements (an import of a whole fleet): the newest
    versions of all the meters are read at once, only keys that had a predecessor retire one,
    and the new rows go in as one executemany. Returns the version of each key, in order.

    Each (meter, interface, kind) may appear once: two new keys for one scope in one call
    would leave their order to chance, so that is refused.
    """
    t = meter_key
    scopes = [(k.meter_id, k.interface, k.kind) for k in new]
    if len(set(scopes)) != len(scopes):
        raise InvalidData("a key (meter, interface, kind) is given twice in one batch")
    meter_ids = sorted({k.meter_id for k in new})
    newest: dict[tuple[UUID, str, str], int] = {}
    for i in range(0, len(meter_ids), _CHUNK):
        query = (
            select(t.c.meter_id, t.c.interface, t.c.kind, func.max(t.c.key_version))
            .where(t.c.meter_id.in_(meter_ids[i : i + _CHUNK]))
            .group_by(t.c.meter_id, t.c.interface, t.c.kind)
        )
        for meter_id, interface, kind, version in conn.execute(query):
            newest[(meter_id, interface, kind)] = int(version)
    retire = [{"m": m, "i": i, "k": k} for m, i, k in scopes if (m, i, k) in newest]
    if retire:
        statement = (
            update(t)
            .where(
                t.c.meter_id == bindparam("m"),
                t.c.interface == bindparam("i"),
                t.c.kind == bindparam("k"),
                t.c.retired_at.is_(None),
            )
            .values(retired_at=at)
        )
        conn.execute(statement, retire)
    versions = [newest.get(scope, 0) + 1 for scope in scopes]
    if new:
        rows = [
            {
                "meter_id": k.meter_id,
                "interface": k.interface,
                "kind": k.kind,
                "key_version": version,
                "wrapped": k.wrapped,
                "kek_id": kek_id,
                "created_at": at,
                "created_by": by,
            }
            for k, version in zip(new, versions, strict=True)
        ]
        conn.execute(insert(t), rows)
    return versions


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
