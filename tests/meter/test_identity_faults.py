"""Identity, secrets, fleet clock and fault draws (MTR-1; faults on purpose)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metra.meter.clock import FleetClock
from metra.meter.faults import FaultRates, MeterFaults
from metra.meter.identity import KeySet, MeterIdentity, MeterSecrets, system_title_for

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, tzinfo=UTC)


def test_secrets_are_fresh_unique_and_hidden_from_repr() -> None:
    # MTR-1: keys unique per meter and per interface, never default or derived.
    a, b = MeterSecrets.generate(), MeterSecrets.generate(suite1=True)
    keys = [k for s in (a, b) for m in (s.wan, s.optical) for ks in m.values() for k in ks.both()]
    assert len(set(keys)) == len(keys) == 24
    assert b.signing_key is not None and a.signing_key is None
    assert a.han_key.hex() not in repr(a) and "KeySet()" in repr(a.wan[1])


def test_optical_keys_equal_to_wan_keys_are_refused() -> None:
    # MTR-1: the optical port never shares keys with the WAN.
    ks = KeySet.generate()
    with pytest.raises(ValueError):
        MeterSecrets(wan={1: ks}, optical={1: ks}, han_key=bytes(range(16)))


def test_system_title_carries_manufacturer_and_serial() -> None:
    ident = MeterIdentity.for_number(42, customer_type="ev", phases=3)
    assert ident.system_title == b"MTR" + (42).to_bytes(5, "big") == system_title_for("MTR42")
    with pytest.raises(ValueError):
        MeterIdentity("X", bytes(8), "factory", 1, 0)


def test_fleet_clock_starts_where_asked_and_runs_at_speed() -> None:
    clock = FleetClock(START, speed=1000.0)
    assert START <= clock.now() < START + timedelta(minutes=5)
    clock.advance(timedelta(days=2))
    assert clock.now() >= START + timedelta(days=2)
    clock.set(END)
    assert clock.now() - END < timedelta(minutes=5)
    assert FleetClock().now().tzinfo is UTC


def test_faults_are_deterministic_from_the_seed() -> None:
    rates = FaultRates(
        offline_per_day=0.05,
        drop_probability=0.5,
        clock_drift_ppm=20,
        outages_per_year=6,
        tamper_per_year=3,
        register_jump_probability=0.5,
    )
    first = MeterFaults.generate(rates, 11, START, END)
    assert first == MeterFaults.generate(rates, 11, START, END)
    assert first != MeterFaults.generate(rates, 12, START, END)
    starts = [o.start for o in first.outages]
    assert starts == sorted(starts)
    assert all(START <= o.start < END and o.end > o.start for o in first.outages)
    assert MeterFaults.generate(FaultRates(), 11, START, END) == MeterFaults()


def test_fault_rates_load_from_json_and_toml(tmp_path: Path) -> None:
    j = tmp_path / "f.json"
    j.write_text(json.dumps({"outages_per_year": 3, "clock_drift_ppm": 15}))
    t = tmp_path / "f.toml"
    t.write_text("outages_per_year = 3\nclock_drift_ppm = 15\n")
    assert (
        FaultRates.load(j)
        == FaultRates.load(t)
        == FaultRates(outages_per_year=3, clock_drift_ppm=15)
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"meteor_strikes": 1}))
    with pytest.raises(ValueError):
        FaultRates.load(bad)
