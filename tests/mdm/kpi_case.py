"""The hand-computed KPI case shared by the KPI tests (see test_kpi_acquisition for the table)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import Connection, insert

from metra.mdm.kpi import record_exclusion
from metra.profiles import load_profile
from metra.store.command_schema import command_detail, command_request
from metra.store.intervals import DayReading, Origin, status_code, write_days
from metra.store.masterdata import Entity, create

PL = load_profile("pl")
CHANNEL = "1-0:1.29.0.255"
DAY = date(2025, 11, 12)
BEFORE = DAY - timedelta(days=1)
REMOTE = status_code(Origin.REMOTE)
LOCAL = status_code(Origin.LOCAL)
FINAL = datetime(2025, 11, 25, tzinfo=UTC)


def utc(day: int, hour: int) -> datetime:
    return datetime(2025, 11, day, hour, tzinfo=UTC)


def from_hub(conn: Connection, command_id: UUID, kind: str, at: datetime) -> None:
    """Give a hand-inserted `command` row the market hub's request as its origin: KPI-3 counts
    the hub's commands only."""
    request = uuid4()
    conn.execute(
        insert(command_request).values(
            id=request,
            kind=kind,
            meters=1,
            source="hub",
            requested_by="hub",
            requested_at=at,
            emergency=False,
            approvals_required=0,
            status="approved",
        )
    )
    conn.execute(
        insert(command_detail).values(command_id=command_id, request_id=request, attempts=0)
    )


def day_read(
    meter: UUID,
    day: date,
    at: datetime,
    *,
    origin: int = REMOTE,
    only: range | None = None,
    skip: range = range(0),
) -> DayReading:
    wanted = set(only if only is not None else range(96)) - set(skip)
    values = [float(i) if i in wanted else None for i in range(96)]
    return DayReading(
        meter, CHANNEL, day, values, [origin if v is not None else 0 for v in values], at
    )


def fleet(conn: Connection) -> dict[str, UUID]:
    old = date(2024, 1, 1)
    station = create(conn, Entity.SUBSTATION, {"code": "SS-1", "kind": "MV/LV"}, effective=old)
    other = create(conn, Entity.SUBSTATION, {"code": "SS-2", "kind": "MV/LV"}, effective=old)
    feeders = {
        s: create(conn, Entity.FEEDER, {"substation_id": s, "code": "F1"}, effective=old)
        for s in (station, other)
    }
    ids: dict[str, UUID] = {}
    for i in range(14):
        name = f"M{i}"
        attrs: dict[str, object] = {"serial": f"SN-{i:02d}", "commissioned_on": old}
        if i == 13:
            attrs["removed_on"] = date(2025, 11, 1)
        meter = create(conn, Entity.METER, attrs, effective=old)
        feeder = feeders[station if i == 7 else other]
        delivery = create(conn, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=old)
        joined = date(2025, 9, 15) if i == 10 else old
        create(
            conn,
            Entity.METERING_POINT,
            {"delivery_point_id": delivery, "meter_id": meter, "role": "main", "joined_on": joined},
            effective=old,
        )
        ids[name] = meter
    ids["SS-1"] = station
    reads: list[DayReading] = []
    for name in ("M0", "M1", "M2", "M3", "M4", "M10", "M12", "M13"):
        reads += [day_read(ids[name], BEFORE, utc(13, 1)), day_read(ids[name], DAY, utc(13, 1))]
    reads += [day_read(ids["M5"], BEFORE, utc(12, 1)), day_read(ids["M5"], DAY, utc(13, 10))]
    reads += [
        day_read(ids["M6"], BEFORE, utc(13, 3)),
        day_read(ids["M6"], DAY, utc(13, 3), skip=range(40, 44)),
    ]
    reads += [day_read(ids["M8"], BEFORE, utc(12, 2), only=range(92, 96))]
    reads += [
        day_read(ids["M9"], BEFORE, utc(13, 1), origin=LOCAL),
        day_read(ids["M9"], DAY, utc(13, 1), origin=LOCAL),
    ]
    write_days(conn, reads)
    write_days(conn, [day_read(ids["M6"], DAY, utc(16, 5), only=range(40, 44))])  # version 2
    record_exclusion(
        conn,
        "grid_failure",
        starts_at=utc(12, 10),
        ends_at=utc(13, 20),
        document="outage report 2025/117",
        actor="dispatcher",
        at=utc(14, 8),
        substation_id=station,
    )
    for name in ("M11", "M12"):
        record_exclusion(
            conn,
            "customer_no_access",
            starts_at=utc(1, 0),
            document=f"letter about {name}",
            actor="dispatcher",
            at=utc(14, 8),
            meter_id=ids[name],
        )
    return ids
