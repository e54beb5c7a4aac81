"""``metra prepay`` end to end on an SQLite file (PRE-1, PRE-3, PRE-5): tariff, account,
instrument, top-ups (a withdrawn card refused and audited; an accepted one sent to the meter as a
credit transfer under PL, not under UA), the daily run marking the confirmed transfer, charging
served consumption,
notices into the outbox and the balance, each action by a logged-in administrator (TOTP)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from metra.cli.main import app
from metra.prepay import notices, transfers
from metra.prepay.schema import prepay_ledger
from metra.profiles import load_profile
from metra.security import users
from metra.security.roles import Principal, Role
from metra.security.sealing import SecretBox
from metra.security.totp import totp
from metra.store import commands, make_engine, migrate
from metra.store.command_schema import command_request
from metra.store.commands import Status
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
    sent = paid["transfer"]
    assert sent["sent"] is True and sent["state"] == "queued", text  # PL: the meter runs credit
    transfer = transfers.transfer_id(UUID(account["id"]), "P-1")
    assert sent["request"] == str(transfer)
    with engine.begin() as c:
        (queued,) = commands.of_request(c, transfer)
        assert (queued.kind, queued.meter_id, str(queued.id)) == (
            "credit_transfer",
            point.meter_id,
            sent["command"],
        )
        assert queued.params is not None and queued.params["amount"] == 5000
        for step in (Status.SENT, Status.CONFIRMED):  # what the head-end does on the meter's answer
            commands.transition(c, queued.id, step, at=datetime.now(UTC), actor="headend")
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
    assert lines[1] == {
        "account": account["id"],
        "payment_ref": "P-1",
        "transfer": str(transfer),
        "on_meter": True,
    }
    assert [(n["kind"], n["status"]) for n in lines[2:]] == [("balance", "outbox")]
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
        on_meter = [
            (ref, at is not None)
            for ref, at in c.execute(
                select(prepay_ledger.c.payment_ref, prepay_ledger.c.on_meter_at).where(
                    prepay_ledger.c.kind == "topup"
                )
            )
        ]
    engine.dispose()
    assert refused == ["bea"]
    assert held.subject == "Prepayment balance 41.82 PLN"
    assert on_meter == [("P-1", True)]


def test_pre1_ua_topup_is_not_sent_to_the_meter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PRE-1, PRE-4: under the UA profile the meter's credit function is kept off, so a top-up is
    recorded and no credit_transfer request is made; the output says so."""
    db = str(tmp_path / "m.db")
    migrate(db)
    for name, value in {"METRA_DB": db, "METRA_PROFILE": "ua", "METRA_MASTER_KEY": KEY}.items():
        monkeypatch.setenv(name, value)
    seeds = people(db)
    engine = make_engine(db)
    with engine.begin() as c:
        point = make_point(c)
    used: dict[str, int] = {}

    def run(name: str, *args: str) -> tuple[int, list[Any], str]:
        step = used.get(name, -1)
        used[name] = step + 1
        code = totp(seeds[name], time.time() + 30.0 * step)
        out = CliRunner().invoke(
            app, ["prepay", *args, "--as", name], input=f"{PASSWORD}\n{code}\n"
        )
        lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        return out.exit_code, lines, out.output

    code, _, text = run(
        "ada", "tariff", "set", "T1", "--unit", "UAH", "--from", "2025-03-01", "--price", "4.32"
    )
    assert code == 0, text
    code, (account,), text = run(
        "ada",
        "account",
        "open",
        "--point",
        str(point.delivery_point_id),
        "--unit",
        "UAH",
        "--from",
        "2025-03-10",
        "--tariff",
        "T1",
    )
    assert code == 0, text
    code, (paid,), text = run("bea", "topup", account["id"], "--amount", "200.00", "--ref", "U-1")
    assert code == 0 and paid["balance"] == "200.00 UAH", text
    assert paid["transfer"]["sent"] is False and paid["transfer"]["request"] is None
    assert "credit function is kept off" in paid["transfer"]["reason"]
    with engine.connect() as c:
        assert c.execute(select(command_request.c.id)).first() is None
    engine.dispose()
