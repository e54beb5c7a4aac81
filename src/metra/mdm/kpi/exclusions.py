"""Documented exclusions from the acquisition figures (KPI-2, S1 16.9-16.11).

An exclusion says "from `starts_at` until `ends_at` there was no remote and no local access to
these meters, because of the customer (`customer_no_access`) or a grid failure (`grid_failure`)",
with the reference of its evidence, because the operator must show and document it (16.10). It
covers one meter, or every meter on a feeder or substation. Recording one is an operation on
data that changes a regulatory figure, so it goes to the audit trail; rows are never updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Connection, insert, or_, select

from metra.mdm.kpi.schema import kpi_exclusion
from metra.store import audit


class ExclusionReason(StrEnum):
    """Why there was no access (S1 16.9 point 1 and point 2)."""

    CUSTOMER_NO_ACCESS = "customer_no_access"
    GRID_FAILURE = "grid_failure"


class ExclusionRefused(ValueError):
    """An exclusion without scope, evidence, author or a sane period; nothing is stored."""


@dataclass(frozen=True)
class Exclusion:
    """One recorded circumstance; exactly one of meter, feeder and substation is set."""

    id: int
    reason: ExclusionReason
    starts_at: datetime
    ends_at: datetime | None
    document: str
    recorded_at: datetime
    recorded_by: str
    meter_id: UUID | None = None
    feeder_id: UUID | None = None
    substation_id: UUID | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True when the circumstance lasted at some moment of [start, end)."""
        return self.starts_at < end and (self.ends_at is None or self.ends_at > start)


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ExclusionRefused(f"{what} must be timezone-aware")


def record_exclusion(
    conn: Connection,
    reason: ExclusionReason | str,
    *,
    starts_at: datetime,
    document: str,
    actor: str,
    at: datetime,
    ends_at: datetime | None = None,
    meter_id: UUID | None = None,
    feeder_id: UUID | None = None,
    substation_id: UUID | None = None,
) -> int:
    """Store one documented exclusion and its audit record; returns its id."""
    try:
        why = ExclusionReason(reason)
    except ValueError:
        allowed = ", ".join(r.value for r in ExclusionReason)
        raise ExclusionRefused(f"unknown reason {reason!r}; one of {allowed}") from None
    scopes = {"meter": meter_id, "feeder": feeder_id, "substation": substation_id}
    chosen = [(kind, ident) for kind, ident in scopes.items() if ident is not None]
    if len(chosen) != 1:
        raise ExclusionRefused("name exactly one of a meter, a feeder or a substation")
    if not document.strip():
        raise ExclusionRefused("an exclusion needs the reference of its evidence (S1 16.10)")
    if not actor.strip():
        raise ExclusionRefused("an exclusion needs the user who records it")
    _aware(starts_at, "starts_at")
    _aware(at, "at")
    if ends_at is not None:
        _aware(ends_at, "ends_at")
        if ends_at <= starts_at:
            raise ExclusionRefused("ends_at must be after starts_at")
    new_id: int = conn.execute(
        insert(kpi_exclusion)
        .values(
            meter_id=meter_id,
            feeder_id=feeder_id,
            substation_id=substation_id,
            reason=why.value,
            starts_at=starts_at,
            ends_at=ends_at,
            document=document,
            recorded_at=at,
            recorded_by=actor,
        )
        .returning(kpi_exclusion.c.id)
    ).scalar_one()
    kind, ident = chosen[0]
    audit.append(
        conn,
        at=at,
        actor=actor,
        action="kpi.exclusion",
        target_kind=kind,
        target_id=str(ident),
        details={
            "exclusion": new_id,
            "reason": why.value,
            "starts_at": starts_at.isoformat(),
            "ends_at": None if ends_at is None else ends_at.isoformat(),
            "document": document,
        },
    )
    return new_id


def exclusions(conn: Connection, start: datetime, end: datetime) -> list[Exclusion]:
    """Every exclusion that lasted at some moment of [start, end), oldest first."""
    t = kpi_exclusion
    query = (
        select(t)
        .where(t.c.starts_at < end, or_(t.c.ends_at.is_(None), t.c.ends_at > start))
        .order_by(t.c.starts_at, t.c.id)
    )
    found: list[Exclusion] = []
    for row in conn.execute(query):
        m = row._mapping
        found.append(
            Exclusion(
                id=m["id"],
                reason=ExclusionReason(m["reason"]),
                starts_at=m["starts_at"],
                ends_at=m["ends_at"],
                document=m["document"],
                recorded_at=m["recorded_at"],
                recorded_by=m["recorded_by"],
                meter_id=m["meter_id"],
                feeder_id=m["feeder_id"],
                substation_id=m["substation_id"],
            )
        )
    return found
