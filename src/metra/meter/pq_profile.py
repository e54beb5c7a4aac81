"""The power-quality profile 1-0:99.2.0.255 (Profile generic, class 7) of the virtual meter.

IEC 62056-6-1 names 1-0:99.2.0.255 "load profile with recording period 2"; meters keep their
power-quality values there. EN 50160 evaluates the supply voltage and frequency as 10-minute
mean values, so the profile's capture period is 600 s. Its columns are the clock and the
instantaneous registers the meter already has: voltage per phase (1-0:32.7.0.255 L1, 52.7 L2 and
72.7 L3 on a 3-phase meter) and frequency (1-0:14.7.0.255). As the Blue Book says of class 7, a
capture copies attribute 2 of each captured object, so every entry holds the measurement model's
instantaneous value at the capture instant; the head-end reads the scaler and unit from the
registers (0.1 V, 0.01 Hz). Entries during a supply interruption hold 0 V and 0 Hz, the depth of
the voltage sag the power-quality log (0-0:99.98.4.255) records at the interruption's start.
The buffer is computed on demand, so the profile costs a meter nothing until it is read.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem.objects import CLOCK
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.data import Data, DoubleLong
from metra.dlms.obis import Obis

from .buffers import Buffer
from .objects import CosemObject
from .profile_objects import Ticks, _profile

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["POWER_QUALITY_PROFILE", "PQ_PERIOD", "power_quality_profile"]

POWER_QUALITY_PROFILE = Obis(1, 0, 99, 2, 0, 255)
#: Capture period (s): EN 50160's 10-minute evaluation interval.
PQ_PERIOD = 600
#: Voltage registers per phase (group C 32 / 52 / 72, instantaneous D = 7), 0.1 V.
VOLTAGES = (Obis(1, 0, 32, 7, 0, 255), Obis(1, 0, 52, 7, 0, 255), Obis(1, 0, 72, 7, 0, 255))
#: Frequency register, 0.01 Hz.
FREQUENCY = Obis(1, 0, 14, 7, 0, 255)
_STEP = timedelta(seconds=PQ_PERIOD)


def _depth(m: VirtualMeter) -> int:
    """Entries kept: as many days as the load profile keeps."""
    return m.profile.metering.profile_depth_days * 86400 // PQ_PERIOD


def _times(m: VirtualMeter) -> Ticks:
    origin = m.model.day_start(0)
    last = origin + _STEP * int((m.now() - origin) / _STEP)
    count = min(_depth(m), int((last - origin) / _STEP))
    return Ticks(last - _STEP * (count - 1), _STEP, count)


def _rows(m: VirtualMeter, start: datetime, end: datetime) -> list[list[Data]]:
    """Entries with capture times in ``(start, end]`` (and within the buffer's depth)."""
    times = _times(m)
    if not times:
        return []
    first = max(start, times[0] - _STEP)
    origin = m.model.day_start(0)
    t = origin + _STEP * (int((first - origin) / _STEP) + 1)
    out: list[list[Data]] = []
    while t <= min(end, times[-1]):
        inst = m.model.instantaneous(t)
        row: list[Data] = [m.local(t)]
        row += [DoubleLong(round(v * 10)) for v in inst.voltage]
        row.append(DoubleLong(round(inst.frequency * 100)))
        out.append(row)
        t += _STEP
    return out


@functools.cache
def power_quality_profile(phases: int) -> CosemObject:
    """The power-quality profile of a ``phases``-phase meter (1 or 3)."""
    columns = [CaptureObjectDefinition(8, CLOCK, 2)]
    columns += [CaptureObjectDefinition(3, ln, 2) for ln in VOLTAGES[:phases]]
    columns.append(CaptureObjectDefinition(3, FREQUENCY, 2))
    buffer = Buffer(columns, _times, _rows)
    return _profile(POWER_QUALITY_PROFILE, buffer, _depth, lambda _m: PQ_PERIOD)
