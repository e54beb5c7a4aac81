"""Command delivery effectiveness (KPI-3) and execution deadlines (CMD-4) on SQLite and PostgreSQL.

Deadlines are checked against the Polish calendar as published (Easter Monday 2025-04-21,
Independence Day 11-11, Christmas Eve a holiday from 2025): a normal command has 3 working days
counted from the day after receipt, ending 24:00 local time; a high-priority one 24 hours.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import Connection, insert

from metra.mdm.kpi.commands import (
    DeadlineState,
    Delivery,
    command_deadline,
    command_delivery,
    judge,
    substation_groups,
)
from metra.mdm.kpi.population import Population
from metra.profiles import load_profile
from metra.store.masterdata import Entity, create
from metra.store.schema import command
from tests.mdm.kpi_case import from_hub

PL = load_profile("pl")
WARSAW = ZoneInfo("Europe/Warsaw")
DAY = date(2025, 11, 12)
FINAL = datetime(2025, 11, 20, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "received", "deadline"),
    [
        # Good Friday works; Sat, Easter Sunday, Easter Monday do not: Tue, Wed, Thu.
        (
            "disconnect",
            datetime(2025, 4, 18, 14, tzinfo=WARSAW),
            datetime(2025, 4, 25, tzinfo=WARSAW),
        ),
        # 24 (from 2025), 25, 26 Dec holidays, then a weekend: Mon 29, Tue 30, Wed 31.
        ("tariff", datetime(2025, 12, 23, 10, tzinfo=WARSAW), datetime(2026, 1, 1, tzinfo=WARSAW)),
        # Friday evening, Independence Day on Tuesday: Mon 10, Wed 12, Thu 13.
        (
            "disconnect",
            datetime(2025, 11, 7, 16, tzinfo=WARSAW),
            datetime(2025, 11, 14, tzinfo=WARSAW),
        ),
        # High priority (S1 16.7): 24 h, weekends and holidays do not stop the clock.
        ("connect", datetime(2025, 11, 8, 10, tzinfo=UTC), datetime(2025, 11, 9, 10, tzinfo=UTC)),
        (
            "emergency_power_limit",
            datetime(2025, 12, 24, 18, tzinfo=UTC),
            datetime(2025, 12, 25, 18, tzinfo=UTC),
        ),
    ],
)
def test_cmd4_kpi3_deadlines_follow_the_working_day_calendar(
    kind: str, received: datetime, deadline: datetime
) -> None:
    assert command_deadline(PL, kind, received) == deadline


def test_cmd4_deadline_states() -> None:
    received = utc(12, 8)  # Wednesday; normal deadline 2025-11-18 00:00 local = 11-17 23:00 UTC

    def verdict(**kw: Any) -> tuple[Delivery, DeadlineState]:
        args: dict[str, Any] = {
            "kind": "disconnect",
            "status": "confirmed",
            "created_at": received,
            "not_before": None,
            "updated_at": utc(12, 9),
            "as_of": FINAL,
        }
        args.update(kw)
        _, delivery, due, state = judge(PL, **args)
        assert due == utc(17, 23)
        return delivery, state

    assert verdict() == (Delivery.DELIVERED, DeadlineState.MET)
    assert verdict(updated_at=utc(12, 11, 1)) == (Delivery.LATE, DeadlineState.MET)
    assert verdict(updated_at=utc(18, 0)) == (Delivery.LATE, DeadlineState.MISSED)
    assert verdict(status="failed") == (Delivery.NOT_DELIVERED, DeadlineState.OVERDUE)
    assert verdict(status="sent", as_of=utc(12, 10)) == (Delivery.PENDING, DeadlineState.OPEN)
    assert verdict(status="queued", as_of=utc(13, 0)) == (
        Delivery.NOT_DELIVERED,
        DeadlineState.OPEN,
    )
    assert verdict(status="cancelled") == (Delivery.CANCELLED, DeadlineState.CANCELLED)


def test_kpi3_groups_of_at_most_200_meters_per_substation() -> None:
    n = 450 + 200 + 3
    stations = [UUID(int=1)] * 450 + [UUID(int=2)] * 200 + [None] * 3
    codes = ["SS-A"] * 450 + ["SS-B"] * 200 + [None] * 3
    pop = Population(
        day=DAY,
        meter_ids=tuple(UUID(int=100 + i) for i in range(n)),
        serials=tuple(f"SN-{i:04d}" for i in range(n)),
        installed_on=(None,) * n,
        counted=np.ones(n, np.bool_),
        feeder_ids=(None,) * n,
        substation_ids=tuple(stations),
        substation_codes=tuple(codes),
    )
    groups = substation_groups(pop, PL.kpi.command_group_max_meters)
    assert [(g.label, len(g.meters)) for g in groups] == [
        ("SS-A/1", 150),
        ("SS-A/2", 150),
        ("SS-A/3", 150),
        ("SS-B", 200),
        ("no substation", 3),
    ]
    assert sorted(m for g in groups for m in g.meters) == list(range(n))


def _grid(conn: Connection) -> dict[str, UUID]:
    old = date(2024, 1, 1)
    ids: dict[str, UUID] = {}
    for code, count in (("SS-A", 5), ("SS-B", 2)):
        station = create(conn, Entity.SUBSTATION, {"code": code, "kind": "MV/LV"}, effective=old)
        feeder = create(conn, Entity.FEEDER, {"substation_id": station, "code": "F"}, effective=old)
        for i in range(count):
            name = f"{code[-1]}{i}"
            meter = create(conn, Entity.METER, {"serial": f"SN-{name}"}, effective=old)
            delivery = create(conn, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=old)
            create(
                conn,
                Entity.METERING_POINT,
                {"delivery_point_id": delivery, "meter_id": meter, "role": "main"},
                effective=old,
            )
            ids[name] = meter
    return ids


def _command(
    conn: Connection,
    meter: UUID,
    kind: str,
    created: datetime,
    status: str,
    updated: datetime | None = None,
    not_before: datetime | None = None,
) -> UUID:
    ident = uuid4()
    conn.execute(
        insert(command).values(
            id=ident,
            meter_id=meter,
            kind=kind,
            priority=1 if kind == "connect" else 5,
            status=status,
            created_at=created,
            not_before=not_before,
            updated_at=updated or created,
        )
    )
    from_hub(conn, ident, kind, created)
    return ident


def _commands(conn: Connection) -> dict[str, UUID]:
    ids = _grid(conn)
    return {
        "c1": _command(conn, ids["A0"], "disconnect", utc(12, 8), "confirmed", utc(12, 9, 30)),
        "c2": _command(conn, ids["A1"], "connect", utc(12, 9), "confirmed", utc(12, 13)),
        "c3": _command(conn, ids["A2"], "tariff", utc(12, 10), "failed", utc(12, 10, 30)),
        "c4": _command(
            conn, ids["A3"], "tariff", utc(12, 20), "confirmed", utc(12, 23, 30), utc(12, 21)
        ),
        "c5": _command(conn, ids["A4"], "disconnect", utc(12, 9), "cancelled", utc(12, 9, 5)),
        "c6": _command(conn, ids["B0"], "tariff", utc(12, 12), "confirmed", utc(12, 12, 5)),
        "c7": _command(conn, ids["B1"], "tariff", utc(12, 12), "queued"),
        # 00:30 local on 11-12 (23:30 UTC the day before) is day n; 00:30 local on 11-13 is not.
        "c8": _command(conn, ids["B1"], "tariff", utc(11, 23, 30), "confirmed", utc(12, 0)),
        "c9": _command(conn, ids["B0"], "tariff", utc(12, 23, 30), "confirmed", utc(12, 23, 40)),
    }


def test_kpi3_hand_computed_groups(conn: Connection) -> None:
    """SS-A (5 meters, groups of 3 here) -> A/1: c1 on time, c2 after 4 h, c3 failed = 1/3;
    A/2: c4 within 3 h of its not-before, c5 cancelled = 1/1; SS-B: c6, c8 on time, c7 never
    = 2/3. c9 belongs to 11-13 local."""
    made = _commands(conn)
    profile = dataclasses.replace(PL, kpi=dataclasses.replace(PL.kpi, command_group_max_meters=3))
    result = command_delivery(conn, profile, DAY, as_of=FINAL)
    table = [
        (f.group.label, len(f.group.meters), f.commands, f.delivered, f.pending, f.met)
        for f in result.groups
    ]
    assert table == [
        ("SS-A/1", 3, 3, 1, 0, False),
        ("SS-A/2", 2, 1, 1, 0, True),
        ("SS-B", 2, 3, 2, 0, False),
    ]
    assert [round(f.percent or 0, 2) for f in result.groups] == [33.33, 100.0, 66.67]
    below = {o.id: o.delivery for f in result.groups for o in f.below}
    assert below == {
        made["c2"]: Delivery.LATE,
        made["c3"]: Delivery.NOT_DELIVERED,
        made["c7"]: Delivery.NOT_DELIVERED,
    }
    assert made["c9"] not in {o.id for o in result.outcomes}
    late = {o.id: o.deadline_state for o in result.late_for_deadline()}
    assert late == {made["c3"]: DeadlineState.OVERDUE, made["c7"]: DeadlineState.OVERDUE}


def test_kpi3_as_it_stood_during_the_day(conn: Connection) -> None:
    """At 10:15 UTC: c1 delivered, c2 and c3 still inside their window (their later states are
    not known yet), c5 cancelled, later commands not received yet, c8 delivered just after
    midnight local time."""
    made = _commands(conn)
    result = command_delivery(conn, PL, DAY, as_of=utc(12, 10, 15))
    by_id = {o.id: o.delivery for o in result.outcomes}
    assert by_id == {
        made["c8"]: Delivery.DELIVERED,
        made["c1"]: Delivery.DELIVERED,
        made["c5"]: Delivery.CANCELLED,
        made["c2"]: Delivery.PENDING,
        made["c3"]: Delivery.PENDING,
    }
    assert [(f.group.label, f.commands, f.delivered, f.pending, f.met) for f in result.groups] == [
        ("SS-A", 1, 1, 2, None),
        ("SS-B", 1, 1, 0, True),
    ]
