"""The hash-chained audit trail on SQLite and PostgreSQL (STO-5, DQ-11, ACC-6): edits, deletions,
insertions and removed hashes are detected and the first bad entry named; concurrent appends
never fork the chain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, update

from metra.security import audit
from metra.store import audit as store_audit
from metra.store.schema import audit_record

AT = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _three(conn: Connection) -> list[int]:
    return [
        audit.record(conn, "alice", "meter.disconnect", ("meter", "m1"), "on", "off", "10.0.0.1"),
        # DQ-11: a manual edit of registered data keeps before, after and the reason.
        audit.record(
            conn, "bob", "reading.edit", ("reading", "r1"), 1.5, 2.5, "10.0.0.2", "meter swap"
        ),
        # ACC-6: a release of data to a third party.
        audit.record(conn, "hub", "export.release", ("export", "retailer-9"), None, {"n": 3}, None),
    ]


def test_sto5_intact_chain_verifies(conn: Connection) -> None:
    seqs = _three(conn)
    result = audit.verify(conn)
    assert result.ok and result.pending == 0
    assert result.head_seq == seqs[-1]
    entry = store_audit.entries(conn, after_seq=seqs[1] - 1, limit=1)[0]
    assert entry.details == {
        "before": 1.5,
        "after": 2.5,
        "source_address": "10.0.0.2",
        "reason": "meter swap",
    }


def test_sto5_edited_entry_is_named(conn: Connection) -> None:
    seqs = _three(conn)
    conn.execute(update(audit_record).where(audit_record.c.seq == seqs[1]).values(actor="eve"))
    result = audit.verify(conn)
    assert not result.ok
    assert result.first_bad_seq == seqs[1]
    assert "edited" in (result.problem or "")


def test_sto5_deleted_entry_is_detected(conn: Connection) -> None:
    seqs = _three(conn)
    conn.execute(delete(audit_record).where(audit_record.c.seq == seqs[1]))
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == seqs[2]


def test_sto5_inserted_entry_is_detected(conn: Connection) -> None:
    seqs = _three(conn)
    forged = store_audit.entries(conn, after_seq=seqs[0] - 1, limit=1)[0]
    conn.execute(
        insert(audit_record).values(
            at=AT, actor="eve", action="x", prev_hash=forged.hash, hash=b"\x00" * 32
        )
    )
    audit.record(conn, "alice", "later", None, None, None, None)
    result = audit.verify(conn)
    assert not result.ok
    assert result.first_bad_seq is not None and result.first_bad_seq > seqs[-1]


def test_sto5_removed_hash_inside_chain_is_detected(conn: Connection) -> None:
    seqs = _three(conn)
    conn.execute(
        update(audit_record).where(audit_record.c.seq == seqs[0]).values(hash=None, prev_hash=None)
    )
    result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == seqs[0]


def test_sto5_truncation_detected_with_anchor(conn: Connection) -> None:
    _three(conn)
    anchor = audit.head(conn)
    assert anchor is not None
    conn.execute(delete(audit_record).where(audit_record.c.seq == anchor[0]))
    assert audit.verify(conn).ok  # a keyless chain cannot see it alone
    result = audit.verify(conn, anchor=anchor)
    assert not result.ok and result.first_bad_seq == anchor[0]


def test_sto5_entries_from_other_layers_are_sealed_in_order(conn: Connection) -> None:
    _three(conn)
    other = store_audit.append(conn, at=AT, actor="head-end", action="read", target_kind="meter")
    assert audit.verify(conn).pending == 1
    audit.record(conn, "alice", "after", None, None, None, None)
    result = audit.verify(conn)
    assert result.ok and result.pending == 0
    sealed = store_audit.entries(conn, after_seq=other - 1, limit=1)[0]
    assert sealed.hash is not None


def test_sto5_concurrent_appends_never_fork(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(10):
                with engine.begin() as conn:
                    audit.record(conn, name, "tick", None, None, i, None)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        result = audit.verify(conn)
    assert result.ok, result.problem
    assert result.checked >= 40
