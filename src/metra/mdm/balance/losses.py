"""Losses between a metering point and its delivery point (S2 4.2.2zh, 4.2.6i, 4.2.21v; BAL-1).

When a meter is not on the balance boundary, the energy at the delivery point differs from the
metered energy by the losses of the grid between them: a power transformer and / or a line,
whose data are attributes of the metering point (migration 0004). Per integration period with
average powers P, Q and S = sqrt(P^2 + Q^2):

- transformer: dP = P0 + Pk (S / Sn)^2 (no-load losses while energised, load losses with the
  square of the loading);
- line (three-phase, resistance R = r x length): dP = S^2 / U^2 x R, in kW with S in kVA, U in
  kV and R in ohm, i.e. 3 I^2 R.

A meter *downstream* of the boundary (e.g. on the low-voltage side of the customer's transformer
with the boundary on the medium-voltage side) sees less than the delivery point: the losses are
added. A meter *upstream* (e.g. in the substation, the network's line beyond it) sees more: the
losses are subtracted. Both hold for import and export alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from metra.mdm.batch import Floats

POSITIONS = ("upstream", "downstream")


@dataclass(frozen=True)
class LossModel:
    """The grid between a meter and its delivery point."""

    position: str
    transformer_kva: float | None = None
    no_load_kw: float = 0.0
    load_kw: float = 0.0
    line_ohm: float = 0.0
    line_kv: float | None = None

    @staticmethod
    def of_point(attrs: Mapping[str, Any]) -> LossModel | None:
        """The model from a metering point's attributes; None on the boundary or without data."""
        position = attrs.get("meter_position")
        if attrs.get("on_balance_boundary") or position not in POSITIONS:
            return None
        line_ohm = (attrs.get("loss_line_ohm_per_km") or 0.0) * (attrs.get("loss_line_km") or 0.0)
        model = LossModel(
            position=str(position),
            transformer_kva=attrs.get("loss_transformer_kva") or None,
            no_load_kw=attrs.get("loss_no_load_kw") or 0.0,
            load_kw=attrs.get("loss_load_kw") or 0.0,
            line_ohm=line_ohm if attrs.get("loss_line_kv") else 0.0,
            line_kv=attrs.get("loss_line_kv") or None,
        )
        has_transformer = model.transformer_kva is not None
        return model if has_transformer or model.line_ohm > 0 else None


def loss_energy(
    active: Floats, reactive: Floats | None, interval_s: int, model: LossModel, tan_phi: float
) -> Floats:
    """Loss energy per interval (kWh) for metered net active and reactive energy (kWh, kvarh).

    Without a reactive channel Q = |P| x `tan_phi` (the profile's `balance.assumed_tan_phi`).
    NaN where the active energy is missing.
    """
    hours = interval_s / 3600.0
    p = active / hours
    q = np.abs(p) * tan_phi if reactive is None else reactive / hours
    s2 = p**2 + q**2
    kw = np.zeros(p.shape)
    if model.transformer_kva:
        kw = kw + model.no_load_kw + model.load_kw * s2 / model.transformer_kva**2
    if model.line_ohm and model.line_kv:
        kw = kw + s2 / model.line_kv**2 * model.line_ohm * 1e-3
    return np.where(np.isnan(active), np.nan, kw * hours)


def at_boundary(metered: Floats, losses: Floats, model: LossModel) -> Floats:
    """Energy at the delivery point: metered + losses downstream, metered - losses upstream."""
    return metered + losses if model.position == "downstream" else metered - losses
