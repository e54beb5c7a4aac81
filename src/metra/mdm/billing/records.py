"""Determinant records: stored with their input versions, versioned, recomputable (BAL-2, STO-5).

`store` adds a version for a meter's month only when the determinants or the served versions
they came from changed, so re-running is idempotent and a run after late data or a manual edit
leaves the earlier figures readable. `stale` tells whether a record's inputs are still the ones
served. Every stored record goes to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select

from metra.mdm.billing.axis import month_span
from metra.mdm.billing.inputs import Versions, served
from metra.mdm.billing.month import MonthRun
from metra.mdm.billing.schema import billing_determinant
from metra.store import audit


@dataclass(frozen=True)
class Record:
    """One stored version of a meter's month."""

    meter_id: UUID
    month: date
    tariff: str
    version: int
    determinants: dict[str, Any]
    inputs: Versions
    computed_at: datetime
    computed_by: str


def _record(row: Any) -> Record:
    m = row._mapping
    return Record(
        meter_id=m["meter_id"],
        month=m["month"],
        tariff=m["tariff"],
        version=m["version"],
        determinants=m["determinants"],
        inputs=m["inputs"],
        computed_at=m["computed_at"],
        computed_by=m["computed_by"],
    )


def history(conn: Connection, meter_id: UUID, month: date, tariff: str) -> list[Record]:
    """Every stored version of a meter's month under a tariff, oldest first."""
    t = billing_determinant
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.month == month.replace(day=1), t.c.tariff == tariff)
        .order_by(t.c.version)
    )
    return [_record(row) for row in conn.execute(query)]


def latest(conn: Connection, meter_id: UUID, month: date, tariff: str) -> Record | None:
    """The newest stored version, or None."""
    found = history(conn, meter_id, month, tariff)
    return found[-1] if found else None


def store(conn: Connection, run: MonthRun, *, at: datetime, by: str) -> int:
    """Store each meter's determinants as a new version where they or their inputs changed.

    Returns how many versions were added; each is recorded in the audit trail.
    """
    tariff = run.determinants.tariff.name
    added = 0
    for row, meter in enumerate(run.meter_ids):
        figures = {
            **run.determinants.record(row),
            "losses_to_delivery_point_kwh": float(run.losses_kwh[row]),
        }
        inputs = run.inputs[row]
        old = latest(conn, meter, run.month, tariff)
        if old is not None and old.determinants == figures and old.inputs == inputs:
            continue
        version = 1 if old is None else old.version + 1
        conn.execute(
            insert(billing_determinant).values(
                meter_id=meter,
                month=run.month,
                tariff=tariff,
                version=version,
                determinants=figures,
                inputs=inputs,
                computed_at=at,
                computed_by=by,
            )
        )
        audit.append(
            conn,
            at=at,
            actor=by,
            action="mdm.billing.determinants",
            target_kind="billing_determinant",
            target_id=str(meter),
            details={"month": run.month.isoformat(), "tariff": tariff, "version": version},
        )
        added += 1
    return added


def stale(conn: Connection, record: Record) -> bool:
    """True when the served versions of the record's channels over its month differ from the
    ones it used (a newer version, or a day served now that was missing then)."""
    first, n_days = month_span(record.month)
    for channel, days in record.inputs.items():
        now = served(conn, [record.meter_id], channel, first, n_days)
        if now.versions[0].get(channel, {}) != days:
            return True
    return False
