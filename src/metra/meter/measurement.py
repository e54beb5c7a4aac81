"""The measurement model: what a meter measured at any moment, from (seed, time) alone.

No per-meter history is stored. Registers are cumulative sums of integer slot energies from a
fixed epoch, and the sums are closed-form at day boundaries:

* ``cum(q, d)`` — register ``q`` at the start of model day ``d`` — is ``base + floor(k * F(d))``
  with ``F`` a smooth, strictly increasing curve (trend + seasonal sine + a weekly pattern that
  sums to zero + bounded per-day noise), so a day's energy is ``cum(d + 1) - cum(d)`` and any
  register at any day costs a few float operations.
* A day's energy is split among tariff zones by fixed shares of the customer shape (per day type
  and month), then within each zone among its 15-minute slots by randomised weights, both with
  cumulative rounding, so slot energies are integers that sum *exactly* to the register advance
  and to the tariff registers' advance (the consistency a utility checks).
* Tariff registers are sums of per-day zone energies: a short loop of cheap closed-form days,
  with one checkpoint cached per meter so reads that move forward cost only the days between.

Model days are days of the jurisdiction's *standard* time (no daylight saving), so every day has
96 slots and the time-of-use zones switch at the same standard-time hours all year, as many
meters are configured. Measurement faults (power outages, register jump, watchdog resets) come
from :class:`~metra.meter.faults.MeterFaults`.

Two things the meter's own state decides are applied on top, never rewriting what was already
measured:

* **Supply cuts** (relay open): the energy that would have flowed while the disconnector was
  open is not measured. Registers are the closed form minus the energy lost in every cut before
  (computed slot by slot for the cut days only and cached), so profiles, registers and tariff
  registers stay exactly consistent.
* **Tariff zones** come from the meter's :class:`~metra.meter.tariff.TariffSchedule` (activity
  calendar and special days). The split of a day's energy among slots uses the fixed reference
  zoning of :class:`~metra.meter.shapes.TariffCalendar` (a shape, not a tariff), so changing the
  calendar only changes which register later slots count in; a day whose zones equal the
  reference ones takes the closed-form path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from metra.profiles.calendar import public_holidays
from metra.profiles.model import Profile

from .faults import MeterFaults, Outage
from .identity import MeterIdentity
from .shapes import (
    SLOTS_PER_DAY,
    DayType,
    TariffCalendar,
    customer_shape,
    export_weights,
    import_weights,
    zone_shares,
)
from .tariff import TariffSchedule

__all__ = [
    "EPOCH",
    "SLOT",
    "DayData",
    "Instant",
    "Interval",
    "MeasurementModel",
    "Quantity",
    "Status",
]

#: Model day 0 (standard local time); registers start from a per-meter base here.
EPOCH = date(2020, 1, 1)
SLOT = timedelta(minutes=15)
_SLOT_SECONDS = 900
_YEAR = 365.2425
_M64 = (1 << 64) - 1


class Quantity(IntEnum):
    """Energy quantities: active import/export and reactive energy per quadrant."""

    A_PLUS = 0
    A_MINUS = 1
    R1 = 2
    R2 = 3
    R3 = 4
    R4 = 5


_IMPORT_SIDE = (Quantity.A_PLUS, Quantity.R1, Quantity.R4)


class Status:
    """Profile status word bits (IDIS "AMR profile status"; bit 6 is our "recovered")."""

    CRITICAL_ERROR = 0x01
    CLOCK_INVALID = 0x02
    DATA_NOT_VALID = 0x04
    DAYLIGHT_SAVING = 0x08
    CLOCK_ADJUSTED = 0x20
    RECOVERED = 0x40
    POWER_DOWN = 0x80


#: An outage longer than this exhausts the clock's backup: the interval after it is clock invalid.
CLOCK_BACKUP = timedelta(hours=4)


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _uniform(seed: int, a: int, b: int) -> float:
    """A value in [0, 1) fixed by (seed, a, b)."""
    return _mix(_mix(seed & _M64) ^ _mix(((a & 0xFFFFFFFF) << 32) | (b & 0xFFFFFFFF))) / 2.0**64


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (cumulative rounding)."""
    whole = sum(weights)
    out = [0] * len(weights)
    if total == 0 or whole <= 0:
        return out
    acc = 0.0
    prev = 0
    for i, w in enumerate(weights):
        acc += w
        cur = int(total * acc / whole + 0.5)
        out[i] = cur - prev
        prev = cur
    out[-1] += total - prev
    return out


@functools.cache
def _holidays(profile: Profile, year: int) -> frozenset[date]:
    return frozenset(public_holidays(profile, year))


@dataclass(frozen=True, slots=True)
class DayData:
    """One model day: slot energies per quantity (Wh or varh per 15 min) and slot status bits."""

    day: date
    start: datetime
    energy: tuple[tuple[int, ...], ...]
    status: tuple[int, ...]
    zones: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Interval:
    """One load-profile entry: the period ending at ``end`` (UTC)."""

    end: datetime
    status: int
    energy: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Instant:
    """Instantaneous values (W, var, V, A, Hz)."""

    p_import: float
    p_export: float
    q_import: float
    q_export: float
    voltage: tuple[float, ...]
    current: tuple[float, ...]
    frequency: float
    power_factor: float


class MeasurementModel:
    """The measurements of one meter. Holds a few numbers and one cached checkpoint."""

    __slots__ = (
        "_base",
        "_checkpoint",
        "_cuts",
        "_k",
        "_lost",
        "_mean",
        "_wcum",
        "calendar",
        "customer_type",
        "epoch_utc",
        "faults",
        "phases",
        "profile",
        "seed",
        "std_offset",
        "tariffs",
    )

    def __init__(
        self,
        identity: MeterIdentity,
        profile: Profile,
        faults: MeterFaults | None = None,
        calendar: TariffCalendar | None = None,
        tariffs: TariffSchedule | None = None,
    ) -> None:
        self.seed = _mix(identity.seed & _M64) ^ int.from_bytes(identity.system_title, "big")
        self.customer_type = identity.customer_type
        self.phases = identity.phases
        self.profile = profile
        self.faults = faults
        self.calendar = calendar or TariffCalendar()
        self.tariffs = tariffs
        self._cuts: list[tuple[datetime, datetime | None]] = []
        self._lost: dict[int, tuple[int, ...]] = {}
        offset = ZoneInfo(profile.timezone).utcoffset(datetime(2021, 1, 15))
        self.std_offset = offset or timedelta(0)
        self.epoch_utc = datetime.combine(EPOCH, datetime.min.time(), UTC) - self.std_offset
        shape = customer_shape(self.customer_type)
        u = functools.partial(_uniform, self.seed, -1)
        lo, hi = shape.import_kwh_per_year
        elo, ehi = shape.export_kwh_per_year
        self._mean = (
            (lo + (hi - lo) * u(0)) * 1000 / _YEAR,
            (elo + (ehi - elo) * u(1)) * 1000 / _YEAR,
        )
        # Per quantity: (source side 0 import / 1 export, factor).
        self._k = (1.0, 1.0, 0.2 + 0.2 * u(2), 0.01 + 0.02 * u(3), 0.05 + 0.1 * u(4), 0.02)
        start_import = int(u(5) * 5_000_000)
        start_export = int(u(6) * 500_000) if ehi else 0
        self._base = tuple(
            int((start_import if q in _IMPORT_SIDE else start_export) * self._k[q])
            for q in Quantity
        )
        weekly = shape.weekly
        self._wcum = tuple(
            sum(weekly[(EPOCH.weekday() + j) % 7] for j in range(k)) for k in range(7)
        )
        self._checkpoint: dict[int, tuple[int, tuple[int, ...]]] = {}

    # ------------------------------------------------------------------------ time mapping

    def day_index(self, when: datetime) -> int:
        return int((when - self.epoch_utc).total_seconds() // 86400)

    def day_start(self, d: int) -> datetime:
        return self.epoch_utc + timedelta(days=d)

    def day_type(self, d: int) -> DayType:
        day = EPOCH + timedelta(days=d)
        if day.isoweekday() == 7 or day in _holidays(self.profile, day.year):
            return DayType.HOLIDAY
        return DayType.SATURDAY if day.isoweekday() == 6 else DayType.WORKDAY

    # ------------------------------------------------------------------------ closed form

    def _curve(self, side: int, d: int) -> float:
        shape = customer_shape(self.customer_type)
        mean = self._mean[side]
        if mean == 0:
            return 0.0
        if side == 0:
            amp, phase = shape.import_seasonal, 15.0
            weekly = self._wcum[d % 7]
        else:
            amp, phase = shape.export_seasonal, 172.0
            weekly = 0.0
        w = 2 * math.pi / _YEAR
        seasonal = amp / w * (math.sin(w * (d - phase)) - math.sin(-w * phase))
        noise = shape.noise * _uniform(self.seed, d, 1000 + side)
        return mean * (d + seasonal + weekly + noise)

    def _closed(self, q: Quantity, d: int) -> int:
        """Register ``q`` at the start of day ``d`` had the supply never been cut."""
        side = 0 if q in _IMPORT_SIDE else 1
        return self._base[q] + int(self._k[q] * self._curve(side, max(d, 0)))

    def cumulative(self, q: Quantity, d: int) -> int:
        """Register ``q`` at the start of model day ``d`` (without a register-jump fault)."""
        return self._closed(q, d) - self._lost_before(q, d)

    def day_total(self, q: Quantity, d: int) -> int:
        """The energy the customer's installation drew (or fed) on day ``d``, cuts ignored."""
        return self._closed(q, d + 1) - self._closed(q, d)

    def _weights(self, side: int, d: int) -> tuple[float, ...]:
        month = (EPOCH + timedelta(days=d)).month
        if side == 0:
            return import_weights(self.customer_type, self.day_type(d))
        return export_weights(month)

    def _zone_split(self, side: int, d: int) -> list[int]:
        """A day's active energy per tariff zone, by the shape's zone shares."""
        q = Quantity.A_PLUS if side == 0 else Quantity.A_MINUS
        month = (EPOCH + timedelta(days=d)).month
        shares = zone_shares(self.calendar, self.customer_type, side == 1, self.day_type(d), month)
        return _apportion(self.day_total(q, d), shares)

    # ------------------------------------------------------------------------ one day

    def _outages(self, start: datetime, end: datetime) -> list[Outage]:
        return self.faults.outages_between(start, end) if self.faults else []

    def zones(self, d: int) -> tuple[int, ...]:
        """The tariff zone (1..4) of each slot of day ``d``."""
        if self.tariffs is None:
            return self.calendar.slot_zones(self.day_type(d), (EPOCH + timedelta(days=d)).month)
        return self.tariffs.zones(EPOCH + timedelta(days=d), self.day_start(d))

    def day(self, d: int) -> DayData:
        """Every slot of model day ``d`` as measured: energies (index :class:`Quantity`),
        status, tariff zone. Slots while the supply was cut keep only their live part."""
        raw = self._raw_day(d)
        zones = self.zones(d)
        cuts = self._cuts_between(raw.start, raw.start + timedelta(days=1))
        if not cuts:
            return DayData(raw.day, raw.start, raw.energy, raw.status, zones)
        live = [
            _live_fraction(cuts, raw.start + SLOT * i, raw.start + SLOT * (i + 1))
            for i in range(SLOTS_PER_DAY)
        ]
        energy = tuple(
            tuple(int(e * f) for e, f in zip(row, live, strict=True)) for row in raw.energy
        )
        return DayData(raw.day, raw.start, energy, raw.status, zones)

    def _raw_day(self, d: int) -> DayData:
        """Day ``d`` as the installation drew it (outages applied, supply cuts not), with the
        reference zones its energy was split by."""
        start = self.day_start(d)
        month = (EPOCH + timedelta(days=d)).month
        zones = self.calendar.slot_zones(self.day_type(d), month)
        live = [1.0] * SLOTS_PER_DAY
        status = [0] * SLOTS_PER_DAY
        for outage in self._outages(start, start + timedelta(days=1)):
            _mark_outage(outage, start, live, status)
        energy: list[tuple[int, ...]] = [()] * len(Quantity)
        for side, quantities in (
            (0, _IMPORT_SIDE),
            (1, (Quantity.A_MINUS, Quantity.R2, Quantity.R3)),
        ):
            base = self._weights(side, d)
            weights = [
                b * live[i] * (0.6 + 0.8 * _uniform(self.seed, d, i + 100 * side))
                for i, b in enumerate(base)
            ]
            slots = [0] * SLOTS_PER_DAY
            for zone, total in enumerate(self._zone_split(side, d), start=1):
                members = [i for i in range(SLOTS_PER_DAY) if zones[i] == zone]
                part = _apportion(total, [weights[i] for i in members])
                if total and not any(part):
                    # The zone was dark the whole time: book it when the power came back.
                    target = _first_live(live, members[0])
                    slots[target] += total
                    status[target] |= Status.RECOVERED
                    continue
                for i, e in zip(members, part, strict=True):
                    slots[i] += e
            energy[quantities[0]] = tuple(slots)
            for q in quantities[1:]:
                energy[q] = tuple(_apportion(self.day_total(q, d), slots))
        jump = self.faults.register_jump if self.faults else None
        if jump is not None and start <= jump.when < start + timedelta(days=1):
            status[int((jump.when - start).total_seconds() // _SLOT_SECONDS)] |= (
                Status.DATA_NOT_VALID
            )
        for reset in self.faults.watchdog_resets if self.faults else ():
            if start <= reset < start + timedelta(days=1):
                # The firmware restarted inside this interval: its values are not trustworthy.
                status[int((reset - start).total_seconds() // _SLOT_SECONDS)] |= (
                    Status.DATA_NOT_VALID
                )
        return DayData(EPOCH + timedelta(days=d), start, tuple(energy), tuple(status), zones)

    def _day_zone_totals(self, side: int, d: int) -> list[int]:
        """Zone energies of a day: closed form when the day's zones are the reference ones and
        nothing moved or cut its energy, else slot by slot."""
        start = self.day_start(d)
        end = start + timedelta(days=1)
        reference = self.calendar.slot_zones(self.day_type(d), (EPOCH + timedelta(days=d)).month)
        if (
            self._outages(start, end)
            or self._cuts_between(start, end)
            or (self.tariffs is not None and self.zones(d) != reference)
        ):
            data = self.day(d)
            q = Quantity.A_PLUS if side == 0 else Quantity.A_MINUS
            sums = [0] * self.calendar.zones
            for e, z in zip(data.energy[q], data.zones, strict=True):
                sums[z - 1] += e
            return sums
        return self._zone_split(side, d)

    # ------------------------------------------------------------------------ registers

    def _jump(self, when: datetime) -> tuple[int, int]:
        """(Wh, zone) the register-jump fault adds at ``when`` (0 before the jump)."""
        jump = self.faults.register_jump if self.faults else None
        if jump is None or when < jump.when:
            return 0, 0
        d = self.day_index(jump.when)
        slot = int((jump.when - self.day_start(d)).total_seconds() // _SLOT_SECONDS)
        return jump.wh, self.zones(d)[slot]

    def _partial(self, q: Quantity, data: DayData, slot: int, when: datetime, frac: float) -> int:
        """Energy of the running slot measured by ``when``: the slot's energy spread evenly over
        it, less what a supply cut kept out."""
        slot_start = data.start + SLOT * slot
        cuts = self._cuts_between(slot_start, when)
        if not cuts:
            return int(data.energy[q][slot] * frac)
        raw = self._raw_day(self.day_index(data.start)).energy[q][slot]
        live = _live_fraction(cuts, slot_start, when) * (when - slot_start) / SLOT
        return int(raw * live)

    def _within_day(self, q: Quantity, when: datetime) -> tuple[int, DayData | None, int, float]:
        d = self.day_index(when)
        seconds = (when - self.day_start(d)).total_seconds()
        slot = int(seconds // _SLOT_SECONDS)
        frac = (seconds - slot * _SLOT_SECONDS) / _SLOT_SECONDS
        if slot == 0 and frac == 0:
            return d, None, 0, 0.0
        return d, self.day(d), slot, frac

    def register(self, q: Quantity, when: datetime) -> int:
        """Register ``q`` (Wh / varh) at ``when``: whole slots plus the elapsed part of the current
        one, so at every slot boundary it equals the load profile's running sum exactly."""
        d, data, slot, frac = self._within_day(q, when)
        value = self.cumulative(q, d)
        if data is not None:
            value += sum(data.energy[q][:slot]) + self._partial(q, data, slot, when, frac)
        if q == Quantity.A_PLUS:
            value += self._jump(when)[0]
        return value

    def tariff_registers(self, q: Quantity, when: datetime) -> tuple[int, ...]:
        """Registers per tariff zone (index zone - 1) of ``A_PLUS`` or ``A_MINUS`` at ``when``;
        they sum to :meth:`register` exactly."""
        side = 0 if q == Quantity.A_PLUS else 1
        d, data, slot, frac = self._within_day(q, when)
        totals = list(self._zone_cumulative(side, d))
        if data is not None:
            for i in range(slot):
                totals[data.zones[i] - 1] += data.energy[q][i]
            totals[data.zones[slot] - 1] += self._partial(q, data, slot, when, frac)
        if q == Quantity.A_PLUS:
            wh, zone = self._jump(when)
            if wh:
                totals[zone - 1] += wh
        return tuple(totals)

    def _zone_cumulative(self, side: int, d: int) -> tuple[int, ...]:
        q = Quantity.A_PLUS if side == 0 else Quantity.A_MINUS
        cached = self._checkpoint.get(side)
        if cached is not None and cached[0] <= d:
            day, totals = cached
            acc = list(totals)
        else:
            day = 0
            acc = _apportion(self.cumulative(q, 0), (0.45, 0.3, 0.1, 0.15)[: self.calendar.zones])
        for k in range(day, d):
            for z, e in enumerate(self._day_zone_totals(side, k)):
                acc[z] += e
        result = tuple(acc)
        self._checkpoint[side] = (d, result)
        return result

    # ------------------------------------------------------------------------ supply cuts

    def cut_supply(self, at: datetime) -> None:
        """The disconnector opened at ``at``: nothing is measured from then on."""
        if self._cuts and self._cuts[-1][1] is None:
            return
        self._cuts.append((at, None))
        self.changed(at)

    def restore_supply(self, at: datetime) -> None:
        """The disconnector closed at ``at``: measurement resumes."""
        if self._cuts and self._cuts[-1][1] is None:
            start = self._cuts[-1][0]
            self._cuts[-1] = (start, max(start, at))
            self.changed(at)

    def supplied(self, when: datetime) -> bool:
        """Was the supply connected at ``when``?"""
        return not any(a <= when and (b is None or when < b) for a, b in self._cuts)

    def changed(self, at: datetime) -> None:
        """Forget cached sums that a change taking effect at ``at`` may alter (the meter calls
        this when its supply or tariff state changes)."""
        first = self.day_index(at)
        for side, (day, _) in list(self._checkpoint.items()):
            if day > first:
                del self._checkpoint[side]
        for day in [k for k in self._lost if k >= first]:
            del self._lost[day]

    def _cuts_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        far = end + timedelta(days=1)
        return [
            (a, b if b is not None else far)
            for a, b in self._cuts
            if a < end and (b is None or b > start)
        ]

    def _lost_before(self, q: Quantity, d: int) -> int:
        """Energy of ``q`` kept out by supply cuts before the start of day ``d``."""
        if not self._cuts:
            return 0
        lost = 0
        horizon = self.day_start(d)
        days: set[int] = set()
        for a, b in self._cuts:
            if a >= horizon:
                break
            last = self.day_index(min(b, horizon) if b is not None else horizon)
            days.update(range(self.day_index(a), min(last, d - 1) + 1))
        for k in sorted(days):
            if k < d:
                lost += self._day_lost(k)[q]
        return lost

    def _day_lost(self, d: int) -> tuple[int, ...]:
        cached = self._lost.get(d)
        if cached is None:
            raw, kept = self._raw_day(d).energy, self.day(d).energy
            cached = tuple(sum(r) - sum(k) for r, k in zip(raw, kept, strict=True))
            self._lost[d] = cached
        return cached

    # ------------------------------------------------------------------------ profiles

    def intervals(self, start: datetime, end: datetime, minutes: int = 15) -> list[Interval]:
        """Load-profile entries whose period ends in ``(start, end]``, for a 15, 30 or 60 minute
        capture period; entries are stamped at the end of their period."""
        if minutes not in (15, 30, 60):
            raise ValueError("capture period must be 15, 30 or 60 minutes")
        group = minutes // 15
        out: list[Interval] = []
        for d in range(self.day_index(start - SLOT), self.day_index(end) + 1):
            data = self.day(d)
            for g in range(0, SLOTS_PER_DAY, group):
                stamp = data.start + SLOT * (g + group)
                if not start < stamp <= end:
                    continue
                status = 0
                for i in range(g, g + group):
                    status |= data.status[i]
                energy = tuple(sum(data.energy[q][g : g + group]) for q in Quantity)
                out.append(Interval(stamp, status, energy))
        return out

    def max_demand(
        self, q: Quantity, start: datetime, end: datetime
    ) -> list[tuple[float, datetime | None]]:
        """Per tariff zone, the highest 15-minute average power (W) in ``[start, end)`` and when
        its period ended; ``(0.0, None)`` for a zone without energy."""
        best: list[tuple[float, datetime | None]] = [(0.0, None)] * self.calendar.zones
        for d in range(self.day_index(start), self.day_index(end - SLOT) + 1):
            data = self.day(d)
            for i, e in enumerate(data.energy[q]):
                stamp = data.start + SLOT * (i + 1)
                if start < stamp <= end and e * 4.0 > best[data.zones[i] - 1][0]:
                    best[data.zones[i] - 1] = (e * 4.0, stamp)
        return best

    def instantaneous(self, when: datetime) -> Instant:
        """Instantaneous values at ``when``, varying every 5 seconds around the slot's mean."""
        d = self.day_index(when)
        data = self.day(d)
        slot = int((when - data.start).total_seconds() // _SLOT_SECONDS)
        zero = tuple(0.0 for _ in range(self.phases))
        if data.status[slot] & Status.POWER_DOWN and self._dark(when):
            return Instant(0.0, 0.0, 0.0, 0.0, zero, zero, 0.0, 1.0)
        supplied = self.supplied(when)
        tick = int((when - self.epoch_utc).total_seconds() // 5)
        wobble = 0.85 + 0.3 * _uniform(self.seed, tick, 7)
        e = data.energy
        p_imp = e[Quantity.A_PLUS][slot] * 4.0 * wobble
        p_exp = e[Quantity.A_MINUS][slot] * 4.0 * wobble
        q_imp = (e[Quantity.R1][slot] + e[Quantity.R2][slot]) * 4.0 * wobble
        q_exp = (e[Quantity.R3][slot] + e[Quantity.R4][slot]) * 4.0 * wobble
        volts = tuple(
            round(230.0 + 6.0 * (_uniform(self.seed, tick, 10 + p) - 0.5), 1)
            for p in range(self.phases)
        )
        p, qv = max(p_imp, p_exp), max(q_imp, q_exp)
        apparent = math.hypot(p, qv)
        current = tuple(round(apparent / self.phases / v, 3) for v in volts)
        pf = round(p / apparent, 3) if apparent else 1.0
        freq = round(50.0 + 0.1 * (_uniform(self.seed, tick, 20) - 0.5), 3)
        if not supplied:
            # Disconnector open: the grid-side voltage is still measured, nothing flows.
            return Instant(0.0, 0.0, 0.0, 0.0, volts, zero, freq, 1.0)
        return Instant(p_imp, p_exp, q_imp, q_exp, volts, current, freq, pf)

    def _dark(self, when: datetime) -> bool:
        return any(o.start <= when < o.end for o in self._outages(when, when + SLOT))


def _mark_outage(outage: Outage, start: datetime, live: list[float], status: list[int]) -> None:
    """Scale down the slots an outage covers and set their power-down / recovered bits."""
    first = max(0, int((outage.start - start).total_seconds() // _SLOT_SECONDS))
    last = min(SLOTS_PER_DAY - 1, int((outage.end - start).total_seconds() // _SLOT_SECONDS))
    for i in range(first, last + 1):
        a = max(outage.start, start + SLOT * i)
        b = min(outage.end, start + SLOT * (i + 1))
        dark = max(0.0, (b - a).total_seconds()) / _SLOT_SECONDS
        live[i] = max(0.0, live[i] - dark)
        status[i] |= Status.POWER_DOWN
    end_slot = int((outage.end - start).total_seconds() // _SLOT_SECONDS)
    if 0 <= end_slot < SLOTS_PER_DAY:
        status[end_slot] |= Status.RECOVERED
        if outage.end - outage.start > CLOCK_BACKUP:
            status[end_slot] |= Status.CLOCK_INVALID


def _live_fraction(cuts: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    """Share of ``[start, end)`` outside every supply cut."""
    span = (end - start).total_seconds()
    if span <= 0:
        return 1.0
    dark = sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in cuts)
    return max(0.0, 1.0 - dark / span)


def _first_live(live: list[float], after: int) -> int:
    """The first slot at or after ``after`` with power (else the last slot with power)."""
    for i in range(after, len(live)):
        if live[i] > 0:
            return i
    for i in range(after - 1, -1, -1):
        if live[i] > 0:
            return i
    return after
