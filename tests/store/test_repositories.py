"""Registers, billing, power quality, events, diagnostics, keys, audit and commands
(COL-4, COL-5, COL-6, EVT-3, KPI-5, SEC-7, SEC-9, STO-5, DQ-5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from sqlalchemy import Connection, LargeBinary

from metra.store import audit, commands, diagnostics, events, keys, power_quality, registers
from metra.store.errors import NotFound
from metra.store.events import MeterEvent, SecurityCategory, Severity
from metra.store.registers import BillingSnapshot, Period, RegisterReading
from metra.store.schema import meter_key

T = datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_register_value_scaled_exactly() -> None:
    # COSEM register: value = raw * 10**scaler (IEC 62056-6-2, class 3 scaler_unit).
    assert registers.scaled(123456.0, -3) == Decimal("123.456")
    assert registers.scaled(7.0, 2) == Decimal("700")


def test_registers_re_read_does_not_duplicate(conn: Connection, meter_id: UUID) -> None:
    reading = RegisterReading(meter_id, "1-0:1.8.0.255", T, 123456.0, -3, 30, 1, T + HOUR)
    assert registers.add_readings(conn, [reading]) == 1
    later_copy = RegisterReading(meter_id, "1-0:1.8.0.255", T, 999.0, -3, 30, 1, T + 2 * HOUR)
    assert registers.add_readings(conn, [reading, later_copy]) == 0
    stored = registers.readings(conn, meter_id, "1-0:1.8.0.255", T, T + HOUR)
    assert stored == [reading]  # DQ-5: the first read stays as it was


def test_col4_billing_snapshots_per_tariff_zone(conn: Connection, meter_id: UUID) -> None:
    month = [
        BillingSnapshot(meter_id, Period.MONTHLY, T, "1-0:1.8.0.255", z, 10.0 * z, 0, 30, 1, T)
        for z in range(3)
    ]
    day = BillingSnapshot(meter_id, Period.DAILY, T, "1-0:1.8.0.255", 0, 5.0, 0, 30, 1, T)
    assert registers.add_snapshots(conn, [*month, day]) == 4
    assert registers.add_snapshots(conn, month) == 0
    got = registers.snapshots(conn, meter_id, Period.MONTHLY, T, T + HOUR)
    assert [s.tariff_zone for s in got] == [0, 1, 2] and got == month


def test_col6_power_quality_records(conn: Connection, meter_id: UUID) -> None:
    sag = power_quality.PowerQualityRecord(
        meter_id, "1-0:32.32.0.255", "sag", T, 180.0, 0, 35, T + HOUR, 0.2, {"phase": "L1"}
    )
    assert power_quality.add(conn, [sag, sag]) == 1
    assert power_quality.records(conn, meter_id, T, T + HOUR) == [sag]


def test_col5_meter_events_idempotent_by_meter_log_time_code(
    conn: Connection, meter_id: UUID
) -> None:
    log = "0.0.99.98.0.255"  # standard event log (IEC 62056-6-2 / Blue Book event log object)
    power_down = MeterEvent(meter_id, log, T, 1, "power_down", T + HOUR, {"phase": "all"})
    power_up = MeterEvent(meter_id, log, T + HOUR, 2, "power_up", T + HOUR)
    assert events.add_meter_events(conn, [power_down, power_up]) == 2
    assert events.add_meter_events(conn, [power_down, power_up]) == 0
    assert events.meter_events(conn, meter_id, T, T + 2 * HOUR) == [power_down, power_up]
    assert events.meter_events(conn, meter_id, T, T + 2 * HOUR, "power_up") == [power_up]


def test_evt3_system_journal_shows_unacknowledged_abnormal_situations(
    conn: Connection, meter_id: UUID
) -> None:
    events.record_system_event(
        conn, occurred_at=T, severity=Severity.INFO, source="sched", code="run", message="ok"
    )
    alarm = events.record_system_event(
        conn,
        occurred_at=T + HOUR,
        severity=Severity.ALARM,
        source="headend",
        code="tamper",
        message="cover opened",
        meter_id=meter_id,
    )
    shown = events.unacknowledged(conn)
    assert [e["id"] for e in shown] == [alarm]
    events.acknowledge(conn, alarm, by="op", at=T + 2 * HOUR)
    assert events.unacknowledged(conn) == []
    with pytest.raises(NotFound):
        events.acknowledge(conn, alarm, by="op", at=T + 2 * HOUR)


def test_sec9_security_events_by_category(conn: Connection) -> None:
    events.record_security_event(
        conn,
        occurred_at=T,
        category=SecurityCategory.ATTEMPTED_COMPROMISE,
        severity=Severity.ALARM,
        description="5 failed log-ins",
        actor="mallory",
        source_address="127.0.0.9",
    )
    got = events.security_events(conn, T, T + HOUR, SecurityCategory.ATTEMPTED_COMPROMISE)
    assert len(got) == 1 and got[0]["actor"] == "mallory"
    assert events.security_events(conn, T, T + HOUR, SecurityCategory.RECONNAISSANCE) == []


def test_kpi5_diagnostics_count_successes_and_failures(conn: Connection, meter_id: UUID) -> None:
    assert diagnostics.get(conn, meter_id) is None
    diagnostics.record_failure(conn, meter_id, T, "timeout")
    diagnostics.record_failure(conn, meter_id, T + HOUR, "association refused")
    assert [d.meter_id for d in diagnostics.failing(conn, 2)] == [meter_id]
    diagnostics.record_success(conn, meter_id, T + 2 * HOUR, signal_dbm=-71, imei="3520990")
    d = diagnostics.get(conn, meter_id)
    assert d is not None
    assert (d.success_count, d.failure_count, d.consecutive_failures) == (1, 2, 0)
    assert d.last_success_at == T + 2 * HOUR and d.last_failure_at == T + HOUR
    assert d.last_failure_reason == "association refused"
    assert (d.signal_dbm, d.imei) == (-71, "3520990")
    assert diagnostics.failing(conn) == []


def test_sec7_keys_stored_wrapped_only_with_versions(conn: Connection, meter_id: UUID) -> None:
    # No column can hold plaintext: the only binary column is the wrapped blob.
    binary = [c.name for c in meter_key.columns if isinstance(c.type, LargeBinary)]
    assert binary == ["wrapped"]
    assert keys.put(conn, meter_id, "remote", "guek", b"\x01" * 24, kek_id="kek1", at=T) == 1
    assert keys.put(conn, meter_id, "remote", "guek", b"\x02" * 24, kek_id="kek1", at=T + HOUR) == 2
    keys.put(conn, meter_id, "optical", "guek", b"\x03" * 24, kek_id="kek1", at=T)
    current = keys.current(conn, meter_id, "remote", "guek")
    assert current is not None and current.key_version == 2 and current.wrapped == b"\x02" * 24
    assert "\\x02" not in repr(current)
    history = keys.history(conn, meter_id)
    assert [(k.interface, k.key_version, k.retired_at) for k in history] == [
        ("optical", 1, None),
        ("remote", 1, T + HOUR),
        ("remote", 2, None),
    ]


def test_sto5_audit_trail_is_ordered_and_keeps_chain_columns(conn: Connection) -> None:
    first = audit.append(conn, at=T, actor="alice", action="meter.disconnect", target_id="M-1")
    last = audit.last(conn)
    assert last is not None and last.seq == first
    second = audit.append(conn, at=T, actor="bob", action="key.change", prev_hash=b"h1", hash=b"h2")
    got = audit.entries(conn, after_seq=first - 1)
    assert [e.seq for e in got] == [first, second]
    assert (got[1].prev_hash, got[1].hash) == (b"h1", b"h2")
    assert not hasattr(audit, "update") and not hasattr(audit, "delete")


def test_commands_queue_by_priority_and_deadline(conn: Connection, meter_id: UUID) -> None:
    normal = commands.enqueue(conn, meter_id, "set_limit", at=T, params={"kw": 5})
    high = commands.enqueue(conn, meter_id, "connect", at=T + HOUR, priority=commands.Priority.HIGH)
    commands.enqueue(conn, meter_id, "late", at=T, deadline=T + HOUR)
    commands.enqueue(conn, meter_id, "future", at=T, not_before=T + 10 * HOUR)
    assert [c.id for c in commands.due(conn, T + 2 * HOUR)] == [high, normal]
    commands.set_status(conn, high, commands.Status.CONFIRMED, at=T + 3 * HOUR, result={"ok": 1})
    stored = commands.get(conn, high)
    assert stored.status == "confirmed" and stored.result == {"ok": 1}
    with pytest.raises(NotFound):
        commands.get(conn, UUID(int=0))
