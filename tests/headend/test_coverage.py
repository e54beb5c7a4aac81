"""Set-based planning queries agree with the store's per-meter answers (COL-8 backfill starts
at the first missing interval; journals continue after the newest stored event)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from metra.store import coverage, intervals
from metra.store.events import MeterEvent, add_meter_events, meter_events
from metra.store.intervals import DayReading, Origin, status_code

from .conftest import add_meter

CHANNEL = "1-0:1.29.0.255"
DAY0 = date(2025, 3, 1)


def _day(meter_id, day: date, present: list[bool]) -> DayReading:
    code = status_code(Origin.REMOTE)
    return DayReading(
        meter_id=meter_id,
        channel=CHANNEL,
        day=day,
        values=[float(i) if p else None for i, p in enumerate(present)],
        status=[code if p else 0 for p in present],
        registered_at=datetime(2025, 3, 20, tzinfo=UTC),
    )


def test_col8_first_missing_matches_the_per_meter_gap_scan(conn: Connection) -> None:
    rng = random.Random(4)
    meters = [add_meter(conn, f"MTR{i:08d}") for i in range(12)]
    for meter_id in meters:
        for k in range(6):
            kind = rng.choice(["full", "holes", "none", "late"])
            if kind == "none":
                continue
            present = [kind == "full" or rng.random() > 0.1 for _ in range(96)]
            if kind == "late":
                present = [i >= 40 for i in range(96)]
            intervals.write_day(conn, _day(meter_id, DAY0 + timedelta(days=k), present))
            if rng.random() < 0.3:  # a later version filling everything
                intervals.write_day(conn, _day(meter_id, DAY0 + timedelta(days=k), [True] * 96))
    spans = {}
    for i, meter_id in enumerate(meters):
        start = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(minutes=7 * 15 * i + 3 * i)
        end = datetime(2025, 3, 6, 22, 40, tzinfo=UTC) + timedelta(minutes=i)
        spans[meter_id] = (start, end)
    found = coverage.first_missing(conn, CHANNEL, spans, 900)
    for meter_id, (start, end) in spans.items():
        gaps = intervals.missing(conn, meter_id, CHANNEL, start, end, 900)
        gaps = [g for g in gaps if g + timedelta(seconds=900) <= end]
        assert found[meter_id] == (gaps[0] if gaps else None), meter_id


def test_col5_newest_event_per_meter_within_its_own_span(conn: Connection) -> None:
    a, b, c = (add_meter(conn, f"MTR0000010{i}") for i in range(3))
    base = datetime(2025, 3, 1, tzinfo=UTC)
    events = [
        MeterEvent(a, "0.0.99.98.0.255", base + timedelta(hours=h), 1, "power.down", base)
        for h in (2, 30, 50)
    ] + [MeterEvent(b, "0.0.99.98.0.255", base + timedelta(hours=5), 2, "power.up", base)]
    add_meter_events(conn, events)
    spans = {
        a: (base, base + timedelta(hours=40)),  # the event at 50 h is outside a's span
        b: (base + timedelta(hours=6), base + timedelta(days=3)),  # b's only event is before
        c: (base, base + timedelta(days=3)),
    }
    newest = coverage.newest_events(conn, spans)
    assert newest == {a: base + timedelta(hours=30)}
    for meter_id, (start, end) in spans.items():
        known = meter_events(conn, meter_id, start, end)
        assert newest.get(meter_id) == (known[-1].occurred_at if known else None)
