"""Truth from the virtual meters: what `metra.meter.measurement` says a meter really measured.

Estimation tests remove values from these series and compare the estimates with what the meter
produced, so the error they report is against the same model the fleet serves over DLMS.
Values are A+ in kWh per 15 minutes on UTC days; registers are the A+ register (kWh) at each
UTC day boundary, exactly consistent with the intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID, uuid4

import numpy as np

from metra.mdm.batch import Batch
from metra.meter.faults import MeterFaults
from metra.meter.identity import MeterIdentity
from metra.meter.measurement import MeasurementModel, Quantity
from metra.profiles import load_profile
from metra.store.intervals import Origin, day_start, status_code

PROFILE = load_profile("pl")


@dataclass(frozen=True)
class Truth:
    """Intervals (meters, days x 96), meter status bytes and day-boundary registers."""

    values: np.ndarray
    meter_status: np.ndarray
    registers: np.ndarray
    first_day: date

    @property
    def days(self) -> int:
        return int(self.values.shape[1] // 96)


def model(
    number: int,
    *,
    seed: int = 7,
    kind: str = "household",
    faults: MeterFaults | None = None,
    phases: int = 1,
) -> MeasurementModel:
    """The measurement model of fleet meter `number`."""
    identity = MeterIdentity.for_number(number, customer_type=kind, phases=phases, seed=seed)
    return MeasurementModel(identity, PROFILE, faults=faults)


def truth(models: Sequence[MeasurementModel], first_day: date, days: int) -> Truth:
    """What each model measured over `days` UTC days from `first_day`."""
    start = day_start(first_day)
    end = start + timedelta(days=days)
    values = np.zeros((len(models), days * 96))
    bits = np.zeros(values.shape, np.uint16)
    registers = np.zeros((len(models), days + 1))
    for m, meter in enumerate(models):
        for i, interval in enumerate(meter.intervals(start, end)):
            values[m, i] = interval.energy[Quantity.A_PLUS] / 1000.0
            bits[m, i] = interval.status
        for d in range(days + 1):
            registers[m, d] = meter.register(Quantity.A_PLUS, start + timedelta(days=d)) / 1000.0
    return Truth(values, bits, registers, first_day)


def batch_of(t: Truth, *, registers: bool = True, ids: tuple[UUID, ...] | None = None) -> Batch:
    """A batch as the store would give it: remote-read values with the meters' status bits."""
    status = (np.uint16(status_code(Origin.REMOTE)) | (t.meter_status << np.uint16(8))).astype(
        np.uint16
    )
    return Batch(
        ids or tuple(uuid4() for _ in range(t.values.shape[0])),
        "1-0:1.29.0",
        t.first_day,
        900,
        t.values.copy(),
        status,
        registers=t.registers.copy() if registers else None,
    )


def blank(batch: Batch, row: int, span: slice) -> None:
    """Remove values as a lost reading would: no value, origin missing."""
    batch.values[row, span] = np.nan
    batch.status[row, span] = 0


def relative_error(estimate: np.ndarray, real: np.ndarray) -> float:
    """Sum of absolute interval errors over the real energy of the same intervals."""
    return float(np.abs(estimate - real).sum() / real.sum())
