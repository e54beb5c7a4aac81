"""`run_vee`: read raw day rows, validate, estimate, and store the served versions (DQ-4..DQ-9).

The raw rows are read, never written (DQ-5). Like-day estimation needs the meter's neighbouring
days, so the profile's like-day window before `start` is read as context; only days in
[start, end) are written. Re-running is idempotent, and a run after late raw data arrived writes
new versions in which real values replace the estimates (the estimates stay in history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from metra.mdm.batch import Batch, Events
from metra.mdm.estimation import Estimate, estimate
from metra.mdm.schema import vee_finding
from metra.mdm.validation import RuleSet, Validation, validate
from metra.mdm.versions import NewDay, write
from metra.profiles.model import Profile
from metra.store.intervals import day_start, intervals_per_day
from metra.store.schema import billing_snapshot, interval_day, meter_event

_CHUNK = 500


@dataclass(frozen=True)
class VeeRun:
    """What a run did: the validation and estimate of the batch and how much it wrote."""

    batch: Batch
    validation: Validation
    estimate: Estimate
    versions_written: int
    findings_written: int
    raw_versions: dict[tuple[int, int], int]


def _chunks(items: Sequence[UUID]) -> list[list[UUID]]:
    return [list(items[i : i + _CHUNK]) for i in range(0, len(items), _CHUNK)]


def load_batch(
    conn: Connection,
    meters: Sequence[UUID],
    channel: str,
    first: date,
    end: date,
    interval_s: int,
    *,
    register_obis: str | None = None,
    register_factor: float = 1.0,
) -> tuple[Batch, dict[tuple[int, int], int]]:
    """The latest raw versions of [first, end) as a batch, with registers and events."""
    per_day = intervals_per_day(interval_s)
    n_days = (end - first).days
    row_of = {m: i for i, m in enumerate(meters)}
    values = np.full((len(meters), n_days * per_day), np.nan)
    status = np.zeros(values.shape, np.uint16)
    conflicts = np.zeros(values.shape, np.bool_)
    day_interval = np.zeros((len(meters), n_days), np.int32)
    raw_versions: dict[tuple[int, int], int] = {}
    t = interval_day
    for chunk in _chunks(meters):
        query = (
            select(t)
            .where(t.c.meter_id.in_(chunk), t.c.channel == channel)
            .where(t.c.day >= first, t.c.day < end)
            .order_by(t.c.version)
        )
        for row in conn.execute(query):
            m = row._mapping
            r, d = row_of[m["meter_id"]], (m["day"] - first).days
            raw_versions[(r, d)] = m["version"]
            day_interval[r, d] = m["interval_s"]
            span = slice(d * per_day, (d + 1) * per_day)
            if m["interval_s"] != interval_s:
                values[r, span], status[r, span] = np.nan, 0
                continue
            codes = np.frombuffer(m["status"], "<u2")
            values[r, span] = np.where(codes & 7, np.frombuffer(m["values"], "<f8"), np.nan)
            status[r, span] = codes
            bits = np.frombuffer(m["changed"] or b"", np.uint8)
            changed = np.unpackbits(bits, bitorder="little")[:per_day].astype(np.bool_)
            conflicts[r, span] = np.pad(changed, (0, per_day - changed.size))
    registers = None
    if register_obis is not None:
        registers = _registers(conn, meters, row_of, first, n_days, register_obis, register_factor)
    batch = Batch(
        tuple(meters),
        channel,
        first,
        interval_s,
        values,
        status,
        registers=registers,
        day_interval_s=day_interval,
        conflicts=conflicts,
        events=_events(conn, meters, row_of, first, end, interval_s),
    )
    return batch, raw_versions


def _registers(
    conn: Connection,
    meters: Sequence[UUID],
    row_of: dict[UUID, int],
    first: date,
    n_days: int,
    obis: str,
    factor: float,
) -> np.ndarray:
    """Daily billing snapshots (total zone) at each day boundary, NaN where not read."""
    out = np.full((len(meters), n_days + 1), np.nan)
    t = billing_snapshot
    lo, hi = day_start(first), day_start(first + timedelta(days=n_days))
    for chunk in _chunks(meters):
        query = select(t).where(
            t.c.meter_id.in_(chunk),
            t.c.period == "D",
            t.c.obis == obis,
            t.c.tariff_zone == 0,
            t.c.captured_at >= lo,
            t.c.captured_at <= hi,
        )
        for row in conn.execute(query):
            m = row._mapping
            offset = m["captured_at"] - lo
            if offset.seconds == 0 and offset.microseconds == 0:
                out[row_of[m["meter_id"]], offset.days] = (
                    m["raw_value"] * 10.0 ** m["scaler"] * factor
                )
    return out


def _events(
    conn: Connection,
    meters: Sequence[UUID],
    row_of: dict[UUID, int],
    first: date,
    end: date,
    interval_s: int,
) -> Events:
    rows: list[int] = []
    index: list[int] = []
    codes: list[str] = []
    t = meter_event
    lo = day_start(first)
    for chunk in _chunks(meters):
        query = select(t.c.meter_id, t.c.occurred_at, t.c.code).where(
            t.c.meter_id.in_(chunk), t.c.occurred_at >= lo, t.c.occurred_at < day_start(end)
        )
        for meter_id, at, code in conn.execute(query):
            rows.append(row_of[meter_id])
            index.append(int((at - lo).total_seconds()) // interval_s)
            codes.append(code)
    return Events(np.array(rows, np.int64), np.array(index, np.int64), tuple(codes))


def run_vee(
    conn: Connection,
    meters: Sequence[UUID],
    start: date,
    end: date,
    profile: Profile,
    *,
    channel: str = "1-0:1.29.0",
    register_obis: str | None = None,
    register_factor: float = 1.0,
    rules: RuleSet | None = None,
    at: datetime | None = None,
) -> VeeRun:
    """Validate and estimate [start, end) for `meters` and store the served day versions.

    The findings for the range replace those of any earlier run over it; day versions are added
    only where the served content changed (see `metra.mdm.versions.write`).
    """
    rules = rules or RuleSet.from_profile(profile)
    now = at or datetime.now(UTC)
    context = start - timedelta(days=rules.like_day_window_days)
    batch, raw_versions = load_batch(
        conn,
        meters,
        channel,
        context,
        end,
        rules.interval_s,
        register_obis=register_obis,
        register_factor=register_factor,
    )
    checked = validate(batch, rules)
    result = estimate(batch, checked, rules, profile)
    skip = (start - context).days
    per_day = batch.per_day
    days: list[NewDay] = []
    for r, meter_id in enumerate(meters):
        for d in range(skip, batch.n_days):
            span = slice(d * per_day, (d + 1) * per_day)
            days.append(
                NewDay(
                    meter_id,
                    channel,
                    batch.first_day + timedelta(days=d),
                    batch.interval_s,
                    result.values[r, span],
                    result.status[r, span],
                    result.method[r, span],
                    raw_versions.get((r, d)),
                    result.provenance(r, d),
                )
            )
    written = write(conn, days, at=now)
    findings = _store_findings(conn, batch, checked, meters, channel, start, end, skip, now)
    return VeeRun(batch, checked, result, written, findings, raw_versions)


def _store_findings(
    conn: Connection,
    batch: Batch,
    checked: Validation,
    meters: Sequence[UUID],
    channel: str,
    start: date,
    end: date,
    skip: int,
    now: datetime,
) -> int:
    """Replace the stored findings of [start, end) by this run's (those touching the range)."""
    t = vee_finding
    lo, hi = day_start(start), day_start(end)
    for chunk in _chunks(meters):
        conn.execute(
            delete(t).where(
                t.c.meter_id.in_(chunk),
                t.c.channel == channel,
                t.c.first_at >= lo,
                t.c.first_at < hi,
            )
        )
    first_kept = skip * batch.per_day
    rows = [
        {
            "meter_id": f.meter_id,
            "channel": channel,
            "rule": f.rule.value,
            "severity": f.severity.value,
            "first_at": max(f.start, lo),
            "last_at": f.end,
            "evidence": f.evidence,
            "found_at": now,
        }
        for f in checked.findings
        if f.last >= first_kept
    ]
    if rows:
        conn.execute(insert(t), rows)
    return len(rows)
