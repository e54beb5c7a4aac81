"""Validated / estimated day versions: written apart from raw data, never updated (DQ-5, DQ-9).

A new version is written only when a day's served content changes (values, status or methods),
so re-running VEE on unchanged raw data adds nothing, and late real data that replace estimates
add a version while the estimate stays readable in history. Manual edits need an actor and a
reason and go to the audit trail (DQ-11, STO-5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, and_, func, insert, select

from metra.mdm.estimation.methods import DETERMINED, Method
from metra.mdm.schema import vee_day
from metra.store import audit
from metra.store.intervals import intervals_per_day


class EditRefused(ValueError):
    """A manual edit without an actor or a reason, or outside the day (DQ-11)."""


@dataclass(frozen=True)
class VeeDay:
    """One stored version of a validated / estimated day."""

    meter_id: UUID
    channel: str
    day: date
    version: int
    interval_s: int
    values: np.ndarray
    status: np.ndarray
    method: np.ndarray
    raw_version: int | None
    kind: str
    provenance: list[dict[str, Any]]
    created_at: datetime
    created_by: str
    reason: str | None

    def same_content(self, values: np.ndarray, status: np.ndarray, method: np.ndarray) -> bool:
        """True when a new result would serve exactly what this version serves."""
        return (
            np.array_equal(self.values, values, equal_nan=True)
            and np.array_equal(self.status, status)
            and np.array_equal(self.method, method)
        )


@dataclass(frozen=True)
class NewDay:
    """A day's result to store as the next version if it differs from the latest."""

    meter_id: UUID
    channel: str
    day: date
    interval_s: int
    values: np.ndarray
    status: np.ndarray
    method: np.ndarray
    raw_version: int | None
    provenance: list[dict[str, Any]]


def _decode(row: Any) -> VeeDay:
    m = row._mapping
    return VeeDay(
        meter_id=m["meter_id"],
        channel=m["channel"],
        day=m["day"],
        version=m["version"],
        interval_s=m["interval_s"],
        values=np.frombuffer(m["values"], "<f8").copy(),
        status=np.frombuffer(m["status"], "<u2").copy(),
        method=np.frombuffer(m["method"], "u1").copy(),
        raw_version=m["raw_version"],
        kind=m["kind"],
        provenance=m["provenance"] or [],
        created_at=m["created_at"],
        created_by=m["created_by"],
        reason=m["reason"],
    )


def latest(
    conn: Connection, meter_ids: Sequence[UUID], channel: str, days: Sequence[date]
) -> dict[tuple[UUID, date], VeeDay]:
    """The served (newest) version of every stored (meter, day) among those asked."""
    t = vee_day
    found: dict[tuple[UUID, date], VeeDay] = {}
    for i in range(0, len(meter_ids), 500):
        chunk = list(meter_ids[i : i + 500])
        newest = (
            select(t.c.meter_id, t.c.day, func.max(t.c.version).label("version"))
            .where(t.c.meter_id.in_(chunk), t.c.channel == channel, t.c.day.in_(list(days)))
            .group_by(t.c.meter_id, t.c.day)
            .subquery()
        )
        query = select(t).join(
            newest,
            and_(
                t.c.meter_id == newest.c.meter_id,
                t.c.channel == channel,
                t.c.day == newest.c.day,
                t.c.version == newest.c.version,
            ),
        )
        for row in conn.execute(query):
            day = _decode(row)
            found[(day.meter_id, day.day)] = day
    return found


def history(conn: Connection, meter_id: UUID, channel: str, day: date) -> list[VeeDay]:
    """Every version of a day, oldest first (each one auditable)."""
    t = vee_day
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.channel == channel, t.c.day == day)
        .order_by(t.c.version)
    )
    return [_decode(row) for row in conn.execute(query)]


def served(conn: Connection, meter_id: UUID, channel: str, day: date) -> VeeDay | None:
    """The version served for a day: the latest one."""
    found = latest(conn, [meter_id], channel, [day])
    return found.get((meter_id, day))


def _row(
    new: NewDay, version: int, kind: str, at: datetime, by: str, reason: str | None
) -> dict[str, object]:
    return {
        "meter_id": new.meter_id,
        "channel": new.channel,
        "day": new.day,
        "version": version,
        "interval_s": new.interval_s,
        "values": np.ascontiguousarray(new.values, "<f8").tobytes(),
        "status": np.ascontiguousarray(new.status, "<u2").tobytes(),
        "method": np.ascontiguousarray(new.method, "u1").tobytes(),
        "raw_version": new.raw_version,
        "kind": kind,
        "provenance": new.provenance,
        "created_at": at,
        "created_by": by,
        "reason": reason,
    }


def write(conn: Connection, days: Sequence[NewDay], *, at: datetime, by: str = "vee") -> int:
    """Store each day as a new version unless it serves what the latest version serves.

    A day whose latest version is a manual edit on the same raw version is kept as edited: the
    operator's decision stands until new raw data arrive. Returns how many versions were added.
    """
    if not days:
        return 0
    channel = days[0].channel
    current = latest(
        conn, sorted({d.meter_id for d in days}), channel, sorted({d.day for d in days})
    )
    rows = []
    for new in days:
        old = current.get((new.meter_id, new.day))
        if old is not None:
            if old.same_content(new.values, new.status, new.method):
                continue
            if old.kind == "manual" and old.raw_version == new.raw_version:
                continue
        rows.append(_row(new, 1 if old is None else old.version + 1, "vee", at, by, None))
    if rows:
        conn.execute(insert(vee_day), rows)
    return len(rows)


def edit(
    conn: Connection,
    meter_id: UUID,
    channel: str,
    day: date,
    changes: Mapping[int, float],
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> int:
    """Manually set interval values of a day as a new version, logged in the audit trail (DQ-11).

    Returns the new version number. The previous version stays in history.
    """
    if not actor.strip() or not reason.strip():
        raise EditRefused("a manual edit needs the authorised user and a reason")
    old = served(conn, meter_id, channel, day)
    if old is None:
        raise EditRefused(f"no validated data for {meter_id} {channel} {day} to edit")
    n = intervals_per_day(old.interval_s)
    if not changes or any(not 0 <= i < n for i in changes):
        raise EditRefused(f"interval indices must be within 0..{n - 1}")
    values, status, method = old.values.copy(), old.status.copy(), old.method.copy()
    index = np.array(sorted(changes))
    before = values[index].tolist()
    values[index] = [changes[i] for i in index.tolist()]
    status[index] = DETERMINED
    method[index] = Method.MANUAL
    provenance = [
        *old.provenance,
        {
            "method": "manual",
            "intervals": index.tolist(),
            "inputs": {"reason": reason},
            "sources": [f"user:{actor}"],
        },
    ]
    new = NewDay(
        meter_id, channel, day, old.interval_s, values, status, method, old.raw_version, provenance
    )
    conn.execute(insert(vee_day), [_row(new, old.version + 1, "manual", at, actor, reason)])
    audit.append(
        conn,
        at=at,
        actor=actor,
        action="mdm.edit",
        target_kind="vee_day",
        target_id=str(meter_id),
        details={
            "channel": channel,
            "day": day.isoformat(),
            "version": old.version + 1,
            "intervals": index.tolist(),
            "before": [None if np.isnan(v) else v for v in before],
            "after": [changes[i] for i in index.tolist()],
            "reason": reason,
        },
    )
    return old.version + 1
