"""Invalid profile files are refused with a ProfileError naming file, field and problem (JUR-1)."""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metra.profiles import Profile, ProfileError, load_profile, load_profile_file

PL_TEXT = resources.files("metra.profiles").joinpath("data", "pl.toml").read_text("utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "operator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _edit(old: str, new: str) -> str:
    assert PL_TEXT.count(old) == 1, old
    return PL_TEXT.replace(old, new)


def test_operator_copy_of_a_builtin_profile_loads(tmp_path: Path) -> None:
    assert load_profile_file(_write(tmp_path, PL_TEXT)) == load_profile("pl")


def test_unknown_builtin_code_is_refused() -> None:
    with pytest.raises(ProfileError, match="no built-in profile; available: no, pl, ru, ua"):
        load_profile("xx")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot be read") as err:
        load_profile_file(tmp_path / "absent.toml")
    assert err.value.field == "<file>"


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ('language = "pl"', 'language = "pl"\ncolour = "red"', "colour", "unknown key"),
        (
            "billing_periods_kept = 36",
            "billing_periods_kept = 36\nbilling_period_kept = 36",
            "metering.billing_period_kept",
            "unknown key",
        ),
        ("profile_depth_days = 90 ", "", "metering.profile_depth_days", "missing"),
        (
            "interval_minutes = 15 ",
            'interval_minutes = "15" ',
            "metering.interval_minutes",
            "must be an integer, got str '15'",
        ),
        (
            "attempts = 3",
            "attempts = true",
            "collection.retry.attempts",
            "must be an integer, got bool True",
        ),
        ("allowed = true", "allowed = 1", "prepayment.allowed", "must be a boolean, got int 1"),
        (
            "transitional_until = 2025-04-23",
            "transitional_until = 2025-04-23T00:00:00",
            "kpi.transitional_until",
            "must be a TOML date",
        ),
        (
            '[{ point_class = "all", cadence = "daily" }]',
            "[5]",
            "collection.delivery[0]",
            "must be a table, got int 5",
        ),
        (
            "daily_window_start = 00:15:00",
            "daily_window_start = [1]",
            "collection.read_plan.daily_window_start",
            "must be a TOML time, got an array",
        ),
        (
            "allowed_intervals = [15, 30, 60]",
            "allowed_intervals = 15",
            "metering.allowed_intervals",
            "must be an array",
        ),
        (
            "interval_minutes = 15 ",
            "interval_minutes = 20 ",
            "metering.interval_minutes",
            "20 is not one of {15, 30, 60}",
        ),
        (
            "allowed_intervals = [15, 30, 60]",
            "allowed_intervals = [30, 60]",
            "metering.interval_minutes",
            "must be one of metering.allowed_intervals",
        ),
        (
            "{ day_offset = 3, hour = 12, percent = 94.0 },",
            "{ day_offset = 3, hour = 12, percent = 101.0 },",
            "kpi.acquisition[1].percent",
            "101.0 is out of range 0.0..100.0",
        ),
        (
            "command_delivery_percent = 95.0",
            "command_delivery_percent = -1",
            "kpi.command_delivery_percent",
            "-1.0 is out of range 0.0..100.0",
        ),
        (
            "{ day_offset = 3, hour = 12, percent = 94.0 },",
            "{ day_offset = 1, hour = 8, percent = 94.0 },",
            "kpi.acquisition[1]",
            "deadlines must be increasing",
        ),
        (
            "{ day_offset = 7, hour = 24, percent = 96.0 },",
            "{ day_offset = 7, hour = 24, percent = 92.0 },",
            "kpi.acquisition[2].percent",
            "must not decrease",
        ),
        (
            "billing_periods_kept = 36",
            "billing_periods_kept = 12",
            "metering.billing_periods_kept",
            "out of range 36..240",
        ),
        (
            "profile_depth_days = 90 ",
            "profile_depth_days = 60 ",
            "metering.profile_depth_days",
            "out of range 90..3660",
        ),
        (
            "backfill_horizon_days = 30",
            "backfill_horizon_days = 120",
            "collection.backfill_horizon_days",
            "must not exceed metering.profile_depth_days",
        ),
        (
            "backfill_horizon_days = 30",
            "backfill_horizon_days = 7",
            "collection.backfill_horizon_days",
            "out of range 30..3660",
        ),
        (
            'timezone = "Europe/Warsaw"',
            'timezone = "Europe/Atlantis"',
            "timezone",
            "unknown IANA time zone",
        ),
        ('code = "PL"', 'code = "POL"', "code", "two upper-case letters"),
        (
            'balance_unit = "PLN"',
            'balance_unit = "zloty"',
            "prepayment.balance_unit",
            "'kWh' or an ISO 4217",
        ),
        (
            'daily_contents = ["load_profile"',
            'daily_contents = ["weather"',
            "collection.read_plan.daily_contents",
            "'weather' is not one of",
        ),
        (
            '{ point_class = "all", cadence = "daily" }',
            '{ point_class = "all", cadence = "hourly" }',
            "collection.delivery[0].cadence",
            "'hourly' is not one of {daily, weekly}",
        ),
        ("min_age_days = 2", "min_age_days = 30", "passwords.min_age_days", "below max_age_days"),
        (
            "max_per_user_per_window = 20",
            "max_per_user_per_window = 500",
            "disconnection.max_per_user_per_window",
            "must not exceed max_total_per_window",
        ),
        (
            "emergency_approvals = 2",
            "emergency_approvals = 1",
            "disconnection.emergency_approvals",
            "out of range 2..10",
        ),
        (
            '{ name = "Nowy Rok", fixed = "01-01" }',
            '{ name = "Nowy Rok", fixed = "01-01", easter_offset = 3 }',
            "calendar.holidays[0]",
            "exactly one of 'fixed' or 'easter_offset'",
        ),
        (
            '{ name = "Nowy Rok", fixed = "01-01" }',
            '{ name = "Nowy Rok" }',
            "calendar.holidays[0]",
            "exactly one of 'fixed' or 'easter_offset'",
        ),
        (
            '{ name = "Nowy Rok", fixed = "01-01" }',
            '{ name = "Nowy Rok", fixed = "13-01" }',
            "calendar.holidays[0].fixed",
            "'13-01' is not a valid MM-DD date",
        ),
        (
            '{ name = "Nowy Rok", fixed = "01-01" }',
            '{ name = "Boże Ciało", fixed = "01-01" }',
            "calendar.holidays[7].name",
            "duplicate holiday",
        ),
        (
            'easter = "western"',
            'easter = "none"',
            "calendar.holidays[2].easter_offset",
            "calendar.easter is 'none'",
        ),
    ],
)
def test_invalid_profile_is_refused_with_field_and_problem(
    tmp_path: Path, old: str, new: str, field: str, problem: str
) -> None:
    path = _write(tmp_path, _edit(old, new))
    with pytest.raises(ProfileError) as err:
        load_profile_file(path)
    assert err.value.source == str(path)
    assert err.value.field == field, str(err.value)
    assert problem in err.value.problem, str(err.value)
    assert str(err.value).startswith(f"{path}: {field}: ")


def test_day_off_that_is_also_a_working_day_is_refused(tmp_path: Path) -> None:
    text = _edit("extra_days_off = []", "extra_days_off = [2026-01-02]")
    text = text.replace("extra_working_days = []", "extra_working_days = [2026-01-02]")
    with pytest.raises(ProfileError, match=r"extra_working_days: 2026-01-02 is also a day"):
        load_profile_file(_write(tmp_path, text))


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"<file>: is not valid TOML"):
        load_profile_file(_write(tmp_path, PL_TEXT + "\n[metering\n"))


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ProfileError, match="is not UTF-8"):
        load_profile_file(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_profile_files_load_or_fail_with_profile_error(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Random edits to a valid file end in a Profile or a ProfileError, never another exception."""
    raw = bytearray(PL_TEXT.encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos : pos + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=4))
    path = tmp_path_factory.mktemp("fuzz") / "mutated.toml"
    path.write_bytes(bytes(raw))
    with contextlib.suppress(ProfileError):
        assert isinstance(load_profile_file(path), Profile)
