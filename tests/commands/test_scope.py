"""Scope of data sent (CMD-2): the load profile's capture period and capture objects and a push
setup's object list, set through the command engine against real virtual meters and read back
independently through the reading client."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.obis import Obis
from metra.headend.command_params import ParamsError, scope_plan
from metra.store import commands

from .conftest import rig
from .test_execution import run

LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)
WAN_PUSH = Obis(0, 0, 25, 9, 0, 255)
PUSHED = [
    {"class_id": 40, "obis": "0-0:25.9.0.255", "attribute": 1},
    {"class_id": 8, "obis": "0-0:1.0.0.255", "attribute": 2},
    {"class_id": 3, "obis": "1-0:1.8.0.255", "attribute": 2},
]


def _objects(value: Any) -> list[CaptureObjectDefinition]:
    assert isinstance(value, list)
    return [CaptureObjectDefinition.from_data(v) for v in value]


def test_cmd2_capture_period_and_push_objects_set_and_read_back(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: the load profile goes from 15 to 30 minutes (the meter then keeps half as many
    entries for the same depth) and the WAN push sends clock and A+ only; both read back, the
    other meter untouched; the same command again writes nothing."""
    params = {"capture_period_s": 1800, "push": [{"setup": "0-0:25.9.0.255", "objects": PUSHED}]}

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            m, other = r.ids
            entries = await r.read(m, 7, LOAD_PROFILE, 8)
            factory = _objects(await r.read(m, 40, WAN_PUSH, 2))  # push id and device id
            assert [o.class_id for o in factory] == [40, 1]
            assert await r.read(m, 7, LOAD_PROFILE, 4) == 900
            (cid,) = r.submit("data_scope", [m], params=params)
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            assert await r.read(m, 7, LOAD_PROFILE, 4) == 1800
            assert await r.read(m, 7, LOAD_PROFILE, 8) == int(entries) // 2  # type: ignore[call-overload]
            pushed = _objects(await r.read(m, 40, WAN_PUSH, 2))
            assert [(o.class_id, str(o.logical_name), o.attribute_index) for o in pushed] == [
                (40, "0-0:25.9.0.255", 1),
                (8, "0-0:1.0.0.255", 2),
                (3, "1-0:1.8.0.255", 2),
            ]
            assert await r.read(other, 7, LOAD_PROFILE, 4) == 900
            assert _objects(await r.read(other, 40, WAN_PUSH, 2)) == factory
            (again,) = r.submit("data_scope", [m], params=params)
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed"
            with file_engine.connect() as c:
                assert commands.get(c, cid).result == {
                    "profile": "1-0:99.1.0.255",
                    "applied": ["capture_period_s", "push 0-0:25.9.0.255"],
                    "unchanged": [],
                }
                assert commands.get(c, again).result["applied"] == []  # type: ignore[index]

    run(body())


COLUMNS = [
    {"class_id": 8, "obis": "0-0:1.0.0.255", "attribute": 2},
    {"class_id": 3, "obis": "1-0:1.8.0.255", "attribute": 2},
    {"class_id": 3, "obis": "1-0:1.29.0.255", "attribute": 2},
]
A_PLUS = Obis(1, 0, 1, 8, 0, 255)


def test_cmd2_capture_objects_set_read_back_and_the_buffer_restarts(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: the load profile's columns become clock, A+ register and A+ energy of the period.
    Read back through the reading client; the meter empties the buffer on the change (Blue Book
    class 7: entries in use 0, and a range read over the day before returns nothing), then
    captures with the new columns: each entry's register minus the previous one is that
    entry's period energy, and the newest register is at most the A+ register read now. The
    same columns again are `unchanged` and keep the buffer; the other meter keeps its columns."""

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            m, other = r.ids
            factory = _objects(await r.read(m, 7, LOAD_PROFILE, 3))
            assert int(await r.read(m, 7, LOAD_PROFILE, 7)) > 0  # type: ignore[call-overload]
            r.submit("data_scope", [m], params={"capture_objects": COLUMNS})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            picked = _objects(await r.read(m, 7, LOAD_PROFILE, 3))
            assert [(o.class_id, str(o.logical_name)) for o in picked] == [
                (8, "0-0:1.0.0.255"),
                (3, "1-0:1.8.0.255"),
                (3, "1-0:1.29.0.255"),
            ]
            assert await r.read(m, 7, LOAD_PROFILE, 7) == 0
            now = r.fleet.clock.now()
            async with r.reading(m) as c:
                earlier = await c.get_profile(LOAD_PROFILE.to_bytes(), now - timedelta(days=1), now)
            assert earlier == []
            r.fleet.clock.advance(timedelta(hours=2))
            assert await r.read(m, 7, LOAD_PROFILE, 7) == 8
            rows = await r.read(m, 7, LOAD_PROFILE, 2)
            register_now = int(await r.read(m, 3, A_PLUS, 2))  # type: ignore[call-overload]
            assert isinstance(rows, list) and len(rows) == 8
            assert all(len(row) == 3 for row in rows)  # type: ignore[arg-type]
            for prev, row in itertools.pairwise(rows):
                assert int(row[1]) - int(prev[1]) == int(row[2])  # type: ignore[index, call-overload]
            assert int(rows[-1][1]) <= register_now  # type: ignore[index, call-overload]
            assert _objects(await r.read(other, 7, LOAD_PROFILE, 3)) == factory
            (again,) = r.submit("data_scope", [m], params={"capture_objects": COLUMNS})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed"
            with file_engine.connect() as c:
                assert commands.get(c, again).result["unchanged"] == ["capture_objects"]  # type: ignore[index]
            assert await r.read(m, 7, LOAD_PROFILE, 7) == 8

    run(body())


def test_cmd2_scope_the_meter_refuses_fails_and_names_what(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-1: a column the meter cannot capture (a phase voltage) and a 10-minute period the
    profile does not allow are refused: each command fails naming the refused attribute, and
    the meter keeps its columns, its buffer and its period."""
    columns = [
        {"class_id": 8, "obis": "0-0:1.0.0.255", "attribute": 2},
        {"class_id": 3, "obis": "1-0:32.7.0.255", "attribute": 2},
    ]

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            factory = await r.read(m, 7, LOAD_PROFILE, 3)
            entries = await r.read(m, 7, LOAD_PROFILE, 7)
            r.submit("data_scope", [m], params={"capture_objects": columns})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None
            assert "capture_objects (1-0:99.1.0.255:3) refused" in done.reason
            assert "object-undefined" in done.reason
            assert await r.read(m, 7, LOAD_PROFILE, 3) == factory
            assert await r.read(m, 7, LOAD_PROFILE, 7) == entries
            r.submit("data_scope", [m], params={"capture_period_s": 600})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None and "capture_period_s" in done.reason
            assert await r.read(m, 7, LOAD_PROFILE, 4) == 900

    run(body())


def test_cmd2_scope_parameters_checked() -> None:
    """Bad scopes are refused with the field's path before anything is sent."""
    for bad, path in (
        ({}, ""),
        ({"capture_period_s": 0}, "capture_period_s"),
        (
            {"push": [{"setup": "0-0:25.9.0", "objects": [{"class_id": 3}]}]},
            "push[0].objects[0].obis",
        ),
        ({"profile": "not obis", "capture_period_s": 900}, "profile"),
    ):
        with pytest.raises(ParamsError) as err:
            scope_plan(bad)
        assert err.value.path == path
