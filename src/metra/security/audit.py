"""The hash-chained audit trail (STO-5, DQ-11, ACC-6): who did what, when, from where, to what,
with the values before and after and, for edits of registered data, the reason.

Each sealed entry stores `prev_hash` (its predecessor's hash, 32 zero octets for the first) and
`hash` = SHA-256(prev_hash || canonical JSON of the entry). Editing an entry changes its hash;
deleting or inserting one breaks the next entry's `prev_hash`; `verify` walks the chain and names
the first entry that does not fit.

Other layers (the head-end) append through `metra.store.audit` without a hash because they may
not import this layer; such entries are *pending*. Every `record` first seals the pending entries
in sequence order, then appends its own, so pending entries only ever sit at the tail; `seal`
does the same on demand. A pending entry followed by a sealed one means a hash was removed.

Appends serialise so the chain never forks: on PostgreSQL the transaction takes `SHARE ROW
EXCLUSIVE` on the table, which waits for every transaction that inserted an entry (including the
head-end's) and blocks others until commit; on SQLite a no-op write takes the database's write
lock before the newest entry is read. Keep such transactions short.

What a keyless chain cannot show: someone able to rewrite the whole table can recompute every
hash, and removing the newest entries leaves a valid shorter chain. `head` gives the newest
(sequence, hash) to note outside the database; `verify(anchor=...)` then proves it still there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, text, update

from metra.store import audit as store_audit
from metra.store.schema import audit_record

GENESIS = bytes(32)
_BATCH = 1000


def _canonical(
    at: datetime,
    actor: str,
    action: str,
    target_kind: str | None,
    target_id: str | None,
    details: dict[str, Any] | None,
) -> bytes:
    """The entry as canonical JSON: sorted keys, no spaces, UTC time to the microsecond."""
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target_kind": target_kind,
        "target_id": target_id,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: bytes, entry: store_audit.AuditRecord) -> bytes:
    """SHA-256 over the predecessor's hash and the entry's canonical JSON."""
    canonical = _canonical(
        entry.at, entry.actor, entry.action, entry.target_kind, entry.target_id, entry.details
    )
    return hashlib.sha256(prev_hash + canonical).digest()


def _lock(conn: Connection) -> None:
    """Serialise appenders for the rest of the transaction (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE audit_record IN SHARE ROW EXCLUSIVE MODE"))
    else:
        conn.execute(update(audit_record).where(audit_record.c.seq < 0).values(seq=0))


def _chain_tip(conn: Connection) -> bytes:
    """The hash of the newest sealed entry (GENESIS for an empty chain)."""
    query = (
        select(audit_record.c.hash)
        .where(audit_record.c.hash.is_not(None))
        .order_by(audit_record.c.seq.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar_one_or_none()
    return GENESIS if found is None else bytes(found)


def _seal_pending(conn: Connection) -> bytes:
    """Chain every pending entry in sequence order; returns the new tip. Caller holds the lock."""
    tip = _chain_tip(conn)
    while True:
        query = (
            select(audit_record)
            .where(audit_record.c.hash.is_(None))
            .order_by(audit_record.c.seq)
            .limit(_BATCH)
        )
        pending = [store_audit.AuditRecord(**row._mapping) for row in conn.execute(query)]
        for entry in pending:
            new_hash = entry_hash(tip, entry)
            conn.execute(
                update(audit_record)
                .where(audit_record.c.seq == entry.seq, audit_record.c.hash.is_(None))
                .values(prev_hash=tip, hash=new_hash)
            )
            tip = new_hash
        if len(pending) < _BATCH:
            return tip


def seal(conn: Connection) -> bytes:
    """Seal entries other layers appended without a hash; returns the chain's tip."""
    _lock(conn)
    return _seal_pending(conn)


def record(
    conn: Connection,
    actor: str,
    action: str,
    target: tuple[str, str] | None,
    before: Any,
    after: Any,
    source_address: str | None,
    reason: str | None = None,
    *,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Append one chained entry; returns its sequence number.

    `target` is (kind, id), e.g. ("meter", "<uuid>") or ("export", "<recipient>") for a release
    of data to a third party (ACC-6). `before` / `after` must be JSON values; DQ-11 edits of
    registered data pass the old and new value and the `reason`.
    """
    details: dict[str, Any] = {"before": before, "after": after, "source_address": source_address}
    if reason is not None:
        details["reason"] = reason
    if extra:
        details.update(extra)
    # Round-trip through JSON now, so what is hashed equals what the database hands back.
    details = json.loads(json.dumps(details, sort_keys=True))
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    kind, target_id = target if target is not None else (None, None)
    _lock(conn)
    tip = _seal_pending(conn)
    canonical = _canonical(moment, actor, action, kind, target_id, details)
    return store_audit.append(
        conn,
        at=moment,
        actor=actor,
        action=action,
        target_kind=kind,
        target_id=target_id,
        details=details,
        prev_hash=tip,
        hash=hashlib.sha256(tip + canonical).digest(),
    )


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of walking the chain.

    `ok` is false when an entry does not fit; `first_bad_seq` names it and `problem` says how.
    `checked` counts sealed entries verified, `pending` the unsealed ones at the tail.
    """

    ok: bool
    checked: int
    pending: int
    head_seq: int | None
    head_hash: bytes | None
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(conn: Connection, anchor: tuple[int, bytes] | None = None) -> VerificationResult:
    """Walk the whole trail in sequence order and check every link and hash.

    `anchor` is a (sequence, hash) noted earlier from `head`: it must still be in the chain,
    which detects the removal of the newest entries.
    """
    tip, checked, pending = GENESIS, 0, 0
    head: tuple[int, bytes] | None = None
    anchor_seen = anchor is None
    after = first_pending = 0

    def bad(seq: int, problem: str) -> VerificationResult:
        head_seq, head_hash = head or (None, None)
        return VerificationResult(False, checked, pending, head_seq, head_hash, seq, problem)

    while True:
        batch = store_audit.entries(conn, after_seq=after, limit=_BATCH)
        for entry in batch:
            after = entry.seq
            if entry.hash is None:
                pending += 1
                if pending == 1:
                    first_pending = entry.seq
                continue
            if pending:
                return bad(first_pending, "unsealed entry inside the chain (hash removed)")
            prev = bytes(entry.prev_hash) if entry.prev_hash is not None else None
            if prev != tip:
                return bad(entry.seq, "does not link to its predecessor (deleted or inserted)")
            if entry_hash(tip, entry) != bytes(entry.hash):
                return bad(entry.seq, "content does not match its hash (edited)")
            tip = bytes(entry.hash)
            checked += 1
            head = (entry.seq, tip)
            if anchor is not None and anchor == head:
                anchor_seen = True
        if len(batch) < _BATCH:
            break
    if not anchor_seen and anchor is not None:
        return bad(anchor[0], "the anchored entry is missing or changed (truncated?)")
    head_seq, head_hash = head or (None, None)
    return VerificationResult(True, checked, pending, head_seq, head_hash)


def head(conn: Connection) -> tuple[int, bytes] | None:
    """The newest sealed entry's (sequence, hash): note it outside the database as an anchor."""
    query = (
        select(audit_record.c.seq, audit_record.c.hash)
        .where(audit_record.c.hash.is_not(None))
        .order_by(audit_record.c.seq.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else (int(row[0]), bytes(row[1]))
