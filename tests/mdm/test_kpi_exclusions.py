"""Documented exclusions from the acquisition KPI (KPI-2): stored with evidence and audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import Connection

from metra.mdm.kpi import ExclusionReason, ExclusionRefused, exclusions, record_exclusion
from metra.profiles.model import KPI_EXCLUSION_REASONS
from metra.store import audit
from metra.store.masterdata import Entity, create

AT = datetime(2025, 11, 20, 9, tzinfo=UTC)
START = datetime(2025, 11, 12, 10, tzinfo=UTC)


@pytest.fixture
def meter(conn: Connection) -> UUID:
    return create(conn, Entity.METER, {"serial": "SN-X"}, effective=date(2024, 1, 1))


def test_kpi2_reasons_are_the_profiles_reasons() -> None:
    assert tuple(r.value for r in ExclusionReason) == KPI_EXCLUSION_REASONS


def test_kpi2_exclusion_is_stored_found_by_period_and_audited(
    conn: Connection, meter: UUID
) -> None:
    new = record_exclusion(
        conn,
        "grid_failure",
        starts_at=START,
        ends_at=START + timedelta(hours=30),
        document="outage report 2025/117",
        actor="dispatcher",
        at=AT,
        meter_id=meter,
    )
    found = exclusions(conn, START - timedelta(days=1), START + timedelta(hours=1))
    assert [(e.id, e.reason, e.meter_id, e.document) for e in found] == [
        (new, ExclusionReason.GRID_FAILURE, meter, "outage report 2025/117")
    ]
    assert exclusions(conn, START + timedelta(hours=30), START + timedelta(days=3)) == []
    last = audit.last(conn)
    assert last is not None
    assert (last.action, last.actor, last.target_kind, last.target_id) == (
        "kpi.exclusion",
        "dispatcher",
        "meter",
        str(meter),
    )
    assert last.details is not None and last.details["document"] == "outage report 2025/117"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"document": " "}, "evidence"),
        ({"actor": ""}, "user"),
        ({"reason": "weather"}, "unknown reason"),
        ({"meter_id": None}, "exactly one"),
        ({"ends_at": START}, "after starts_at"),
        ({"starts_at": datetime(2025, 11, 12)}, "timezone-aware"),
    ],
)
def test_kpi2_undocumented_or_malformed_exclusion_is_refused(
    conn: Connection, meter: UUID, changes: dict[str, object], problem: str
) -> None:
    args: dict[str, object] = {
        "reason": "customer_no_access",
        "starts_at": START,
        "document": "letter of 2025-11-10",
        "actor": "dispatcher",
        "at": AT,
        "meter_id": meter,
    }
    args.update(changes)
    with pytest.raises(ExclusionRefused, match=problem):
        record_exclusion(conn, **args)  # type: ignore[arg-type]
    assert exclusions(conn, START - timedelta(days=1), START + timedelta(days=1)) == []
