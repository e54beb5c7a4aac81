"""The audit trail (STO-5, DQ-11, ACC-6): an append-only record of operations on data and
actions on meters, each identified by a sequence number, time, actor, action and target.

The repository offers only append and read. The security layer chains entries by hashing each
with its predecessor's hash (`prev_hash`, `hash`) and stores both through `append`; the store
keeps the columns so a broken or edited chain can be detected later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from metra.store.schema import audit_record


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the trail."""

    seq: int
    at: datetime
    actor: str
    action: str
    target_kind: str | None
    target_id: str | None
    details: dict[str, Any] | None
    prev_hash: bytes | None
    hash: bytes | None


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target_kind: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    prev_hash: bytes | None = None,
    hash: bytes | None = None,
) -> int:
    """Append an entry; returns its sequence number."""
    statement = insert(audit_record).values(
        at=at,
        actor=actor,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        details=details,
        prev_hash=prev_hash,
        hash=hash,
    )
    seq: int = conn.execute(statement.returning(audit_record.c.seq)).scalar_one()
    return seq


def last(conn: Connection) -> AuditRecord | None:
    """The newest entry: the one the next entry chains to."""
    query = select(audit_record).order_by(audit_record.c.seq.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else AuditRecord(**row._mapping)


def entries(conn: Connection, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
    """Entries with sequence number above `after_seq`, in order, at most `limit` of them."""
    query = (
        select(audit_record)
        .where(audit_record.c.seq > after_seq)
        .order_by(audit_record.c.seq)
        .limit(limit)
    )
    return [AuditRecord(**row._mapping) for row in conn.execute(query)]
