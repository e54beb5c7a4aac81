"""The VEE worklist's decisions on a finding (DQ-4, DQ-6, DQ-11): accept the data as they are,
estimate the flagged intervals, or set them by hand; each with a reason, in the audit trail.

A decision is kept under the finding's stable key (meter, channel, rule, interval range) in
`metra.mdm.vee_decisions`, because a re-run of `run_vee` replaces the findings and their row ids:
the worklist is the findings whose key carries no decision, so an accepted finding stays
accepted after the next run. Each decision is also an audit entry about the finding
(``vee.accept``, ``vee.estimate``, ``vee.edit``, target ``vee_finding``) with the reason, the
record of who decided what and why. Estimating and editing add a served version
through `metra.mdm.versions.edit` (itself audited as ``mdm.edit`` with the values before and
after); an estimate bridges the flagged intervals linearly between their good neighbours with the
MDM's own short-gap method (`metra.mdm.estimation.interpolation.fill_short`), and is stored as a
manual version because a person chose to replace measured values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, select

from metra.mdm import versions
from metra.mdm.estimation.interpolation import fill_short
from metra.mdm.schema import vee_finding
from metra.mdm.vee_decisions import FindingKey, decided, record
from metra.security import audit
from metra.store.errors import NotFound
from metra.store.intervals import day_start

TARGET = "vee_finding"


@dataclass(frozen=True)
class Finding:
    """One stored finding of a validation run."""

    id: int
    meter_id: UUID
    channel: str
    rule: str
    severity: str
    first_at: datetime
    last_at: datetime
    evidence: Any

    @property
    def key(self) -> FindingKey:
        """What identifies this finding across validation runs."""
        return FindingKey(self.meter_id, self.channel, self.rule, self.first_at, self.last_at)


def _finding(row: Any) -> Finding:
    m = row._mapping
    return Finding(
        m["id"],
        m["meter_id"],
        m["channel"],
        m["rule"],
        m["severity"],
        m["first_at"],
        m["last_at"],
        m["evidence"],
    )


def open_findings(
    conn: Connection, start: datetime, end: datetime, limit: int = 200
) -> list[Finding]:
    """Findings starting in [start, end) without a decision, oldest first."""
    t = vee_finding.c
    rows = conn.execute(
        select(vee_finding)
        .where(t.first_at >= start, t.first_at < end)
        .order_by(t.first_at, t.id)
        .limit(limit * 4)
    )
    found = [_finding(r) for r in rows]
    done = decided(conn, [f.key for f in found])
    return [f for f in found if f.key not in done][:limit]


def get(conn: Connection, finding_id: int) -> Finding:
    """One finding; `NotFound` when there is none."""
    if not 0 < finding_id < 2**62:
        raise NotFound(f"no finding {finding_id}")
    row = conn.execute(select(vee_finding).where(vee_finding.c.id == finding_id)).first()
    if row is None:
        raise NotFound(f"no finding {finding_id}")
    return _finding(row)


def days_of(finding: Finding, interval_s: int) -> dict[date, list[int]]:
    """The flagged intervals per (UTC) day: index lists into each day's row."""
    step = timedelta(seconds=interval_s)
    out: dict[date, list[int]] = defaultdict(list)
    moment = finding.first_at
    while moment < finding.last_at:
        day = moment.date()
        out[day].append(int((moment - day_start(day)) / step))
        moment += step
    return dict(out)


def _interval_s(conn: Connection, finding: Finding) -> int:
    served = versions.served(conn, finding.meter_id, finding.channel, finding.first_at.date())
    if served is None:
        raise versions.EditRefused("no validated data for the finding's day")
    return served.interval_s


def _decide(
    conn: Connection,
    finding: Finding,
    action: str,
    actor: str,
    reason: str,
    source: str | None,
    after: Any,
    at: datetime,
) -> None:
    """Keep the decision under the finding's key (`AlreadyDecided` if it has one) and audit it."""
    record(conn, finding.key, action.removeprefix("vee."), actor=actor, reason=reason, at=at)
    audit.record(
        conn,
        actor,
        action,
        (TARGET, str(finding.id)),
        {"rule": finding.rule, "meter_id": str(finding.meter_id), "channel": finding.channel},
        after,
        source,
        reason,
        at=at,
    )


def accept(
    conn: Connection,
    finding: Finding,
    *,
    actor: str,
    reason: str,
    source: str | None,
    at: datetime,
) -> None:
    """Keep the data as they are: the check's hit was not an error of the data."""
    if not reason.strip():
        raise versions.EditRefused("a decision needs a reason")
    _decide(conn, finding, "vee.accept", actor, reason, source, "accepted", at)


def estimate(
    conn: Connection,
    finding: Finding,
    *,
    actor: str,
    reason: str,
    source: str | None,
    at: datetime,
) -> list[int]:
    """Replace the flagged intervals by a linear bridge between their good neighbours; returns
    the new version numbers (one per day touched)."""
    made = []
    for day, index in days_of(finding, _interval_s(conn, finding)).items():
        served = versions.served(conn, finding.meter_id, finding.channel, day)
        if served is None:
            raise versions.EditRefused(f"no validated data for {day}")
        values = served.values.copy()[None, :]
        need = np.array(sorted(index), dtype=np.int64)
        values[0, need] = np.nan
        fill_short(values, need, max_len=values.shape[1])
        if np.isnan(values[0, need]).any():
            raise versions.EditRefused("no good neighbour to estimate from on that day")
        changes = {i: float(values[0, i]) for i in need.tolist()}
        made.append(
            versions.edit(
                conn,
                finding.meter_id,
                finding.channel,
                day,
                changes,
                actor=actor,
                reason=f"estimate: {reason}",
                at=at,
            )
        )
    _decide(conn, finding, "vee.estimate", actor, reason, source, {"versions": made}, at)
    return made


def edit(
    conn: Connection,
    finding: Finding,
    value: float,
    *,
    actor: str,
    reason: str,
    source: str | None,
    at: datetime,
) -> list[int]:
    """Set every flagged interval to `value`; returns the new version numbers."""
    made = [
        versions.edit(
            conn,
            finding.meter_id,
            finding.channel,
            day,
            dict.fromkeys(index, value),
            actor=actor,
            reason=reason,
            at=at,
        )
        for day, index in days_of(finding, _interval_s(conn, finding)).items()
    ]
    after = {"value": value, "versions": made}
    _decide(conn, finding, "vee.edit", actor, reason, source, after, at)
    return made
