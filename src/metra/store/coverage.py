"""Where the next read of many meters starts: first missing interval and newest stored event.

The head-end plans every session from what the store already holds (COL-8: fetch only what is
missing). Asking per meter costs a few queries and a walk over thousands of intervals; a daily
run of a large fleet asks for hundreds of meters at once, so these answers come from one query
per few hundred meters, and the per-interval scan runs in C over the packed status codes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, func, select

from metra.store.intervals import SECONDS_PER_DAY, day_start, intervals_per_day
from metra.store.schema import interval_day, meter_event

_CHUNK = 500  # meters per query: keeps bound parameters well under backend limits

#: Maps the low octet of a stored status code to 0 when its origin bits say "no value".
_PRESENT = bytes(0 if b & 0x07 == 0 else 1 for b in range(256))

Span = tuple[datetime, datetime]


def _chunks(items: Sequence[UUID]) -> Iterator[Sequence[UUID]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _last_day(end: datetime) -> date:
    return (end - timedelta(microseconds=1)).astimezone(UTC).date()


def _first_gap(
    start: datetime,
    end: datetime,
    stored: Mapping[date, tuple[int, bytes]],
    interval_s: int,
) -> datetime | None:
    """The first interval starting in [start, end) whose end has passed by `end`, not stored."""
    day = start.astimezone(UTC).date()
    while day_start(day) < end:
        begin = day_start(day)
        found = stored.get(day)
        step = found[0] if found else interval_s
        skip = max(0, math.ceil((start - begin).total_seconds() / step))  # before start
        if found is None:
            index = skip if skip < intervals_per_day(step) else -1
        else:
            index = found[1][0::2].translate(_PRESENT).find(0, skip)
        if index >= 0:
            at = begin + timedelta(seconds=index * step)
            return at if at + timedelta(seconds=interval_s) <= end else None
        day += timedelta(days=1)
    return None


def first_missing(
    conn: Connection, channel: str, spans: Mapping[UUID, Span], interval_s: int = 900
) -> dict[UUID, datetime | None]:
    """Per meter, the start of the first interval of `channel` in its span not yet stored.

    Only intervals that have ended by the span's end count (the one running now is not missing);
    days without a row count with `interval_s`, stored days with their own interval length, as
    `intervals.missing` does. None: nothing is missing.
    """
    if interval_s <= 0 or SECONDS_PER_DAY % interval_s:
        raise ValueError(f"interval of {interval_s} s does not divide a day")
    t = interval_day
    out: dict[UUID, datetime | None] = {}
    for chunk in _chunks(sorted(spans)):
        first = min(spans[m][0] for m in chunk).astimezone(UTC).date()
        last = max(_last_day(spans[m][1]) for m in chunk)
        query = select(t.c.meter_id, t.c.day, t.c.version, t.c.interval_s, t.c.status).where(
            t.c.meter_id.in_(chunk), t.c.channel == channel, t.c.day >= first, t.c.day <= last
        )
        newest: dict[UUID, dict[date, tuple[int, int, bytes]]] = {m: {} for m in chunk}
        for meter_id, day, version, step, status in conn.execute(query):
            held = newest[meter_id].get(day)
            if held is None or version > held[0]:
                newest[meter_id][day] = (version, step, status)
        for meter_id in chunk:
            stored = {day: (step, status) for day, (_, step, status) in newest[meter_id].items()}
            out[meter_id] = _first_gap(*spans[meter_id], stored, interval_s)
    return out


def newest_events(conn: Connection, spans: Mapping[UUID, Span]) -> dict[UUID, datetime]:
    """Per meter, the time of its newest stored event within its span (meters without: absent)."""
    t = meter_event
    out: dict[UUID, datetime] = {}
    for chunk in _chunks(sorted(spans)):
        low = min(spans[m][0] for m in chunk)
        high = max(spans[m][1] for m in chunk)
        query = (
            select(t.c.meter_id, func.max(t.c.occurred_at))
            .where(t.c.meter_id.in_(chunk), t.c.occurred_at >= low, t.c.occurred_at < high)
            .group_by(t.c.meter_id)
        )
        for meter_id, newest in conn.execute(query):
            start, end = spans[meter_id]
            if newest < end:
                if newest >= start:
                    out[meter_id] = newest
                continue
            # The union of spans reached past this meter's own: ask for its span alone.
            own = conn.execute(
                select(func.max(t.c.occurred_at)).where(
                    t.c.meter_id == meter_id, t.c.occurred_at >= start, t.c.occurred_at < end
                )
            ).scalar_one()
            if own is not None:
                out[meter_id] = own
    return out
