"""Fleet benchmark: a daily read of every meter, memory per meter, server CPU per served read.

Starts a fleet of ``--meters`` virtual meters (default 10,000) in this process, then a client in
a *separate process* reads one day of load profile from ``--reads`` of them (default: all)
through the reading client (HLS-GMAC, keys from the inventory unwrapped with the KEK),
``--concurrency`` sessions at a time (default 200), each with a 30 s deadline. It reports failed
reads and timeouts (a daily read must have none), the fleet process's CPU
(``time.process_time``) per served read as a ratio to a baseline measured in the same process
(the bare A-XDR encode of the same responses, and the model producing them without I/O or
security), and the resident memory per meter: idle (listening socket and slot) and after its
first session (its ``VirtualMeter`` on top of the shared object table).

    python bench/bench_fleet.py [--meters 10000] [--reads N] [--concurrency 200]

Not a test: it prints figures and exits (status 1 if any read failed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

from metra.dlms import axdr
from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.data import Data
from metra.dlms.protection import SecurityContext
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import AttributeDescriptor, DataAccessResult
from metra.meter.fleet import Fleet, FleetConfig
from metra.meter.inventory import read_inventory
from metra.meter.layout import object_table
from metra.net.client import DlmsClient, Endpoint, range_access
from metra.net.errors import ResponseTimeout

LOAD_PROFILE = bytes((1, 0, 99, 1, 0, 255))
READING_SAP = 2
CLIENT_TITLE = b"BENCH001"


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def day_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Yesterday, midnight to midnight (UTC): the usual daily read."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=1), today


# ----------------------------------------------------------------------------- client process


async def client_main(inventory_path: Path, count: int, concurrency: int, start: str) -> None:
    kek = bytes.fromhex(os.environ["METRA_KEK"])
    inventory = read_inventory(inventory_path, kek)
    meters = inventory.meters[:count]
    begin, end = day_window(dt.datetime.fromisoformat(start))
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    timeouts = 0
    rows = 0

    async def read(meter_index: int) -> None:
        nonlocal failures, timeouts, rows
        meter = meters[meter_index]
        keys = meter.associations[READING_SAP].wan
        assert keys is not None
        settings = ClientSettings(
            mechanism=Mechanism.HLS_GMAC,
            security=SecurityContext(CLIENT_TITLE, keys.encryption_key, keys.authentication_key),
        )
        endpoint = Endpoint(meter.host, meter.port, "wrapper", READING_SAP, timeout=30.0)
        async with gate:
            try:
                async with DlmsClient(endpoint, settings) as client:
                    value = await client.get_profile(LOAD_PROFILE, begin, end)
                    rows += len(value) if isinstance(value, list) else 0
            except (ResponseTimeout, TimeoutError) as exc:
                timeouts += 1
                print(f"read timed out: {exc}", file=sys.stderr)
            except Exception as exc:  # a benchmark counts failures and goes on
                failures += 1
                print(f"read failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(read(i) for i in range(len(meters))))
    elapsed = time.perf_counter() - started
    print(f"CLIENT {len(meters)} {failures} {timeouts} {rows} {elapsed:.3f}")


# ----------------------------------------------------------------------------- fleet process


def baseline(fleet: Fleet, count: int) -> tuple[float, float, int]:
    """CPU seconds of (model + encode) and of encode alone for the same ``count`` responses."""
    begin, end = day_window(fleet.clock.now())
    access = range_access(begin, end)
    descriptor = AttributeDescriptor(7, LOAD_PROFILE, 2)
    values: list[Data] = []
    model_cpu = 0.0
    for slot in fleet.meters[:count]:
        meter = fleet.meter(slot)
        name = meter.associations("wan")[READING_SAP].name
        ctx = RequestContext(READING_SAP, name, True, True, False, CLIENT_TITLE)
        t0 = time.process_time()
        value = meter.handler.get(ctx, descriptor, access)
        model_cpu += time.process_time() - t0
        if isinstance(value, DataAccessResult):
            raise SystemExit(f"the model refused the profile read: {value}")
        values.append(value)
    t0 = time.process_time()
    size = sum(len(axdr.encode(value)) for value in values)
    encode_cpu = time.process_time() - t0
    return model_cpu + encode_cpu, encode_cpu, size


def os_picked_bind_seconds(host: str, count: int) -> float:
    """Wall seconds per listener when the OS picks the port (bind to port 0, as the fleet did
    before it walked the range itself), measured with the fleet's sockets bound."""
    made: list[socket.socket] = []
    t0 = time.perf_counter()
    try:
        for _ in range(count):
            sock = socket.socket()
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, 0))
            sock.listen(64)
        return (time.perf_counter() - t0) / count
    finally:
        for sock in made:
            sock.close()


async def fleet_main(meters: int, reads: int, concurrency: int) -> None:
    reads = min(reads, meters)
    kek = secrets.token_bytes(16)
    workdir = Path(tempfile.mkdtemp(prefix="metra-bench-fleet-"))
    inventory = workdir / "fleet.json"
    start = dt.datetime.now(dt.UTC)

    rss0 = rss_bytes()
    t0 = time.perf_counter()
    fleet = Fleet(FleetConfig(meters=meters, seed=1, security="hls-gmac", start=start))
    await fleet.start()
    start_seconds = time.perf_counter() - t0
    rss_idle = rss_bytes()
    os_bind = os_picked_bind_seconds(fleet.config.host, min(meters, 500))
    fleet.write_inventory(inventory, kek)

    env = dict(os.environ, METRA_KEK=kek.hex())
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        str(inventory),
        "--reads",
        str(reads),
        "--concurrency",
        str(concurrency),
        "--start",
        fleet.clock.now().isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    served_cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - wall0
    rss_touched = rss_bytes()
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("CLIENT")), None)
    if line is None:
        raise SystemExit("the client process printed no result")
    _, done, failures, timeouts, rows, client_wall = line.split()

    full_cpu, encode_cpu, size = baseline(fleet, reads)
    await fleet.stop()

    per_read = served_cpu / reads
    print(f"fleet: {meters} meters started in {start_seconds:.2f} s")
    print(
        f"baseline: a listener on an OS-picked port (bind to 0) now: {os_bind * 1e3:.2f} ms; "
        f"ratio fleet start per meter / OS-picked bind: {start_seconds / meters / os_bind:.2f}x"
    )
    print(f"memory per idle meter: {(rss_idle - rss0) / meters / 1024:.1f} KiB (RSS delta / N)")
    print(
        "memory per meter after its first session: "
        f"{(rss_touched - rss_idle) / reads / 1024:.1f} KiB more "
        f"(shared object tables: {len(object_table(1))} + {len(object_table(3))} objects, once)"
    )
    print(
        f"reads: {done} one-day profile reads at concurrency {concurrency} ({rows} rows, "
        f"{size / reads / 1024:.1f} KiB each), {failures} failed, {timeouts} timed out, "
        f"{wall:.1f} s wall, client saw {client_wall} s"
    )
    print(f"server CPU per served one-day read (session incl. HLS): {per_read * 1e3:.2f} ms")
    print(f"client process CPU per read (connect, HLS, decode): {client_cpu / reads * 1e3:.2f} ms")
    print(f"baseline: bare A-XDR encode of the same response: {encode_cpu / reads * 1e3:.3f} ms")
    print(f"baseline: model + encode, no I/O or security:    {full_cpu / reads * 1e3:.3f} ms")
    print(f"ratio served / bare encode: {per_read / (encode_cpu / reads):.1f}x")
    print(f"ratio served / model + encode: {per_read / (full_cpu / reads):.1f}x")
    if int(failures) or int(timeouts):
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=0, help="meters read (0: all)")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        asyncio.run(client_main(args.client, args.reads, args.concurrency, args.start))
    else:
        asyncio.run(fleet_main(args.meters, args.reads or args.meters, args.concurrency))


if __name__ == "__main__":
    main()
