"""COL-12: local reads from a portable device imported later, and readings given by the customer.

Stored as raw data with origin local / customer in the status (DQ-1, DQ-2) under the raw rules
(DQ-5): re-import is a no-op, a changed value is a new flagged version, a bad file stores nothing.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Connection, func, select
from typer.testing import CliRunner

from metra.cli.main import app
from metra.headend.local_reads import (
    ImplausibleReading,
    LocalReadInvalid,
    enter_customer_reading,
    import_local,
    load,
    parse,
)
from metra.profiles import load_profile
from metra.security.totp import totp
from metra.store import make_engine, migrate, registers
from metra.store.intervals import Origin, Outcome, meter_status_of, origin_of, read, versions
from metra.store.masterdata import Entity, create
from metra.store.schema import audit_record, interval_day, register_reading
from tests.cli.accounts import ROOT_PASSWORD, root_and_reader

from .conftest import add_meter

NOW = datetime(2024, 3, 5, 12, tzinfo=UTC)
START = datetime(2024, 3, 4, tzinfo=UTC)
TITLE = bytes.fromhex("4D4554000000002A")


def session_file() -> dict[str, Any]:
    """Four quarter-hours on two channels and one register, as a service tool would write."""
    rows = [
        {"at": (START + timedelta(minutes=15 * (i + 1))).isoformat(), "status": 0, "values": [i, 0]}
        for i in range(4)
    ]
    rows[2]["status"] = 0x08
    return {
        "format": "metra-local-read",
        "version": 1,
        "device_id": "PSU-0042",
        "operator": "j.nowak",
        "read_at": "2024-03-05T09:00:00+01:00",
        "meter": {"serial": "LOC1", "system_title": TITLE.hex()},
        "load_profile": {
            "interval_s": 900,
            "channels": ["1.0.1.29.0.255", "1-0:2.29.0.255"],
            "rows": rows,
        },
        "registers": [
            {
                "obis": "1.0.1.8.0.255",
                "captured_at": "2024-03-05T08:00:00Z",
                "value": 123456,
                "scaler": 0,
                "unit": 30,
                "status": 0,
            }
        ],
    }


def _count(conn: Connection) -> tuple[int, int]:
    days = conn.execute(select(func.count()).select_from(interval_day)).scalar_one()
    regs = conn.execute(select(func.count()).select_from(register_reading)).scalar_one()
    return days, regs


def test_col12_dq1_dq2_good_file_stored_with_origin_local(conn: Connection, tmp_path: Path) -> None:
    meter = add_meter(conn, "LOC1", TITLE)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session_file()))
    result = import_local(conn, load(path), actor="admin", now=NOW)
    assert result.meter_id == meter and result.intervals == 8 and result.registers_new == 1
    values = read(conn, meter, "1-0:1.29.0.255", START, START + timedelta(days=1))
    assert [v.value for v in values] == [0, 1, 2, 3]
    assert [v.start for v in values] == [START + timedelta(minutes=15 * i) for i in range(4)]
    assert all(origin_of(v.status) is Origin.LOCAL for v in values)
    assert meter_status_of(values[2].status) == 0x08
    assert all(v.registered_at == NOW for v in values)  # DQ-1
    (reg,) = registers.readings(conn, meter, "1-0:1.8.0.255", START, NOW)
    assert reg.raw_value == 123456 and origin_of(reg.status) is Origin.LOCAL
    assert reg.read_at == datetime(2024, 3, 5, 8, tzinfo=UTC)
    entry = conn.execute(
        select(audit_record).where(audit_record.c.action == "local-read.import")
    ).one()
    assert entry.actor == "admin" and entry.target_id == str(meter)
    assert entry.details["device_id"] == "PSU-0042" and entry.details["serial"] == "LOC1"
    assert entry.details["intervals"] == 8 and entry.details["registers_new"] == 1


def _broken(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(session_file())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["device_id"], KeyError, "device_id"),
        (["operator"], "", "operator"),
        (["read_at"], "2024-03-05T09:00:00", "read_at"),
        (["meter", "system_title"], "zz", "meter.system_title"),
        (["load_profile", "interval_s"], 7, "load_profile.interval_s"),
        (["load_profile", "channels", 1], "not-obis", "load_profile.channels[1]"),
        (["load_profile", "rows", 1, "at"], "2024-03-04T00:20:00Z", "load_profile.rows[1].at"),
        (["load_profile", "rows", 3, "values", 0], "7", "load_profile.rows[3].values[0]"),
        (["load_profile", "rows", 0, "values"], [1], "load_profile.rows[0].values"),
        (["load_profile", "rows", 0, "status"], 256, "load_profile.rows[0].status"),
        (["registers", 0, "obis"], "1.8", "registers[0].obis"),
        (["registers", 0, "value"], float("nan"), "registers[0].value"),
        (["format"], "other", "format"),
    ],
)
def test_col12_dq5_bad_file_names_field_and_stores_nothing(
    conn: Connection, path: list[str | int], value: Any, field: str
) -> None:
    add_meter(conn, "LOC1", TITLE)
    with pytest.raises(LocalReadInvalid) as caught:
        import_local(conn, parse(_broken(path, value)), actor="admin", now=NOW)
    assert caught.value.field == field
    assert _count(conn) == (0, 0)


def test_col12_unknown_meter_or_other_system_title_refused(conn: Connection) -> None:
    add_meter(conn, "LOC1", bytes(8))
    with pytest.raises(LocalReadInvalid) as caught:
        import_local(conn, parse(session_file()), actor="admin", now=NOW)
    assert caught.value.field == "meter.system_title"
    with pytest.raises(LocalReadInvalid) as caught:
        import_local(conn, parse(_broken(["meter", "serial"], "NOPE")), actor="a", now=NOW)
    assert caught.value.field == "meter.serial"
    assert _count(conn) == (0, 0)


def test_col12_not_json_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(LocalReadInvalid, match="not JSON"):
        load(path)


def test_col12_dq5_reimport_idempotent_changed_value_new_flagged_version(
    conn: Connection,
) -> None:
    meter = add_meter(conn, "LOC1", TITLE)
    import_local(conn, parse(session_file()), actor="admin", now=NOW)
    before = _count(conn)
    again = import_local(conn, parse(session_file()), actor="admin", now=NOW + timedelta(hours=1))
    assert again.unchanged and _count(conn) == before
    changed = session_file()
    changed["load_profile"]["rows"][1]["values"][0] = 9.5
    changed["registers"][0]["value"] = 999
    later = NOW + timedelta(hours=2)
    result = import_local(conn, parse(changed), actor="admin", now=later)
    (flagged,) = result.flagged
    assert flagged.outcome is Outcome.NEW_VERSION and flagged.differs == (1,)
    assert result.conflicts == ("1-0:1.8.0.255@2024-03-05T08:00:00+00:00",)
    old, new = versions(conn, meter, "1-0:1.29.0.255", date(2024, 3, 4))
    assert old.values[1] == 1 and new.values[1] == 9.5 and new.changed == (1,)
    (reg,) = registers.readings(conn, meter, "1-0:1.8.0.255", START, NOW)
    assert reg.raw_value == 123456  # the first stored capture is kept (DQ-5)


def _customer_meter(conn: Connection, capacity_kw: float) -> UUID:
    meter = add_meter(conn, "CUST1")
    point = create(
        conn, Entity.DELIVERY_POINT, {"max_power_kw": capacity_kw}, effective=date(2024, 1, 1)
    )
    create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": point, "meter_id": meter, "role": "main"},
        effective=date(2024, 1, 1),
    )
    registers.add_readings(
        conn,
        [
            registers.RegisterReading(
                meter, "1-0:1.8.0.255", START, 1_000_000, 0, 30, 1, START
            )  # 1000 kWh read remotely
        ],
    )
    return meter


def test_col12_dq2_customer_reading_stored_with_origin_customer(conn: Connection) -> None:
    meter = _customer_meter(conn, 10.0)
    at = START + timedelta(hours=24)
    stored = enter_customer_reading(
        conn, meter, "1.0.1.8.0.255", 1100.5, at, actor="admin", now=NOW
    )
    assert origin_of(stored.status) is Origin.CUSTOMER
    found = registers.readings(conn, meter, "1-0:1.8.0.255", at, at + timedelta(seconds=1))
    assert [float(registers.scaled(r.raw_value, r.scaler)) for r in found] == [1_100_500.0]
    assert (
        conn.execute(
            select(audit_record.c.actor).where(audit_record.c.action == "customer-reading.enter")
        ).scalar_one()
        == "admin"
    )


@pytest.mark.parametrize(
    ("kwh", "reason"),
    [(999.0, "below the last reading"), (1240.1, "connection allows"), (-1.0, "not a meter")],
)
def test_col12_implausible_customer_reading_refused(
    conn: Connection, kwh: float, reason: str
) -> None:
    """10 kW for 24 h allows at most 240 kWh more than the 1000 kWh read a day earlier."""
    meter = _customer_meter(conn, 10.0)
    at = START + timedelta(hours=24)
    with pytest.raises(ImplausibleReading, match=reason):
        enter_customer_reading(conn, meter, "1.0.1.8.0.255", kwh, at, actor="admin", now=NOW)
    assert _count(conn) == (0, 1)
    enter_customer_reading(conn, meter, "1.0.1.8.0.255", 1239.9, at, actor="admin", now=NOW)


def test_col12_cli_import_local_and_customer_as_authorised_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`metra import local|customer --as USER`: an operator is refused, the administrator
    (data:edit, password then TOTP) imports; a bad file and an implausible reading fail clearly."""
    key_hex = "44" * 32
    db = str(tmp_path / "import.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_MASTER_KEY", key_hex)
    engine = make_engine(db)
    with engine.begin() as conn:
        seed = root_and_reader(conn, load_profile("pl").passwords, key_hex)
        add_meter(conn, "LOC1", TITLE)
        _customer_meter(conn, 10.0)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session_file()))
    run = CliRunner().invoke

    out = run(app, ["import", "local", str(path), "--as", "olga"], input="Reader-pass-456\n")
    assert out.exit_code != 0 and "may not import" in out.output
    now = time.time()

    def login(step: int) -> str:  # each log-in needs a fresh TOTP step (no replay)
        return f"{ROOT_PASSWORD}\n{totp(seed, now + 30 * step)}\n"

    out = run(app, ["import", "local", str(path), "--as", "root"], input=login(-1))
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["intervals"] == 8 and summary["days"] == {"new": 2}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_broken(["load_profile", "rows", 0, "status"], -1)))
    out = run(app, ["import", "local", str(bad), "--as", "root"])
    assert out.exit_code != 0 and "load_profile.rows[0].status" in out.output

    customer = ["import", "customer", "--meter", "CUST1", "--obis", "1.0.1.8.0.255"]
    customer += ["--at", "2024-03-05T00:00:00Z", "--as", "root"]
    out = run(app, [*customer, "--value", "5000"], input=login(0))
    assert out.exit_code != 0 and "connection allows" in out.output
    out = run(
        app,
        [*customer, "--value", "1100"],
        input=login(1),
    )
    assert out.exit_code == 0, out.output
    with engine.connect() as conn:
        assert _count(conn) == (2, 3)  # the file's, the remote one, the customer's
    engine.dispose()
