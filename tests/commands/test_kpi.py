"""KPI-3 of commands submitted through the engine, computed by metra's one KPI-3
(`metra.mdm.kpi.commands`): hub commands within 3 h per MV/LV substation group, on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection

from metra.mdm.kpi.commands import Delivery, command_delivery
from metra.mdm.kpi.report import daily_report
from metra.profiles import Profile
from metra.security.command_requests import submit
from metra.security.roles import Role
from metra.store import commands
from metra.store.commands import Status
from metra.store.masterdata import Entity, create

from .conftest import LOCAL, ZONE, person

#: Tuesday 2025-03-11, 10:00 in Warsaw.
NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
DAY = date(2025, 3, 11)


def _grid(conn: Connection) -> dict[str, list[UUID]]:
    """SS1 and SS2 (MV/LV, 20 meters each) and SS3 (HV/MV, 2 MV customers' meters)."""
    old = date(2024, 1, 1)
    meters: dict[str, list[UUID]] = {}
    for code, kind, count in (("SS1", "MV/LV", 20), ("SS2", "MV/LV", 20), ("SS3", "HV/MV", 2)):
        station = create(conn, Entity.SUBSTATION, {"code": code, "kind": kind}, effective=old)
        feeder = create(conn, Entity.FEEDER, {"substation_id": station, "code": "F"}, effective=old)
        meters[code] = []
        for i in range(count):
            meter = create(conn, Entity.METER, {"serial": f"{code}-{i:02d}"}, effective=old)
            point = create(conn, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=old)
            create(
                conn,
                Entity.METERING_POINT,
                {"delivery_point_id": point, "meter_id": meter, "role": "main"},
                effective=old,
            )
            meters[code].append(meter)
    return meters


def _deliver(conn: Connection, command_id: UUID, after: timedelta | None) -> None:
    commands.transition(conn, command_id, Status.SENT, at=NOW, actor="t")
    if after is not None:
        commands.transition(conn, command_id, Status.CONFIRMED, at=NOW + after, actor="t")


def _submit(conn: Connection, pl: Profile, meter: UUID, *, source: str, by: str = "hub") -> UUID:
    done = submit(
        conn,
        person(by, Role.SERVICE),
        pl,
        ZONE,
        "power_limit",
        [meter],
        params={"watts": 1},
        source=source,
        source_address=LOCAL,
        now=NOW,
    )
    (cid,) = done.command_ids
    return cid


def test_kpi3_hub_commands_delivered_within_three_hours_per_mv_lv_substation(
    conn: Connection, pl: Profile
) -> None:
    """KPI-3: SS1 19 of 20 hub commands within 3 h (95 %: met; one confirmed after 4 h is late);
    SS2 18 of 20 (90 %: not met); the operator's own command stays out of the figures but is
    judged for its deadline; SS3 is HV/MV, where the indicator is not defined: shown, never
    judged."""
    grid = _grid(conn)
    for i, meter in enumerate(grid["SS1"]):
        _deliver(conn, _submit(conn, pl, meter, source="hub"), timedelta(hours=4 if i == 0 else 2))
    for i, meter in enumerate(grid["SS2"]):
        _deliver(
            conn, _submit(conn, pl, meter, source="hub"), None if i < 2 else timedelta(hours=1)
        )
    for meter in grid["SS3"]:
        _deliver(conn, _submit(conn, pl, meter, source="hub"), timedelta(hours=1))
    operator = _submit(conn, pl, grid["SS2"][5], source="operator", by="ann")

    result = command_delivery(conn, pl, DAY, as_of=NOW + timedelta(days=1))
    table = [(f.group.label, f.group.mv_lv, f.commands, f.delivered, f.met) for f in result.groups]
    assert table == [
        ("SS1", True, 20, 19, True),
        ("SS2", True, 20, 18, False),
        ("SS3", False, 2, 2, None),
    ]
    ss1 = result.groups[0]
    assert ss1.percent == 95.0 and ss1.target_percent == 95.0
    assert [o.delivery for o in ss1.below] == [Delivery.LATE]
    by_id = {o.id: o for o in result.outcomes}
    assert by_id[operator].source == "operator"
    assert by_id[operator].delivery is Delivery.NOT_DELIVERED
    assert len(result.outcomes) == 43

    everything = command_delivery(conn, pl, DAY, as_of=NOW + timedelta(days=1), source=None)
    assert [f.commands for f in everything.groups] == [20, 21, 2]

    report = daily_report(conn, pl, DAY, channel="1-0:1.29.0.255", as_of=NOW + timedelta(days=1))
    groups = report.to_json()["commands"]["groups"]
    assert [(g["group"], g["mv_lv"], g["met"]) for g in groups] == [
        ("SS1", True, True),
        ("SS2", True, False),
        ("SS3", False, None),
    ]
