"""run_vee end to end on SQLite and PostgreSQL: raw rows in, served versions out (DQ-5, DQ-11)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
import pytest
from sqlalchemy import Connection, select

from metra.mdm import run_vee
from metra.mdm.estimation import Method
from metra.mdm.schema import vee_finding
from metra.mdm.versions import EditRefused, edit, history, served
from metra.profiles import load_profile
from metra.store import audit
from metra.store.events import MeterEvent, add_meter_events
from metra.store.intervals import DayReading, read_day, write_days
from metra.store.masterdata import Entity, create
from metra.store.registers import BillingSnapshot, Period, add_snapshots
from tests.mdm.synthetic import FIRST_DAY, REMOTE, true_values

PROFILE = load_profile("pl")
CHANNEL = "1-0:1.29.0"
OBIS = "1-0:1.8.0"
DAYS = 35
START = FIRST_DAY + timedelta(days=28)
END = FIRST_DAY + timedelta(days=DAYS)
AT = datetime(2025, 4, 10, tzinfo=UTC)


def _reading(meter: UUID, day: int, values: np.ndarray, at: datetime) -> DayReading:
    row = values[day * 96 : (day + 1) * 96]
    return DayReading(
        meter,
        CHANNEL,
        FIRST_DAY + timedelta(days=day),
        [None if np.isnan(v) else float(v) for v in row],
        [0 if np.isnan(v) else REMOTE for v in row],
        at,
    )


def _fleet(conn: Connection) -> tuple[list[UUID], np.ndarray, np.ndarray]:
    truth = true_values(3, DAYS, seed=5)
    meters = [
        create(conn, Entity.METER, {"serial": f"SN-{i}"}, effective=date(2024, 1, 1))
        for i in range(3)
    ]
    raw = truth.copy()
    raw[0, (DAYS - 3) * 96 + 40 : (DAYS - 3) * 96 + 44] = np.nan  # 1 h: short gap
    raw[1, (DAYS - 2) * 96 + 8 : (DAYS - 2) * 96 + 90] = np.nan  # 20.5 h: long gap
    raw[2, (DAYS - 4) * 96 + 50] = 60.0  # a spike
    write_days(
        conn, [_reading(m, d, raw[i], AT) for i, m in enumerate(meters) for d in range(DAYS)]
    )
    register = 1000.0 + np.concatenate(
        [np.zeros((3, 1)), np.cumsum(truth.reshape(3, DAYS, 96).sum(2), 1)], 1
    )
    add_snapshots(
        conn,
        [
            BillingSnapshot(
                m,
                Period.DAILY,
                datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC),
                OBIS,
                0,
                float(register[i, d]),
                0,
                30,
                0,
                AT,
            )
            for i, m in enumerate(meters)
            for d in range(DAYS + 1)
        ],
    )
    tamper = datetime.combine(START + timedelta(days=1), datetime.min.time(), UTC) + timedelta(
        hours=3
    )
    add_meter_events(
        conn, [MeterEvent(meters[2], "0-0:99.98.1", tamper, 42, "tamper.magnetic_field", AT)]
    )
    return meters, truth, raw


def test_dq4_run_vee_validates_estimates_and_stores_versions(conn: Connection) -> None:
    meters, truth, _ = _fleet(conn)
    run = run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=AT)
    assert run.versions_written == 3 * 7
    rules = {r for (r,) in conn.execute(select(vee_finding.c.rule))}
    assert {"gap", "spike", "suspect-event"} <= rules

    day = served(conn, meters[1], CHANNEL, END - timedelta(days=2))
    assert day is not None and day.version == 1
    gap = slice(8, 90)
    expected = truth[1, (DAYS - 2) * 96 :][gap]
    error = abs(day.values[gap].sum() / expected.sum() - 1)
    assert error < 1e-9, f"like-day estimate scaled to registers: daily energy error {error:.2e}"
    shape_error = np.abs(day.values[gap] - expected).sum() / expected.sum()
    assert shape_error < 0.05, f"like-day interval error {shape_error:.3%}"
    assert (day.method[gap] == Method.LIKE_DAY).all()
    assert day.provenance[0]["method"] == "like_day" and day.provenance[0]["sources"]

    short = served(conn, meters[0], CHANNEL, END - timedelta(days=3))
    assert short is not None and (short.method[40:44] == Method.INTERPOLATED).all()
    spike = served(conn, meters[2], CHANNEL, END - timedelta(days=4))
    assert spike is not None and spike.method[50] == Method.INTERPOLATED
    assert abs(spike.values[50] - truth[2, (DAYS - 4) * 96 + 50]) < 0.2

    raw_day = read_day(conn, meters[1], CHANNEL, END - timedelta(days=2))
    assert raw_day is not None and raw_day.version == 1 and raw_day.values[10] is None  # DQ-5


def test_dq5_rerun_is_idempotent_and_late_real_data_replace_estimates(conn: Connection) -> None:
    meters, truth, _ = _fleet(conn)
    run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=AT)
    again = run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=AT)
    assert again.versions_written == 0
    later = AT + timedelta(days=1)
    write_days(conn, [_reading(meters[1], DAYS - 2, truth[1], later)])
    late = run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=later)
    assert late.versions_written == 1
    versions = history(conn, meters[1], CHANNEL, END - timedelta(days=2))
    assert [v.version for v in versions] == [1, 2]
    assert (versions[0].method[8:90] == Method.LIKE_DAY).all()
    assert (versions[1].method == Method.MEASURED).all()
    np.testing.assert_array_equal(versions[1].values, truth[1, (DAYS - 2) * 96 : (DAYS - 1) * 96])
    assert versions[1].raw_version == 2


def test_dq11_manual_edit_needs_a_reason_and_is_audited(conn: Connection) -> None:
    meters, _, _ = _fleet(conn)
    run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=AT)
    day = END - timedelta(days=1)
    with pytest.raises(EditRefused):
        edit(conn, meters[0], CHANNEL, day, {5: 1.0}, actor="anna", reason=" ", at=AT)
    version = edit(
        conn, meters[0], CHANNEL, day, {5: 1.25}, actor="anna", reason="site visit", at=AT
    )
    edited = served(conn, meters[0], CHANNEL, day)
    assert edited is not None and edited.version == version == 2
    assert edited.values[5] == 1.25 and edited.method[5] == Method.MANUAL
    assert edited.kind == "manual" and edited.reason == "site visit"
    entry = audit.last(conn)
    assert entry is not None and entry.action == "mdm.edit" and entry.actor == "anna"
    assert entry.details is not None and entry.details["reason"] == "site visit"
    rerun = run_vee(conn, meters, START, END, PROFILE, channel=CHANNEL, register_obis=OBIS, at=AT)
    assert rerun.versions_written == 0  # the edit stands until new raw data arrive
