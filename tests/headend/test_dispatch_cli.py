"""`metra collect` refuses bad set-ups with one clear line and a non-zero exit, before touching
meters or queues: no master key (SEC-7: never defaulted), no inventory KEK, a queue name
JetStream cannot hold, a store without schema, a NATS server that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from metra.cli import collect
from metra.cli.main import app

runner = CliRunner()
MASTER = "11" * 32


def test_worker_without_master_key_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METRA_MASTER_KEY", raising=False)
    monkeypatch.delenv("METRA_MASTER_KEY_FILE", raising=False)
    result = runner.invoke(app, ["collect", "worker", "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert "no master key" in result.output and "Traceback" not in result.output


def test_run_without_kek_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRA_MASTER_KEY", MASTER)
    monkeypatch.delenv("METRA_KEK", raising=False)
    inventory = tmp_path / "fleet.json"
    inventory.write_text("{}")
    args = ["collect", "run", "--db", str(tmp_path / "s.db"), "--inventory", str(inventory)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "key-encryption key is required" in result.output


def test_worker_refuses_bad_queue_name_and_unmigrated_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRA_MASTER_KEY", MASTER)
    db = str(tmp_path / "empty.db")
    bad = runner.invoke(app, ["collect", "worker", "--db", db, "--queue", "a.b"])
    assert bad.exit_code == 1 and "queue name" in bad.output
    empty = runner.invoke(app, ["collect", "worker", "--db", db])
    assert empty.exit_code == 1 and "has no schema" in empty.output


def test_worker_says_so_when_nats_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metra.store import migrate

    monkeypatch.setenv("METRA_MASTER_KEY", MASTER)
    monkeypatch.setattr(collect, "CONNECT_S", 0.5)
    db = tmp_path / "s.db"
    migrate(db)
    result = runner.invoke(
        app, ["collect", "worker", "--db", str(db), "--nats", "nats://127.0.0.1:1"]
    )
    assert result.exit_code == 1
    assert "error: NATS at nats://127.0.0.1:1" in result.output
    assert "Traceback" not in result.output
