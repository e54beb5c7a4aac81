"""A synthetic fleet with a known truth: smooth daily load shapes per meter, registers exact.

Faults are injected afterwards at known places, so a test can assert that every one is found and
compare estimates with the values that were removed.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import numpy as np

from metra.mdm.batch import Batch
from metra.store.intervals import Origin, status_code

REMOTE = status_code(Origin.REMOTE)
FIRST_DAY = date(2025, 3, 3)  # a Monday


def true_values(meters: int, days: int, per_day: int = 96, seed: int = 1) -> np.ndarray:
    """kWh per 15 min: a morning and an evening peak, lower weekends, a little noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(per_day) * 24.0 / per_day
    shape = 0.15 + 0.25 * np.exp(-((hours - 8) ** 2) / 4) + 0.4 * np.exp(-((hours - 19) ** 2) / 6)
    level = rng.uniform(0.5, 2.0, meters)
    weekday = np.array([(FIRST_DAY + timedelta(days=d)).weekday() for d in range(days)])
    day_level = np.where(weekday >= 5, 0.8, 1.0)
    noise = rng.normal(1.0, 0.03, (meters, days, per_day))
    values = level[:, None, None] * day_level[None, :, None] * shape[None, None, :] * noise
    return np.round(values.reshape(meters, -1), 4)


def batch_of(values: np.ndarray, **extra: object) -> Batch:
    """A clean batch of remote-read values with exact day-boundary registers."""
    meters = values.shape[0]
    ids: tuple[UUID, ...] = tuple(uuid4() for _ in range(meters))
    status = np.full(values.shape, REMOTE, np.uint16)
    days = values.shape[1] // 96
    daily = values.reshape(meters, days, 96).sum(axis=2)
    registers = np.concatenate([np.full((meters, 1), 1000.0), 1000.0 + np.cumsum(daily, 1)], 1)
    fields: dict[str, object] = {"registers": registers}
    fields.update(extra)
    return Batch(
        ids,
        "1-0:1.29.0",
        FIRST_DAY,
        900,
        values.copy(),
        status,
        **fields,  # type: ignore[arg-type]
    )
