"""Interval ingest throughput of `metra.store.intervals.write_days` on SQLite and PostgreSQL.

Writes one day of 15-minute values for many meters in one transaction (the head-end's daily
batch), then prints interval values per second and the ratio to a bare bulk insert of the same
day rows measured in the same run: `executemany` into a plain table for SQLite, `COPY` for
PostgreSQL. Not a test; runs well under a minute. Usage: python bench/bench_ingest.py [meters]
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.exc import OperationalError

from metra.store import intervals, make_engine, migrate
from metra.store.intervals import DayReading, Origin, status_code
from metra.store.schema import meter

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = date(2024, 3, 5)
AT = datetime(2024, 3, 6, 1, tzinfo=UTC)
PLAIN = (
    "CREATE TABLE plain_day (meter_id {uuid}, channel VARCHAR(32), day DATE, version INTEGER, "
    "interval_s INTEGER, values_ {blob}, status {blob}, registered_at {ts})"
)
COLUMNS = "meter_id, channel, day, version, interval_s, values_, status, registered_at"


def _batch(meters: list[UUID]) -> list[DayReading]:
    code = status_code(Origin.REMOTE)
    return [
        DayReading(m, "1-0:1.8.0.255", DAY, [float(i + n) for i in range(96)], [code] * 96, AT)
        for n, m in enumerate(meters)
    ]


def _plain_rows(batch: list[DayReading]) -> list[tuple[Any, ...]]:
    rows = []
    for r in batch:
        values, status = intervals.pack(r.values, r.status)
        rows.append(
            (r.meter_id, r.channel, r.day, 1, r.interval_s, values, status, r.registered_at)
        )
    return rows


def _timed(engine: Engine, work: Callable[[Connection], object]) -> float:
    with engine.begin() as conn:
        start = time.perf_counter()
        work(conn)
        return time.perf_counter() - start


def _sqlite_baseline(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    marks = ", ".join("?" * 8)
    sqlite_rows = [(str(r[0]), *r[1:3], *r[3:7], r[7].isoformat()) for r in rows]
    raw.executemany(f"INSERT INTO plain_day ({COLUMNS}) VALUES ({marks})", sqlite_rows)


def _postgres_baseline(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY plain_day ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def run(
    engine: Engine, baseline: Callable[[Connection, list[tuple[Any, ...]]], None], n: int
) -> None:
    ids = [uuid4() for _ in range(n)]
    with engine.begin() as conn:
        conn.execute(insert(meter), [{"id": i, "created_at": AT} for i in ids])
        pg = conn.dialect.name == "postgresql"
        conn.execute(
            text(
                PLAIN.format(
                    uuid="UUID" if pg else "CHAR(36)",
                    blob="BYTEA" if pg else "BLOB",
                    ts="TIMESTAMPTZ" if pg else "TEXT",
                )
            )
        )
    batch = _batch(ids)
    values = n * 96
    rows = _plain_rows(batch)
    store_s = _timed(engine, lambda c: intervals.write_days(c, batch))
    again_s = _timed(engine, lambda c: intervals.write_days(c, batch))
    bare_s = _timed(engine, lambda c: baseline(c, rows))
    name = engine.dialect.name
    print(
        f"{name:10s} {values / store_s:12,.0f} values/s new day  "
        f"{values / again_s:12,.0f} values/s re-read (no-op)  "
        f"bare bulk insert {values / bare_s:12,.0f} values/s  "
        f"ratio store/bare {bare_s / store_s:.2f}"
    )


@contextmanager
def _postgres() -> Iterator[Engine | None]:
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    name = f"metra_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        print("postgresql unreachable at 127.0.0.1:5432; skipped")
        yield None
        return
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"one day of 96 values for {n} meters per batch ({n * 96:,} values)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        migrate(path)
        engine = make_engine(path)
        run(engine, _sqlite_baseline, n)
        engine.dispose()
    with _postgres() as engine_pg:
        if engine_pg is not None:
            run(engine_pg, _postgres_baseline, n)


if __name__ == "__main__":
    main()
