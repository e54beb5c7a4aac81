"""``metra kpi`` as an operator runs it on a store file: the hand-computed case of `kpi_case`
as a table and as JSON, daily and monthly, the alarms option, and clear errors (KPI-1..KPI-4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from metra.cli.main import app
from metra.store import make_engine, migrate
from metra.store.schema import system_event
from tests.mdm.kpi_case import fleet

runner = CliRunner()
AS_OF = "2025-11-25T00:00:00+00:00"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("kpi") / "kpi.sqlite"
    migrate(path)
    engine = make_engine(path)
    with engine.begin() as conn:
        fleet(conn)
    engine.dispose()
    return str(path)


def test_kpi_cli_daily_json(store: str) -> None:
    result = runner.invoke(
        app, ["kpi", "--day", "2025-11-12", "--db", store, "--as-of", AS_OF, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["percent"] for f in report["acquisition"]] == [60.0, 70.0, 72.73]
    assert [f["met"] for f in report["acquisition"]] == [False, False, False]
    assert report["acquisition"][0]["below"][0]["meter"] == "SN-05"


def test_kpi_cli_daily_table_names_meters_and_reasons(store: str) -> None:
    result = runner.invoke(app, ["kpi", "--day", "2025-11-12", "--db", store, "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    for text in ("n+1 09:00", "60.00 %", "MISSED", "SN-05", "late", "grid_failure", "SN-09"):
        assert text in result.stdout


def test_kpi_cli_monthly_and_alarms(store: str) -> None:
    result = runner.invoke(
        app, ["kpi", "--month", "2025-11", "--db", store, "--as-of", AS_OF, "--json", "--alarms"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["month"] == "2025-11" and len(report["days"]) == 25
    engine = make_engine(store)
    with engine.connect() as conn:
        alarms = conn.execute(select(func.count()).select_from(system_event)).scalar_one()
    engine.dispose()
    assert alarms > 0
    table = runner.invoke(app, ["kpi", "--month", "2025-11", "--db", store, "--as-of", AS_OF])
    assert table.exit_code == 0 and "meters below most often" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of"),
        (["--day", "2025-11-12", "--month", "2025-11"], "exactly one of"),
        (["--day", "12.11.2025"], "is not YYYY-MM-DD"),
        (["--month", "2025-13"], "is not YYYY-MM"),
        (["--day", "2025-11-12", "--profile", "xx"], "no built-in profile"),
        (["--day", "2025-11-12", "--as-of", "yesterday"], "not an ISO date"),
    ],
)
def test_kpi_cli_refuses_bad_arguments(store: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["kpi", "--db", store, *args])
    assert result.exit_code != 0
    assert message in result.output


def test_kpi_cli_unmigrated_store_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["kpi", "--day", "2025-11-12", "--db", str(tmp_path / "x.db")])
    assert result.exit_code != 0
    assert "cannot read the KPIs from the store" in result.output
