"""Scope of data sent (CMD-2): the load profile's capture period and capture objects and a push
setup's object list, set through the command engine against real virtual meters and read back
independently through the reading client."""

from __future__ import annotations

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


def test_cmd2_scope_the_meter_refuses_fails_and_names_what(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-1: the virtual meter's load-profile columns are fixed (capture_objects is read-only),
    and a 10-minute period is not one the profile allows: each command fails naming the refused
    attribute, and the meter keeps its period."""
    columns = [
        {"class_id": 8, "obis": "0-0:1.0.0.255", "attribute": 2},
        {"class_id": 3, "obis": "1-0:1.29.0.255", "attribute": 2},
    ]

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            r.submit("data_scope", [m], params={"capture_objects": columns})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None
            assert "capture_objects (1-0:99.1.0.255:3) refused" in done.reason
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
