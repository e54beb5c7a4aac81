"""Holiday dates and working-day arithmetic, checked against published calendars (JUR-1, CMD-4).

Published dates used below:
- Western Easter 2025-04-20, 2026-04-05; Orthodox Easter 2025-04-20, 2026-04-12 (church calendars).
- PL: Ustawa o dniach wolnych od pracy; Wigilia (24 Dec) a holiday from 2025; 251 working days
  in 2025 (gov.pl working-time tables).
- NO: Lov om helligdager; NO 2025/2026 movable days from the Norwegian almanac.
- RU: Labour Code art. 112; decree No. 1335 of 2024-10-04 (2025: 247 working days, 1 Nov worked)
  and the decree of 2025-09-24 for 2026 (3 and 4 Jan moved to 9 Jan and 31 Dec).
- UA: Labour Code art. 73 as amended by Law 3107-IX (25 Dec, 15 Jul, 1 Oct; 7 Jan dropped).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metra.profiles import (
    add_working_days,
    is_disconnection_allowed,
    is_public_holiday,
    is_working_day,
    load_profile,
    orthodox_easter,
    public_holidays,
    western_easter,
    working_deadline,
)


@pytest.mark.parametrize(
    ("year", "western", "orthodox"),
    [
        (2024, date(2024, 3, 31), date(2024, 5, 5)),
        (2025, date(2025, 4, 20), date(2025, 4, 20)),
        (2026, date(2026, 4, 5), date(2026, 4, 12)),
        (2027, date(2027, 3, 28), date(2027, 5, 2)),
    ],
)
def test_easter_dates_match_published_tables(year: int, western: date, orthodox: date) -> None:
    assert western_easter(year) == western
    assert orthodox_easter(year) == orthodox


def test_easter_is_always_a_sunday_over_two_centuries() -> None:
    for year in range(1900, 2100):
        assert western_easter(year).isoweekday() == 7
        assert orthodox_easter(year).isoweekday() == 7


@pytest.mark.parametrize(
    ("day", "name_part"),
    [
        (date(2025, 4, 21), "Poniedziałek Wielkanocny"),
        (date(2025, 6, 8), "Zielone"),
        (date(2025, 6, 19), "Boże Ciało"),
        (date(2025, 12, 24), "Wigilia"),
        (date(2026, 4, 6), "Poniedziałek Wielkanocny"),
        (date(2026, 5, 24), "Zielone"),
        (date(2026, 6, 4), "Boże Ciało"),
        (date(2026, 1, 6), "Trzech Króli"),
        (date(2026, 11, 11), "Niepodległości"),
    ],
)
def test_jur1_pl_holidays_2025_2026(day: date, name_part: str) -> None:
    assert name_part in public_holidays(load_profile("pl"), day.year)[day]


def test_jur1_pl_christmas_eve_only_from_2025() -> None:
    pl = load_profile("pl")
    assert not is_public_holiday(pl, date(2024, 12, 24))
    assert is_public_holiday(pl, date(2025, 12, 24))


def test_jur1_pl_2025_has_251_working_days() -> None:
    pl = load_profile("pl")
    days = (date(2025, 1, 1) + timedelta(n) for n in range(365))
    assert sum(is_working_day(pl, d) for d in days) == 251


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 4, 17),  # Skjærtorsdag
        date(2025, 4, 18),  # Langfredag
        date(2025, 4, 21),  # Andre påskedag
        date(2025, 5, 29),  # Kristi himmelfartsdag
        date(2025, 6, 9),  # Andre pinsedag
        date(2026, 4, 2),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 14),
        date(2026, 5, 25),
        date(2026, 5, 17),  # Grunnlovsdag
    ],
)
def test_jur1_no_holidays_2025_2026(day: date) -> None:
    assert is_public_holiday(load_profile("no"), day)


def test_jur1_ru_new_year_holidays_1_to_8_january() -> None:
    ru = load_profile("ru")
    holidays = public_holidays(ru, 2026)
    assert all(date(2026, 1, d) in holidays for d in range(1, 9))
    assert date(2026, 1, 9) not in holidays  # a transferred day off, not a holiday
    assert not is_working_day(ru, date(2026, 1, 9))  # decree of 2025-09-24


def test_jur1_ru_2025_transfer_decree_gives_247_working_days() -> None:
    ru = load_profile("ru")
    assert is_working_day(ru, date(2025, 11, 1))  # a Saturday worked
    assert not is_working_day(ru, date(2025, 11, 3))
    assert not is_working_day(ru, date(2025, 12, 31))
    days = (date(2025, 1, 1) + timedelta(n) for n in range(365))
    assert sum(is_working_day(ru, d) for d in days) == 247


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 4, 20),  # Великдень
        date(2025, 6, 8),  # Трійця
        date(2026, 4, 12),
        date(2026, 5, 31),
        date(2026, 7, 15),
        date(2026, 10, 1),
        date(2026, 12, 25),
    ],
)
def test_jur1_ua_holidays_2025_2026(day: date) -> None:
    assert is_public_holiday(load_profile("ua"), day)


def test_jur1_ua_dates_moved_by_law_3107_ix() -> None:
    ua = load_profile("ua")
    assert not is_public_holiday(ua, date(2026, 1, 7))
    assert not is_public_holiday(ua, date(2026, 10, 14))
    assert not is_public_holiday(ua, date(2026, 5, 9))


def test_jur1_ua_holidays_worked_under_martial_law() -> None:
    ua = load_profile("ua")
    assert is_public_holiday(ua, date(2026, 8, 24))  # a Monday
    assert is_working_day(ua, date(2026, 8, 24))


def test_cmd4_add_working_days_skips_weekend_and_holiday() -> None:
    pl = load_profile("pl")
    # Thu 2026-04-02 + 3 working days: Fri 3, (Sat, Sun, Easter Monday 6), Tue 7, Wed 8.
    assert add_working_days(pl, date(2026, 4, 2), 3) == date(2026, 4, 8)
    assert add_working_days(pl, date(2026, 4, 8), -3) == date(2026, 4, 2)
    assert add_working_days(pl, date(2026, 4, 4), 0) == date(2026, 4, 4)


def test_pre2_pl_one_working_day_deadline_over_a_weekend() -> None:
    pl = load_profile("pl")
    warsaw = ZoneInfo("Europe/Warsaw")
    friday = datetime(2026, 1, 9, 15, 30, tzinfo=warsaw)
    deadline = working_deadline(pl, friday, 1)
    assert deadline == datetime(2026, 1, 13, 0, 0, tzinfo=warsaw)  # end of Monday 12 Jan


def test_cmd4_pl_three_working_days_over_weekend_and_easter_monday() -> None:
    pl = load_profile("pl")
    start = datetime(2026, 4, 2, 22, 0, tzinfo=UTC)  # already Fri 3 Apr 00:00 in Warsaw
    deadline = working_deadline(pl, start, 3)
    # counting starts Sat 4: (Sat, Sun, Easter Mon) Tue 7, Wed 8, Thu 9 -> end of Thu 9 April.
    assert deadline == datetime(2026, 4, 10, 0, 0, tzinfo=ZoneInfo("Europe/Warsaw"))


def test_working_deadline_refuses_naive_datetimes_and_empty_terms() -> None:
    pl = load_profile("pl")
    with pytest.raises(ValueError, match="timezone-aware"):
        working_deadline(pl, datetime(2026, 1, 9, 12, 0), 1)
    with pytest.raises(ValueError, match="at least 1"):
        working_deadline(pl, datetime(2026, 1, 9, 12, 0, tzinfo=UTC), 0)


def test_pre4_ua_disconnection_only_in_working_hours_of_a_weekday() -> None:
    ua = load_profile("ua")
    kyiv = ZoneInfo("Europe/Kyiv")
    assert is_disconnection_allowed(ua, datetime(2026, 3, 11, 11, 0, tzinfo=kyiv))  # Wednesday
    assert not is_disconnection_allowed(ua, datetime(2026, 3, 11, 19, 0, tzinfo=kyiv))  # evening
    assert not is_disconnection_allowed(ua, datetime(2026, 3, 11, 3, 0, tzinfo=kyiv))  # night
    assert not is_disconnection_allowed(ua, datetime(2026, 3, 14, 11, 0, tzinfo=kyiv))  # Saturday
    assert not is_disconnection_allowed(ua, datetime(2026, 8, 24, 11, 0, tzinfo=kyiv))  # holiday
