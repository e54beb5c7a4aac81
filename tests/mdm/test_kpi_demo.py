"""``metra demo`` shows the last day's KPIs (KPI-1, KPI-3) under the JSON key ``kpi``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from metra.cli.main import app

runner = CliRunner()


def test_kpi_demo_summary_carries_the_days_figures(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    result = runner.invoke(
        app,
        [
            "demo",
            "--meters",
            "4",
            "--days",
            "2",
            "--once",
            "--json",
            "--no-faults",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    kpi = summary["kpi"]
    assert kpi["day"] == list(summary["collection_rate_percent_per_day"])[-1]
    assert kpi["meters_counted"] == 4  # imported meters: no installation date, counted (KPI-4)
    assert [f["checkpoint"] for f in kpi["acquisition"]] == ["n+1 09:00", "n+3 12:00", "n+7 24:00"]
    for figure in kpi["acquisition"]:
        assert figure["target_percent"] in (90.0, 94.0, 96.0)
        # Every meter's day either counts as on time or is listed below the figure.
        on_time = round(figure["percent"] * 4 / 100) if figure["percent"] is not None else 0
        assert on_time + figure["below"] + figure["excluded"] == 4
    assert kpi["commands"] == {"received": 0, "groups": 0, "groups_missed": 0}
