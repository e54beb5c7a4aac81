"""Each built-in profile loads and holds the numbers its source documents give (JUR-1).

Source clauses: S0 = Polish operator's meter security requirements, S1 = Dz.U.2022.788,
S2 = GOST R 71331-2024, S3 = Norwegian AMS security guide, S4 = Ukrainian ASKOE requirements.
"""

from __future__ import annotations

from datetime import date, time

import pytest

from metra.profiles import Profile, available_profiles, load_profile
from metra.profiles.model import Checkpoint

ALL = ("pl", "ru", "no", "ua")


def test_jur1_all_four_jurisdictions_are_built_in() -> None:
    assert set(ALL) <= set(available_profiles())


@pytest.mark.parametrize(
    ("code", "language", "zone"),
    [
        ("pl", "pl", "Europe/Warsaw"),  # S0 5.16 Polish tool
        ("ru", "ru", "Europe/Moscow"),  # S2 4.7.4 Russian interface
        ("no", "nb", "Europe/Oslo"),
        ("ua", "uk", "Europe/Kyiv"),
    ],
)
def test_jur1_language_and_time_zone(code: str, language: str, zone: str) -> None:
    profile = load_profile(code)
    assert profile.code == code.upper()
    assert (profile.language, profile.timezone) == (language, zone)


def test_jur1_code_is_case_insensitive_and_cached() -> None:
    assert load_profile("PL") is load_profile("pl") is load_profile(" Pl ")


@pytest.mark.parametrize("code", ALL)
def test_sto1_col4_col8_floors_hold_in_every_profile(code: str) -> None:
    p = load_profile(code)
    assert p.metering.profile_depth_days >= 90  # STO-1 (S2 4.2.15a)
    assert p.metering.billing_periods_kept >= 36  # COL-4 (S2 4.2.15b)
    assert p.collection.backfill_horizon_days >= 30  # COL-8 (S1 16.2)
    assert p.retention.measurements_years >= 5  # STO-1 (S2 4.7.1a)
    assert p.retention.user_archive_years >= 3  # STO-1 (S2 4.2.7)
    assert p.collection.max_timer_error_s_per_day == 5.0  # CMD-5 (S4 3.5.5)
    assert p.metering.interval_minutes in (15, 30, 60)  # COL-3


@pytest.mark.parametrize("code", ALL)
def test_acc2_han_port_closed_by_default_everywhere(code: str) -> None:
    han = load_profile(code).han
    assert han.open_by_default is False  # ACC-2 (S3 B.11.1)
    assert han.close_on_move_out is True


@pytest.mark.parametrize("code", ALL)
def test_sec6_no_single_user_disconnects_several_points_at_once(code: str) -> None:
    d = load_profile(code).disconnection
    assert d.max_points_per_command == 1  # SEC-6 (S3 kbf 6-10 c)
    assert d.emergency_approvals == 2
    assert d.max_per_user_per_window <= d.max_total_per_window


def test_col3_pl_interval_is_15_minutes() -> None:
    m = load_profile("pl").metering
    assert m.interval_minutes == 15  # S1 17.1-17.2
    assert m.allowed_intervals == (15, 30, 60)


def test_col3_ru_interval_30_or_60_and_col1_cycles() -> None:
    p = load_profile("ru")
    assert p.metering.interval_minutes == 30  # S2 4.2.15a
    assert p.metering.allowed_intervals == (30, 60)
    assert p.collection.cycles_minutes == (30, 60, 1440)  # S2 4.2.12


def test_col1_ru_households_weekly_others_daily() -> None:
    delivery = {r.point_class: r.cadence for r in load_profile("ru").collection.delivery}
    assert delivery["household"] == "weekly"  # S2 4.2.1, 4.2.16a
    assert delivery["legal_up_to_150kw"] == "weekly"
    assert delivery["other"] == "daily"  # S2 4.2.16b


def test_col1_pl_read_daily_before_the_first_checkpoint() -> None:
    plan = load_profile("pl").collection
    assert plan.cycles_minutes == (1440,)  # S1 3.1.5
    assert plan.read_plan.daily_window_end <= time(9, 0)  # KPI-1 09:00 n+1
    assert plan.read_plan.billing_read_day == 1


def test_col8_pl_backfill_horizon_is_30_days() -> None:
    assert load_profile("pl").collection.backfill_horizon_days == 30  # S1 16.2


def test_kpi1_pl_acquisition_checkpoints_and_transitional_values() -> None:
    k = load_profile("pl").kpi
    assert k.acquisition == (  # S1 16.1
        Checkpoint(1, 9, 90.0),
        Checkpoint(3, 12, 94.0),
        Checkpoint(7, 24, 96.0),
    )
    assert k.acquisition_transitional == (  # S1 20
        Checkpoint(1, 9, 90.0),
        Checkpoint(3, 12, 93.0),
        Checkpoint(7, 24, 95.0),
    )
    assert k.transitional_until == date(2025, 4, 23)  # 36 months after 2022-04-23 (S1 22)


def test_kpi3_kpi4_pl_command_delivery_and_first_computation() -> None:
    k = load_profile("pl").kpi
    assert k.command_group_max_meters == 200  # S1 16.5
    assert k.command_delivery_percent == 95.0
    assert k.command_delivery_hours == 3
    assert k.first_computed_after_months == 3  # S1 16.4


def test_cmd4_pl_command_deadlines_and_priorities() -> None:
    c = load_profile("pl").commands
    assert c.high_priority_deadline_hours == 24  # S1 16.6.1
    assert c.normal_deadline_working_days == 3  # S1 16.6.2
    assert set(c.high_priority_kinds) == {"connect", "emergency_power_limit"}  # S1 16.7


def test_pre2_pl_prepayment_request_within_one_working_day() -> None:
    pre = load_profile("pl").prepayment
    assert pre.allowed is True  # S1 14.1
    assert pre.hub_request_deadline_working_days == 1  # S1 14.4
    assert pre.balance_notice_every_hours == 24  # S1 14.6


def test_pre4_ua_no_disconnection_evenings_nights_weekends_holidays() -> None:
    pre = load_profile("ua").prepayment
    assert pre.allowed is True  # S4 3.6
    assert pre.no_disconnect_weekends and pre.no_disconnect_public_holidays  # S4 3.6.5
    (window,) = pre.no_disconnect_windows
    assert window.start > window.end  # runs over midnight: evening and night
    assert pre.low_credit_threshold > 0  # S4 3.6.4


def test_sec5_pl_password_policy() -> None:
    pw = load_profile("pl").passwords  # S0 6.3-6.5
    assert pw.min_length == 10
    assert pw.require_letter and pw.require_digit and pw.require_special
    assert pw.history == 5
    assert (pw.max_age_days, pw.min_age_days) == (30, 2)
    assert pw.force_change_first_login


def test_sec5_ru_password_policy() -> None:
    pw = load_profile("ru").passwords  # S2 6.6a
    assert pw.min_length == 8
    assert pw.require_mixed_case and pw.require_special
    assert pw.forbid_any_reuse
    assert pw.max_failed_logins >= 1 and pw.lockout_minutes >= 1


def test_sec5_no_totp_for_every_central_system_role() -> None:
    pw = load_profile("no").passwords  # S3 B.6.1 example, B.7.2 c
    assert set(pw.totp_roles) == {"operator", "service", "administrator"}


def test_sto2_no_customer_data_kept_at_most_3_years() -> None:
    assert load_profile("no").retention.customer_data_max_years == 3  # S3 3.3


def test_sto1_ru_measurements_5_years_archive_3_years() -> None:
    r = load_profile("ru").retention
    assert (r.measurements_years, r.user_archive_years) == (5, 3)  # S2 4.7.1a, 4.2.7


def test_acc4_only_ru_requires_signed_wholesale_report() -> None:
    signed = {c: load_profile(c).reports.signed_wholesale_report for c in ALL}
    assert signed == {"pl": False, "ru": True, "no": False, "ua": False}  # S2 4.2.13v


def test_acc1_pl_han_is_encrypted() -> None:
    assert load_profile("pl").han.encrypted  # S1 18.2


def test_dq4_pl_short_gap_limit_is_two_hours() -> None:
    assert load_profile("pl").vee.short_gap_max_minutes == 120


def test_profiles_are_frozen() -> None:
    p: Profile = load_profile("pl")
    with pytest.raises(AttributeError):
        p.code = "XX"  # type: ignore[misc]
