"""Read plans: what one session with a meter fetches, derived from the jurisdiction profile (COL-1).

The profile names the daily contents (load profile, billing registers, events, power quality,
instantaneous values), the billing read day, the power-quality cadence and the backfill horizon;
this module turns them, for one meter and day n, into the list of things the session reads.
Backfill (COL-8) widens the load-profile range back to the oldest interval the store still lacks
within the horizon, so a meter that was unreachable for days is completed by its next session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from metra.profiles.model import Profile


@dataclass(frozen=True)
class SessionPlan:
    """Everything one association with a meter reads; ``None`` ranges are not read."""

    day: date
    load_profile: tuple[datetime, datetime] | None
    registers: bool
    daily_billing: tuple[datetime, datetime] | None
    monthly_billing: tuple[datetime, datetime] | None
    events_since: datetime | None
    power_quality: tuple[datetime, datetime] | None
    instantaneous: bool
    clock: bool = True

    @property
    def items(self) -> tuple[str, ...]:
        """The names of what is read, for the audit trail."""
        named = {
            "load_profile": self.load_profile,
            "registers": self.registers,
            "daily_billing": self.daily_billing,
            "monthly_billing": self.monthly_billing,
            "events": self.events_since,
            "power_quality": self.power_quality,
            "instantaneous": self.instantaneous,
            "clock": self.clock,
        }
        return tuple(name for name, wanted in named.items() if wanted)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A UTC day as [start, end); interval rows in the store are UTC days."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def backfill_start(profile: Profile, day: date) -> datetime:
    """The oldest instant backfill reaches for a read of day n: the profile's horizon (>= 30 d)."""
    return day_bounds(day)[0] - timedelta(days=profile.collection.backfill_horizon_days - 1)


def power_quality_due(profile: Profile, day: date) -> bool:
    """Whether the daily read of day n also reads power quality (COL-6).

    The profile's cadence is `power_quality_every_minutes`: at most a day means every daily
    read; a longer one (NO: weekly) means every k-th day counted from the epoch, so the
    cadence is the same whichever day the head-end was started on.
    """
    days = profile.collection.read_plan.power_quality_every_minutes // 1440
    return days <= 1 or day.toordinal() % days == 0


def power_quality_span(profile: Profile, day: date) -> tuple[datetime, datetime]:
    """The span a power-quality read covers: the cadence's period, ending with day n."""
    end = day_bounds(day)[1]
    minutes = max(profile.collection.read_plan.power_quality_every_minutes, 1440)
    return end - timedelta(minutes=minutes), end


def plan_for(
    profile: Profile,
    day: date,
    *,
    first_missing: datetime | None,
    events_since: datetime | None,
    power_quality_due: bool = True,
) -> SessionPlan:
    """The plan for day n of one meter.

    `first_missing` is the oldest interval the store lacks within the backfill horizon (None when
    nothing is missing: the load profile is then not read at all); `events_since` is the newest
    journal entry already stored (None: journals from the backfill horizon). Power quality (the
    power-quality profile's values and the power-quality log) is read when due.
    """
    contents = profile.collection.read_plan.daily_contents
    start, end = day_bounds(day)
    horizon = backfill_start(profile, day)
    billing_day = profile.collection.read_plan.billing_read_day
    load_profile = None
    if "load_profile" in contents and first_missing is not None:
        load_profile = (max(first_missing, horizon), end)
    billing = "billing_registers" in contents
    month_start = datetime.combine(day.replace(day=1), time(), UTC)
    return SessionPlan(
        day=day,
        load_profile=load_profile,
        registers=billing,
        daily_billing=(start, end + timedelta(seconds=1)) if billing else None,
        monthly_billing=(month_start, end + timedelta(seconds=1))
        if billing and day.day == billing_day
        else None,
        events_since=(events_since or horizon) if "events" in contents else None,
        power_quality=power_quality_span(profile, day)
        if "power_quality" in contents and power_quality_due
        else None,
        instantaneous="instantaneous" in contents,
    )
