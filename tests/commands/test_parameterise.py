"""Group parameterisation from a prepared parameter file (CMD-8): the file checked whole on load
with typed errors, applied to a group of real virtual meters over loopback, each setting read
back per meter, and only by those allowed to parameterise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from metra.dlms.cosem import objects
from metra.dlms.obis import Obis
from metra.headend.parameter_file import MAX_FILE_OCTETS, ParameterFileError, load, parse
from metra.profiles import Profile
from metra.security.command_requests import submit
from metra.security.roles import Role
from metra.security.safeguards import SafeguardRefused
from metra.store import commands
from metra.store.masterdata import Entity, create
from metra.store.schema import security_event

from .conftest import LOCAL, START, ZONE, person, rig
from .test_execution import run

LOAD_PROFILE = Obis(1, 0, 99, 1, 0, 255)
WAN_PUSH = Obis(0, 0, 25, 9, 0, 255)

TOML = """
name = "LP 30 min, limit 6 kW, WAN push spread"
description = "reviewed 2025-03-10"

[[set]]
class_id = 7
obis = "1-0:99.1.0.255"
attribute = 4
type = "double-long-unsigned"
value = 1800

[[set]]
class_id = 71
obis = "0-0:17.0.0.255"
attribute = 4
type = "double-long-unsigned"
value = 6000

[[set]]
class_id = 40
obis = "0-0:25.9.0.255"
attribute = 5
type = "long-unsigned"
value = 30
"""


def _file(tmp_path: Path, body: Any, suffix: str = ".json") -> Path:
    path = tmp_path / f"params{suffix}"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def _entry(**kw: Any) -> dict[str, Any]:
    entry = {
        "class_id": 7,
        "obis": "1-0:99.1.0.255",
        "attribute": 4,
        "type": "double-long-unsigned",
        "value": 1800,
    }
    entry.update(kw)
    return entry


def test_cmd8_toml_and_json_files_make_the_same_settings(tmp_path: Path) -> None:
    """CMD-8: the same settings in TOML and JSON give the same typed values and parameters
    (only the file's digest differs)."""
    toml = load(_file(tmp_path, TOML, ".toml"))
    as_json = {"name": toml.name, "set": toml.params()["set"]}
    other = load(_file(tmp_path, as_json))
    assert [(s.class_id, str(s.obis), s.attribute, s.value) for s in toml.settings] == [
        (7, "1-0:99.1.0.255", 4, 1800),
        (71, "0-0:17.0.0.255", 4, 6000),
        (40, "0-0:25.9.0.255", 5, 30),
    ]
    assert [s.value for s in other.settings] == [s.value for s in toml.settings]
    assert type(toml.settings[2].value).__name__ == "LongUnsigned"
    assert toml.sha256 != other.sha256 and len(toml.sha256) == 64
    nested = parse(
        json.dumps(
            {
                "name": "window",
                "set": [
                    _entry(
                        class_id=40,
                        obis="0-0:25.9.0.255",
                        attribute=4,
                        type="array",
                        value=[
                            {
                                "type": "structure",
                                "value": [
                                    {"type": "date-time", "value": "2025-03-11T00:00:00+01:00"},
                                    {"type": "date-time", "value": "2025-03-11T06:00:00+01:00"},
                                ],
                            }
                        ],
                    )
                ],
            }
        ).encode(),
        "window.json",
    )
    (window,) = nested.settings
    assert isinstance(window.value, list) and len(window.value[0]) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"name": "x", "set": [_entry(type="unsigned-ish")]}, "set[0].type"),
        ({"name": "x", "set": [_entry(type="unsigned", value=300)]}, "set[0].value"),
        ({"name": "x", "set": [_entry(type="long-unsigned", value=True)]}, "set[0].value"),
        ({"name": "x", "set": [_entry(type="float32", value=1e39)]}, "set[0].value"),
        ({"name": "x", "set": [_entry(type="octet-string", value="zz")]}, "set[0].value"),
        ({"name": "x", "set": [_entry(obis="1-0:99.1")]}, "set[0].obis"),
        ({"name": "x", "set": [{"class_id": 7, "obis": "1-0:99.1.0.255"}]}, "set[0].attribute"),
        ({"name": "x", "set": [_entry(class_id=70, obis="0-0:96.3.10.255")]}, "set[0]"),
        ({"name": "x", "set": [_entry(class_id=64, obis="0-0:43.0.1.255", attribute=2)]}, "set[0]"),
        ({"name": "x", "set": [_entry(class_id=8, obis="0-0:1.0.0.255", attribute=2)]}, "set[0]"),
        (
            {"name": "x", "set": [_entry(class_id=40, obis="0-7:25.9.0.255", attribute=3)]},
            "set[0]",
        ),
        ({"name": "x", "set": [_entry(), _entry(value=900)]}, "set[1]"),
        ({"name": "x", "set": []}, "set"),
        ({"name": "x", "set": [_entry()], "extra": 1}, ""),
        ({"set": [_entry()]}, "name"),
        (
            {
                "name": "x",
                "set": [_entry(type="array", value=[{"type": "array", "value": []}] * 300)],
            },
            "set[0].value",
        ),
    ],
)
def test_cmd8_bad_files_refused_whole_with_the_field(
    tmp_path: Path, doc: dict[str, Any], path: str
) -> None:
    """Bad input gets a typed error naming the entry and field: unknown types, values outside
    their type, refused attributes owned by safeguarded commands (relay, keys, clock, HAN),
    duplicates, unknown keys, oversized values."""
    with pytest.raises(ParameterFileError) as err:
        load(_file(tmp_path, doc))
    assert err.value.path == path, str(err.value)


def test_cmd8_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError, match="not readable"):
        load(_file(tmp_path, "name = 'x'\n[[set]\n", ".toml"))
    with pytest.raises(ParameterFileError, match="larger than"):
        load(_file(tmp_path, " " * (MAX_FILE_OCTETS + 1)))
    with pytest.raises(ParameterFileError):
        load(tmp_path / "missing.json")


def test_cmd8_only_who_may_parameterise(conn: Connection, pl: Profile, tmp_path: Path) -> None:
    """CMD-8: the service role applies a prepared file; an operator (read-only) is refused and
    the refusal is a security event."""
    prepared = load(_file(tmp_path, TOML, ".toml"))
    meter = create(conn, Entity.METER, {"serial": "P1"}, effective=START.date())
    done = submit(
        conn,
        person("sam", Role.SERVICE),
        pl,
        ZONE,
        "parameterise",
        [meter],
        params=prepared.params(),
        source_address=LOCAL,
        now=START,
    )
    assert done.status == "approved" and len(done.command_ids) == 1
    with pytest.raises(SafeguardRefused) as err:
        submit(
            conn,
            person("olga", Role.OPERATOR),
            pl,
            ZONE,
            "parameterise",
            [meter],
            params=prepared.params(),
            source_address=LOCAL,
            now=START,
        )
    assert err.value.rule == "permission"
    events = conn.execute(select(security_event.c.description)).scalars().all()
    assert any("olga may not parameterise" in e for e in events)


def test_cmd8_file_applied_to_a_group_and_read_back_per_meter(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-8: a file of three settings applied to two of three meters: each setting read back
    on each meter by the reading client, the third meter untouched, per-meter results name
    every setting; applied again, nothing is written."""
    prepared = load(_file(tmp_path, TOML, ".toml"))

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=3) as r:
            group, outside = r.ids[:2], r.ids[2]
            ids = r.submit(
                "parameterise", group, params=prepared.params(), actor=person("sam", Role.SERVICE)
            )
            done = await r.runner.run_once(r.targets)
            assert [d.status for d in done] == ["confirmed", "confirmed"], done
            for m in group:
                assert await r.read(m, 7, LOAD_PROFILE, 4) == 1800
                assert await r.read(m, 71, objects.LIMITER, 4) == 6000
                assert await r.read(m, 40, WAN_PUSH, 5) == 30
            assert await r.read(outside, 7, LOAD_PROFILE, 4) == 900
            assert await r.read(outside, 40, WAN_PUSH, 5) != 30
            with file_engine.connect() as c:
                for cid in ids:
                    result = commands.get(c, cid).result
                    assert result is not None
                    assert (result["file"], result["sha256"]) == (prepared.name, prepared.sha256)
                    assert [s["result"] for s in result["settings"]] == ["set"] * 3
            again = r.submit("parameterise", group, params=prepared.params())
            done = await r.runner.run_once(r.targets)
            assert [d.status for d in done] == ["confirmed", "confirmed"]
            with file_engine.connect() as c:
                result = commands.get(c, again[0]).result
                assert result is not None
                assert [s["result"] for s in result["settings"]] == ["unchanged"] * 3

    run(body())


def test_cmd8_a_setting_the_meter_refuses_fails_that_meter_naming_it(
    file_engine: Engine, tmp_path: Path
) -> None:
    """A file whose second setting the meter refuses (the load profile's fixed columns): the
    command fails naming set[1] and what was applied before it."""
    doc = {
        "name": "columns",
        "set": [
            _entry(class_id=40, obis="0-0:25.9.0.255", attribute=5, type="long-unsigned", value=9),
            _entry(attribute=3, type="array", value=[]),
        ],
    }
    prepared = load(_file(tmp_path, doc))

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            r.submit("parameterise", [m], params=prepared.params())
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None
            assert "set[1] 1-0:99.1.0.255:3 refused by the meter" in done.reason
            assert "applied before it: ['set[0]']" in done.reason
            assert await r.read(m, 40, WAN_PUSH, 5) == 9

    run(body())
