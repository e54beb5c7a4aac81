"""``metra export`` on an SQLite store: files written by a logged-in user with the permission,
every export recorded in the audit trail with who, for whom, period, meters, points, format and
the file's hash (ACC-6); a signed wholesale report verifies and a tampered one does not (ACC-4)."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from metra.cli.main import app
from metra.security.totp import totp
from metra.store import audit, make_engine, migrate
from tests.cli.accounts import ROOT_PASSWORD, root_and_reader
from tests.exports.keys import operator
from tests.exports.world import DAYS, FIRST, PROFILE, build

KEY = "44" * 32
SPAN = ["--from", FIRST.isoformat(), "--to", (FIRST + timedelta(days=DAYS - 1)).isoformat()]


def _accounts(db: str) -> tuple[str, bytes]:
    """root (administrator, TOTP) may release data; olga (operator) may only read."""
    engine = make_engine(db)
    with engine.begin() as conn:
        build(conn)
        key = root_and_reader(conn, PROFILE.passwords, KEY)
    engine.dispose()
    return ROOT_PASSWORD, key


def _last(db: str) -> audit.AuditRecord:
    engine = make_engine(db)
    with engine.connect() as conn:
        entry = audit.last(conn)
    engine.dispose()
    assert entry is not None
    return entry


def test_acc6_cli_exports_are_permission_checked_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "export.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_MASTER_KEY", KEY)
    password, key = _accounts(db)
    run = CliRunner().invoke

    out = tmp_path / "sn2.csv"
    args = ["export", "readings", "--meter", "SN-2", *SPAN, "--out", str(out), "--user", "olga"]
    result = run(app, args, input="Reader-pass-456\n")
    assert result.exit_code == 0, result.output
    entry = _last(db)
    assert (entry.actor, entry.action, entry.target_kind, entry.target_id) == (
        "olga",
        "export.readings",
        "export",
        "internal",
    )
    details = entry.details or {}
    assert details["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert details["meters"] == ["SN-2"] and details["format"] == "csv"
    assert details["period"] == {"first": SPAN[1], "last": SPAN[3]}
    assert details["metering_points"]["SN-2"] is not None and not details["third_party"]

    refused = tmp_path / "refused.csv"
    args = ["export", "readings", "--substation", "SS-1", *SPAN, "--out", str(refused)]
    result = run(
        app, [*args, "--user", "olga", "--recipient", "Retailer X"], input="Reader-pass-456\n"
    )
    assert result.exit_code != 0 and "may not export" in result.output
    assert not refused.exists() and _last(db).seq == entry.seq

    cim = tmp_path / "ss1.xml"
    args = ["export", "readings", "--substation", "SS-1", *SPAN, "--out", str(cim), "--local"]
    args += ["--format", "cim", "--user", "root", "--recipient", "Retailer X"]
    result = run(app, args, input=f"{password}\n{totp(key, time.time())}\n")
    assert result.exit_code == 0, result.output
    assert etree.parse(str(cim)).getroot().tag.endswith("MeterReadings")
    entry = _last(db)
    details = entry.details or {}
    assert (entry.actor, entry.target_id, details["third_party"]) == ("root", "Retailer X", True)
    assert details["meters"] == ["BAL-1", "SN-1", "SN-2", "SN-3"]
    assert details["format"] == "cim" and details["time_zone"] == "Europe/Warsaw"

    events = tmp_path / "events.txt"
    args = ["export", "events", "--meter", "SN-1", *SPAN, "--out", str(events), "--format", "txt"]
    assert run(app, [*args, "--user", "olga"], input="Reader-pass-456\n").exit_code == 0
    assert _last(db).action == "export.events" and "power.down" in events.read_text()

    bad = run(app, ["export", "readings", "--meter", "SN-9", *SPAN, "--out", str(tmp_path / "x"),
                    "--user", "olga"], input="Reader-pass-456\n")  # fmt: skip
    assert bad.exit_code != 0 and "no meter" in bad.output and "Traceback" not in bad.output
    assert run(app, ["audit", "verify"]).exit_code == 0


def test_acc4_cli_signed_wholesale_report_verifies_and_tampering_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "wholesale.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_MASTER_KEY", KEY)
    _accounts(db)
    key_pem, cert_pem = operator()
    key_file, cert_file = tmp_path / "operator.key", tmp_path / "operator.pem"
    key_file.write_bytes(key_pem)
    cert_file.write_bytes(cert_pem)
    report = tmp_path / "wholesale.xml"
    args = ["export", "wholesale", "--substation", "SS-1", *SPAN, "--out", str(report)]
    args += ["--user", "olga", "--sign", str(key_file), "--cert", str(cert_file)]
    run = CliRunner().invoke
    result = run(app, args, input="Reader-pass-456\n")
    assert result.exit_code == 0, result.output
    assert _last(db).action == "export.wholesale"
    ok = run(app, ["export", "verify", str(report), "--cert", str(cert_file)])
    assert ok.exit_code == 0 and "signature valid" in ok.output and "Grid Operator" in ok.output
    text = report.read_bytes()
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(text.replace(b'status="measured"', b'status="estimated"', 1))
    bad = run(app, ["export", "verify", str(tampered), "--cert", str(cert_file)])
    assert bad.exit_code == 1 and "does not verify" in bad.output
    unsigned = run(
        app,
        ["export", "wholesale", "--meter", "SN-1", *SPAN, "--out", str(tmp_path / "u.xml"),
         "--user", "olga", "--profile", "ru"],
        input="Reader-pass-456\n",
    )  # fmt: skip
    assert unsigned.exit_code != 0 and "signed" in unsigned.output
