"""Balances as integers: minor units of money (1/100 of the currency) or Wh of energy (PRE-1).

Why integers: a balance is a sum of many small charges; floats would drift by fractions of a
grosz that a customer can see. Input is parsed from decimal text with at most as many decimals
as the unit has, so "12.345 PLN" is refused rather than rounded behind the customer's back.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import InvalidAmount

ENERGY = "kWh"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: Minor units per unit: 1000 Wh per kWh, 100 per currency unit (PLN, UAH, NOK, RUB, EUR...).
_SCALE = {ENERGY: 1000}
#: Bound on one amount (10^12 minor units): far above any real payment, far below overflow.
MAX_MINOR = 10**12


def check_unit(unit: str) -> str:
    """The unit itself, when it is kWh or an ISO 4217 code."""
    if unit != ENERGY and not _CURRENCY.match(unit):
        raise InvalidAmount(f"unit {unit!r} is neither kWh nor an ISO 4217 currency code")
    return unit


def scale(unit: str) -> int:
    """Minor units per unit."""
    return _SCALE.get(check_unit(unit), 100)


def is_money(unit: str) -> bool:
    """Whether the unit is a currency."""
    return check_unit(unit) != ENERGY


def parse(text: str, unit: str, *, allow_negative: bool = False) -> int:
    """Decimal text in `unit` -> minor units; more decimals than the unit has are refused."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidAmount(f"{text!r} is not a decimal amount") from None
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not a finite amount")
    minor = value * scale(unit)
    if minor != minor.to_integral_value():
        raise InvalidAmount(f"{text} {unit} has more decimals than the unit allows")
    result = int(minor)
    if result < 0 and not allow_negative:
        raise InvalidAmount(f"{text} {unit} is negative")
    if abs(result) > MAX_MINOR:
        raise InvalidAmount(f"{text} {unit} is out of range")
    return result


def show(minor: int, unit: str) -> str:
    """Minor units as text in the unit, e.g. 1234 PLN -> '12.34 PLN', 1500 kWh -> '1.500 kWh'."""
    factor = scale(unit)
    digits = len(str(factor)) - 1
    return f"{Decimal(minor) / factor:.{digits}f} {unit}"


def parse_price(text: str) -> int:
    """A price per kWh as decimal text -> micro-units of the currency (at most 6 decimals)."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidAmount(f"{text!r} is not a decimal price") from None
    if not value.is_finite() or value < 0:
        raise InvalidAmount(f"price {text!r} must be a finite amount >= 0")
    micro = value * 1_000_000
    if micro != micro.to_integral_value():
        raise InvalidAmount(f"price {text} has more than 6 decimals")
    if micro > MAX_MINOR:
        raise InvalidAmount(f"price {text} is out of range")
    return int(micro)


def cost(energy_wh: float, price_micro_per_kwh: int) -> int:
    """What `energy_wh` costs at a price, in minor units (half up: 0.5 grosz is a grosz)."""
    exact = Decimal(repr(energy_wh)) * price_micro_per_kwh / Decimal(10_000_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
