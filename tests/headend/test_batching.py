"""The head-end's database thread: many sessions per transaction, one bad item failing alone
(REL-3: an outcome is reported only after its transaction committed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, func, select

from metra.headend.batching import Coalescer, DbBatcher
from metra.store import audit
from metra.store.schema import audit_record

AT = datetime(2025, 3, 1, tzinfo=UTC)


def _append(conn: Connection, action: str) -> int:
    return audit.append(conn, at=AT, actor="test", action=action)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_record)).scalar_one())


def test_rel3_many_items_share_transactions_and_a_failing_one_fails_alone(engine: Engine) -> None:
    async def run() -> None:
        batcher = DbBatcher(engine, max_batch=64)

        def bad(conn: Connection) -> int:
            _append(conn, "doomed")
            raise ValueError("bad item")

        works = [lambda c, i=i: _append(c, f"item.{i}") for i in range(100)]
        futures = [batcher.run(w) for w in works[:50]] + [batcher.run(bad)]
        futures += [batcher.run(w) for w in works[50:]]
        results = await asyncio.gather(*futures, return_exceptions=True)
        batcher.close()
        assert isinstance(results[50], ValueError)
        assert all(isinstance(r, int) for i, r in enumerate(results) if i != 50)
        assert batcher.items == 100
        assert batcher.transactions < batcher.items  # batched, not one commit per item

    asyncio.run(run())
    assert _count(engine) == 100  # the bad item's write was rolled back, nothing else


def test_coalescer_serves_waiting_items_in_one_call_and_isolates_a_bad_one(engine: Engine) -> None:
    calls: list[list[int]] = []

    def handle(conn: Connection, items: list[int]) -> list[int | Exception]:
        calls.append(list(items))
        if 13 in items and len(items) > 1:
            raise RuntimeError("one bad item spoils the batch")
        for item in items:
            _append(conn, f"n.{item}")
        return [ValueError("thirteen") if i == 13 else i * 2 for i in items]

    async def run() -> list[int | BaseException]:
        batcher = DbBatcher(engine)
        coalescer = Coalescer(batcher, handle)
        results = await asyncio.gather(
            *(coalescer.submit(i) for i in range(40)), return_exceptions=True
        )
        batcher.close()
        return results

    results = asyncio.run(run())
    assert [r for i, r in enumerate(results) if i != 13] == [i * 2 for i in range(40) if i != 13]
    assert isinstance(results[13], ValueError)
    assert len(calls[0]) == 40  # every waiting item in one call
    assert sorted(c[0] for c in calls[1:]) == list(range(40))  # then each alone
    assert _count(engine) == 40  # 13 is stored alone too, with its error as its result


def test_closed_batcher_refuses_work(engine: Engine) -> None:
    batcher = DbBatcher(engine)
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit(lambda c: 1)
