"""`metra balance` and `metra billing` as an operator runs them, on an SQLite file (BAL-1, -2)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from metra.cli.main import app
from metra.store import make_engine, migrate
from metra.store.audit import entries
from tests.mdm.balance_case import N_DAYS, THEFT, network
from tests.mdm.synthetic import true_values

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("bal") / "metra.db")
    migrate(path)
    truth = true_values(6, N_DAYS, seed=11)
    metered = truth.copy()
    metered[1, THEFT] *= 0.2
    engine = make_engine(path)
    with engine.begin() as conn:
        network(conn, metered, truth)
    engine.dispose()
    return path


def test_bal1_balance_command_json_lists_the_thief_first(db: str) -> None:
    """BAL-1: `metra balance --json` gives the substation, its feeders and C1 first."""
    result = runner.invoke(
        app, ["balance", "--substation", "SS-1", "--day", "2025-06-18", "--db", db, "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["substation"]["suspects"][0]["meter"] == "C1"
    assert [f["code"] for f in doc["feeders"]] == ["F1", "F2"]
    assert doc["feeders"][1]["no_data"] == [] and "input_kwh" not in doc["feeders"][1]


def test_bal1_balance_command_table(db: str) -> None:
    """BAL-1: the table names the elements, the permissible share and the points to inspect."""
    result = runner.invoke(
        app, ["balance", "--substation", "SS-1", "--day", "2025-06-18", "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "substation SS-1" in result.output and "10.00 %" in result.output
    assert "For inspection" in result.output and "C1" in result.output
    assert "no balancing meter" in result.output


def test_bal1_balance_command_refuses_bad_input_in_one_line(db: str) -> None:
    """BAL-1: unknown substation and a malformed day fail with `error:` and no traceback."""
    unknown = runner.invoke(
        app, ["balance", "--substation", "X", "--day", "2025-06-18", "--db", db]
    )
    assert unknown.exit_code == 1 and "error: no substation with code 'X'" in unknown.output
    bad = runner.invoke(app, ["balance", "--substation", "SS-1", "--day", "18.06.2025", "--db", db])
    assert bad.exit_code == 1 and "error: --day must be YYYY-MM-DD" in bad.output


def test_bal2_billing_command_stores_an_audited_record_once(db: str) -> None:
    """BAL-2, STO-5: `metra billing --store` stores version 1, again adds nothing; audited."""
    args = ["billing", "--meter", "C1", "--month", "2025-06", "--db", db, "--json"]
    first = runner.invoke(app, [*args, "--store", "--actor", "billing-clerk"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.output)
    assert doc["version"] == 1 and doc["versions_added"] == 1
    assert doc["previous_stale"] is None
    det = doc["determinants"]
    assert det["tariff"] == "G11" and det["first_day"] == "2025-06-01"
    # served data cover 20 May .. 19 June UTC: local June days after the 19th are missing
    assert det["missing_intervals"] > 0
    again = json.loads(runner.invoke(app, [*args, "--store", "--actor", "billing-clerk"]).output)
    assert again["versions_added"] == 0 and again["previous_stale"] is False
    engine = make_engine(db)
    with engine.connect() as conn:
        audited = [e for e in entries(conn) if e.action == "mdm.billing.determinants"]
    engine.dispose()
    assert [(e.actor, e.details) for e in audited] == [
        ("billing-clerk", {"month": "2025-06-01", "tariff": "G11", "version": 1})
    ]


def test_bal2_billing_command_table_and_tariff_choice(db: str) -> None:
    """BAL-2: the table shows the zones of the tariff asked; an unknown tariff is refused."""
    table = runner.invoke(
        app, ["billing", "--meter", "C0", "--month", "2025-06", "--db", db, "--tariff", "G12"]
    )
    assert table.exit_code == 0, table.output
    assert "tariff G12" in table.output and "night" in table.output
    unknown = runner.invoke(
        app, ["billing", "--meter", "C0", "--month", "2025-06", "--db", db, "--tariff", "C21"]
    )
    assert unknown.exit_code == 1 and "error: profile PL has no tariff 'C21'" in unknown.output
    nobody = runner.invoke(app, ["billing", "--meter", "NOPE", "--month", "2025-06", "--db", db])
    assert nobody.exit_code == 1 and "no meter with serial 'NOPE'" in nobody.output
