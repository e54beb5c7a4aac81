"""Billing determinants on hand-computed months (BAL-2, JUR-1).

Every expected figure below is worked out by hand in the comments: a constant 1 kW load with
known spikes and known reactive excursions, so zone energies, maximum demand, tan(phi) minutes
and the peak-hour mean can be checked without trusting the code under test.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from metra.mdm.billing.axis import LocalAxis, day_type, month_axis
from metra.mdm.billing.determinants import Quantities, compute
from metra.mdm.billing.zones import UnknownTariff, tan_phi_limit, tariff_named, zone_index
from metra.profiles import ProfileError, load_profile, load_profile_file

PL = load_profile("pl")
RU = load_profile("ru")


def _month(profile_code: str, month: date, interval_s: int) -> LocalAxis:
    profile = load_profile(profile_code)
    axis, part = month_axis(profile, month, interval_s)
    return axis.select(part)


def _at(axis: LocalAxis, day: date, minute: int) -> int:
    """Index of the interval starting at local `minute` of local `day`."""
    d = axis.days.index(day)
    return int(np.flatnonzero((axis.local_day == d) & (axis.minute == minute))[0])


def test_bal2_local_month_axis_handles_the_short_dst_day() -> None:
    """BAL-2: March 2025 in Warsaw has 31 x 96 - 4 quarter hours (30 March has 23 hours)."""
    axis = _month("pl", date(2025, 3, 1), 900)
    assert axis.size == 31 * 96 - 4
    assert axis.days[0] == date(2025, 3, 1) and axis.days[-1] == date(2025, 3, 31)
    assert axis.utc_start(0).isoformat() == "2025-02-28T23:00:00+00:00"  # local midnight, CET
    assert np.bincount(axis.local_day)[29] == 92
    a = np.full((1, axis.size), 0.25)  # 1 kW all month
    det = compute(axis, Quantities(a), tariff_named(PL, "G11"), PL.billing, 0.4)
    assert det.energy_month[0, 0] == pytest.approx(743.0)  # (31 x 24 - 1) h x 1 kW


def test_bal2_zone_energy_max_demand_tan_phi_and_pqs_hand_computed() -> None:
    """BAL-2 (S4 2.3, S2 4.2.2v, 4.2.2d): G12 in June 2025, Warsaw (UTC+2 all month).

    G12 night = 22-06 and 13-15 local, 10 h a day; day = 14 h. 1 kW constant:
    night 30 x 10 = 300 kWh, day 30 x 14 = 420 kWh. A spike of 1 kWh in 14:00-14:15 local on
    10 June (night zone) adds 0.75 kWh and makes the night maximum demand 4 kW.
    Reactive QI 0.1 kvarh per quarter (tan 0.4 = the PL limit, not outside); 0.15 kvarh from
    08:00 to 09:00 local on 5 June: tan 0.6, 60 minutes outside, largest excess 0.2.
    """
    axis = _month("pl", date(2025, 6, 1), 900)
    assert axis.size == 30 * 96
    a = np.full((1, axis.size), 0.25)
    r1 = np.full((1, axis.size), 0.1)
    spike = _at(axis, date(2025, 6, 10), 14 * 60)
    a[0, spike] = 1.0
    excursion = _at(axis, date(2025, 6, 5), 8 * 60)
    r1[0, excursion : excursion + 4] = 0.15
    tariff = tariff_named(PL, "G12")
    det = compute(axis, Quantities(a, reactive_inductive=r1), tariff, PL.billing, 0.4)
    day, night = tariff.zones.index("day"), tariff.zones.index("night")

    assert det.energy_month[0, day] == pytest.approx(420.0)
    assert det.energy_month[0, night] == pytest.approx(300.75)
    june10 = axis.days.index(date(2025, 6, 10))
    assert det.energy_day[0, june10, night] == pytest.approx(10.75)
    assert det.energy_day[0, june10, day] == pytest.approx(14.0)
    assert det.demand_day[0, june10, night] == pytest.approx(4.0)
    assert det.demand_day[0, june10, day] == pytest.approx(1.0)
    assert det.demand_month[0, night] == pytest.approx(4.0)
    assert axis.utc_start(int(det.demand_month_at[0, night])).isoformat() == (
        "2025-06-10T12:00:00+00:00"
    )
    assert det.demand_month[0, day] == pytest.approx(1.0)

    assert det.tan_phi_minutes[0] == 60.0
    assert det.tan_phi_minutes_day[0, axis.days.index(date(2025, 6, 5))] == 60.0
    assert det.tan_phi_max_excess.value[0] == pytest.approx(0.2)
    assert axis.utc_start(int(det.tan_phi_max_excess.at[0])).isoformat() == (
        "2025-06-05T06:00:00+00:00"
    )
    # tan(phi) of the month: (2880 x 0.1 + 4 x 0.05) / 720.75
    assert det.tan_phi_month[0] == pytest.approx(288.2 / 720.75)

    assert det.p_max.value[0] == pytest.approx(4.0)
    assert det.p_min.value[0] == pytest.approx(1.0)
    assert det.q_max.value[0] == pytest.approx(0.6)
    assert det.q_min.value[0] == pytest.approx(0.4)
    assert det.s_max.value[0] == pytest.approx(math.hypot(4.0, 0.4))
    assert det.s_min.value[0] == pytest.approx(math.hypot(1.0, 0.4))
    assert math.isnan(det.peak_hour_mean[0])  # PL: no system-operator peak-hour duty

    record = det.record(0)
    assert record["energy_kwh"] == {"day": pytest.approx(420.0), "night": pytest.approx(300.75)}
    assert record["max_demand_kw"]["night"]["at"] == "2025-06-10T12:00:00+00:00"
    assert record["tan_phi"]["minutes_outside"] == 60.0
    assert len(record["days"]) == 30 and record["missing_intervals"] == 0


def test_bal2_g12w_weekends_and_holidays_are_night_all_day() -> None:
    """BAL-2, JUR-1: G12w counts Saturdays, Sundays and holidays wholly in the night zone.

    June 2025: Saturdays 7, 14, 21, 28; Sundays 1, 8, 15, 22, 29; Corpus Christi Thursday 19:
    10 days x 24 h, and 20 working days x 10 night hours.
    """
    axis = _month("pl", date(2025, 6, 1), 900)
    assert day_type(PL, date(2025, 6, 19)) == "holiday"
    a = np.full((1, axis.size), 0.25)
    tariff = tariff_named(PL, "G12w")
    det = compute(axis, Quantities(a), tariff, PL.billing, 0.4)
    night = det.energy_month[0, tariff.zones.index("night")]
    assert night == pytest.approx(10 * 24 + 20 * 10)  # 20 working days x 10 night hours


def test_bal2_missing_intervals_are_counted_not_billed() -> None:
    """BAL-2: an interval the VEE could not determine is reported per day, never guessed."""
    axis = _month("pl", date(2025, 6, 1), 900)
    a = np.full((1, axis.size), 0.25)
    a[0, 10:14] = np.nan
    det = compute(axis, Quantities(a), tariff_named(PL, "G11"), PL.billing, 0.4)
    assert det.missing_day[0, 0] == 4
    assert det.energy_month[0, 0] == pytest.approx(720.0 - 1.0)


def test_bal2_ru_peak_hour_daily_max_on_working_days_and_its_mean() -> None:
    """BAL-2 (S2 4.2.2g): Moscow, June 2025, half-hour intervals, peak 08-21 (profile).

    Hourly volume 1 kWh, except 10-11 local where it is 2 + d/10 on day d, and 22-23 where it is
    50 (outside the peak, must not count). Working days of June 2025 by the RU calendar:
    weekends, 12 June (Russia Day) and 13 June (transferred day off) excluded.
    """
    axis = _month("ru", date(2025, 6, 1), 1800)
    working = [2, 3, 4, 5, 6, 9, 10, 11, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30]
    assert [d.day for d, w in zip(axis.days, axis.working, strict=True) if w] == working
    a = np.full((1, axis.size), 0.5)
    day_of_month = np.array([d.day for d in axis.days])[axis.local_day]
    ten = (axis.minute >= 600) & (axis.minute < 660)
    a[0, ten] = (2 + day_of_month[ten] / 10) / 2
    a[0, (axis.minute >= 22 * 60) & (axis.minute < 23 * 60)] = 25.0
    det = compute(axis, Quantities(a), tariff_named(RU, "single"), RU.billing, 0.35)
    for d, day in enumerate(axis.days):
        expected = 2 + day.day / 10 if day.day in working else None
        got = det.peak_hour_max_day[0, d]
        assert math.isnan(got) if expected is None else got == pytest.approx(expected), day
    assert det.peak_hour_mean[0] == pytest.approx(2 + sum(working) / 10 / len(working))


def test_bal2_three_zone_ru_tariff_zones_by_hour() -> None:
    """BAL-2, JUR-1: RU three-zone: peak 07-10 and 17-21, night 23-07, the rest semi-peak."""
    axis = _month("ru", date(2025, 6, 1), 3600)
    tariff = tariff_named(RU, "three-zone")
    zone = zone_index(axis, tariff)
    first_day = [tariff.zones[z] for z in zone[:24]]
    assert first_day[:7] == ["night"] * 7
    assert first_day[7:10] == ["peak"] * 3
    assert first_day[10:17] == ["semi_peak"] * 7
    assert first_day[17:21] == ["peak"] * 4
    assert first_day[21:23] == ["semi_peak"] * 2
    assert first_day[23] == "night"


def test_bal2_tan_phi_limit_by_connection_voltage() -> None:
    """BAL-2 (S2 4.2.2v), JUR-1: RU limits by voltage class, PL 0.4 everywhere."""
    assert tan_phi_limit(RU.billing, 0.4) == 0.35
    assert tan_phi_limit(RU.billing, 10.0) == 0.4
    assert tan_phi_limit(RU.billing, 110.0) == 0.5
    assert tan_phi_limit(RU.billing, None) == 0.35
    assert tan_phi_limit(PL.billing, 15.0) == 0.4


def test_jur1_unknown_tariff_is_refused_with_the_known_ones() -> None:
    """JUR-1: asking for a tariff the profile lacks names the ones it has."""
    with pytest.raises(UnknownTariff, match="G11, G12, G12w"):
        tariff_named(PL, "C21")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('default_tariff = "G11"', 'default_tariff = "X"', "billing.default_tariff"),
        ('rules = [\n  { zone = "night"', 'rules = [\n  { zone = "nite"', "zone"),
        ("{ up_to_kv = 1000.0, limit = 0.4 }", "{ up_to_kv = 1000.0, limit = 7 }", "limit"),
        ("tan_phi_limits = [{ up_to_kv = 1000.0, limit = 0.4 }]", "tan_phi_limits = []", "tan_phi"),
    ],
)
def test_jur1_bad_billing_section_is_refused(
    tmp_path: object, old: str, new: str, field: str
) -> None:
    """JUR-1: a tariff table with a typo stops the load and names the field."""
    from importlib import resources
    from pathlib import Path

    text = resources.files("metra.profiles").joinpath("data", "pl.toml").read_text("utf-8")
    assert old in text
    path = Path(str(tmp_path)) / "pl.toml"
    path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(ProfileError, match=field):
        load_profile_file(path)


def test_bal2_meters_computed_in_chunks_equal_meters_computed_alone() -> None:
    """BAL-2: the fleet is computed 256 meters at a time; row 299's figures match it alone."""
    axis = _month("pl", date(2025, 6, 1), 900)
    rng = np.random.default_rng(3)
    a = rng.uniform(0.1, 0.5, (300, axis.size))
    r1 = a * rng.uniform(0.2, 0.6, (300, axis.size))
    limits = np.linspace(0.3, 0.5, 300)
    tariff = tariff_named(PL, "G12")
    fleet = compute(axis, Quantities(a, reactive_inductive=r1), tariff, PL.billing, limits)
    alone = compute(axis, Quantities(a[299:], reactive_inductive=r1[299:]), tariff, PL.billing, 0.5)
    assert fleet.record(299) == alone.record(0)
    assert fleet.energy_day.shape == (300, 30, 2)
