"""Jurisdiction profiles: every number that differs between countries, typed and validated (JUR-1).

Code asks a :class:`Profile` for intervals, deadlines, KPI targets and security rules instead of
holding them as constants, so adding a country means adding a TOML file, not editing code.
"""

from __future__ import annotations

from metra.profiles.calendar import (
    add_working_days,
    is_disconnection_allowed,
    is_public_holiday,
    is_working_day,
    orthodox_easter,
    public_holidays,
    western_easter,
    working_deadline,
)
from metra.profiles.errors import ProfileError
from metra.profiles.loader import available_profiles, load_profile, load_profile_file
from metra.profiles.model import Profile

__all__ = [
    "Profile",
    "ProfileError",
    "add_working_days",
    "available_profiles",
    "is_disconnection_allowed",
    "is_public_holiday",
    "is_working_day",
    "load_profile",
    "load_profile_file",
    "orthodox_easter",
    "public_holidays",
    "western_easter",
    "working_deadline",
]
