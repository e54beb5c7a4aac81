"""Raw interval data: day rows, immutability and versions (DQ-1, DQ-2, DQ-5, COL-8, REL-3)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from metra.store import intervals
from metra.store.errors import InvalidData
from metra.store.intervals import (
    DayReading,
    Origin,
    Outcome,
    Quality,
    meter_status_of,
    origin_of,
    quality_of,
    status_code,
)
from metra.store.schema import interval_day

DAY = date(2024, 3, 5)
CH = "1-0:1.8.0.255"
REMOTE = status_code(Origin.REMOTE)
T0 = datetime(2024, 3, 6, 1, 0, tzinfo=UTC)
_FRESH_DAYS = itertools.count()  # hypothesis examples share one transaction: one day each


def _reading(
    meter_id: UUID,
    values: list[float | None],
    at: datetime = T0,
    status: int = REMOTE,
    day: date = DAY,
) -> DayReading:
    return DayReading(meter_id, CH, day, values, [status] * len(values), at)


def _full(base: float = 1.0) -> list[float | None]:
    return [base + i for i in range(96)]


def _rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(interval_day)).scalar_one())


def test_dq2_status_code_packs_origin_quality_and_meter_bits() -> None:
    code = status_code(Origin.CUSTOMER, Quality.SUSPECT, 0x81)
    assert origin_of(code) is Origin.CUSTOMER
    assert quality_of(code) is Quality.SUSPECT
    assert meter_status_of(code) == 0x81
    with pytest.raises(InvalidData):
        status_code(Origin.REMOTE, meter=0x100)


def test_dq1_first_write_is_new_and_keeps_registration_time(
    conn: Connection, meter_id: UUID
) -> None:
    result = intervals.write_day(conn, _reading(meter_id, _full()))
    assert result.outcome is Outcome.NEW and result.version == 1 and not result.flagged
    stored = intervals.read_day(conn, meter_id, CH, DAY)
    assert stored is not None
    assert stored.values == tuple(_full()) and stored.registered_at == T0
    assert all(origin_of(s) is Origin.REMOTE for s in stored.status)


def test_dq5_same_values_again_is_a_no_op(conn: Connection, meter_id: UUID) -> None:
    intervals.write_day(conn, _reading(meter_id, _full()))
    again = intervals.write_day(conn, _reading(meter_id, _full(), T0 + timedelta(hours=1)))
    assert again.outcome is Outcome.UNCHANGED and again.version == 1
    assert _rows(conn) == 1
    # Same values read locally later: still the same raw data.
    local = _reading(meter_id, _full(), T0, status_code(Origin.LOCAL))
    assert intervals.write_day(conn, local).outcome is Outcome.UNCHANGED


def test_dq5_different_values_make_a_flagged_new_version(conn: Connection, meter_id: UUID) -> None:
    intervals.write_day(conn, _reading(meter_id, _full()))
    changed = _full()
    changed[3] = 999.0
    changed[40] = 0.5
    later = T0 + timedelta(days=1)
    result = intervals.write_day(conn, _reading(meter_id, changed, later))
    assert result.outcome is Outcome.NEW_VERSION and result.version == 2
    assert result.differs == (3, 40) and result.flagged
    first, second = intervals.versions(conn, meter_id, CH, DAY)
    assert first.values == tuple(_full()) and first.changed == ()
    assert second.values == tuple(changed) and second.changed == (3, 40)
    assert intervals.read_day(conn, meter_id, CH, DAY, version=1) == first


def test_dq5_partial_days_merge_without_losing_earlier_intervals(
    conn: Connection, meter_id: UUID
) -> None:
    morning: list[float | None] = [float(i) if i < 40 else None for i in range(96)]
    assert intervals.write_day(conn, _reading(meter_id, morning)).outcome is Outcome.NEW
    rest: list[float | None] = [None if i < 40 else float(i) for i in range(96)]
    later = T0 + timedelta(hours=5)
    result = intervals.write_day(conn, _reading(meter_id, rest, later))
    assert result.outcome is Outcome.NEW_VERSION and result.filled == tuple(range(40, 96))
    assert not result.flagged
    stored = intervals.read_day(conn, meter_id, CH, DAY)
    assert stored is not None and stored.values == tuple(float(i) for i in range(96))
    arrived = intervals.first_registered(conn, meter_id, CH, DAY)
    assert arrived[0] == T0 and arrived[95] == later


def test_read_range_latest_and_as_known_at(conn: Connection, meter_id: UUID) -> None:
    intervals.write_day(conn, _reading(meter_id, _full()))
    changed = _full()
    changed[8] = -1.0
    intervals.write_day(conn, _reading(meter_id, changed, T0 + timedelta(days=2)))
    start = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    end = datetime(2024, 3, 5, 3, 0, tzinfo=UTC)
    latest = intervals.read(conn, meter_id, CH, start, end)
    assert [v.start for v in latest] == [start + timedelta(minutes=15 * i) for i in range(4)]
    assert latest[0].value == -1.0 and latest[0].version == 2
    before = intervals.read(conn, meter_id, CH, start, end, known_at=T0 + timedelta(days=1))
    assert before[0].value == 9.0 and before[0].version == 1


def test_col8_missing_intervals_over_a_range(conn: Connection, meter_id: UUID) -> None:
    values: list[float | None] = [1.0] * 96
    values[10] = values[11] = None
    intervals.write_day(conn, _reading(meter_id, values))
    start = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    end = datetime(2024, 3, 6, 0, 30, tzinfo=UTC)
    gaps = intervals.missing(conn, meter_id, CH, start, end)
    assert gaps == [
        datetime(2024, 3, 5, 2, 30, tzinfo=UTC),
        datetime(2024, 3, 5, 2, 45, tzinfo=UTC),
        datetime(2024, 3, 6, 0, 0, tzinfo=UTC),
        datetime(2024, 3, 6, 0, 15, tzinfo=UTC),
    ]


def test_bulk_batch_for_many_meters_in_one_transaction(conn: Connection) -> None:
    from metra.store.masterdata import Entity, create

    meters = [create(conn, Entity.METER, {"serial": f"B{i}"}, effective=DAY) for i in range(30)]
    batch = [_reading(m, _full(i)) for i, m in enumerate(meters)]
    results = intervals.write_days(conn, batch)
    assert {r.outcome for r in results} == {Outcome.NEW}
    assert _rows(conn) == 30
    # The same batch again plus a duplicate key inside it: nothing new is written.
    again = intervals.write_days(conn, [*batch, batch[0]])
    assert {r.outcome for r in again} == {Outcome.UNCHANGED}
    assert _rows(conn) == 30


def test_bad_shapes_are_refused(conn: Connection, meter_id: UUID) -> None:
    with pytest.raises(InvalidData):
        intervals.write_day(conn, _reading(meter_id, [1.0] * 95))
    with pytest.raises(InvalidData):
        intervals.write_day(conn, _reading(meter_id, _full(), status=0))
    with pytest.raises(InvalidData):
        intervals.intervals_per_day(7)
    intervals.write_day(conn, _reading(meter_id, _full()))
    hourly = DayReading(meter_id, CH, DAY, [1.0] * 24, [REMOTE] * 24, T0, interval_s=3600)
    with pytest.raises(InvalidData):
        intervals.write_day(conn, hourly)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(st.one_of(st.none(), st.integers(0, 5).map(float)), min_size=24, max_size=24),
    second=st.lists(st.one_of(st.none(), st.integers(0, 5).map(float)), min_size=24, max_size=24),
)
def test_dq5_no_accepted_value_is_ever_lost(
    conn: Connection, meter_id: UUID, first: list[float | None], second: list[float | None]
) -> None:
    day = date(2000, 1, 1) + timedelta(days=next(_FRESH_DAYS))
    for index, values in enumerate((first, second)):
        reading = DayReading(
            meter_id, CH, day, values, [REMOTE] * 24, T0 + timedelta(hours=index), 3600
        )
        intervals.write_day(conn, reading)
    stored = intervals.versions(conn, meter_id, CH, day)
    # Every value each read delivered is present in some stored version, unchanged (DQ-5).
    for values in (first, second):
        for i, v in enumerate(values):
            if v is not None:
                assert any(s.values[i] == v for s in stored)
    if stored:
        latest = stored[-1].values
        expected = [s if s is not None else f for f, s in zip(first, second, strict=True)]
        assert list(latest) == expected
    intervals.write_day(conn, DayReading(meter_id, CH, day, [None] * 24, [0] * 24, T0, 3600))
    assert len(intervals.versions(conn, meter_id, CH, day)) == len(stored)
