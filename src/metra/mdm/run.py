"""`run_vee`: read raw day rows, validate, estimate, and store the served versions (DQ-4..DQ-9).

The raw rows are read, never written (DQ-5). Like-day estimation needs the meter's neighbouring
days, so the profile's like-day window before `start` is read as context; only days in
[start, end) are written. Re-running is idempotent, and a run after late raw data arrived writes
new versions in which real values replace the estimates (the estimates stay in history).

Everything the rules need beyond the intervals comes from the store as of each day (see
`metra.mdm.context`): installation dates, connection capacity and transformer ratio, the relay
state from the meter's disconnector log, the reserve meter of the point (its validated values,
DQ-8), and the balancing meter and fellow customers of the feeder or substation (DQ-6). Fellow
customers not asked for are read and estimated as context, but only the meters asked for are
written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from metra.mdm.batch import Batch, Events
from metra.mdm.context import (
    DISCONNECTOR_LOG,
    RELAY_CLOSED,
    RELAY_OPENED,
    MasterData,
    State,
    day_span,
    relay_closed,
)
from metra.mdm.estimation import Estimate, Method, Reserve, Substation, estimate
from metra.mdm.schema import vee_finding
from metra.mdm.validation import RuleSet, Validation, validate
from metra.mdm.versions import NewDay, write
from metra.profiles.model import Profile
from metra.store import audit
from metra.store.intervals import day_start, intervals_per_day
from metra.store.schema import billing_snapshot, interval_day, meter_event

_CHUNK = 500


@dataclass(frozen=True)
class VeeRun:
    """What a run did: the validation and estimate of the batch and how much it wrote.

    The batch's first `meters` rows are the meters asked for (the rest are fellow customers
    read as context) and its first `skip` days are the like-day window before the range.
    """

    batch: Batch
    validation: Validation
    estimate: Estimate
    versions_written: int
    findings_written: int
    raw_versions: dict[tuple[int, int], int]
    meters: int
    skip: int

    def summary(self) -> dict[str, Any]:
        """Intervals validated, findings per rule and intervals per method over the range."""
        per_day = self.batch.per_day
        first = self.skip * per_day
        method = self.estimate.method[: self.meters, first:]
        rules: Counter[str] = Counter()
        for hits in self.validation.findings.hits:
            keep = (hits.meter < self.meters) & (hits.last >= first)
            if keep.any():
                rules[hits.rule.value] += int(keep.sum())
        codes = np.bincount(method.reshape(-1), minlength=256)
        methods = {
            Method(code).name.lower(): int(codes[code])
            for code in np.flatnonzero(codes).tolist()
            if code not in (Method.MEASURED, Method.NONE)
        }
        return {
            "meters": self.meters,
            "days": self.batch.n_days - self.skip,
            "intervals_validated": int(method.size),
            "intervals_measured": int(codes[Method.MEASURED]),
            "findings": dict(sorted(rules.items())),
            "estimated": dict(sorted(methods.items())),
            "not_estimated": int(codes[Method.NONE]),
            "versions_written": self.versions_written,
        }


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
    channel: str = "1-0:1.29.0.255",
    register_obis: str | None = None,
    register_factor: float = 1.0,
    energy_unit_kwh: float = 1.0,
    rules: RuleSet | None = None,
    at: datetime | None = None,
    actor: str = "vee",
) -> VeeRun:
    """Validate and estimate [start, end) for `meters` and store the served day versions.

    `energy_unit_kwh` is what one stored unit of the channel is (0.001 for Wh). The findings
    for the range replace those of any earlier run over it; day versions are added only where
    the served content changed (see `metra.mdm.versions.write`). The run itself goes to the
    audit trail as `mdm.vee` by `actor`.
    """
    rules = rules or RuleSet.from_profile(profile, energy_unit_kwh=energy_unit_kwh)
    now = at or datetime.now(UTC)
    context = start - timedelta(days=rules.like_day_window_days)
    days = day_span(context, (end - context).days)
    skip = (start - context).days
    master = MasterData.load(conn)
    epochs = [(master.state(first), index) for first, index in master.epochs(days)]
    requested = list(meters)
    rows = _with_fellow_customers(requested, [s for s, _ in epochs])
    batch, raw_versions = load_batch(
        conn,
        rows,
        channel,
        context,
        end,
        rules.interval_s,
        register_obis=register_obis,
        register_factor=register_factor,
    )
    batch = _with_master_data(conn, batch, master, epochs[-1][0])
    checked = validate(batch, rules)
    result = estimate(
        batch,
        checked,
        rules,
        profile,
        reserve=_reserve(conn, rules, master, epochs, batch),
        substations=_substations(conn, rules, master, epochs, batch, checked, len(requested)),
    )
    per_day = batch.per_day
    new_days: list[NewDay] = []
    for r, meter_id in enumerate(requested):
        for d in range(skip, batch.n_days):
            span = slice(d * per_day, (d + 1) * per_day)
            new_days.append(
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
    written = write(conn, new_days, at=now)
    findings = _store_findings(conn, batch, checked, requested, channel, start, end, skip, now)
    audit.append(
        conn,
        at=now,
        actor=actor,
        action="mdm.vee",
        target_kind="channel",
        target_id=channel,
        details={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "meters": len(requested),
            "versions_written": written,
            "findings_written": findings,
        },
    )
    return VeeRun(batch, checked, result, written, findings, raw_versions, len(requested), skip)


def _with_fellow_customers(requested: list[UUID], states: Sequence[State]) -> list[UUID]:
    """The meters asked for, then the other customers of every balance group they are in."""
    asked = set(requested)
    extra: list[UUID] = []
    seen = set(asked)
    for state in states:
        for group in state.groups:
            if asked.intersection(group.customers):
                for meter in group.customers:
                    if meter not in seen:
                        seen.add(meter)
                        extra.append(meter)
    return requested + extra


def _with_master_data(conn: Connection, batch: Batch, master: MasterData, last: State) -> Batch:
    """Installation per day, relay state per interval, capacity as of the last day."""
    meters = batch.meter_ids
    installed = np.repeat(master.installed(meters, batch.days), batch.per_day, axis=1)
    capacity = np.array(
        [last.capacity_kw.get(m, np.nan) / last.ratio.get(m, 1.0) for m in meters], np.float64
    )
    return replace(
        batch,
        installed=installed,
        relay_closed=_relay(conn, batch),
        capacity_kw=capacity,
    )


def _relay(conn: Connection, batch: Batch) -> np.ndarray:
    """Relay state per interval from the disconnector log (closed unless logged open)."""
    row_of = {m: i for i, m in enumerate(batch.meter_ids)}
    lo = day_start(batch.first_day)
    hi = lo + timedelta(days=batch.n_days)
    t = meter_event
    changes: dict[int, list[tuple[float, bool]]] = {}
    codes = sorted(RELAY_OPENED | RELAY_CLOSED)
    for chunk in _chunks(list(batch.meter_ids)):
        query = (
            select(t.c.meter_id, t.c.occurred_at, t.c.raw_code)
            .where(t.c.meter_id.in_(chunk), t.c.log_obis == DISCONNECTOR_LOG)
            .where(t.c.raw_code.in_(codes), t.c.occurred_at < hi)
            .order_by(t.c.occurred_at)
        )
        for meter_id, when, code in conn.execute(query):
            moves = changes.setdefault(row_of[meter_id], [])
            at = (when - lo).total_seconds()
            if at < 0 and moves and moves[-1][0] < 0:
                moves.pop()  # only the last move before the batch matters
            moves.append((at, code in RELAY_CLOSED))
    return relay_closed(changes, len(batch.meter_ids), int(batch.values.shape[1]), batch.interval_s)


def _measured(
    conn: Connection, rules: RuleSet, master: MasterData, meters: list[UUID], like: Batch
) -> tuple[np.ndarray, np.ndarray]:
    """Validated values of other meters (reserve, balancing) on the batch's grid, and which of
    them are valid (neither invalid nor suspect)."""
    other, _ = load_batch(
        conn,
        meters,
        like.channel,
        like.first_day,
        like.first_day + timedelta(days=like.n_days),
        like.interval_s,
    )
    other = replace(
        other, installed=np.repeat(master.installed(meters, like.days), like.per_day, axis=1)
    )
    checked = validate(other, rules)
    return other.values, ~(checked.invalid | checked.suspect)


def _reserve(
    conn: Connection,
    rules: RuleSet,
    master: MasterData,
    epochs: list[tuple[State, list[int]]],
    batch: Batch,
) -> Reserve | None:
    """The reserve meter's valid values for each row and day it has one (DQ-8)."""
    uses = [
        (r, index, state.reserve[m])
        for state, index in epochs
        for r, m in enumerate(batch.meter_ids)
        if m in state.reserve
    ]
    if not uses:
        return None
    reserve_meters = sorted({u[2] for u in uses}, key=str)
    values, valid = _measured(conn, rules, master, reserve_meters, batch)
    k_of = {m: k for k, m in enumerate(reserve_meters)}
    out = np.full(batch.values.shape, np.nan)
    ok = np.zeros(batch.values.shape, np.bool_)
    names = [""] * len(batch.meter_ids)
    per_day = batch.per_day
    for r, index, meter in uses:
        k = k_of[meter]
        for d in index:
            span = slice(d * per_day, (d + 1) * per_day)
            out[r, span] = values[k, span]
            ok[r, span] = valid[k, span]
        names[r] = str(meter)
    return Reserve(out, ok, tuple(names))


def _substations(
    conn: Connection,
    rules: RuleSet,
    master: MasterData,
    epochs: list[tuple[State, list[int]]],
    batch: Batch,
    checked: Validation,
    requested: int,
) -> list[Substation]:
    """Balance groups of the asked meters, per master-data state, with their balancing meter's
    valid values on those days and the group's loss ratio: measured where all its customers
    were read, else as measured for the same balancing meter in another state (before a new
    customer joined), else the rule set's `network_loss_ratio`."""
    row_of = {m: i for i, m in enumerate(batch.meter_ids)}
    asked = set(batch.meter_ids[:requested])
    wanted = [
        (group, index)
        for state, index in epochs
        for group in state.groups
        if asked.intersection(group.customers)
    ]
    if not wanted:
        return []
    balancing = sorted({g.balancing for g, _ in wanted}, key=str)
    values, valid = _measured(conn, rules, master, balancing, batch)
    k_of = {m: k for k, m in enumerate(balancing)}
    per_day = batch.per_day
    series_of = []
    measured: dict[UUID, float] = {}
    for group, index in wanted:
        rows = tuple(row_of[m] for m in group.customers)
        series = np.full(batch.values.shape[1], np.nan)
        k = k_of[group.balancing]
        for d in index:
            span = slice(d * per_day, (d + 1) * per_day)
            series[span] = np.where(valid[k, span], values[k, span], np.nan)
        ratio = _loss_ratio(series, batch, checked, rows)
        if ratio is not None:
            measured.setdefault(group.balancing, ratio)
        series_of.append((group, rows, series, ratio))
    return [
        Substation(
            group.name,
            series,
            rows,
            ratio if ratio is not None else measured.get(group.balancing, rules.network_loss_ratio),
        )
        for group, rows, series, ratio in series_of
    ]


def _loss_ratio(
    balancing: np.ndarray, batch: Batch, checked: Validation, rows: tuple[int, ...]
) -> float | None:
    """Share of the balancing meter's energy its customers did not take, over the intervals
    where every installed customer was read validly; None when there are none."""
    picked = list(rows)
    read = ~checked.invalid[picked]
    if batch.installed is not None:
        read |= ~batch.installed[picked]
    complete = ~np.isnan(balancing) & read.all(axis=0)
    fed = float(balancing[complete].sum())
    if not complete.any() or fed <= 0:
        return None
    taken = float(np.where(checked.invalid[picked], 0.0, batch.values[picked])[:, complete].sum())
    return float(np.clip(1.0 - taken / fed, 0.0, 0.5))


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
    asked = set(meters)
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
        if f.last >= first_kept and f.meter_id in asked
    ]
    if rows:
        conn.execute(insert(t), rows)
    return len(rows)
