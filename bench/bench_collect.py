"""Daily collection throughput: the head-end reading a virtual fleet over loopback (HLS-GMAC).

A fleet of ``--meters`` virtual meters (default 10,000) runs in a *separate process* so the CPU
of each side can be told apart. The head-end (this process) imports the fleet's inventory into a
SQLite store, then collects two days with the real `Collector` and the profile's daily plan
(clock, registers, daily billing, load profile, journals, power quality):

1. day n-1, the *first contact*: each meter's invocation counter is read through the Public
   client and profile layouts are read once (the meters were commissioned that day, so there is
   no 30-day backfill);
2. day n, the *steady state* a head-end runs every day.

For each run it prints meter-days per second, the head-end's CPU per meter-day (process CPU of
this process, database thread included), the fleet process's CPU in the same run and the ratio
head-end / fleet. The baseline, measured in this process on the same responses, is the bare
A-XDR decode of everything the meters answered in a sample of steady-state sessions: the ratio
says how much of the head-end's work is more than parsing the bytes.

    python bench/bench_collect.py [--meters 10000] [--sessions 256] [--per-cell 64] [--db URL]
    python bench/bench_collect.py --meters 500      # under a minute

Not a test: it prints figures and exits (non-zero when meters failed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from metra.dlms import axdr
from metra.dlms.data import Data
from metra.dlms.xdlms.common import DataAccessResult, SelectiveAccess
from metra.headend.collector import Collector, CollectorSettings, MeterOutcome, MeterTarget
from metra.headend.importer import read_file, store_meters
from metra.headend.keystore import KeyStore, MasterKey
from metra.meter.fleet import Fleet, FleetConfig
from metra.net.client import DlmsClient
from metra.profiles import load_profile
from metra.store import make_engine, migrate
from metra.store.intervals import day_start

CLIENT_TITLE = b"HES\x00\x00\x00\x00\x01"
METERS_PER_CELL = 200
SAMPLE_SESSIONS = 200


# ----------------------------------------------------------------------------- fleet process


async def fleet_main(meters: int, inventory: Path, profile: str) -> None:
    """Serve the fleet until stdin closes; print READY once the inventory is written."""
    kek = bytes.fromhex(os.environ["METRA_KEK"])
    fleet = Fleet(FleetConfig(meters=meters, seed=1, profile=profile, security="hls-gmac"))
    await fleet.start()
    fleet.write_inventory(inventory, kek)
    print(f"READY {fleet.clock.now().isoformat()}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await fleet.stop()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- head-end side


class RecordingClient(DlmsClient):
    """A DLMS client that keeps what the meter answered in the first sessions, for the baseline."""

    recording = False
    kept: ClassVar[list[list[Data]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: list[Data] | None = None
        if RecordingClient.recording and len(RecordingClient.kept) < SAMPLE_SESSIONS:
            self._answers = []
            RecordingClient.kept.append(self._answers)

    async def get(
        self, class_id: int, obis: bytes, attribute: int, access: SelectiveAccess | None = None
    ) -> Data:
        value = await super().get(class_id, obis, attribute, access)
        if self._answers is not None:
            self._answers.append(value)
        return value

    async def get_many(
        self, items: list[tuple[int, bytes, int, SelectiveAccess | None]]
    ) -> list[Data | DataAccessResult]:
        values = await super().get_many(items)
        if self._answers is not None:
            self._answers.extend(v for v in values if not isinstance(v, DataAccessResult))
        return values


def bare_decode_cpu() -> tuple[float, int, int]:
    """CPU seconds of A-XDR decoding everything the sampled sessions received, and its size."""
    encoded = [[axdr.encode(value) for value in answers] for answers in RecordingClient.kept]
    sessions = sum(1 for answers in encoded if answers)
    size = sum(len(b) for answers in encoded for b in answers)
    t0 = time.process_time()
    for answers in encoded:
        for blob in answers:
            axdr.decode(blob)
    return time.process_time() - t0, sessions, size


async def run_day(
    collector: Collector, targets: list[MeterTarget], day: dt.date, fleet_pid: int, label: str
) -> tuple[float, float]:
    cpu0, fleet0, wall0 = time.process_time(), process_cpu(fleet_pid), time.perf_counter()
    db0 = collector.db_cpu_s
    profiler = cProfile.Profile(time.thread_time) if os.environ.get("BENCH_CPROFILE") else None
    if profiler is not None and label.startswith("steady"):
        profiler.enable()
    outcomes: list[MeterOutcome] = await collector.collect(targets, day)
    if profiler is not None and label.startswith("steady"):
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_CPROFILE"])
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    db = collector.db_cpu_s - db0
    fleet = process_cpu(fleet_pid) - fleet0
    ok = sum(1 for o in outcomes if o.ok)
    values = sum(o.intervals_new for o in outcomes)
    n = len(targets)
    print(f"{label}: {ok}/{n} meters read, {values} interval values new, {wall:.1f} s wall")
    print(f"  throughput:           {ok / wall:8.1f} meter-days/s")
    print(f"  head-end CPU:         {cpu / n * 1e3:8.2f} ms per meter-day ({cpu:.1f} s)")
    print(f"    of which database:  {db / n * 1e3:8.2f} ms per meter-day (store thread)")
    print(f"  fleet CPU, same run:  {fleet / n * 1e3:8.2f} ms per meter-day ({fleet:.1f} s)")
    print(f"  ratio head-end/fleet: {cpu / fleet:8.2f}")
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed[:5]:
        print(f"  failed {outcome.serial}: {outcome.reason}", file=sys.stderr)
    return cpu / n, float(len(failed))


async def headend_main(args: argparse.Namespace) -> int:
    kek = secrets.token_bytes(16)
    workdir = Path(tempfile.mkdtemp(prefix="metra-bench-collect-"))
    inventory = workdir / "fleet.json"
    env = dict(os.environ, METRA_KEK=kek.hex())
    t0 = time.perf_counter()
    fleet = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--fleet",
        str(inventory),
        "--meters",
        str(args.meters),
        "--profile",
        args.profile,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert fleet.stdout is not None and fleet.stdin is not None
    line = (await fleet.stdout.readline()).decode()
    if not line.startswith("READY"):
        raise SystemExit("the fleet process did not start")
    fleet_now = dt.datetime.fromisoformat(line.split()[1])
    print(
        f"fleet: {args.meters} meters in process {fleet.pid}, "
        f"up in {time.perf_counter() - t0:.1f} s"
    )
    try:
        t0 = time.perf_counter()
        engine = make_engine(args.db or workdir / "metra.db")
        migrate(engine)
        keystore = KeyStore(MasterKey.generate())
        imported = read_file(inventory, kek)
        with engine.begin() as conn:
            ids = store_meters(conn, keystore, imported, at=fleet_now, by="bench")
        print(f"import: {len(ids)} meters and their keys in {time.perf_counter() - t0:.1f} s")
        day_n = fleet_now.date() - dt.timedelta(days=1)
        first = day_n - dt.timedelta(days=1)
        targets = []
        for index, meter in enumerate(imported):
            assert meter.address is not None
            targets.append(
                MeterTarget(
                    ids[meter.serial],
                    meter.serial,
                    meter.system_title,
                    meter.address.host,
                    meter.address.port,
                    substation=f"SS{index // METERS_PER_CELL:04d}",
                    commissioned=day_start(first),
                )
            )
        settings = CollectorSettings(
            client_system_title=CLIENT_TITLE,
            max_sessions=args.sessions,
            max_per_substation=args.per_cell,
            session_deadline_s=300.0,
            request_timeout_s=60.0,
            backoff_scale=0.001,
        )
        collector = Collector(engine, keystore, load_profile(args.profile), settings)
        collector.client_class = RecordingClient
        plan = collector.profile.collection.read_plan.daily_contents
        print(f"plan: clock, {', '.join(plan)}; {args.sessions} sessions, {args.per_cell} per cell")
        _, failed_first = await run_day(
            collector, targets, first, fleet.pid, f"first contact ({first})"
        )
        RecordingClient.recording = True
        per_meter_day, failed = await run_day(
            collector, targets, day_n, fleet.pid, f"steady state ({day_n})"
        )
        collector.close()
        decode_cpu, sessions, size = bare_decode_cpu()
        if sessions:
            per_session = decode_cpu / sessions
            print(
                f"baseline: bare A-XDR decode of the same responses ({sessions} sessions, "
                f"{size / sessions / 1024:.1f} KiB each): {per_session * 1e3:.3f} ms per meter-day"
            )
            print(f"ratio head-end / bare decode: {per_meter_day / per_session:.1f}x")
        print(
            f"head-end alone on one core: {1 / per_meter_day:.0f} meter-days/s "
            f"(aim 300: a million meters in under an hour)"
        )
        return int(failed_first + failed)
    finally:
        fleet.stdin.close()
        await fleet.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=256, help="concurrent sessions")
    parser.add_argument("--per-cell", type=int, default=64, help="sessions per substation")
    parser.add_argument("--profile", default="pl")
    parser.add_argument("--db", help="store URL (default: a SQLite file in a temp directory)")
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fleet is not None:
        asyncio.run(fleet_main(args.meters, args.fleet, args.profile))
        return
    sys.exit(1 if asyncio.run(headend_main(args)) else 0)


if __name__ == "__main__":
    main()
