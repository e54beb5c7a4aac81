"""One database thread for the head-end, with the work of many sessions in one transaction.

A collection run has hundreds of sessions finishing at once; giving each its own transaction
makes the head-end wait on one durable commit (an fsync) per session, which caps a run at a few
dozen meters a second whatever the CPU. Here work items queue up while the thread is busy, and
the next transaction runs all that queued (up to `max_batch`) and commits once. An idle head-end
still commits each item at once, so batching adds no latency.

Each item's outcome reaches its own caller only after the commit, so a crash loses at most the
items in flight, which were never acknowledged (the store's writes are idempotent, so a re-read
duplicates nothing: REL-3). When an item raises, the batch is rolled back and every item runs
again alone in its own transaction, so one bad item fails alone. Items must therefore keep their
effects inside the database and return what the caller needs instead of changing shared state.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

_T = TypeVar("_T")
_Item = tuple[Callable[[Connection], Any], Future[Any]]


class DbBatcher:
    """Runs `work(conn)` items on one thread, as many per transaction as are waiting."""

    def __init__(self, engine: Engine, *, max_batch: int = 256, name: str = "headend-db") -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.transactions = 0
        self.items = 0
        self.cpu_s = 0.0  # CPU time the thread spent on work (a benchmark reports it)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Connection], _T]) -> Future[_T]:
        """Queue `work`; the future completes after the transaction holding it commits."""
        if self._closed:
            raise RuntimeError("the database worker is closed")
        future: Future[_T] = Future()
        self._queue.put((work, future))
        return future

    async def run(self, work: Callable[[Connection], _T]) -> _T:
        """Await `work` from the event loop."""
        return await asyncio.wrap_future(self.submit(work))

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            started = time.thread_time()
            self._execute(batch)
            self.cpu_s += time.thread_time() - started
            if stop:
                return

    def _execute(self, batch: list[_Item]) -> None:
        live = [(work, future) for work, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self.engine.begin() as conn:
                results = [work(conn) for work, _ in live]
        except BaseException as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            for work, future in live:
                self._alone(work, future)
            return
        self.transactions += 1
        self.items += len(live)
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _alone(self, work: Callable[[Connection], Any], future: Future[Any]) -> None:
        try:
            with self.engine.begin() as conn:
                result = work(conn)
        except BaseException as exc:
            future.set_exception(exc)
            return
        self.transactions += 1
        self.items += 1
        future.set_result(result)


_I = TypeVar("_I")
_R = TypeVar("_R")


class Coalescer(Generic[_I, _R]):
    """Hands the items of many callers to one `handle(conn, items)` call: set-based queries and
    one `executemany` per table instead of a few statements per caller.

    Items queue up while the database thread is busy; the first waiting item schedules a
    database item that takes the whole queue when it runs. `handle` returns one result per
    item, or an exception in place of a result for an item that cannot be served. When
    `handle` raises for the whole batch, every item is handled again alone, so one bad item
    fails alone.
    """

    def __init__(
        self, batcher: DbBatcher, handle: Callable[[Connection, list[_I]], Sequence[_R | Exception]]
    ) -> None:
        self._batcher = batcher
        self._handle = handle
        self._lock = threading.Lock()
        self._waiting: list[tuple[_I, asyncio.Future[_R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: _I) -> _R:
        """`item`'s result, after the transaction that handled it committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        with self._lock:
            self._waiting.append((item, future))
            first = len(self._waiting) == 1
        if first:
            task = loop.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> list[tuple[_I, asyncio.Future[_R]]]:
        with self._lock:
            taken, self._waiting = self._waiting, []
        return taken

    async def _flush(self) -> None:
        taken: list[tuple[_I, asyncio.Future[_R]]] | None = None

        def work(conn: Connection) -> Sequence[_R | Exception]:
            nonlocal taken
            if taken is None:  # the first run takes the queue; a retried batch reuses it
                taken = self._take()
            return self._handle(conn, [item for item, _ in taken])

        results: Sequence[_R | BaseException]
        try:
            results = await self._batcher.run(work)
        except Exception as exc:
            if taken is None:  # the database worker never ran it
                taken = self._take()
                results = [exc] * len(taken)
            elif len(taken) == 1:
                results = [exc]
            else:
                results = await asyncio.gather(
                    *(self._alone(item) for item, _ in taken), return_exceptions=True
                )
        assert taken is not None
        if len(results) != len(taken):
            raise RuntimeError("a coalesced handler returned a wrong number of results")
        for (_, future), result in zip(taken, results, strict=True):
            if future.done():
                continue  # its caller was cancelled meanwhile
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _alone(self, item: _I) -> _R:
        result = (await self._batcher.run(lambda conn: self._handle(conn, [item])))[0]
        if isinstance(result, Exception):
            raise result
        return result
