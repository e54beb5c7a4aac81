"""``metra prepay`` end to end on an SQLite file (PRE-1, PRE-3, PRE-5): tariff, account,
instrument, top-ups (a withdrawn card refused and audited), charging served consumption,
notices into the outbox and the balance, each action by a logged-in administrator (TOTP)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from metra.cli.main import app
from metra.prepay import notices
from metra.profiles import load_profile
from metra.security import users
from metra.security.roles import Principal, Role
from metra.security.sealing import SecretBox
from metra.security.totp import totp
from metra.store import make_engine, migrate
from metra.store.schema import audit_record

from .conftest import make_point, serve_day

KEY = "55" * 32
PASSWORD = "Strong-pw-7!x"
CARD = "4111 2222 3333 4444"


def people(db: str) -> dict[str, bytes]:
    """Three administrators (each log-in spends a TOTP step of its own account)."""
    pl = load_profile("pl")
    box = SecretBox.from_env()
    engine = make_engine(db)
    seeds = {}
    with engine.begin() as c:
        root_id, _ = users.bootstrap(c, "root")
        root = Principal(root_id, "root", frozenset({Role.ADMINISTRATOR}))
        for name in ("ada", "bea", "cyd"):
            uid = users.create(c, root, name, policy=pl.passwords, initial_password="Initial-pw-1!")
            users.grant(c, root, uid, Role.ADMINISTRATOR)
            users.change_password(c, uid, "Initial-pw-1!", PASSWORD, policy=pl.passwords)
            seeds[name] = users.enrol_totp(c, uid, box)
    engine.dispose()
    return seeds


def test_pre1_pre3_pre5_prepay_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PRE-1, PRE-3, PRE-5: the whole account life from the command line, as in the module
    docstring; 50.00 PLN - 9.6 kWh x 0.80 PLN - 0.50 PLN daily = 41.82 PLN."""
    db = str(tmp_path / "m.db")
    migrate(db)
    for name, value in {"METRA_DB": db, "METRA_PROFILE": "pl", "METRA_MASTER_KEY": KEY}.items():
        monkeypatch.setenv(name, value)
    seeds = people(db)
    engine = make_engine(db)
    with engine.begin() as c:
        point = make_point(c)
        serve_day(c, point.meter_id, date(2025, 3, 10), 100.0)  # 9.6 kWh
    used: dict[str, int] = {}

    def run(name: str, *args: str, stdin: str = "") -> tuple[int, list[Any], str]:
        step = used.get(name, -1)
        used[name] = step + 1
        code = totp(seeds[name], time.time() + 30.0 * step)
        out = CliRunner().invoke(
            app, ["prepay", *args, "--as", name], input=f"{PASSWORD}\n{code}\n{stdin}"
        )
        lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        return out.exit_code, lines, out.output

    code, _, text = run(
        "ada",
        "tariff",
        "set",
        "G11",
        "--unit",
        "PLN",
        "--from",
        "2025-03-01",
        "--price",
        "0.80",
        "--daily",
        "0.50",
    )
    assert code == 0, text
    code, (account,), text = run(
        "ada",
        "account",
        "open",
        "--point",
        str(point.delivery_point_id),
        "--unit",
        "PLN",
        "--from",
        "2025-03-10",
        "--tariff",
        "G11",
    )
    assert code == 0, text
    assert (account["balance"], account["low_credit_threshold"]) == ("0.00 PLN", "20.00 PLN")
    code, (issued,), text = run("ada", "instrument", "issue", account["id"], stdin=f"{CARD}\n")
    assert code == 0 and issued["instrument"] == "*4444", text
    code, (paid,), text = run(
        "bea",
        "topup",
        account["id"],
        "--amount",
        "50.00",
        "--ref",
        "P-1",
        "--instrument",
        stdin=f"{CARD}\n",
    )
    assert code == 0 and paid["balance"] == "50.00 PLN", text
    code, _, text = run("bea", "instrument", "withdraw", "--reason", "stolen", stdin=f"{CARD}\n")
    assert code == 0, text
    code, _, text = run(
        "bea",
        "topup",
        account["id"],
        "--amount",
        "10.00",
        "--ref",
        "P-2",
        "--instrument",
        stdin=f"{CARD}\n",
    )
    assert code == 1 and "withdrawn" in text
    code, lines, text = run("cyd", "notify", "--through", "2025-03-10")
    assert code == 0, text
    assert lines[0]["charged_days"] == ["2025-03-10"]
    assert [(n["kind"], n["status"]) for n in lines[1:]] == [("balance", "outbox")]
    code, (balance,), text = run("cyd", "balance", "--point", str(point.delivery_point_id))
    assert code == 0 and balance["balance"] == "41.82 PLN", text  # 50.00 - 7.68 - 0.50
    assert balance["charged_through"] == "2025-03-10"
    code, _, text = run("cyd", "balance", "--point", "not-a-uuid")
    assert code == 1 and "not a UUID" in text
    with engine.connect() as c:
        refused = (
            c.execute(
                select(audit_record.c.actor).where(audit_record.c.action == "prepay.topup.refused")
            )
            .scalars()
            .all()
        )
        (held,) = notices.outbox(c)
    engine.dispose()
    assert refused == ["bea"]
    assert held.subject == "Prepayment balance 41.82 PLN"
