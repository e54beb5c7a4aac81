"""Export speed: served 15-minute data of a group of meters to CSV, against a bare csv.writer.

`python bench/bench_export.py [--meters N] [--days D]` stores N meters x D days of served
(VEE) day versions in a temporary SQLite file, exports them with `metra.mdm.exports` (the
streaming CSV writer: store read, decode, status fields, local time stamps) and writes the same
number of ready-made rows with a bare `csv.writer` in the same process. Prints rows/s of both and
the ratio.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from metra.mdm.estimation.methods import Method
from metra.mdm.exports import Format, Kind, Period, Request, export, group
from metra.mdm.versions import NewDay, write
from metra.profiles import load_profile
from metra.store import make_engine, migrate
from metra.store.intervals import Origin, Quality, status_code
from metra.store.masterdata import Entity, create

FIRST = date(2025, 3, 1)
CHANNEL = "1-0:1.29.0.255"


def _store(db: str, meters: int, days: int) -> list[str]:
    migrate(db)
    engine = make_engine(db)
    rng = np.random.default_rng(1)
    serials = [f"B-{i:05d}" for i in range(meters)]
    status = np.full(96, status_code(Origin.REMOTE, Quality.VALID), np.uint16)
    method = np.full(96, Method.MEASURED, np.uint8)
    with engine.begin() as conn:
        ids = [
            create(conn, Entity.METER, {"serial": s}, effective=date(2024, 1, 1)) for s in serials
        ]
        rows = [
            NewDay(m, CHANNEL, FIRST + timedelta(days=d), 900, rng.random(96) * 300, status,
                   method, 1, [])
            for m in ids
            for d in range(days)
        ]  # fmt: skip
        write(conn, rows, at=datetime(2025, 4, 1, tzinfo=UTC))
    engine.dispose()
    return serials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    profile = load_profile("pl")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        serials = _store(db, args.meters, args.days)
        engine = make_engine(db)
        period = Period(FIRST, FIRST + timedelta(days=args.days - 1))
        with engine.connect() as conn:
            selection = group(conn, serials, "bench", period)
            request = Request(Kind.READINGS, Format.CSV, selection, period, local_time=True)
            out = io.StringIO()
            t0 = time.perf_counter()
            rows = export(conn, request, profile, out)
            ours = time.perf_counter() - t0
        engine.dispose()
    sample = ("interval", "B-00001", CHANNEL, "", "2025-03-01T00:00:00+01:00",
              "2025-03-01T00:15:00+01:00", "123.456789", "kWh", "remote", "valid", "measured",
              "00", "1")  # fmt: skip
    bare = io.StringIO()
    writer = csv.writer(bare, lineterminator="\r\n")
    t0 = time.perf_counter()
    for _ in range(rows):
        writer.writerow(sample)
    baseline = time.perf_counter() - t0
    print(f"metra export CSV: {rows:,} rows in {ours:.2f} s = {rows / ours:,.0f} rows/s")
    print(f"bare csv.writer:  {rows:,} rows in {baseline:.2f} s = {rows / baseline:,.0f} rows/s")
    print(f"ratio: export takes {ours / baseline:.1f} x the bare writer")


if __name__ == "__main__":
    main()
