"""Decisions on VEE findings that survive a re-run of the validation (DQ-4, DQ-11).

`run_vee` replaces the findings of a range by those of the new run, so a finding's row id is
not stable: a re-run gives the same finding a new id (or, on SQLite, the old id to another
finding). A decision is therefore kept under what identifies the finding itself: meter, channel,
rule and the flagged interval range. The same raw data flag the same range again, and the
decision still covers it; a different range (more data missing, a gap that grew) is a new
finding a person must look at. The audit trail still records who decided what and why
(``vee.accept``, ``vee.estimate``, ``vee.edit``); this table is what the worklist reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    insert,
    select,
)

from metra.store.schema import metadata
from metra.store.sqltypes import UtcDateTime

DECISIONS = ("accept", "estimate", "edit")

vee_decision = Table(
    "vee_decision",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("decided_by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("meter_id", "channel", "rule", "first_at", "last_at"),
)


@dataclass(frozen=True)
class FindingKey:
    """What identifies a finding across validation runs."""

    meter_id: UUID
    channel: str
    rule: str
    first_at: datetime
    last_at: datetime


class AlreadyDecided(ValueError):
    """The finding (by its key) carries a decision already."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _key(meter_id: UUID, channel: str, rule: str, first: datetime, last: datetime) -> FindingKey:
    return FindingKey(meter_id, channel, rule, _utc(first), _utc(last))


def decided(conn: Connection, keys: Iterable[FindingKey]) -> set[FindingKey]:
    """The keys among `keys` that carry a decision."""
    wanted = {_key(k.meter_id, k.channel, k.rule, k.first_at, k.last_at) for k in keys}
    if not wanted:
        return set()
    t = vee_decision.c
    rows = conn.execute(
        select(t.meter_id, t.channel, t.rule, t.first_at, t.last_at).where(
            t.meter_id.in_({k.meter_id for k in wanted}),
            t.first_at >= min(k.first_at for k in wanted),
            t.first_at <= max(k.first_at for k in wanted),
        )
    )
    return {_key(*row) for row in rows} & wanted


def record(
    conn: Connection,
    key: FindingKey,
    decision: str,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Keep a decision for the finding; `AlreadyDecided` when it has one."""
    if decision not in DECISIONS:
        raise ValueError(f"a decision is one of {DECISIONS}")
    if decided(conn, [key]):
        raise AlreadyDecided(f"the {key.rule} finding of {key.first_at} is decided already")
    conn.execute(
        insert(vee_decision).values(
            meter_id=key.meter_id,
            channel=key.channel,
            rule=key.rule,
            first_at=_utc(key.first_at),
            last_at=_utc(key.last_at),
            decision=decision,
            decided_at=at,
            decided_by=actor,
            reason=reason,
        )
    )
