"""``metra fleet`` as an operator runs it: the KEK is mandatory and never defaulted (SEC-2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from metra.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("kek", "reason"),
    [(None, "key-encryption key is required"), ("00112233", "must be 16, 24 or 32 bytes")],
)
def test_sec2_missing_or_short_kek_refused(tmp_path: Path, kek: str | None, reason: str) -> None:
    args = ["fleet", "--meters", "2", "--inventory", str(tmp_path / "inv.json"), "--run-for", "0"]
    if kek is not None:
        args += ["--kek", kek]
    result = runner.invoke(app, args, env={"METRA_KEK": ""})
    assert result.exit_code != 0
    assert reason in result.output
    assert not (tmp_path / "inv.json").exists()


def test_unknown_profile_refused(tmp_path: Path) -> None:
    args = ["fleet", "--meters", "1", "--profile", "xx", "--inventory", str(tmp_path / "i.json")]
    result = runner.invoke(app, args, env={"METRA_KEK": "00" * 16})
    assert result.exit_code != 0
    assert "unknown profile" in result.output
