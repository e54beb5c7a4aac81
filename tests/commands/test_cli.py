"""``metra command`` end to end on an SQLite file against a running virtual fleet: a bulk
disconnection submitted by one person, refused to her own approval, approved by a second, executed
by ``run`` with signed commands and confirmed by read-back (SEC-4, SEC-6, CMD-6, STO-5)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from metra.cli.main import app
from metra.headend.importer import import_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.meter.fleet import Fleet, FleetConfig
from metra.profiles import load_profile
from metra.security import users
from metra.security.roles import Principal, Role
from metra.security.sealing import SecretBox
from metra.security.totp import totp
from metra.store import make_engine, migrate

KEY = "33" * 32
KEK = "44" * 32


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """A fleet served from its own event loop, so the CLI can run its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    made = Fleet(FleetConfig(meters=2, seed=5))
    asyncio.run_coroutine_threadsafe(made.start(), loop).result(20)
    try:
        yield made
    finally:
        asyncio.run_coroutine_threadsafe(made.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _people(db: str) -> dict[str, bytes]:
    """ann and bob, service engineers with passwords and TOTP, made by the administrator."""
    pl = load_profile("pl")
    box = SecretBox.from_env()
    engine = make_engine(db)
    seeds = {}
    with engine.begin() as c:
        root_id, _ = users.bootstrap(c, "root")
        root = Principal(root_id, "root", frozenset({Role.ADMINISTRATOR}))
        for name in ("ann", "bob"):
            uid = users.create(c, root, name, policy=pl.passwords, initial_password="Initial-pw-1!")
            users.grant(c, root, uid, Role.SERVICE)
            users.change_password(
                c, uid, "Initial-pw-1!", f"Strong-pw-{len(name)}9!x", policy=pl.passwords
            )
            seeds[name] = users.enrol_totp(c, uid, box)
    engine.dispose()
    return seeds


def _store_with_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fleet: Fleet
) -> tuple[str, Path]:
    """A migrated SQLite store named by METRA_DB holding the fleet's meters (inventory imported
    with their keys), and the inventory file ``run`` reads the addresses from."""
    db = str(tmp_path / "m.db")
    migrate(db)
    for name, value in {
        "METRA_DB": db,
        "METRA_PROFILE": "pl",
        "METRA_MASTER_KEY": KEY,
        "METRA_KEK": KEK,
    }.items():
        monkeypatch.setenv(name, value)
    inventory = tmp_path / "inventory.json"
    fleet.write_inventory(inventory, bytes.fromhex(KEK))
    engine = make_engine(db)
    import_file(
        engine,
        KeyStore(MasterKey.load()),
        inventory,
        bytes.fromhex(KEK),
        at=datetime.now(UTC),
        by="import",
    )
    engine.dispose()
    return db, inventory


def test_cli_bulk_disconnection_two_people_signed_and_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fleet: Fleet
) -> None:
    monkeypatch.setenv("METRA_CONTROLLED_ZONES", "127.0.0.1/32")
    db, inventory = _store_with_fleet(tmp_path, monkeypatch, fleet)
    seeds = _people(db)
    operator = tmp_path / "operator.pem"
    operator.write_bytes(
        fleet.operator_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    operator.chmod(0o600)
    step = [-30.0, 0.0, 30.0]  # each log-in uses a newer TOTP step (replays are refused)

    def as_(name: str, n: int) -> str:
        code = totp(seeds[name], time.time() + step[n])
        return f"Strong-pw-{len(name)}9!x\n{code}\n"

    run = CliRunner().invoke
    serials = [m.identity.serial for m in fleet.meters]
    out = run(
        app,
        [
            "command",
            "submit",
            "disconnect",
            "--meter",
            serials[0],
            "--meter",
            serials[1],
            "--as",
            "ann",
        ],
        input=as_("ann", 0),
    )
    assert out.exit_code == 0, out.output
    submitted = json.loads(out.output.strip().splitlines()[-1])
    assert submitted["status"] == "awaiting_approval"
    request = submitted["request"]
    out = run(app, ["command", "approve", request, "--as", "ann"], input=as_("ann", 1))
    assert out.exit_code != 0 and "self_approval" in out.output
    out = run(app, ["command", "approve", request, "--as", "bob"], input=as_("bob", 0))
    assert out.exit_code == 0, out.output
    out = run(
        app, ["command", "run", "--inventory", str(inventory), "--operator-key", str(operator)]
    )
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.strip().splitlines()]
    assert [line["status"] for line in lines] == ["confirmed", "confirmed"], lines
    out = run(app, ["command", "show", request, "--as", "bob"], input=as_("bob", 1))
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output.strip().splitlines()[-1])
    assert shown["approvers"] == ["bob"]
    assert {c["status"] for c in shown["commands"]} == {"confirmed"}
    out = run(app, ["audit", "verify"])
    assert out.exit_code == 0 and out.output.startswith("ok:"), out.output


def test_cli_bad_calendar_file_refused_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CMD-2: ``--params-file`` with a calendar whose season names no week is refused with the
    field's path before log-in; no request is stored."""
    from metra.store import commands

    db = str(tmp_path / "m.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_PROFILE", "pl")
    bad = tmp_path / "calendar.json"
    calendar = {
        "name": "G11",
        "seasons": [{"name": "ALL", "start": "01-01", "week": "NONE"}],
        "weeks": [{"name": "W", "days": [1] * 7}],
        "days": [{"id": 1, "actions": [{"start": "00:00", "zone": 1}]}],
    }
    bad.write_text(json.dumps({"calendar": calendar}))
    args = ["command", "submit", "activity_calendar", "--meter", "X", "--as", "ann"]
    out = CliRunner().invoke(app, [*args, "--params-file", str(bad)])
    assert out.exit_code != 0
    assert "nothing submitted" in out.output and "calendar.seasons[0].week" in out.output
    engine = make_engine(db)
    with engine.connect() as c:
        assert commands.listing(c) == []
    engine.dispose()


def test_cli_parameterise_a_substation_from_a_prepared_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fleet: Fleet
) -> None:
    """CMD-8: ``metra command parameterise`` refuses a bad file before anything is stored, then
    applies a good one to every meter behind a substation; ``run`` confirms each by read-back
    and ``show`` gives each meter's result per setting."""
    from metra.store.masterdata import Entity, create, find

    db, inventory = _store_with_fleet(tmp_path, monkeypatch, fleet)
    engine = make_engine(db)
    old = datetime(2024, 1, 1).date()
    with engine.begin() as c:
        station = create(c, Entity.SUBSTATION, {"code": "SS-P", "kind": "MV/LV"}, effective=old)
        feeder = create(c, Entity.FEEDER, {"substation_id": station, "code": "F1"}, effective=old)
        for m in fleet.meters:
            (meter_id,) = find(c, Entity.METER, datetime.now(UTC).date(), serial=m.identity.serial)
            point = create(c, Entity.DELIVERY_POINT, {"feeder_id": feeder}, effective=old)
            create(
                c,
                Entity.METERING_POINT,
                {"delivery_point_id": point, "meter_id": meter_id, "role": "main"},
                effective=old,
            )
    engine.dispose()
    seeds = _people(db)
    step = [0.0, 30.0]

    def as_ann(n: int) -> str:
        return f"Strong-pw-39!x\n{totp(seeds['ann'], time.time() + step[n])}\n"

    run = CliRunner().invoke
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[set]]\nclass_id = 70\nobis = "0-0:96.3.10.255"\nattribute = 4\n')
    args = ["command", "parameterise", "--substation", "SS-P", "--as", "ann"]
    out = run(app, [*args, "--file", str(bad)])
    assert out.exit_code != 0 and "nothing submitted" in out.output and "set[0]" in out.output
    good = tmp_path / "lp.toml"
    good.write_text(
        'name = "LP 30 min"\n[[set]]\nclass_id = 7\nobis = "1-0:99.1.0.255"\nattribute = 4\n'
        'type = "double-long-unsigned"\nvalue = 1800\n'
    )
    out = run(app, [*args, "--file", str(good)], input=as_ann(0))
    assert out.exit_code == 0, out.output
    submitted = json.loads(out.output.strip().splitlines()[-1])
    assert (submitted["meters"], submitted["file"], submitted["status"]) == (
        2,
        "LP 30 min",
        "approved",
    )
    out = run(app, ["command", "run", "--inventory", str(inventory)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.strip().splitlines()]
    assert [line["status"] for line in lines] == ["confirmed", "confirmed"], lines
    out = run(app, ["command", "show", submitted["request"], "--as", "ann"], input=as_ann(1))
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output.strip().splitlines()[-1])
    assert shown["reason"].startswith("parameter file LP 30 min (sha256 ")
    results = [c["result"]["settings"] for c in shown["commands"]]
    assert results == [[{"obis": "1-0:99.1.0.255", "attribute": 4, "result": "set"}]] * 2
