"""Activity calendar and special days commands against real virtual meters over loopback, each
confirmed by read-back and observed independently through the reading client (CMD-2, MTR-7).

The fleet starts on Tuesday 2025-03-11, 10:00 in Warsaw (standard time). The factory calendar
puts 17:00-21:00 on a winter workday in zone 3 (peak); the G12 calendar written here has only a
day zone 1 and a night zone 2 (22-06 and 13-15), so at 17:00 it says zone 1.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine

from metra.dlms.cosem import objects
from metra.dlms.cosem.calendar import SpecialDayEntry
from metra.dlms.obis import Obis
from metra.headend.command_params import ParamsError, calendar_plan, special_days_plan
from metra.store import commands

from .conftest import START, Rig, rig
from .test_execution import run

CURRENT_TARIFF = Obis(0, 0, 96, 14, 0, 255)

G12: dict[str, Any] = {
    "name": "G12",
    "seasons": [{"name": "ALL", "start": "01-01", "week": "G12"}],
    "weeks": [{"name": "G12", "days": [1, 1, 1, 1, 1, 2, 2]}],
    "days": [
        {
            "id": 1,
            "actions": [
                {"start": "00:00", "zone": 2},
                {"start": "06:00", "zone": 1},
                {"start": "13:00", "zone": 2},
                {"start": "15:00", "zone": 1},
                {"start": "22:00", "zone": 2},
            ],
        },
        {"id": 2, "actions": [{"start": "00:00", "zone": 2}]},
        # Public holidays: the meter's special days table names day 4, so the calendar has one.
        {"id": 4, "actions": [{"start": "00:00", "zone": 2}]},
    ],
}


async def zone(r: Rig, meter_id: UUID) -> int:
    return int(await r.read(meter_id, 1, CURRENT_TARIFF, 2))  # type: ignore[call-overload]


async def calendar_name(r: Rig, meter_id: UUID, attr: int = 2) -> Any:
    return await r.read(meter_id, 20, objects.ACTIVITY_CALENDAR, attr)


async def special_days(r: Rig, meter_id: UUID) -> list[SpecialDayEntry]:
    rows = await r.read(meter_id, 11, objects.SPECIAL_DAYS_TABLE, 2)
    assert isinstance(rows, list)
    return [SpecialDayEntry.from_data(v) for v in rows]


def test_cmd2_activity_calendar_written_activated_and_read_back(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: the G12 calendar is written as the passive one and activated now; the reading
    client sees it active (name and tables) and at 17:00 the meter counts in zone 1, where the
    untouched meter's factory calendar counts in peak zone 3. Sent again, it is confirmed
    without a second activation."""

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            m, other = r.ids
            assert await calendar_name(r, m) == b"METRA-TOU-1"
            (cid,) = r.submit("activity_calendar", [m], params={"calendar": G12})
            (done,) = await r.runner.run_once(r.targets)
            assert (done.status, done.reason) == ("confirmed", None)
            assert await calendar_name(r, m) == b"G12"
            assert await calendar_name(r, m, 6) == b"G12"  # the passive stays as written
            weeks = await r.read(m, 20, objects.ACTIVITY_CALENDAR, 4)
            assert weeks == [[b"G12", 1, 1, 1, 1, 1, 2, 2]]
            assert await calendar_name(r, other) == b"METRA-TOU-1"
            r.fleet.clock.advance(timedelta(hours=7))  # 17:00 local
            assert (await zone(r, m), await zone(r, other)) == (1, 3)
            with file_engine.connect() as c:
                assert commands.get(c, cid).result == {"calendar": "G12", "activated": True}
            (again,) = r.submit("activity_calendar", [m], params={"calendar": G12}, request_id=None)
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed"
            with file_engine.connect() as c:
                assert commands.get(c, again).result == {"calendar": "G12", "already": True}

    run(body())


def test_cmd2_calendar_activated_at_its_activation_time(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: with an activation time the command writes the passive calendar and
    activate_passive_calendar_time (both read back); the meter keeps its calendar until then
    and switches by itself once the time has come."""
    when = (START + timedelta(hours=2)).isoformat()

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            r.submit("activity_calendar", [m], params={"calendar": G12, "activate": when})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            assert await calendar_name(r, m, 6) == b"G12"
            assert await calendar_name(r, m) == b"METRA-TOU-1"
            r.fleet.clock.advance(timedelta(hours=2, minutes=1))
            assert await calendar_name(r, m) == b"G12"

    run(body())


def test_cmd2_special_day_inserted_and_deleted_read_back(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: today becomes a special day with the holiday day profile (zone 4 from the next
    quarter hour) and entry 1 is deleted; the table read back through the reading client shows
    both. The same command again changes nothing and is confirmed."""
    params = {"insert": [{"index": 300, "date": "2025-03-11", "day_id": 4}], "delete": [1]}

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            before = await special_days(r, m)
            assert any(e.index == 1 for e in before) and await zone(r, m) == 1
            (cid,) = r.submit("special_days", [m], params=params)
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            after = await special_days(r, m)
            assert not any(e.index == 1 for e in after)
            (today,) = [e for e in after if e.index == 300]
            assert (today.specialday_date.to_date().isoformat(), today.day_id) == (
                "2025-03-11",
                4,
            )
            assert len(after) == len(before)
            r.fleet.clock.advance(timedelta(minutes=15))
            assert await zone(r, m) == 4
            again = r.submit("special_days", [m], params=params)
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed"
            with file_engine.connect() as c:
                assert commands.get(c, cid).result == {
                    "inserted": 1,
                    "deleted": 1,
                    "entries": len(after),
                }
                assert commands.get(c, again[0]).result == {
                    "inserted": 0,
                    "deleted": 0,
                    "entries": len(after),
                }

    run(body())


def test_cmd2_bad_calendar_refused_before_sending_and_at_execution(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-1: a calendar whose season names no week is refused with the field's path before
    anything is stored; a stored one (bypassing the face) fails at execution, and the meter's
    calendar is unchanged."""
    broken = {**G12, "seasons": [{"name": "ALL", "start": "01-01", "week": "NONE"}]}
    with pytest.raises(ParamsError) as err:
        calendar_plan({"calendar": broken})
    assert err.value.path == "calendar.seasons[0].week"
    for bad, path in (
        (
            {"calendar": {**G12, "days": [{"id": 1, "actions": [{"start": "25:00", "zone": 1}]}]}},
            "calendar.days[0].actions[0].start",
        ),
        ({"calendar": {**G12, "name": "x" * 33}}, "calendar.name"),
        ({"calendar": G12, "activate": "2025-03-12T00:00"}, "activate"),
    ):
        with pytest.raises(ParamsError) as err:
            calendar_plan(bad)
        assert err.value.path == path
    with pytest.raises(ParamsError):
        special_days_plan({"insert": [{"index": 1, "date": "02-30", "day_id": 4}]})

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            r.submit("activity_calendar", [m], params={"calendar": broken})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None and "calendar.seasons[0].week" in done.reason
            assert await calendar_name(r, m, 6) == b"METRA-TOU-1"

    run(body())
