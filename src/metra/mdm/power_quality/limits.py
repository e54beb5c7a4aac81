"""The limits of one power-quality parameter in absolute units, from a jurisdiction profile.

The profile states limits as percent of the nominal value (EN 50160, GOST 32144); the report
compares measured values, so the bands are turned into volts and hertz once here.
"""

from __future__ import annotations

from dataclasses import dataclass

from metra.profiles.model import PowerQualityLimits

VOLTAGE = "voltage"
FREQUENCY = "frequency"

#: OBIS group C of the phase voltages (any phase, L1, L2, L3) and of the supply frequency
#: (IEC 62056-6-1 quantity codes).
_VOLTAGE_C = frozenset((12, 32, 52, 72))
_FREQUENCY_C = 14

#: Kinds of stored record that are the period's mean value; min/max columns and occurrences
#: (sags, swells) are not what the 10-minute rule judges.
_MEAN_KINDS = frozenset(("average", "instantaneous", "value"))


@dataclass(frozen=True, slots=True)
class Limit:
    """One parameter's bands: ``band`` for ``share_percent`` of the period, ``always`` for all."""

    parameter: str
    unit: str
    nominal: float
    band_low: float
    band_high: float
    share_percent: float
    always_low: float
    always_high: float
    period_days: int


def _band(nominal: float, percent: float) -> float:
    return nominal * (1.0 + percent / 100.0)


def limits_for(q: PowerQualityLimits) -> dict[str, Limit]:
    """The voltage and frequency limits of a profile, keyed by parameter name."""
    un, fn = q.nominal_voltage_v, q.nominal_frequency_hz
    return {
        VOLTAGE: Limit(
            VOLTAGE,
            "V",
            un,
            _band(un, -q.voltage_band_percent),
            _band(un, q.voltage_band_percent),
            q.voltage_share_percent,
            _band(un, q.voltage_always_low_percent),
            _band(un, q.voltage_always_high_percent),
            q.voltage_period_days,
        ),
        FREQUENCY: Limit(
            FREQUENCY,
            "Hz",
            fn,
            _band(fn, -q.frequency_band_percent),
            _band(fn, q.frequency_band_percent),
            q.frequency_share_percent,
            _band(fn, q.frequency_always_low_percent),
            _band(fn, q.frequency_always_high_percent),
            q.frequency_period_days,
        ),
    }


def parameter_of(obis: str, kind: str) -> str | None:
    """The parameter a stored record measures (voltage / frequency), or None if not judged."""
    if kind not in _MEAN_KINDS:
        return None
    parts = obis.replace(":", "-").replace("*", ".").replace("-", ".").split(".")
    try:
        c = int(parts[2])
    except (IndexError, ValueError):
        return None
    if c in _VOLTAGE_C:
        return VOLTAGE
    return FREQUENCY if c == _FREQUENCY_C else None
