"""Command delivery effectiveness per MV/LV substation group (KPI-3, S1 16.5).

For each group of at most `kpi.command_group_max_meters` meters behind one substation, at least
`kpi.command_delivery_percent` of the hub's commands must be delivered within
`kpi.command_delivery_hours`. Delivered means confirmed by read-back (an acknowledged command the
meter did not carry out is not delivered); the time runs from the command's receipt. Groups come
from the command's `group_key` (the substation its target sits behind when it was submitted).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from metra.profiles.model import Profile
from metra.store import commands


@dataclass(frozen=True)
class DeliveryKpi:
    """KPI-3 for one group over a period."""

    group: str
    commands: int
    delivered_in_time: int
    percent: float
    target_percent: float
    met: bool
    oversized: bool


def command_delivery(
    conn: Connection,
    profile: Profile,
    start: datetime,
    end: datetime,
    *,
    source: str | None = "hub",
) -> list[DeliveryKpi]:
    """KPI-3 per group for commands received in [start, end) (from the hub by default).

    A group larger than the profile's group size is still reported, flagged `oversized`: the
    indicator is defined for groups of at most that many meters, so such a group should be split.
    """
    rules = profile.kpi
    window = timedelta(hours=rules.command_delivery_hours)
    counts: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    meters: defaultdict[str, set[object]] = defaultdict(set)
    for command_id, group, received, confirmed in commands.deliveries(
        conn, start, end, source=source
    ):
        key = group or ""
        counts[key][0] += 1
        meters[key].add(commands.get(conn, command_id).meter_id)
        if confirmed is not None and confirmed - received <= window:
            counts[key][1] += 1
    out = []
    for key in sorted(counts):
        total, in_time = counts[key]
        percent = 100.0 * in_time / total
        out.append(
            DeliveryKpi(
                key,
                total,
                in_time,
                round(percent, 2),
                rules.command_delivery_percent,
                percent >= rules.command_delivery_percent,
                len(meters[key]) > rules.command_group_max_meters,
            )
        )
    return out
