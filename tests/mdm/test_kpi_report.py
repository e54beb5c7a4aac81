"""Daily and monthly KPI reports and the missed-checkpoint alarm (KPI-1..KPI-4) on SQLite and
PostgreSQL, on the hand-computed case of `kpi_case` (table in test_kpi_acquisition)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from sqlalchemy import Connection, insert, select

from metra.mdm.kpi.report import (
    ACQUISITION_MISSED,
    COMMANDS_MISSED,
    daily_report,
    monthly_report,
    parse_month,
    raise_alarms,
)
from metra.store.events import unacknowledged
from metra.store.schema import command, system_event
from tests.mdm.kpi_case import CHANNEL, DAY, FINAL, PL, fleet, from_hub, utc


def _failed_command(conn: Connection, meter: UUID) -> None:
    ident = uuid4()
    conn.execute(
        insert(command).values(
            id=ident,
            meter_id=meter,
            kind="tariff",
            priority=5,
            status="failed",
            created_at=utc(12, 10),
            updated_at=utc(12, 11),
        )
    )
    from_hub(conn, ident, "tariff", utc(12, 10))


def test_kpi_daily_report_names_who_pulled_each_figure_down(conn: Connection) -> None:
    ids = fleet(conn)
    _failed_command(conn, ids["M1"])
    report = daily_report(conn, PL, DAY, channel=CHANNEL, as_of=FINAL).to_json()
    assert report["meters"] == {
        "installed": 13,
        "counted": 12,
        "not_yet_counted": [
            {"meter": "SN-10", "installed_on": "2025-09-15", "counted_from": "2025-12-31"}
        ],
    }
    first = report["acquisition"][0]
    assert (first["checkpoint"], first["percent"], first["met"], first["due"]) == (
        "n+1 09:00",
        60.0,
        False,
        True,
    )
    assert [(b["meter"], b["reason"], b["arrived_at"]) for b in first["below"]] == [
        ("SN-05", "late", "2025-11-13T10:00:00+00:00"),
        ("SN-06", "late", "2025-11-16T05:00:00+00:00"),
        ("SN-08", "incomplete", None),
        ("SN-09", "no data", None),
    ]
    assert [(e["meter"], e["reason"], e["document"]) for e in first["excluded_meters"]] == [
        ("SN-07", "grid_failure", "outage report 2025/117"),
        ("SN-11", "customer_no_access", "letter about M11"),
    ]
    assert [f["percent"] for f in report["acquisition"]] == [60.0, 70.0, 72.73]
    groups = report["commands"]["groups"]
    assert [(g["group"], g["commands"], g["delivered"], g["met"]) for g in groups] == [
        ("SS-2", 1, 0, False)
    ]
    assert groups[0]["below"][0]["meter"] == "SN-01"
    assert groups[0]["below"][0]["reason"] == "not delivered"
    assert report["commands"]["deadlines"]["late"][0]["deadline_state"] == "overdue"


def test_kpi_alarm_once_per_missed_checkpoint(conn: Connection) -> None:
    ids = fleet(conn)
    _failed_command(conn, ids["M1"])
    early = daily_report(conn, PL, DAY, channel=CHANNEL, as_of=utc(14, 0))
    assert len(raise_alarms(conn, early, at=utc(14, 0))) == 2  # n+1 and the command group
    final = daily_report(conn, PL, DAY, channel=CHANNEL, as_of=FINAL)
    assert len(raise_alarms(conn, final, at=FINAL)) == 2  # n+3 and n+7 are new
    assert raise_alarms(conn, final, at=FINAL) == []
    rows = conn.execute(
        select(system_event.c.code, system_event.c.message).order_by(system_event.c.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        (ACQUISITION_MISSED, "KPI-1 2025-11-12 n+1 09:00: 60.00 % < 90 % (4 meters below)"),
        (COMMANDS_MISSED, "KPI-3 2025-11-12 SS-2: 0.00 % < 95 % delivered in 3 h"),
        (ACQUISITION_MISSED, "KPI-1 2025-11-12 n+3 12:00: 70.00 % < 94 % (3 meters below)"),
        (ACQUISITION_MISSED, "KPI-1 2025-11-12 n+7 24:00: 72.73 % < 96 % (3 meters below)"),
    ]
    assert all(e["severity"] == "alarm" for e in unacknowledged(conn))


def test_kpi_monthly_report_totals_the_days(conn: Connection) -> None:
    fleet(conn)
    month = monthly_report(conn, PL, 2025, 11, channel=CHANNEL, as_of=FINAL)
    days = [r.day.day for r in month.days]
    assert days == list(range(1, 26))  # local day 26 begins 11-25 23:00 UTC, after as_of
    report = month.to_json()
    for k, total in enumerate(report["acquisition"]):
        assert total["meter_days"] == sum(
            r.acquisition.figures[k].score.counted for r in month.days
        )
        assert total["on_time"] == sum(r.acquisition.figures[k].score.on_time for r in month.days)
        assert "2025-11-12" in total["days_missed"]
    # n+7 of day d is due (d+7) 23:00 UTC: days 1..17 by 11-25 00:00, 11-18 not yet.
    assert report["acquisition"][2]["days_due"] == 17
    by_meter = {b["meter"]: b for b in report["below"]}
    # SN-00 delivered only UTC days 11-11 and 11-12: local day 12 complete, 11 and 13 partial.
    assert by_meter["SN-00"]["days"] == {"n+1 09:00": 24, "n+3 12:00": 24, "n+7 24:00": 24}
    assert by_meter["SN-00"]["reasons"] == {"no data": 66, "incomplete": 6}
    assert "SN-10" not in by_meter  # not counted yet (KPI-4)
    excluded = {e["meter"]: e["reasons"] for e in report["excluded"]}
    assert excluded["SN-11"] == {"customer_no_access": 75}
    assert report["days"][11] == {
        "day": "2025-11-12",
        "percent": [60.0, 70.0, 72.73],
        "met": [False, False, False],
    }


def test_kpi_month_argument_is_checked() -> None:
    assert parse_month("2025-11") == (2025, 11)
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month("2025-13")
