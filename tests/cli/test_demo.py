"""``metra demo`` as a user runs it (the README's main command): a small fleet with faults, read
into a fresh SQLite file; every expected interval is stored or reported missing with its reason
(COL-1, COL-8, DQ-1, KPI-5)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from metra.cli.main import app

runner = CliRunner()


def test_demo_once_json_accounts_for_every_interval(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    result = runner.invoke(
        app, ["demo", "--meters", "12", "--days", "2", "--once", "--json", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("meters", "days", "intervals_expected", "intervals_stored", "intervals_missing"):
        assert key in summary
    assert summary["meters"] == 12 and summary["days"] == 2
    assert summary["intervals_expected"] == 12 * 2 * 96  # PL: 15-minute intervals
    missing = sum(summary["intervals_missing"].values())
    assert summary["intervals_stored"] + missing == summary["intervals_expected"]
    assert summary["intervals_stored"] > 0.5 * summary["intervals_expected"]
    assert {"events", "alarms", "seconds"} <= summary.keys()
    # VEE ran over what was read (DQ-4): every validated interval is measured, estimated or
    # reported without an estimate, and every missing interval of a read meter is a gap finding.
    vee = summary["vee"]
    assert 0 < vee["intervals_validated"] <= summary["intervals_expected"]
    accounted = vee["intervals_measured"] + sum(vee["estimated"].values()) + vee["not_estimated"]
    assert accounted == vee["intervals_validated"]
    assert vee["intervals_measured"] <= summary["intervals_stored"]
    # The key store's master key sits next to the database, readable by its owner only (SEC-7).
    key_file = db.with_suffix(".master-key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_demo_refuses_unknown_profile(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--profile", "xx", "--once", "--db", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "unknown profile" in result.output
