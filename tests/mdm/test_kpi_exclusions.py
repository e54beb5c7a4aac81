"""Documented exclusions from the acquisition KPI (KPI-2): stored with evidence and audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Connection

from metra.mdm.kpi import ExclusionReason, ExclusionRefused, exclusions, record_exclusion
from metra.profiles import ProfileError, load_profile, load_profile_file
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


N7 = '  ["customer_no_access"],\n]'
N3 = '  ["customer_no_access", "grid_failure"],\n'


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (N3 + N7, N7, "needs one list per kpi.acquisition checkpoint"),
        (N7, '  ["weather"],\n]', "'weather' is not one of"),
        (N7, '  ["customer_no_access", "customer_no_access"],\n]', "must not repeat"),
    ],
)
def test_kpi2_profile_checkpoint_exclusions_are_validated(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    """The PL list (S1 16.11: both reasons at n+1 and n+3, only the customer's fault at n+7)
    loads; a list per checkpoint with known reasons is required."""
    assert load_profile("pl").kpi.checkpoint_exclusions == (
        ("customer_no_access", "grid_failure"),
        ("customer_no_access", "grid_failure"),
        ("customer_no_access",),
    )
    text = (resources.files("metra.profiles") / "data" / "pl.toml").read_text("utf-8")
    assert text.count(old) == 1
    path = tmp_path / "pl.toml"
    path.write_text(text.replace(old, new), "utf-8")
    with pytest.raises(ProfileError, match=problem):
        load_profile_file(path)
