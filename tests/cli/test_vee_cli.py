"""``metra vee`` on an SQLite store: run over stored raw data, edit as an authorised user with a
reason, show the versions (DQ-4, DQ-9, DQ-11, SEC-4)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from metra.cli.main import app
from metra.profiles import load_profile
from metra.security.totp import totp
from metra.store import audit, make_engine, migrate
from metra.store.intervals import DayReading, write_days
from metra.store.masterdata import Entity, create
from tests.cli.accounts import ROOT_PASSWORD, root_and_reader
from tests.mdm.virtual import model, truth

KEY = "33" * 32
FIRST = date(2025, 3, 3)
DAY = FIRST + timedelta(days=29)
AT = datetime(2025, 4, 10, tzinfo=UTC)
CHANNEL = "1-0:1.29.0.255"


def _store(db: str) -> None:
    """Three meters with 30 days of Wh values; meter SN-1 lost 45 minutes of the last day."""
    wh = truth([model(i, seed=5) for i in range(3)], FIRST, 30).values * 1000.0
    wh[1, 29 * 96 + 40 : 29 * 96 + 43] = np.nan
    engine = make_engine(db)
    with engine.begin() as conn:
        meters = [
            create(conn, Entity.METER, {"serial": f"SN-{i}"}, effective=date(2024, 1, 1))
            for i in range(3)
        ]
        write_days(
            conn,
            [
                DayReading(
                    m,
                    CHANNEL,
                    FIRST + timedelta(days=d),
                    [None if np.isnan(v) else float(v) for v in wh[i, d * 96 : (d + 1) * 96]],
                    [0 if np.isnan(v) else 1 for v in wh[i, d * 96 : (d + 1) * 96]],
                    AT,
                )
                for i, m in enumerate(meters)
                for d in range(30)
            ],
        )
    engine.dispose()


def _accounts(db: str) -> tuple[str, bytes]:
    """An administrator with TOTP (holds data:edit) and an operator (reads only)."""
    engine = make_engine(db)
    with engine.begin() as conn:
        key = root_and_reader(conn, load_profile("pl").passwords, KEY)
    engine.dispose()
    return ROOT_PASSWORD, key


def test_dq4_dq11_vee_run_edit_with_reason_by_authorised_user_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "vee.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_MASTER_KEY", KEY)
    _store(db)
    password, key = _accounts(db)
    run = CliRunner().invoke

    out = run(app, ["vee", "--day", DAY.isoformat(), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["meters"] == 3 and summary["intervals_validated"] == 3 * 96
    assert summary["findings"] == {"gap": 1}
    assert summary["estimated"] == {"interpolated": 3}
    assert summary["versions_written"] == 3
    table = run(app, ["vee", "--day", DAY.isoformat()])
    assert table.exit_code == 0 and "interpolated" in table.output and "gap" in table.output

    edit = ["vee", "edit", "--meter", "SN-1", "--day", DAY.isoformat(), "--interval", "5"]
    edit += ["--value", "123.0"]
    out = run(
        app, [*edit, "--reason", "meter swapped", "--user", "olga"], input="Reader-pass-456\n"
    )
    assert out.exit_code != 0 and "may not edit" in out.output  # an operator only reads
    out = run(app, [*edit, "--reason", "  ", "--user", "root"])
    assert out.exit_code != 0 and "reason" in out.output
    code = totp(key, time.time())
    out = run(
        app, [*edit, "--reason", "meter swapped", "--user", "root"], input=f"{password}\n{code}\n"
    )
    assert out.exit_code == 0, out.output

    out = run(app, ["vee", "show", "--meter", "SN-1", "--day", DAY.isoformat(), "--json"])
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)["versions"]
    assert [v["version"] for v in shown] == [1, 2]
    assert shown[0]["method"] == {"interpolated": 3, "measured": 93}
    assert shown[1]["kind"] == "manual" and shown[1]["served"] and shown[1]["created_by"] == "root"
    assert shown[1]["reason"] == "meter swapped"
    assert shown[1]["method"] == {"interpolated": 3, "manual": 1, "measured": 92}
    assert shown[1]["quality"] == {"valid": 96}
    engine = make_engine(db)
    with engine.connect() as conn:
        entry = audit.last(conn)
    engine.dispose()
    assert entry is not None and entry.action == "mdm.edit" and entry.actor == "root"
    assert entry.details is not None and entry.details["after"] == [123.0]
    assert run(app, ["audit", "verify"]).exit_code == 0
