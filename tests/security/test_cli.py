"""``metra users`` and ``metra audit`` end to end on an SQLite file (SEC-4, SEC-5, STO-5)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from metra.cli.main import app
from metra.profiles import load_profile
from metra.security.schema import login_attempt
from metra.security.totp import totp
from metra.store import make_engine, migrate
from metra.store.schema import audit_record

KEY = "22" * 32


def test_users_and_audit_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "m.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_PROFILE", "pl")
    monkeypatch.setenv("METRA_MASTER_KEY", KEY)
    run = CliRunner().invoke
    out = run(app, ["users", "bootstrap", "--username", "root"])
    assert out.exit_code == 0, out.output
    secret = out.output.split("shown only now): ")[1].strip()
    assert run(app, ["users", "bootstrap"]).exit_code != 0  # once only
    new = "Strong-pass-12"
    out = run(app, ["users", "passwd", "root"], input=f"{secret}\n{new}\n{new}\n")
    assert out.exit_code == 0, out.output
    out = run(app, ["users", "enrol-totp", "root"], input=f"{new}\n")
    assert out.exit_code == 0, out.output
    uri = out.output.split("shown only now): ")[1].strip()
    seed = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(seed + "=" * (-len(seed) % 8))

    as_root = f"{new}\n{totp(key, time.time())}\n"
    out = run(app, ["users", "add", "bob", "--as", "root"], input=as_root + "Builder-pass-123\n")
    assert out.exit_code == 0, out.output
    # The same TOTP code again (same 30 s step) is a replay and is refused (SEC-5).
    out = run(app, ["users", "grant", "bob", "auditor", "--as", "root"], input=as_root)
    assert out.exit_code != 0 and "replayed" in out.output

    out = run(app, ["audit", "verify"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("ok:")
    assert '"action": "user.create"' in run(app, ["audit", "show"]).output
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.execute(update(audit_record).where(audit_record.c.seq == 1).values(actor="eve"))
    engine.dispose()
    out = run(app, ["audit", "verify"])
    assert out.exit_code == 1
    assert "entry 1" in out.output


def test_sec5_failed_cli_log_ins_are_kept_and_lock_the_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong password on the command line is recorded although the command fails, so that the
    profile's limit of failed log-ins locks the account (SEC-5, PL: 5 failures)."""
    db = str(tmp_path / "m.db")
    migrate(db)
    monkeypatch.setenv("METRA_DB", db)
    monkeypatch.setenv("METRA_PROFILE", "pl")
    monkeypatch.setenv("METRA_MASTER_KEY", KEY)
    run = CliRunner().invoke
    out = run(app, ["users", "bootstrap", "--username", "root"])
    assert out.exit_code == 0, out.output
    secret = out.output.split("shown only now): ")[1].strip()
    new = "Strong-pass-12"
    assert run(app, ["users", "passwd", "root"], input=f"{secret}\n{new}\n{new}\n").exit_code == 0
    limit = load_profile("pl").passwords.max_failed_logins
    for _ in range(limit):
        out = run(
            app, ["users", "add", "eve", "--as", "root"], input="Wrong-pass-123\nX-pass-1234\n"
        )
        assert out.exit_code != 0 and "log-in refused" in out.output
    engine = make_engine(db)
    with engine.connect() as conn:
        failures = conn.execute(
            select(func.count()).where(
                login_attempt.c.username == "root", login_attempt.c.succeeded.is_(False)
            )
        ).scalar_one()
    engine.dispose()
    assert failures == limit
    # Locked now: even the right password is refused until the lockout ends.
    out = run(app, ["users", "add", "eve", "--as", "root"], input=f"{new}\nX-pass-1234\n")
    assert out.exit_code != 0 and "log-in refused" in out.output
