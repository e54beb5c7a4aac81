"""Acquisition effectiveness (KPI-1, KPI-2, KPI-4) against a hand-computed case on SQLite and
PostgreSQL, plus the arithmetic on arrays (local day, DST, versions, origins).

The case: PL profile, day n = Wednesday 2025-11-12 (after the transitional period: 90 / 94 /
96 %). Warsaw is UTC+1, so the local day is 2025-11-11 23:00 .. 2025-11-12 23:00 UTC: the last
4 intervals of UTC day 11-11 and the first 92 of 11-12. Checkpoints (UTC): n+1 09:00 = 11-13
08:00, n+3 12:00 = 11-15 11:00, n+7 24:00 = 11-19 23:00.

| meter | what happened | n+1 | n+3 | n+7 |
|---|---|---|---|---|
| M0-M4 | both UTC days remote, 11-13 01:00 | on time | on time | on time |
| M5 | 11-11 part early, 11-12 part at 11-13 10:00 | late | on time | on time |
| M6 | 11-13 03:00 with 4 intervals missing, filled 11-16 05:00 | late | late | on time |
| M7 | nothing; grid failure on its substation 11-12 10:00..13 20:00 | excused | excused | no data |
| M8 | only the 11-11 part (4 intervals) | incomplete | incomplete | incomplete |
| M9 | everything, but read locally | no data | no data | no data |
| M10 | on time, but joined 2025-09-15: counted from 2025-12-31 (KPI-4) | - | - | - |
| M11 | nothing; customer refused access (documented) | excused | excused | excused |
| M12 | on time although an exclusion was recorded (access proven) | on time | on time | on time |
| M13 | removed 2025-11-01: not installed on day n | - | - | - |

Counted meters: 12 (M0-M9, M11, M12). n+1: 6 on time of 12 - 2 excused = 60 %; n+3: 7 / 10 =
70 %; n+7: grid failure does not excuse (S1 16.11 point 2): 8 / 11 = 72.73 %.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import Connection

from metra.mdm.kpi import CheckpointFigure, Miss, acquisition, counted_from
from metra.mdm.kpi.acquisition import (
    NEVER,
    DayRows,
    arrivals,
    checkpoints,
    deadline,
    from_us,
    label,
    local_day,
    to_us,
)
from metra.store.intervals import Origin, status_code
from tests.mdm.kpi_case import BEFORE, CHANNEL, DAY, FINAL, PL, REMOTE, fleet, utc


def _why(figure: CheckpointFigure, serials: tuple[str, ...]) -> dict[str, str]:
    below, why = figure.score.below.tolist(), figure.score.why.tolist()
    return {serials[i]: Miss(w).text for i, w in zip(below, why, strict=True)}


def test_kpi1_kpi2_kpi4_hand_computed_day(conn: Connection) -> None:
    ids = fleet(conn)
    result = acquisition(conn, PL, DAY, channel=CHANNEL, as_of=FINAL)
    pop = result.population
    assert ids["M13"] not in pop.index  # removed before day n
    assert len(pop) == 13
    assert not pop.counted[pop.index[ids["M10"]]]  # KPI-4: joined 2025-09-15
    assert int(pop.counted.sum()) == 12
    assert not result.transitional
    assert [f.label for f in result.figures] == ["n+1 09:00", "n+3 12:00", "n+7 24:00"]
    assert [f.deadline for f in result.figures] == [utc(13, 8), utc(15, 11), utc(19, 23)]
    assert [(f.score.on_time, f.score.counted) for f in result.figures] == [
        (6, 10),
        (7, 10),
        (8, 11),
    ]
    assert [round(f.score.percent or 0, 2) for f in result.figures] == [60.0, 70.0, 72.73]
    assert [f.met for f in result.figures] == [False, False, False]
    s = pop.serials
    assert _why(result.figures[0], s) == {
        "SN-05": "late",
        "SN-06": "late",
        "SN-08": "incomplete",
        "SN-09": "no data",
    }
    assert _why(result.figures[1], s) == {
        "SN-06": "late",
        "SN-08": "incomplete",
        "SN-09": "no data",
    }
    assert _why(result.figures[2], s) == {
        "SN-07": "no data",
        "SN-08": "incomplete",
        "SN-09": "no data",
    }
    excused = [{s[i]: e.reason.value for i, e in f.excused_by.items()} for f in result.figures]
    assert excused == [
        {"SN-07": "grid_failure", "SN-11": "customer_no_access"},
        {"SN-07": "grid_failure", "SN-11": "customer_no_access"},
        {"SN-11": "customer_no_access"},
    ]
    m6 = pop.index[ids["M6"]]
    assert from_us(int(result.arrived.complete_us[m6])) == utc(16, 5)
    assert from_us(int(result.arrived.first_us[m6])) == utc(13, 3)


def test_kpi1_figures_as_they_stood_earlier(conn: Connection) -> None:
    """At 11-14 00:00 only n+1 is due, and M6's late fill has not arrived: incomplete."""
    fleet(conn)
    result = acquisition(conn, PL, DAY, channel=CHANNEL, as_of=utc(14, 0))
    assert [f.due for f in result.figures] == [True, False, False]
    assert [f.met for f in result.figures] == [False, None, None]
    why = _why(result.figures[0], result.population.serials)
    assert why["SN-06"] == "incomplete"
    # The exclusions were recorded at 11-14 08:00, but they document the past: still applied.
    assert (result.figures[0].score.on_time, result.figures[0].score.counted) == (6, 10)


def test_kpi1_transitional_targets_before_2025_04_23() -> None:
    assert [p.percent for p in checkpoints(PL, date(2025, 4, 22))] == [90.0, 93.0, 95.0]
    assert [p.percent for p in checkpoints(PL, date(2025, 4, 23))] == [90.0, 94.0, 96.0]


def test_kpi4_counted_from_the_last_day_of_the_third_month_after_installation() -> None:
    assert counted_from(date(2025, 1, 15), 3) == date(2025, 4, 30)
    assert counted_from(date(2025, 1, 1), 3) == date(2025, 4, 30)
    assert counted_from(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert counted_from(date(2023, 11, 2), 3) == date(2024, 2, 29)


def test_kpi1_local_day_and_deadlines_follow_dst() -> None:
    # 2025-10-26: Warsaw leaves summer time, the local day has 25 hours.
    start, end = local_day(PL, date(2025, 10, 26))
    assert (start, end) == (
        datetime(2025, 10, 25, 22, tzinfo=UTC),
        datetime(2025, 10, 26, 23, tzinfo=UTC),
    )
    points = PL.kpi.acquisition
    assert label(points[2]) == "n+7 24:00"
    assert deadline(PL, date(2025, 10, 25), points[0]) == datetime(2025, 10, 26, 8, tzinfo=UTC)
    assert deadline(PL, date(2025, 3, 29), points[0]) == datetime(2025, 3, 30, 7, tzinfo=UTC)


def test_kpi1_arrivals_on_arrays_over_a_25_hour_day() -> None:
    """Three UTC-day slots, two interval lengths, two versions: each interval's first remote
    arrival, the window's max and min."""
    first = date(2025, 10, 25)
    window = local_day(PL, date(2025, 10, 26))  # 10-25 22:00 .. 10-26 23:00 UTC: 100 x 15 min
    t = [to_us(datetime(2025, 10, 27, h, tzinfo=UTC)) for h in range(6)]
    status = np.full((4, 96), REMOTE, np.uint16)
    status[1, 50] = 0  # meter 0, day 10-26, version 1 lacks interval 50 ...
    status[3, :] = 0
    status[3, 50] = REMOTE  # ... which version 2 brings at t[4]
    fifteen = DayRows(
        meter=np.array([0, 0, 1, 0]),
        slot=np.array([0, 1, 1, 1]),
        registered_us=np.array([t[0], t[1], t[2], t[4]], np.int64),
        status=status,
        interval_s=900,
    )
    hourly_status = np.full((2, 24), REMOTE, np.uint16)
    hourly_status[1, 23] = status_code(Origin.LOCAL)  # 10-26 23:00-24:00: after the window
    hourly = DayRows(
        meter=np.array([2, 2]),
        slot=np.array([0, 1]),
        registered_us=np.array([t[3], t[5]], np.int64),
        status=hourly_status,
        interval_s=3600,
    )
    got = arrivals([fifteen, hourly], 4, first, window)
    assert got.complete_us.tolist() == [t[4], NEVER, t[5], NEVER]
    assert got.first_us.tolist() == [t[0], t[2], t[3], NEVER]


@pytest.mark.parametrize("origin", [Origin.LOCAL, Origin.CUSTOMER, Origin.SYSTEM])
def test_kpi1_only_remote_reads_count(origin: Origin) -> None:
    window = local_day(PL, DAY)
    rows = DayRows(
        meter=np.array([0, 0]),
        slot=np.array([0, 1]),
        registered_us=np.array([to_us(utc(13, 1))] * 2, np.int64),
        status=np.full((2, 96), status_code(origin), np.uint16),
        interval_s=900,
    )
    got = arrivals([rows], 1, BEFORE, window)
    assert got.complete_us.tolist() == [NEVER]
    assert arrivals([rows], 1, BEFORE, window, origins=(origin,)).complete_us.tolist() == [
        to_us(utc(13, 1))
    ]
