"""Apparent energy and the measurement method that decides it (CMD-9).

A multi-phase meter can sum apparent energy two ways:

* **vector**: S = sqrt(P² + Q²) of the phase *sums* of active and reactive power;
* **arithmetic**: S = Σ sqrt(P_i² + Q_i²), the apparent power of each phase added up.

By Minkowski's inequality the arithmetic sum is never smaller, and it is larger whenever the
phases carry active and reactive load in different proportions; on a single-phase meter the two
are the same. Which one the meter uses is a metrological setting, so the meter lets only the
management client change it (the head-end allows it only in administrator mode) and journals the
change like every parameter change.

The object is Data (class 1) **1-0:0.11.6.255**, "measurement algorithm for apparent energy" of
the OBIS electricity general-purpose group (C = 0, D = 11). Its enumeration is ours
(:class:`Method`: 1 vector, 2 arithmetic); check the values against the supplier's documentation
before talking to real meters. The register is apparent energy import 1-0:9.8.0.255 (VAh,
QI + QIV).

The measurement model gives active and reactive import registers; the reactive import (R1 - R4)
follows active import in a per-meter ratio, so the apparent energy over any stretch follows from
the advances of those registers, and each phase carries fixed shares of P and Q (from the
meter's seed). A method change closes the stretch measured so far: the energy counted under the
old method stays, and from then on the new one counts (one state tuple, no history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from metra.dlms.cosem.units import Unit
from metra.dlms.data import Data, DoubleLongUnsigned, Enum, Integer, Structure
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import DataAccessResult

from .measurement import Quantity
from .objects import Attr, CosemObject

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["APPARENT_ENERGY", "MEASUREMENT_METHOD", "ApparentEnergy", "Method", "method_objects"]

MEASUREMENT_METHOD = Obis(1, 0, 0, 11, 6, 255)
APPARENT_ENERGY = Obis(1, 0, 9, 8, 0, 255)
#: Shares of active and reactive import per phase (rotated per meter): deliberately unequal,
#: as real installations load their phases differently.
_P_SHARES = (0.45, 0.35, 0.20)
_Q_SHARES = (0.15, 0.35, 0.50)


class Method(IntEnum):
    """Apparent energy summation (the value of 1-0:0.11.6.255; our enumeration)."""

    VECTOR = 1
    ARITHMETIC = 2


@dataclass
class ApparentEnergy:
    """A meter's apparent-energy state: the method in force, since when, and what was counted
    before (VAh) together with the active and reactive registers at that moment."""

    method: Method = Method.VECTOR
    since: datetime | None = None
    counted: float = 0.0
    p_at: int = 0
    q_at: int = 0

    def register(self, m: VirtualMeter, when: datetime) -> int:
        """Apparent energy import (VAh) at ``when``."""
        p, q = _pq(m, when)
        return int(self.counted + _apparent(m, self.method, p - self.p_at, q - self.q_at))

    def switch(self, m: VirtualMeter, method: Method) -> None:
        """Count from now on by ``method``; what was counted so far stays."""
        if method is self.method:
            return
        now = m.now()
        total = self.register(m, now)
        self.p_at, self.q_at = _pq(m, now)
        self.counted, self.since, self.method = float(total), now, method


def _pq(m: VirtualMeter, when: datetime) -> tuple[int, int]:
    model = m.model
    q = model.register(Quantity.R1, when) - model.register(Quantity.R4, when)
    return model.register(Quantity.A_PLUS, when), q


def _apparent(m: VirtualMeter, method: Method, p: int, q: int) -> float:
    """Apparent energy of a stretch with active ``p`` and net reactive ``q`` import. A clock
    set back gives negative advances: nothing is counted then."""
    p, q = max(p, 0), max(q, 0)
    phases = m.identity.phases
    if method is Method.VECTOR or phases == 1:
        return math.hypot(p, q)
    turn = m.identity.seed % phases
    ps = _shares(_P_SHARES[:phases], turn)
    qs = _shares(_Q_SHARES[:phases], 0)
    return sum(math.hypot(a * p, b * q) for a, b in zip(ps, qs, strict=True))


def _shares(base: tuple[float, ...], turn: int) -> tuple[float, ...]:
    whole = sum(base)
    rotated = base[turn:] + base[:turn]
    return tuple(x / whole for x in rotated)


def _get_method(m: VirtualMeter) -> Data:
    return Enum(int(m.apparent.method))


def _set_method(m: VirtualMeter, _ctx: RequestContext, value: Data) -> DataAccessResult:
    if not isinstance(value, Enum):
        return DataAccessResult.TYPE_UNMATCHED
    try:
        method = Method(int(value))
    except ValueError:
        return DataAccessResult.OTHER_REASON
    m.apparent.switch(m, method)
    return DataAccessResult.SUCCESS


def method_objects() -> list[CosemObject]:
    """The measurement-method object (writable by the management client only, as every
    attribute with a writer) and the apparent energy register it governs."""
    su = Structure([Integer(0), Enum(Unit.VOLT_AMPERE_HOUR)])
    return [
        CosemObject(1, 0, MEASUREMENT_METHOD, {2: Attr(lambda m, _a: _get_method(m), _set_method)}),
        CosemObject(
            3,
            0,
            APPARENT_ENERGY,
            {
                2: Attr(lambda m, _a: DoubleLongUnsigned(m.apparent.register(m, m.now()) % 2**32)),
                3: Attr(lambda _m, _a: su),
            },
        ),
    ]
