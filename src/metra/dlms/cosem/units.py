"""Physical units and the ``scaler_unit`` of Register-like objects (Blue Book 4.3.2, unit table).

A Register sends its value as an integer and its ``scaler_unit`` once: the real value is
``value × 10**scaler`` in ``unit``. Keeping the unit codes as an :class:`~enum.IntEnum` lets the
head-end store readings with their unit without a lookup table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from ..data import Data, Enum, Integer, Structure
from . import _shape

__all__ = ["ScalerUnit", "Unit"]


class Unit(IntEnum):
    """Unit codes of the Blue Book (IEC 62056-6-2, "Enumerated values for physical units").

    Codes 58, 59, 66..69 and 73..252 are not assigned by the Blue Book and are not listed here.
    """

    YEAR = 1  # a
    MONTH = 2  # mo
    WEEK = 3  # wk
    DAY = 4  # d
    HOUR = 5  # h
    MINUTE = 6  # min
    SECOND = 7  # s
    DEGREE = 8  # ° (phase angle)
    DEGREE_CELSIUS = 9  # °C
    CURRENCY = 10  # local currency
    METRE = 11  # m
    METRE_PER_SECOND = 12  # m/s
    CUBIC_METRE = 13  # m³
    CUBIC_METRE_CORRECTED = 14  # m³, corrected volume
    CUBIC_METRE_PER_HOUR = 15  # m³/h
    CUBIC_METRE_PER_HOUR_CORRECTED = 16  # m³/h, corrected
    CUBIC_METRE_PER_DAY = 17  # m³/d
    CUBIC_METRE_PER_DAY_CORRECTED = 18  # m³/d, corrected
    LITRE = 19  # l
    KILOGRAM = 20  # kg
    NEWTON = 21  # N
    NEWTON_METRE = 22  # Nm
    PASCAL = 23  # Pa
    BAR = 24  # bar
    JOULE = 25  # J
    JOULE_PER_HOUR = 26  # J/h
    WATT = 27  # W, active power
    VOLT_AMPERE = 28  # VA, apparent power
    VAR = 29  # var, reactive power
    WATT_HOUR = 30  # Wh, active energy
    VOLT_AMPERE_HOUR = 31  # VAh, apparent energy
    VAR_HOUR = 32  # varh, reactive energy
    AMPERE = 33  # A
    COULOMB = 34  # C
    VOLT = 35  # V
    VOLT_PER_METRE = 36  # V/m
    FARAD = 37  # F
    OHM = 38  # Ω
    OHM_SQUARE_METRE_PER_METRE = 39  # Ωm²/m, resistivity
    WEBER = 40  # Wb
    TESLA = 41  # T
    AMPERE_PER_METRE = 42  # A/m
    HENRY = 43  # H
    HERTZ = 44  # Hz
    ACTIVE_ENERGY_METER_CONSTANT = 45  # 1/(Wh)
    REACTIVE_ENERGY_METER_CONSTANT = 46  # 1/(varh)
    APPARENT_ENERGY_METER_CONSTANT = 47  # 1/(VAh)
    VOLT_SQUARED_HOUR = 48  # V²h
    AMPERE_SQUARED_HOUR = 49  # A²h
    KILOGRAM_PER_SECOND = 50  # kg/s
    SIEMENS = 51  # S, mho
    KELVIN = 52  # K
    VOLT_SQUARED_HOUR_METER_CONSTANT = 53  # 1/(V²h)
    AMPERE_SQUARED_HOUR_METER_CONSTANT = 54  # 1/(A²h)
    VOLUME_METER_CONSTANT = 55  # 1/m³
    PERCENTAGE = 56  # %
    AMPERE_HOUR = 57  # Ah
    ENERGY_PER_VOLUME = 60  # Wh/m³
    CALORIFIC_VALUE = 61  # J/m³
    MOLE_PERCENT = 62  # Mol %
    MASS_DENSITY = 63  # g/m³
    PASCAL_SECOND = 64  # Pa s, dynamic viscosity
    SPECIFIC_ENERGY = 65  # J/kg
    SIGNAL_STRENGTH_DBM = 70  # dBm
    SIGNAL_STRENGTH_DBUV = 71  # dBµV
    DECIBEL = 72  # dB
    RESERVED = 253
    OTHER = 254  # other unit
    COUNT = 255  # no unit, unitless, count


@dataclass(frozen=True, slots=True)
class ScalerUnit:
    """``scaler_unit_type``: structure {scaler: integer, unit: enum} (Blue Book 4.3.2).

    ``unit`` is a :class:`Unit` when the code is assigned, else the raw int (manufacturers do send
    unassigned codes, and a reader must not fail on them)."""

    scaler: int
    unit: Unit | int

    def scale(self, raw: int | float | Decimal) -> Decimal:
        """The physical value of a raw register value: ``raw × 10**scaler``, exactly."""
        return Decimal(str(raw)).scaleb(self.scaler)

    def to_data(self) -> Structure:
        return Structure([Integer(self.scaler), Enum(int(self.unit))])

    @classmethod
    def from_data(cls, value: Data) -> ScalerUnit:
        s = _shape.structure(value, 2, "scaler_unit")
        scaler = _shape.integer(s[0], Integer, "scaler_unit.scaler")
        return cls(scaler, _shape.member_or_int(Unit, s[1], "scaler_unit.unit"))
