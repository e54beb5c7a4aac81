"""Public holidays and working days per jurisdiction (JUR-1, CMD-4, PRE-2, PRE-4).

Deadlines in the sources are counted in working days (PL: 3 working days for normal commands,
one working day for prepayment requests) and prepayment disconnections are banned on public
holidays (UA), so every country needs its own calendar. The holiday *rules* (fixed dates and
offsets from Western or Orthodox Easter) live in the profile; this module only computes them.
Government transfer decrees (RU production calendar, for example) cannot be computed and are
listed per year in the profile as ``extra_days_off`` and ``extra_working_days``.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from metra.profiles.model import CalendarRules, Profile

_MAX_SCAN_DAYS = 3660
"""No real calendar has ten years without a working day; a bound keeps a bad profile finite."""


def western_easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def orthodox_easter(year: int) -> date:
    """Orthodox Easter Sunday: the Julian-calendar Paschalion (Meeus) shown as a Gregorian date."""
    a, b, c = year % 4, year % 7, year % 19
    d = (19 * c + 15) % 30
    e = (2 * a + 4 * b - d + 34) % 7
    month, day = divmod(d + e + 114, 31)
    julian_to_gregorian = year // 100 - year // 400 - 2  # 13 days in 1900-2099
    return date(year, month, day + 1) + timedelta(days=julian_to_gregorian)


def public_holidays(profile: Profile, year: int) -> dict[date, str]:
    """The jurisdiction's public holidays in ``year`` by date, with their names."""
    return dict(_holidays(profile.calendar, year))


@functools.lru_cache(maxsize=512)
def _holidays(cal: CalendarRules, year: int) -> tuple[tuple[date, str], ...]:
    easter = {"western": western_easter, "orthodox": orthodox_easter}.get(cal.easter)
    found: dict[date, str] = {}
    for rule in cal.holidays:
        if not rule.from_year <= year <= rule.until_year:
            continue
        if rule.fixed:
            month, day = (int(part) for part in rule.fixed.split("-"))
            when = date(year, month, day)
        elif easter is not None and rule.easter_offset is not None:
            when = easter(year) + timedelta(days=rule.easter_offset)
        else:  # pragma: no cover - the loader refuses such a rule
            continue
        found[when] = f"{found[when]}; {rule.name}" if when in found else rule.name
    return tuple(sorted(found.items()))


def is_public_holiday(profile: Profile, day: date) -> bool:
    """True on a public holiday by law, whether or not it is a day off this year."""
    return day in public_holidays(profile, day.year)


def is_working_day(profile: Profile, day: date) -> bool:
    """True if offices work that day: not a weekend, not a holiday off, not a transferred day off.

    A listed ``extra_working_days`` entry (a Saturday worked under a transfer decree) wins over
    the weekend rule; ``holidays_are_days_off`` is false where holidays are worked (UA under
    martial law), so holidays then count as working days while still blocking disconnection.
    """
    cal = profile.calendar
    if day in cal.extra_working_days:
        return True
    if day in cal.extra_days_off or day.isoweekday() in cal.weekend_days:
        return False
    return not (cal.holidays_are_days_off and is_public_holiday(profile, day))


def add_working_days(profile: Profile, start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (before it if ``n`` is negative); 0 gives ``start``.

    ``start`` itself is never counted, as in Polish civil law (KC art. 111 par. 2): a term that
    begins with an event runs from the next day.
    """
    step = 1 if n >= 0 else -1
    day, left, scanned = start, abs(n), 0
    while left:
        day += timedelta(days=step)
        scanned += 1
        if scanned > _MAX_SCAN_DAYS:
            raise ValueError("the profile's calendar has no working days")
        if is_working_day(profile, day):
            left -= 1
    return day


def working_deadline(profile: Profile, start: datetime, working_days: int) -> datetime:
    """Deadline of a term of ``working_days`` working days that starts at ``start`` (CMD-4, PRE-2).

    The term ends at 24:00 local time of the last working day counted from the day after
    ``start``; e.g. a PL hub request received on Friday afternoon with a one-working-day term must
    be executed by the end of Monday. Returned in the profile's time zone.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    zone = ZoneInfo(profile.timezone)
    last = add_working_days(profile, start.astimezone(zone).date(), working_days)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)


def is_disconnection_allowed(profile: Profile, when: datetime) -> bool:
    """False inside the prepayment no-disconnection windows, weekends or holidays (PRE-4)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("when must be timezone-aware")
    rules = profile.prepayment
    local = when.astimezone(ZoneInfo(profile.timezone))
    day = local.date()
    if rules.no_disconnect_weekends and day.isoweekday() in profile.calendar.weekend_days:
        return False
    if rules.no_disconnect_public_holidays and is_public_holiday(profile, day):
        return False
    now = local.time().replace(tzinfo=None)
    for window in rules.no_disconnect_windows:
        if window.start < window.end:
            inside = window.start <= now < window.end
        else:
            inside = now >= window.start or now < window.end
        if inside:
            return False
    return True
