"""The measurement model's consistency rules (MTR-5, COL-2, COL-3, COL-4) and determinism."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from metra.meter.faults import FaultRates, MeterFaults, Outage, RegisterJump
from metra.meter.identity import CUSTOMER_TYPES, MeterIdentity
from metra.meter.measurement import MeasurementModel, Quantity, Status
from metra.profiles import load_profile

PROFILE = load_profile("pl")
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)


def model(customer_type: str, seed: int = 5, faults: MeterFaults | None = None) -> MeasurementModel:
    ident = MeterIdentity.for_number(seed, customer_type=customer_type, seed=seed)
    return MeasurementModel(ident, PROFILE, faults)


@pytest.mark.parametrize("customer_type", CUSTOMER_TYPES)
def test_a_year_of_profiles_sums_to_the_register_advance_and_tariffs_to_the_total(
    customer_type: str,
) -> None:
    # COL-2 / COL-3: the load profile sums exactly to the register difference; tariff registers
    # sum to the total register, for every day of a year, with power outages on some days.
    began = time.monotonic()
    faults = MeterFaults.generate(
        FaultRates(outages_per_year=24), 9, YEAR_START, YEAR_START + timedelta(days=366)
    )
    m = model(customer_type, faults=faults)
    first = m.day_index(YEAR_START)
    for d in range(first, first + 366):
        day = m.day(d)
        start, end = m.day_start(d), m.day_start(d + 1)
        for q in Quantity:
            assert sum(day.energy[q]) == m.register(q, end) - m.register(q, start)
            assert all(e >= 0 for e in day.energy[q])
        for q in (Quantity.A_PLUS, Quantity.A_MINUS):
            assert sum(m.tariff_registers(q, end)) == m.register(q, end)
    assert time.monotonic() - began < 5


def test_registers_at_every_interval_boundary_match_the_running_profile_sum() -> None:
    m = model("household-pv")
    start = datetime(2024, 6, 10, 3, 0, tzinfo=UTC)
    for minutes in (15, 30, 60):
        entries = m.intervals(start, start + timedelta(days=2), minutes)
        assert len(entries) == 2 * 24 * 60 // minutes
        for q in (Quantity.A_PLUS, Quantity.A_MINUS, Quantity.R1):
            running = m.register(q, start)
            for entry in entries:
                running += entry.energy[q]
                assert running == m.register(q, entry.end)
        for q in (Quantity.A_PLUS, Quantity.A_MINUS):
            for entry in entries[:: 96 // (60 // minutes * 24) or 1][:10]:
                assert sum(m.tariff_registers(q, entry.end)) == m.register(q, entry.end)


def test_pv_exports_at_midday_and_business_sleeps_on_sundays() -> None:
    pv = model("household-pv")
    summer = pv.day(pv.day_index(datetime(2024, 6, 20, 12, tzinfo=UTC)))
    export = summer.energy[Quantity.A_MINUS]
    assert sum(export[40:60]) > 0.45 * sum(export) and sum(export[:16]) == 0
    shop = model("small-business")
    monday = shop.day_index(datetime(2024, 3, 4, 12, tzinfo=UTC))
    assert shop.day_total(Quantity.A_PLUS, monday) > 1.5 * shop.day_total(
        Quantity.A_PLUS, monday + 6
    )
    assert model("household").day_total(Quantity.A_MINUS, monday) == 0


def test_any_past_day_regenerates_identically_from_seed_alone() -> None:
    # MTR-5 determinism: a fresh model (no state) reproduces any day, and seeds differ.
    a, b = model("ev", 1), model("ev", 1)
    d = a.day_index(datetime(2023, 2, 1, tzinfo=UTC))
    b.tariff_registers(Quantity.A_PLUS, datetime(2025, 1, 1, tzinfo=UTC))  # move b's checkpoint
    assert a.day(d) == b.day(d)
    when = datetime(2023, 2, 1, 7, 31, tzinfo=UTC)
    assert a.tariff_registers(Quantity.A_PLUS, when) == b.tariff_registers(Quantity.A_PLUS, when)
    assert a.day(d) != model("ev", 2).day(d)


def test_outage_zeroes_energy_and_sets_power_down_and_recovered() -> None:
    start = datetime(2024, 3, 5, 9, 7, tzinfo=UTC)
    outage = Outage(start, start + timedelta(hours=5))
    m = model("household", faults=MeterFaults(outages=(outage,)))
    entries = m.intervals(start - timedelta(hours=1), start + timedelta(hours=7))
    dark = [e for e in entries if start + timedelta(minutes=15) < e.end <= outage.end]
    assert dark and all(e.energy[Quantity.A_PLUS] == 0 for e in dark)
    assert all(e.status & Status.POWER_DOWN for e in dark)
    back = next(e for e in entries if e.end > outage.end)
    assert back.status & Status.RECOVERED and back.status & Status.CLOCK_INVALID
    assert m.instantaneous(start + timedelta(hours=1)).voltage == (0.0,)


def test_register_jump_shows_in_register_not_in_profile() -> None:
    when = datetime(2024, 5, 1, 10, 3, tzinfo=UTC)
    m = model("household", faults=MeterFaults(register_jump=RegisterJump(when, 100_000)))
    clean = model("household")
    after = when + timedelta(hours=1)
    assert m.register(Quantity.A_PLUS, after) - clean.register(Quantity.A_PLUS, after) == 100_000
    assert sum(m.tariff_registers(Quantity.A_PLUS, after)) == m.register(Quantity.A_PLUS, after)
    entry = next(e for e in m.intervals(when, when + timedelta(minutes=15)))
    assert entry.status & Status.DATA_NOT_VALID


def test_three_phase_instantaneous_values_are_plausible() -> None:
    m = MeasurementModel(MeterIdentity.for_number(3, phases=3), PROFILE)
    inst = m.instantaneous(datetime(2024, 1, 10, 19, 0, 2, tzinfo=UTC))
    assert len(inst.voltage) == len(inst.current) == 3
    assert all(220 < u < 240 for u in inst.voltage) and 49.9 < inst.frequency < 50.1
    assert 0 < inst.power_factor <= 1 and inst.p_import > 0
