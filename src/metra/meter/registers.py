"""Energy, tariff, instantaneous and maximum-demand registers of the virtual meter.

Every value is computed from the measurement model at the meter's clock when it is read; the
register objects themselves are shared by all meters of a layout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem.units import Unit
from metra.dlms.data import (
    Data,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
    Unsigned,
)
from metra.dlms.obis import Obis

from .measurement import Instant, Quantity
from .objects import Attr, CosemObject

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["DEMAND_IMPORT", "ENERGY", "TARIFF_ZONES", "register_objects"]

#: Demand register (class 5) of active power import over 15-minute periods.
DEMAND_IMPORT = Obis(1, 0, 1, 4, 0, 255)
_PERIOD = 900

#: Tariff registers per direction (zones 1..4 of the activity calendar).
TARIFF_ZONES = 4
#: Energy registers: OBIS -> (quantities summed, unit).
ENERGY: dict[Obis, tuple[tuple[Quantity, ...], Unit]] = {
    Obis(1, 0, 1, 8, 0, 255): ((Quantity.A_PLUS,), Unit.WATT_HOUR),
    Obis(1, 0, 2, 8, 0, 255): ((Quantity.A_MINUS,), Unit.WATT_HOUR),
    Obis(1, 0, 3, 8, 0, 255): ((Quantity.R1, Quantity.R2), Unit.VAR_HOUR),
    Obis(1, 0, 4, 8, 0, 255): ((Quantity.R3, Quantity.R4), Unit.VAR_HOUR),
    Obis(1, 0, 5, 8, 0, 255): ((Quantity.R1,), Unit.VAR_HOUR),
    Obis(1, 0, 6, 8, 0, 255): ((Quantity.R2,), Unit.VAR_HOUR),
    Obis(1, 0, 7, 8, 0, 255): ((Quantity.R3,), Unit.VAR_HOUR),
    Obis(1, 0, 8, 8, 0, 255): ((Quantity.R4,), Unit.VAR_HOUR),
}


def _register(
    ln: Obis, value: Callable[[VirtualMeter], Data], scaler: int, unit: Unit
) -> CosemObject:
    su = Structure([Integer(scaler), Enum(unit)])
    return CosemObject(3, 0, ln, {2: Attr(lambda m, _a: value(m)), 3: Attr(lambda _m, _a: su)})


def _energy(quantities: tuple[Quantity, ...]) -> Callable[[VirtualMeter], Data]:
    def read(m: VirtualMeter) -> Data:
        now = m.now()
        return DoubleLongUnsigned(sum(m.model.register(q, now) for q in quantities) % 2**32)

    return read


def _tariff(q: Quantity, zone: int) -> Callable[[VirtualMeter], Data]:
    def read(m: VirtualMeter) -> Data:
        return DoubleLongUnsigned(m.model.tariff_registers(q, m.now())[zone - 1] % 2**32)

    return read


def _instant(pick: Callable[[Instant], float], scaler: int) -> Callable[[VirtualMeter], Data]:
    def read(m: VirtualMeter) -> Data:
        return DoubleLong(round(pick(m.instantaneous()) / 10**scaler))

    return read


def _field(name: str) -> Callable[[Instant], float]:
    return lambda inst: float(getattr(inst, name))


def _phase(name: str, phase: int) -> Callable[[Instant], float]:
    return lambda inst: float(getattr(inst, name)[phase])


def register_objects(phases: int) -> list[CosemObject]:
    out = [_register(ln, _energy(qs), 0, unit) for ln, (qs, unit) in ENERGY.items()]
    for c, q in ((1, Quantity.A_PLUS), (2, Quantity.A_MINUS)):
        for zone in range(1, TARIFF_ZONES + 1):
            out.append(_register(Obis(1, 0, c, 8, zone, 255), _tariff(q, zone), 0, Unit.WATT_HOUR))
    inst: list[tuple[Obis, Callable[[Instant], float], int, Unit]] = [
        (Obis(1, 0, 1, 7, 0, 255), _field("p_import"), 0, Unit.WATT),
        (Obis(1, 0, 2, 7, 0, 255), _field("p_export"), 0, Unit.WATT),
        (Obis(1, 0, 3, 7, 0, 255), _field("q_import"), 0, Unit.VAR),
        (Obis(1, 0, 4, 7, 0, 255), _field("q_export"), 0, Unit.VAR),
        (Obis(1, 0, 13, 7, 0, 255), _field("power_factor"), -3, Unit.COUNT),
        (Obis(1, 0, 14, 7, 0, 255), _field("frequency"), -2, Unit.HERTZ),
    ]
    for p, (u_c, i_c) in enumerate(((32, 31), (52, 51), (72, 71))[:phases]):
        inst.append((Obis(1, 0, u_c, 7, 0, 255), _phase("voltage", p), -1, Unit.VOLT))
        inst.append((Obis(1, 0, i_c, 7, 0, 255), _phase("current", p), -2, Unit.AMPERE))
    out += [_register(ln, _instant(pick, s), s, unit) for ln, pick, s, unit in inst]
    out += [_max_demand(zone) for zone in range(1, TARIFF_ZONES + 1)]
    out.append(_demand())
    return out


def _period_start(m: VirtualMeter, when: datetime) -> datetime:
    origin = m.model.day_start(0)
    return origin + timedelta(seconds=_PERIOD) * ((when - origin) // timedelta(seconds=_PERIOD))


def _average(m: VirtualMeter, start: datetime, end: datetime) -> int:
    """Average active import power (W) over ``[start, end)`` from the register advance, over
    the whole period (so a running period's value grows, as the Blue Book's running demand)."""
    model = m.model
    wh = model.register(Quantity.A_PLUS, end) - model.register(Quantity.A_PLUS, start)
    return wh * 3600 // _PERIOD


def _demand() -> CosemObject:
    """Demand register 1-0:1.4.0.255 (class 5): running and last 15-minute average A+ power.
    The limiter monitors ``last_average_value`` (attribute 3)."""

    def current(m: VirtualMeter) -> Data:
        now = m.now()
        return DoubleLongUnsigned(_average(m, _period_start(m, now), now))

    def last(m: VirtualMeter) -> Data:
        end = _period_start(m, m.now())
        return DoubleLongUnsigned(_average(m, end - timedelta(seconds=_PERIOD), end))

    su = Structure([Integer(0), Enum(Unit.WATT)])
    return CosemObject(
        5,
        0,
        DEMAND_IMPORT,
        {
            2: Attr(lambda m, _a: current(m)),
            3: Attr(lambda m, _a: last(m)),
            4: Attr(lambda _m, _a: su),
            5: Attr(lambda _m, _a: Unsigned(0)),
            6: Attr(lambda m, _a: m.local(_period_start(m, m.now()))),
            7: Attr(lambda m, _a: m.local(_period_start(m, m.now()))),
            8: Attr(lambda _m, _a: DoubleLongUnsigned(_PERIOD)),
            9: Attr(lambda _m, _a: LongUnsigned(1)),
        },
    )


def _month_start(m: VirtualMeter, when: datetime) -> datetime:
    local = when.astimezone(m.zone)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.astimezone(when.tzinfo)


def _peak(m: VirtualMeter, zone: int) -> tuple[float, datetime | None]:
    now = m.now()
    return m.model.max_demand(Quantity.A_PLUS, _month_start(m, now), now)[zone - 1]


def _max_demand(zone: int) -> CosemObject:
    """Extended register 1-0:1.6.z.255: the month's highest 15-minute demand in zone z."""

    def capture_time(m: VirtualMeter) -> Data:
        when = _peak(m, zone)[1]
        return m.local(when) if when is not None else OctetString(b"")

    su = Structure([Integer(0), Enum(Unit.WATT)])
    return CosemObject(
        4,
        0,
        Obis(1, 0, 1, 6, zone, 255),
        {
            2: Attr(lambda m, _a: DoubleLongUnsigned(int(_peak(m, zone)[0]))),
            3: Attr(lambda _m, _a: su),
            4: Attr(lambda _m, _a: Unsigned(0)),
            5: Attr(lambda m, _a: capture_time(m)),
        },
    )
