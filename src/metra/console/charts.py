"""Chart data for plotly.js: a meter's load profile and a substation's balance.

The series come from the store as the MDM serves them: a day with a validated version shows its
served values and how each was obtained (`Method`), a day without one shows the raw values as
read. Estimated (substitute, corrected) and manually edited intervals are separate marker traces
over the line, so they stand out in colour and in the legend. Figures are plain dicts (the
plotly.js figure schema): the page embeds them as JSON and ``console.js`` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from metra.mdm import versions
from metra.mdm.estimation.methods import Kind, Method, kind_of
from metra.store import intervals

IMPORT = "1-0:1.29.0.255"
EXPORT = "1-0:2.29.0.255"
COLOURS = {"import": "#1f77b4", "export": "#2ca02c", "estimated": "#ff7f0e", "edited": "#9467bd"}


@dataclass
class Series:
    """One channel over a range: interval starts, values (None = missing) and each one's kind."""

    channel: str
    starts: list[datetime] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        """How many intervals are of `kind` (measured, estimated, corrected, edited, missing)."""
        return sum(1 for k in self.kinds if k == kind)


def _method_kind(code: int) -> Kind:
    return kind_of(Method(code)) if code in Method._value2member_map_ else Kind.MEASURED


def load_series(conn: Connection, meter_id: UUID, channel: str, first: date, days: int) -> Series:
    """The served values of `days` UTC days from `first` (raw where nothing is validated)."""
    wanted = [first + timedelta(days=k) for k in range(days)]
    served = versions.latest(conn, [meter_id], channel, wanted)
    out = Series(channel)
    for day in wanted:
        found = served.get((meter_id, day))
        if found is not None:
            origin = intervals.day_start(day)
            for i, (value, method) in enumerate(
                zip(found.values.tolist(), found.method.tolist(), strict=True)
            ):
                out.starts.append(origin + timedelta(seconds=i * found.interval_s))
                missing = math.isnan(value)
                out.values.append(None if missing else value)
                out.kinds.append(Kind.MISSING.value if missing else _method_kind(method).value)
            continue
        start = intervals.day_start(day)
        for v in intervals.read(conn, meter_id, channel, start, start + timedelta(days=1)):
            out.starts.append(v.start)
            out.values.append(v.value)
            out.kinds.append(Kind.MEASURED.value)
    return out


def _markers(
    series: Series, kinds: set[str], name: str, colour: str, symbol: str
) -> dict[str, Any]:
    at = [i for i, k in enumerate(series.kinds) if k in kinds]
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [series.starts[i].isoformat() for i in at],
        "y": [series.values[i] for i in at],
        "marker": {"color": colour, "size": 8, "symbol": symbol},
    }


def load_profile_figure(
    imported: Series, exported: Series | None, labels: Mapping[str, str]
) -> dict[str, Any]:
    """Import (and export) as step lines; estimated and edited intervals as marker traces.

    `labels` holds the translated names: import, export, estimated, edited, time, energy.
    """
    traces: list[dict[str, Any]] = []
    for series, key in ((imported, "import"), (exported, "export")):
        if series is None or not series.starts:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": COLOURS[key], "width": 1.5},
                "name": labels[key],
                "x": [s.isoformat() for s in series.starts],
                "y": series.values,
                "connectgaps": False,
            }
        )
        estimated = {Kind.ESTIMATED.value, Kind.CORRECTED.value}
        if any(k in estimated for k in series.kinds):
            traces.append(
                _markers(
                    series,
                    estimated,
                    f"{labels[key]}: {labels['estimated']}",
                    COLOURS["estimated"],
                    "diamond",
                )
            )
        if series.count(Kind.EDITED.value):
            traces.append(
                _markers(
                    series,
                    {Kind.EDITED.value},
                    f"{labels[key]}: {labels['edited']}",
                    COLOURS["edited"],
                    "x",
                )
            )
    return {
        "data": traces,
        "layout": {
            "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
            "xaxis": {"title": {"text": labels["time"]}, "type": "date"},
            "yaxis": {"title": {"text": labels["energy"]}},
            "legend": {"orientation": "h"},
            "height": 380,
        },
    }


def daily_totals(series: Series) -> tuple[list[str], list[float]]:
    """Sum of the values per UTC day (missing intervals count as nothing)."""
    totals: dict[str, float] = {}
    for start, value in zip(series.starts, series.values, strict=True):
        key = start.date().isoformat()
        totals[key] = totals.get(key, 0.0) + (value or 0.0)
    return list(totals), list(totals.values())


def bar_figure(x: Sequence[str], y: Sequence[float], labels: Mapping[str, str]) -> dict[str, Any]:
    """Daily consumption as bars (the consumer view)."""
    return {
        "data": [
            {
                "type": "bar",
                "x": list(x),
                "y": list(y),
                "name": labels["import"],
                "marker": {"color": COLOURS["import"]},
            }
        ],
        "layout": {
            "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
            "xaxis": {"title": {"text": labels["day"]}, "type": "date"},
            "yaxis": {"title": {"text": labels["energy"]}},
            "height": 320,
        },
    }


def balance_figure(
    elements: Sequence[tuple[str, Sequence[str], Sequence[float | None], set[str]]],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """Imbalance per interval (kWh) of each element with a balancing meter; intervals above the
    permissible level are drawn in red. `elements`: (name, UTC starts, imbalance, excess starts).
    """
    traces = []
    for name, starts, values, excess in elements:
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": list(starts),
                "y": [None if v is None or math.isnan(v) else v for v in values],
                "marker": {"color": ["#d62728" if s in excess else "#7f7f7f" for s in starts]},
            }
        )
    return {
        "data": traces,
        "layout": {
            "barmode": "group",
            "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
            "xaxis": {"title": {"text": labels["time"]}, "type": "date"},
            "yaxis": {"title": {"text": labels["imbalance"]}},
            "height": 340,
        },
    }
