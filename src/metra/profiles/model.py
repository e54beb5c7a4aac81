"""Typed, frozen shape of a jurisdiction profile (JUR-1).

Every number that differs between the countries the system serves lives in a profile, so the
code that schedules reads, computes KPIs or checks passwords asks the profile instead of holding
a constant. The dataclasses are frozen so a loaded profile can be shared between threads and cached.

Field metadata carries the bounds the loader enforces (``lo``/``hi`` inclusive, ``choices``, and
``unit`` for the documentation); cross-field rules live in the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any


def _m(
    unit: str = "",
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[object, ...] | None = None,
) -> dict[str, Any]:
    """Field metadata: the unit shown in the docs and the bounds the loader enforces."""
    return {"unit": unit, "lo": lo, "hi": hi, "choices": choices}


READ_CONTENTS = ("load_profile", "billing_registers", "events", "power_quality", "instantaneous")
"""What a scheduled read may fetch; the collection read plan names a subset of these."""

DELIVERY_CADENCES = ("daily", "weekly")
"""How often readings of a point class must reach the market (COL-1, S2 4.2.1, 4.2.16)."""


@dataclass(frozen=True, slots=True)
class Metering:
    """What the meter records and keeps (COL-3, COL-4, STO-1)."""

    interval_minutes: int = field(metadata=_m("min", choices=(15, 30, 60)))
    allowed_intervals: tuple[int, ...] = field(metadata=_m("min", choices=(15, 30, 60)))
    profile_depth_days: int = field(metadata=_m("d", lo=90, hi=3660))
    billing_periods_kept: int = field(metadata=_m("periods", lo=36, hi=240))


@dataclass(frozen=True, slots=True)
class DeliveryRule:
    """Delivery cadence for one class of delivery point (COL-1)."""

    point_class: str
    cadence: str = field(metadata=_m(choices=DELIVERY_CADENCES))


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The daily, monthly and power-quality reads the head-end schedules (COL-1, COL-4, COL-6)."""

    daily_window_start: time = field(metadata=_m("local time"))
    daily_window_end: time = field(metadata=_m("local time"))
    daily_contents: tuple[str, ...] = field(metadata=_m(choices=READ_CONTENTS))
    billing_read_day: int = field(metadata=_m("day of month", lo=1, hi=28))
    power_quality_every_minutes: int = field(metadata=_m("min", lo=15, hi=10080))


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry with exponential back-off for a failed read or command."""

    attempts: int = field(metadata=_m("count", lo=0, hi=20))
    initial_backoff_s: int = field(metadata=_m("s", lo=1, hi=86400))
    max_backoff_s: int = field(metadata=_m("s", lo=1, hi=86400))
    multiplier: float = field(metadata=_m("factor", lo=1.0, hi=10.0))


@dataclass(frozen=True, slots=True)
class Collection:
    """How and how often data are fetched (COL-1, COL-8, CMD-5)."""

    read_plan: ReadPlan
    cycles_minutes: tuple[int, ...] = field(metadata=_m("min", lo=15, hi=1440))
    delivery: tuple[DeliveryRule, ...]
    backfill_horizon_days: int = field(metadata=_m("d", lo=30, hi=3660))
    clock_sync_threshold_s: int = field(metadata=_m("s", lo=1, hi=3600))
    max_timer_error_s_per_day: float = field(metadata=_m("s/d", lo=0.0, hi=60.0))
    retry: Retry


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A KPI checkpoint: ``percent`` of day n read by ``hour`` of day n + ``day_offset``."""

    day_offset: int = field(metadata=_m("d", lo=0, hi=60))
    hour: int = field(metadata=_m("h", lo=0, hi=24))
    percent: float = field(metadata=_m("%", lo=0.0, hi=100.0))


KPI_EXCLUSION_REASONS = ("customer_no_access", "grid_failure")
"""Documented reasons a meter may leave an acquisition figure (KPI-2, S1 16.9 points 1 and 2)."""


@dataclass(frozen=True, slots=True)
class Kpi:
    """Communication effectiveness targets (KPI-1, KPI-3, KPI-4)."""

    acquisition: tuple[Checkpoint, ...]
    acquisition_transitional: tuple[Checkpoint, ...]
    transitional_until: date = field(metadata=_m("date, exclusive"))
    first_computed_after_months: int = field(metadata=_m("months", lo=0, hi=24))
    command_group_max_meters: int = field(metadata=_m("meters", lo=1, hi=100000))
    command_delivery_percent: float = field(metadata=_m("%", lo=0.0, hi=100.0))
    command_delivery_hours: int = field(metadata=_m("h", lo=1, hi=168))
    checkpoint_exclusions: tuple[tuple[str, ...], ...] = field(
        metadata=_m("reasons per checkpoint, one of KPI_EXCLUSION_REASONS")
    )


COMMAND_KINDS = (
    "connect",
    "disconnect",
    "power_limit",
    "emergency_power_limit",
    "time_sync",
    "time_set",
    "activity_calendar",
    "special_days",
    "data_scope",
    "parameterise",
    "measurement_method",
    "han_open",
    "han_close",
    "key_change",
    "firmware_update",
    "credit_transfer",
)
"""The commands the head-end carries out (CMD-2, CMD-7, CMD-10, ACC-2, PRE-1); profiles name
these."""


@dataclass(frozen=True, slots=True)
class Commands:
    """Execution deadlines of undelivered commands by priority (CMD-4), and the command kinds
    the jurisdiction deactivates (SEC-10: refused at submission, e.g. power throttling)."""

    high_priority_kinds: tuple[str, ...] = field(metadata=_m(choices=COMMAND_KINDS))
    high_priority_deadline_hours: int = field(metadata=_m("h", lo=1, hi=720))
    normal_deadline_working_days: int = field(metadata=_m("working days", lo=1, hi=60))
    disabled_kinds: tuple[str, ...] = field(default=(), metadata=_m(choices=COMMAND_KINDS))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A daily local-time window; ``start > end`` means it runs over midnight."""

    start: time = field(metadata=_m("local time"))
    end: time = field(metadata=_m("local time"))


@dataclass(frozen=True, slots=True)
class Prepayment:
    """Prepayment mode rules (PRE-1..PRE-4)."""

    allowed: bool
    balance_unit: str = field(metadata=_m("kWh or ISO 4217 code"))
    low_credit_threshold: float = field(metadata=_m("balance unit", lo=0.0, hi=1e9))
    hub_request_deadline_working_days: int = field(metadata=_m("working days", lo=1, hi=30))
    balance_notice_every_hours: int = field(metadata=_m("h", lo=1, hi=744))
    no_disconnect_weekends: bool
    no_disconnect_public_holidays: bool
    no_disconnect_windows: tuple[TimeWindow, ...]


@dataclass(frozen=True, slots=True)
class Disconnection:
    """Limits against mass disconnection and the emergency override (SEC-6)."""

    max_points_per_command: int = field(metadata=_m("points", lo=1, hi=100000))
    max_per_user_per_window: int = field(metadata=_m("points", lo=1, hi=100000))
    max_total_per_window: int = field(metadata=_m("points", lo=1, hi=1000000))
    window_minutes: int = field(metadata=_m("min", lo=1, hi=10080))
    emergency_approvals: int = field(metadata=_m("people", lo=2, hi=10))


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Password, lockout and second-factor rules (SEC-5)."""

    min_length: int = field(metadata=_m("chars", lo=8, hi=128))
    require_letter: bool
    require_digit: bool
    require_special: bool
    require_mixed_case: bool
    history: int = field(metadata=_m("passwords", lo=0, hi=100))
    forbid_any_reuse: bool
    max_age_days: int = field(metadata=_m("d, 0 = no expiry", lo=0, hi=3650))
    min_age_days: int = field(metadata=_m("d", lo=0, hi=365))
    force_change_first_login: bool
    max_failed_logins: int = field(metadata=_m("attempts", lo=1, hi=100))
    failed_login_window_minutes: int = field(metadata=_m("min", lo=1, hi=10080))
    lockout_minutes: int = field(metadata=_m("min", lo=1, hi=10080))
    totp_roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retention:
    """How long data are kept, and the ceiling for customer data (STO-1, STO-2, STO-3)."""

    measurements_years: int = field(metadata=_m("years", lo=5, hi=100))
    user_archive_years: int = field(metadata=_m("years", lo=3, hi=100))
    customer_data_max_years: int = field(metadata=_m("years", lo=1, hi=100))
    audit_trail_years: int = field(metadata=_m("years", lo=1, hi=100))
    master_data_history_years: int = field(metadata=_m("years", lo=3, hi=100))


@dataclass(frozen=True, slots=True)
class Han:
    """Customer (HAN) port defaults (ACC-1, ACC-2)."""

    open_by_default: bool
    close_on_move_out: bool
    encrypted: bool
    instantaneous_push_seconds: int = field(metadata=_m("s", lo=1, hi=3600))
    register_push_minutes: int = field(metadata=_m("min", lo=1, hi=1440))


@dataclass(frozen=True, slots=True)
class Vee:
    """Validation, estimation and editing parameters (DQ-4, DQ-6)."""

    short_gap_max_minutes: int = field(metadata=_m("min", lo=0, hi=1440))
    spike_factor: float = field(metadata=_m("factor", lo=1.0, hi=1000.0))
    like_day_window_days: int = field(metadata=_m("d", lo=7, hi=366))


@dataclass(frozen=True, slots=True)
class Balance:
    """Energy balance per network element and losses to the delivery point (BAL-1)."""

    permissible_imbalance_percent: float = field(metadata=_m("%", lo=0.0, hi=100.0))
    assumed_tan_phi: float = field(metadata=_m("tan(phi)", lo=0.0, hi=2.0))


@dataclass(frozen=True, slots=True)
class PowerQualityLimits:
    """Supply-voltage and frequency limits a power-quality report is judged against (PQ-1).

    Each quantity has a band it must stay in for ``*_share_percent`` of the assessment period
    and a wider band it must never leave; deviations are percent of the nominal value.
    """

    nominal_voltage_v: float = field(metadata=_m("V", lo=1.0, hi=1_000_000.0))
    nominal_frequency_hz: float = field(metadata=_m("Hz", choices=(50.0, 60.0)))
    voltage_band_percent: float = field(metadata=_m("% of Un", lo=0.0, hi=50.0))
    voltage_share_percent: float = field(metadata=_m("%", lo=50.0, hi=100.0))
    voltage_always_low_percent: float = field(metadata=_m("% of Un", lo=-50.0, hi=0.0))
    voltage_always_high_percent: float = field(metadata=_m("% of Un", lo=0.0, hi=50.0))
    voltage_period_days: int = field(metadata=_m("d", lo=1, hi=366))
    frequency_band_percent: float = field(metadata=_m("% of fn", lo=0.0, hi=20.0))
    frequency_share_percent: float = field(metadata=_m("%", lo=50.0, hi=100.0))
    frequency_always_low_percent: float = field(metadata=_m("% of fn", lo=-20.0, hi=0.0))
    frequency_always_high_percent: float = field(metadata=_m("% of fn", lo=0.0, hi=20.0))
    frequency_period_days: int = field(metadata=_m("d", lo=1, hi=366))


DAY_TYPES = ("working", "saturday", "sunday", "holiday")
"""Kinds of local day a tariff zone rule may name; "holiday" is a public holiday or a day off."""


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """Local hours of a tariff zone on some day types and months; ``start == end`` is all day."""

    zone: str
    start: time = field(metadata=_m("local time"))
    end: time = field(metadata=_m("local time"))
    day_types: tuple[str, ...] = field(metadata=_m(choices=DAY_TYPES))
    months: tuple[int, ...] = field(metadata=_m("month", lo=1, hi=12))


@dataclass(frozen=True, slots=True)
class Tariff:
    """A time-of-use tariff: its zones (the first takes every interval no rule claims)."""

    name: str
    zones: tuple[str, ...]
    rules: tuple[ZoneRule, ...]


@dataclass(frozen=True, slots=True)
class TanPhiLimit:
    """The permitted reactive to active ratio for connections up to ``up_to_kv`` (BAL-2)."""

    up_to_kv: float = field(metadata=_m("kV", lo=0.0, hi=1000.0))
    limit: float = field(metadata=_m("tan(phi)", lo=0.0, hi=2.0))


@dataclass(frozen=True, slots=True)
class PeakWindow:
    """The system operator's planned peak hours on working days of some months (BAL-2)."""

    months: tuple[int, ...] = field(metadata=_m("month", lo=1, hi=12))
    start: time = field(metadata=_m("local time"))
    end: time = field(metadata=_m("local time"))


@dataclass(frozen=True, slots=True)
class Billing:
    """Billing determinants: tariff zones, tan(phi) limits, peak hours (BAL-2)."""

    default_tariff: str
    tariffs: tuple[Tariff, ...]
    tan_phi_limits: tuple[TanPhiLimit, ...]
    peak_hours: tuple[PeakWindow, ...]


@dataclass(frozen=True, slots=True)
class Reports:
    """Report obligations (ACC-4)."""

    signed_wholesale_report: bool


@dataclass(frozen=True, slots=True)
class HolidayRule:
    """One public holiday: a fixed ``MM-DD`` date or an offset in days from Easter Sunday.

    ``from_year``/``until_year`` bound the years the rule applies (inclusive), because holiday
    laws change (e.g. PL added 24 December from 2025, UA moved several dates in 2023).
    """

    name: str
    fixed: str = field(default="", metadata=_m("MM-DD, empty if movable"))
    easter_offset: int | None = field(
        default=None, metadata=_m("d from Easter Sunday", lo=-80, hi=200)
    )
    from_year: int = field(default=1, metadata=_m("year", lo=1, hi=9999))
    until_year: int = field(default=9999, metadata=_m("year", lo=1, hi=9999))


@dataclass(frozen=True, slots=True)
class CalendarRules:
    """The working-day calendar: weekend, holiday rules and published transfers."""

    weekend_days: tuple[int, ...] = field(metadata=_m("ISO weekday 1..7", lo=1, hi=7))
    easter: str = field(metadata=_m(choices=("western", "orthodox", "none")))
    holidays: tuple[HolidayRule, ...]
    holidays_are_days_off: bool
    extra_days_off: tuple[date, ...] = field(metadata=_m("date"))
    extra_working_days: tuple[date, ...] = field(metadata=_m("date"))


@dataclass(frozen=True, slots=True)
class Operator:
    """The operator as the data controller the customer may contact (ACC-7, S1 19 item 5)."""

    contact: str = field(default="", metadata=_m("e-mail address or https:// URL"))


@dataclass(frozen=True, slots=True)
class Profile:
    """One jurisdiction's configuration object (JUR-1)."""

    code: str
    name: str
    language: str = field(metadata=_m("ISO 639-1"))
    timezone: str = field(metadata=_m("IANA zone"))
    metering: Metering
    collection: Collection
    kpi: Kpi
    commands: Commands
    prepayment: Prepayment
    disconnection: Disconnection
    passwords: PasswordPolicy
    retention: Retention
    han: Han
    vee: Vee
    balance: Balance
    billing: Billing
    reports: Reports
    calendar: CalendarRules
    power_quality: PowerQualityLimits
    operator: Operator = Operator()
