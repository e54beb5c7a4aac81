"""API latency: one meter's month of 15-minute data (2,880 intervals) fetched over HTTP by
concurrent clients from a real uvicorn server on loopback, against the same query straight
through the store repository (`metra.store.intervals.read`) in the same process.

The server runs `metra.api.create_app` as `metra serve` does (SQLite file, rate limit off);
each of `--clients` asyncio clients keeps one request in flight with its own bearer token for
`--requests` requests. The baseline runs the repository with one caller and with as many threads
as clients, so queueing on the GIL shows on both sides. Reported: p50 and p99 latency, throughput,
and the API / repository ratios (what authentication, scope checks, serialisation and HTTP add).
A run with If-None-Match shows what the ETag saves a poller.
Usage: python bench/bench_api.py [--clients 16] [--requests 40] [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import uvicorn

from metra.api import ApiSettings, create_app
from metra.profiles import load_profile
from metra.security import login, users
from metra.security.roles import Role
from metra.store import intervals, make_engine, migrate
from metra.store.masterdata import Entity, create

CHANNEL = "1-0:1.29.0.255"
START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30
PORT = 18_765


def seed(db: Path, clients: int) -> tuple[UUID, list[str]]:
    """A meter with a month of data, and one operator session per client."""
    migrate(db)
    engine = make_engine(db)
    with engine.begin() as conn:
        meter = create(conn, Entity.METER, {"serial": "BENCH-1"}, effective=date(2024, 1, 1))
        status = intervals.status_code(intervals.Origin.REMOTE)
        intervals.write_days(
            conn,
            [
                intervals.DayReading(
                    meter,
                    CHANNEL,
                    (START + timedelta(days=d)).date(),
                    [float(i) for i in range(96)],
                    [status] * 96,
                    START + timedelta(days=d + 1),
                )
                for d in range(DAYS)
            ],
        )
        admin_id, _ = users.bootstrap(conn, "admin")
        admin = users.principal(conn, admin_id)
        policy = load_profile("pl").passwords
        operator = users.create(conn, admin, "operator", policy=policy)
        users.grant(conn, admin, operator, Role.OPERATOR)
        tokens = [
            login.issue_token(conn, operator, kind="session", ttl=timedelta(hours=1))
            for _ in range(clients)
        ]
    engine.dispose()
    return meter, tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline(db: Path, meter: UUID, repeat: int, threads: int) -> list[float]:
    """The same month straight from the repository: `threads` threads with a connection each,
    `repeat` calls in all."""
    engine = make_engine(db)
    end = START + timedelta(days=DAYS)
    times: list[float] = []

    def worker(calls: int) -> None:
        with engine.connect() as conn:
            for _ in range(calls):
                t0 = time.perf_counter()
                found = intervals.read(conn, meter, CHANNEL, START, end)
                times.append(time.perf_counter() - t0)
                assert len(found) == DAYS * 96

    pool = [threading.Thread(target=worker, args=(repeat // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    engine.dispose()
    return times


async def load(meter: UUID, tokens: list[str], requests: int, etag: bool) -> list[float]:
    params = {
        "channel": CHANNEL,
        "start": START.isoformat(),
        "end": (START + timedelta(days=DAYS)).isoformat(),
    }
    url = f"http://127.0.0.1:{PORT}/api/v1/meters/{meter}/intervals"
    latencies: list[float] = []

    async def client(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=60) as http:
            first = await http.get(url, params=params, headers=headers)
            assert first.status_code == 200 and len(first.json()["items"]) == DAYS * 96
            if etag:
                headers["If-None-Match"] = first.headers["etag"]
            for _ in range(requests):
                t0 = time.perf_counter()
                response = await http.get(url, params=params, headers=headers)
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == (304 if etag else 200), response.text

    await asyncio.gather(*(client(t) for t in tokens))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--repeat", type=int, default=200, help="baseline calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        meter, tokens = seed(db, args.clients)
        app = create_app(ApiSettings(db_url=str(db), rate_per_s=0.0))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            base1 = baseline(db, meter, args.repeat // 4, 1)
            single = asyncio.run(load(meter, tokens[:1], args.repeat // 4, etag=False))
            base = baseline(db, meter, args.repeat, args.clients)
            t0 = time.perf_counter()
            full = asyncio.run(load(meter, tokens, args.requests, etag=False))
            wall = time.perf_counter() - t0
            cached = asyncio.run(load(meter, tokens, args.requests, etag=True))
        finally:
            server.should_exit = True
            thread.join(30)

    def line(name: str, values: list[float]) -> tuple[float, float]:
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"{name:<44} p50 {p50 * 1e3:8.2f} ms  p99 {p99 * 1e3:8.2f} ms")
        return p50, p99

    n = args.clients
    print(f"one meter's month of 15-minute data: {DAYS * 96} intervals")
    r1 = line("repository, 1 caller", base1)
    a1 = line("API over HTTP, 1 client", single)
    rn = line(f"repository, {n} threads", base)
    an = line(f"API over HTTP, {n} concurrent clients", full)
    line(f"API, {n} clients, 304 (If-None-Match)", cached)
    print(f"API throughput with {n} clients: {len(full) / wall:.0f} requests/s")
    print(f"ratio API / repository, 1 caller:  p50 {a1[0] / r1[0]:.1f}x  p99 {a1[1] / r1[1]:.1f}x")
    print(
        f"ratio API / repository, {n} callers: p50 {an[0] / rn[0]:.1f}x  p99 {an[1] / rn[1]:.1f}x"
    )


if __name__ == "__main__":
    main()
