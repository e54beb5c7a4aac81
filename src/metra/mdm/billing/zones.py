"""Tariff zones, tan(phi) limits and the system operator's peak hours, from the profile (BAL-2).

The profile's rules (local hours, day types, months) become one zone index per interval and
one peak-hour flag per local hour by a handful of vectorised comparisons per rule.
"""

from __future__ import annotations

from datetime import time

import numpy as np

from metra.mdm.batch import Bools, Ints
from metra.mdm.billing.axis import LocalAxis
from metra.profiles.model import DAY_TYPES, Billing, Profile, Tariff


class UnknownTariff(ValueError):
    """A tariff name the profile does not define."""


def tariff_named(profile: Profile, name: str | None) -> Tariff:
    """The profile's tariff called `name`, or its default tariff when `name` is None."""
    wanted = profile.billing.default_tariff if name is None else name
    for tariff in profile.billing.tariffs:
        if tariff.name == wanted:
            return tariff
    known = ", ".join(t.name for t in profile.billing.tariffs)
    raise UnknownTariff(f"profile {profile.code} has no tariff {wanted!r}; known: {known}")


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def _within(minute: Ints, start: time, end: time) -> Bools:
    """Minutes inside [start, end) local time; over midnight when start > end; all day if equal."""
    s, e = _minutes(start), _minutes(end)
    if s == e:
        return np.ones(minute.shape, np.bool_)
    if s < e:
        return np.asarray((minute >= s) & (minute < e), np.bool_)
    return np.asarray((minute >= s) | (minute < e), np.bool_)


def zone_index(axis: LocalAxis, tariff: Tariff) -> Ints:
    """The zone (index into `tariff.zones`) of every interval; the first matching rule wins."""
    zone = np.zeros(axis.size, np.int64)
    months = axis.month_of_day()[axis.local_day]
    types = axis.type_code()[axis.local_day]
    for rule in reversed(tariff.rules):
        codes = [DAY_TYPES.index(t) for t in rule.day_types]
        hit = np.isin(types, codes) & np.isin(months, rule.months)
        hit &= _within(axis.minute, rule.start, rule.end)
        zone[hit] = tariff.zones.index(rule.zone)
    return zone


def tan_phi_limit(billing: Billing, connection_kv: float | None) -> float:
    """The permitted tan(phi) for a connection voltage; the lowest voltage class when unknown."""
    limits = billing.tan_phi_limits
    if connection_kv is None:
        return limits[0].limit
    for limit in limits:
        if connection_kv <= limit.up_to_kv:
            return limit.limit
    return limits[-1].limit


def peak_hours(axis: LocalAxis, billing: Billing) -> Bools:
    """Per local hour (see `LocalAxis.hour_starts`): inside the operator's peak on a working day."""
    starts = axis.hour_starts()
    minute = axis.minute[starts]
    day = axis.local_day[starts]
    months = axis.month_of_day()[day]
    inside = np.zeros(starts.shape, np.bool_)
    for window in billing.peak_hours:
        inside |= np.isin(months, window.months) & _within(minute, window.start, window.end)
    return np.asarray(inside & axis.working[day], np.bool_)
