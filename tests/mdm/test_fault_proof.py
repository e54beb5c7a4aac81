"""Proof on a fleet whose faults are known in advance: every one is found (DQ-3, DQ-4, DQ-10).

The meters' own faults come from `metra.meter.faults.MeterFaults.generate` with a seed (power
outages, tamper events, register jumps, watchdog resets); the virtual meters measure through
them, and their load profiles, daily billing registers and event journals are stored as the
head-end stores them (status byte in the status code, journal codes normalised with the
head-end's table). Faults the meter model does not make are injected on the way into the store,
also from a seed: lost intervals (gaps), corrupted values (spikes), a register that ran back,
and a clock set back by an hour. `run_vee` then runs over the store, and each fault must be
among the stored findings at its place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, select

from metra.headend.decode import EVENT_CODES
from metra.mdm import run_vee
from metra.mdm.batch import MeterBits
from metra.mdm.schema import vee_finding
from metra.meter.faults import FaultRates, MeterFaults
from metra.meter.journal import Journals, Log
from metra.store.events import MeterEvent, add_meter_events
from metra.store.intervals import DayReading, Origin, day_start, status_code, write_days
from metra.store.masterdata import Entity, create
from metra.store.registers import BillingSnapshot, Period, add_snapshots
from tests.mdm.virtual import PROFILE, model, truth

CHANNEL = "1-0:1.29.0.255"
REGISTER = "1-0:1.8.0.255"
FIRST = date(2025, 3, 3)
DAYS = 21
END = FIRST + timedelta(days=DAYS)
METERS = 16
AT = datetime(2025, 4, 1, tzinfo=UTC)
LO = day_start(FIRST)
RATES = FaultRates(
    outages_per_year=60.0,
    tamper_per_year=30.0,
    register_jump_probability=0.5,
    watchdog_resets_per_year=20.0,
)


def _slot(when: datetime) -> int:
    return int((when - LO).total_seconds() // 900)


class Fleet:
    """The fleet's data as stored, and every fault put into it."""

    def __init__(self, conn: Connection) -> None:
        hi = day_start(END)
        self.faults = [MeterFaults.generate(RATES, 500 + i, LO, hi) for i in range(METERS)]
        models = [model(i, seed=9, faults=f) for i, f in enumerate(self.faults)]
        real = truth(models, FIRST, DAYS)
        self.ids = [
            create(conn, Entity.METER, {"serial": f"F-{i}"}, effective=date(2024, 1, 1))
            for i in range(METERS)
        ]
        self.wh = real.values * 1000.0
        self.bits = real.meter_status.copy()
        self.registers = real.registers * 1000.0
        self.events: list[MeterEvent] = []
        for m, faults in enumerate(self.faults):
            journals = Journals(faults)
            for log in (Log.STANDARD, Log.FRAUD):
                for entry in journals.entries(log, hi):
                    if LO <= entry.when < hi:
                        self._event(m, log.value, entry.when, int(entry.code))
        self.gaps: set[tuple[int, int, int]] = set()
        self.spikes: list[tuple[int, int]] = []
        self.reversed: list[tuple[int, int]] = []
        self.clock_jumps: list[tuple[int, datetime]] = []
        self._inject(np.random.default_rng(77))
        self._store(conn)

    def _event(self, m: int, log: int, when: datetime, code: int) -> None:
        name = EVENT_CODES.get(code, f"{log}.{code}")
        self.events.append(MeterEvent(self.ids[m], f"0-0:99.98.{log}.255", when, code, name, AT))

    def _busy_days(self, m: int) -> set[int]:
        """Days on which the meter's own faults act: injected faults go elsewhere, so that no
        injected gap hides a meter fault's interval."""
        f = self.faults[m]
        moments = [o.start for o in f.outages] + [o.end for o in f.outages]
        moments += [t.when for t in f.tamper_events] + list(f.watchdog_resets)
        if f.register_jump is not None:
            moments.append(f.register_jump.when)
        return {_slot(t) // 96 for t in moments}

    def _inject(self, rng: np.random.Generator) -> None:
        for m in range(METERS):
            days = [d for d in range(1, DAYS - 1) if d not in self._busy_days(m)]
            gap_day, spike_day, clock_day, back_day = rng.choice(days, 4, replace=False)
            first = int(gap_day) * 96 + int(rng.integers(0, 60))
            last = first + int(rng.integers(0, 30))
            self.wh[m, first : last + 1] = np.nan
            self.gaps.add((m, first, last))
            at = int(spike_day) * 96 + int(rng.integers(0, 96))
            self.wh[m, at] = 20 * np.nanmax(self.wh[m, at - at % 96 : at - at % 96 + 96])
            self.spikes.append((m, at))
            if m % 2:
                self.registers[m, int(back_day) :] -= 100_000.0  # the register ran back 100 kWh
                self.reversed.append((m, int(back_day) - 1))
            else:
                when = LO + timedelta(days=int(clock_day), minutes=int(rng.integers(0, 1440)))
                self._event(m, 0, when, 4)  # clock adjusted (old time)
                self._event(m, 0, when, 5)  # clock adjusted (new time)
                self.bits[m, _slot(when)] |= MeterBits.CLOCK_ADJUSTED
                self.clock_jumps.append((m, when))

    def _store(self, conn: Connection) -> None:
        readings = []
        for m, meter in enumerate(self.ids):
            for d in range(DAYS):
                span = slice(d * 96, (d + 1) * 96)
                values = self.wh[m, span]
                bits = self.bits[m, span]
                readings.append(
                    DayReading(
                        meter,
                        CHANNEL,
                        FIRST + timedelta(days=d),
                        [None if np.isnan(v) else float(v) for v in values],
                        [
                            0 if np.isnan(v) else status_code(Origin.REMOTE, meter=int(b))
                            for v, b in zip(values, bits, strict=True)
                        ],
                        AT,
                    )
                )
        write_days(conn, readings)
        add_snapshots(
            conn,
            [
                BillingSnapshot(
                    meter,
                    Period.DAILY,
                    LO + timedelta(days=d),
                    REGISTER,
                    0,
                    float(self.registers[m, d]),
                    0,
                    30,
                    0,
                    AT,
                )
                for m, meter in enumerate(self.ids)
                for d in range(DAYS + 1)
            ],
        )
        add_meter_events(conn, self.events)


def _findings(conn: Connection) -> dict[tuple[UUID, str], list[tuple[datetime, datetime]]]:
    t = vee_finding.c
    found: dict[tuple[UUID, str], list[tuple[datetime, datetime]]] = {}
    for meter, rule, first, last in conn.execute(select(t.meter_id, t.rule, t.first_at, t.last_at)):
        found.setdefault((meter, rule), []).append((first, last))
    return found


def test_dq4_dq10_every_known_fault_of_a_seeded_fleet_is_found(conn: Connection) -> None:
    fleet = Fleet(conn)
    run_vee(
        conn,
        fleet.ids,
        FIRST,
        END,
        PROFILE,
        channel=CHANNEL,
        register_obis=REGISTER,
        energy_unit_kwh=0.001,
        at=AT,
    )
    found = _findings(conn)

    def covered(m: int, rule: str, when: datetime) -> bool:
        return any(a <= when < b for a, b in found.get((fleet.ids[m], rule), []))

    def at_slot(i: int) -> datetime:
        return LO + timedelta(seconds=900 * i)

    gaps = {
        (m, int((a - LO).total_seconds()) // 900, int((b - LO).total_seconds()) // 900 - 1)
        for (meter, rule), spans in found.items()
        if rule == "gap"
        for m in [fleet.ids.index(meter)]
        for a, b in spans
    }
    assert gaps == fleet.gaps  # every lost interval, and nothing else
    for m, i in fleet.spikes:
        assert covered(m, "spike", at_slot(i)), f"spike of meter {m} at {at_slot(i)}"
    for m, day in fleet.reversed:
        assert covered(m, "register-decrease", at_slot(day * 96)), f"meter {m} day {day}"
    for m, when in fleet.clock_jumps:
        assert covered(m, "clock-adjusted", when), f"clock of meter {m} set at {when}"

    counted = {"outage": 0, "tamper": 0, "jump": 0, "reset": 0}
    for m, faults in enumerate(fleet.faults):
        for outage in faults.outages:
            if outage.start >= LO and outage.end < day_start(END):
                assert covered(m, "power-down", outage.start), f"outage of meter {m}: {outage}"
                assert covered(m, "suspect-event", outage.end), f"power up of meter {m}"
                counted["outage"] += 1
        for tamper in faults.tamper_events:
            assert covered(m, "suspect-event", tamper.when), f"{tamper} of meter {m}"
            counted["tamper"] += 1
        jump = faults.register_jump
        if jump is not None:
            assert covered(m, "data-not-valid", jump.when), f"register jump of meter {m}"
            assert covered(m, "sum-check", jump.when), f"register jump of meter {m}"
            counted["jump"] += 1
        for reset in faults.watchdog_resets:
            assert covered(m, "data-not-valid", reset), f"watchdog reset of meter {m}"
            counted["reset"] += 1
    # the seed gives every kind of fault more than once, so the proof is not vacuous
    assert min(counted.values()) >= 2, counted
    assert len(fleet.spikes) == len(fleet.gaps) == METERS
    assert len(fleet.reversed) == len(fleet.clock_jumps) == METERS // 2
