"""Compliance of a meter's stored power-quality values with its profile's limits (PQ-1).

Per quantity (each phase voltage, the frequency) the report gives the share of 10-minute values
inside the band that must hold for ``share_percent`` of the period (EN 50160: +-10 % Un for 95 %
of a week), the worst value, the time outside that band, and every run of values outside the
band that must always hold (+10/-15 % Un). Each run, and each missed share, is a crossing; the
alarm journal gets one entry per crossing however often the report is computed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from metra.mdm.power_quality.limits import Limit, limits_for, parameter_of
from metra.profiles.model import Profile
from metra.store import audit
from metra.store import power_quality as pq_store
from metra.store.events import Severity, record_system_event
from metra.store.schema import system_event

LIMIT_CROSSED = "pq.limit_crossed"
"""Journal code of a run of values outside the band that must always hold."""
SHARE_MISSED = "pq.share_missed"
"""Journal code of a quantity whose share inside the band is below the profile's percentage."""


@dataclass(frozen=True, slots=True)
class Crossing:
    """Values of ``obis`` outside the always-band from ``start`` to ``end`` (exclusive)."""

    obis: str
    parameter: str
    start: datetime
    end: datetime
    worst: float
    samples: int


@dataclass(frozen=True, slots=True)
class Compliance:
    """How one quantity kept to its limits over the report period."""

    obis: str
    limit: Limit
    samples: int
    interval_s: float
    within_band: int
    worst: float
    worst_at: datetime
    crossings: tuple[Crossing, ...] = field(default=())

    @property
    def share_percent(self) -> float:
        """Share of values inside the band, percent of the values present."""
        return 100.0 * self.within_band / self.samples

    @property
    def outside_band_s(self) -> float:
        """Time outside the share band (values outside x the recording interval)."""
        return (self.samples - self.within_band) * self.interval_s

    @property
    def share_met(self) -> bool:
        """Whether the share inside the band reaches the profile's percentage."""
        return self.share_percent >= self.limit.share_percent

    @property
    def met(self) -> bool:
        """Both rules kept: the share rule and never outside the always-band."""
        return self.share_met and not self.crossings


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def compliance(
    obis: str, limit: Limit, times: NDArray[np.float64], values: NDArray[np.float64]
) -> Compliance:
    """Judge one quantity's values (physical units) at ``times`` (POSIX s, ascending)."""
    if times.size == 0:
        raise ValueError(f"no values of {obis}")
    diffs = np.diff(times)
    interval = float(np.median(diffs)) if diffs.size else 600.0
    inside = (values >= limit.band_low) & (values <= limit.band_high)
    outside_always = (values < limit.always_low) | (values > limit.always_high)
    deviation = np.abs(values - limit.nominal)
    w = int(np.argmax(deviation))
    crossings = []
    for a, b in _runs(outside_always):
        run = values[a:b]
        worst = float(run[int(np.argmax(np.abs(run - limit.nominal)))])
        crossings.append(
            Crossing(
                obis,
                limit.parameter,
                datetime.fromtimestamp(float(times[a]), UTC),
                datetime.fromtimestamp(float(times[b - 1]) + interval, UTC),
                worst,
                b - a,
            )
        )
    return Compliance(
        obis,
        limit,
        int(values.size),
        interval,
        int(np.count_nonzero(inside)),
        float(values[w]),
        datetime.fromtimestamp(float(times[w]), UTC),
        tuple(crossings),
    )


@dataclass(frozen=True, slots=True)
class PowerQualityReport:
    """A meter's compliance per quantity over [start, end), with the log's sags and swells."""

    serial: str
    meter_id: UUID
    profile: str
    start: datetime
    end: datetime
    quantities: tuple[Compliance, ...]
    occurrences: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON values (the CLI's --json output)."""
        return {
            "meter": self.serial,
            "profile": self.profile,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "quantities": [
                {
                    "obis": c.obis,
                    "parameter": c.limit.parameter,
                    "unit": c.limit.unit,
                    "samples": c.samples,
                    "band": [round(c.limit.band_low, 6), round(c.limit.band_high, 6)],
                    "always": [round(c.limit.always_low, 6), round(c.limit.always_high, 6)],
                    "share_percent": round(c.share_percent, 4),
                    "required_percent": c.limit.share_percent,
                    "assessment_days": c.limit.period_days,
                    "outside_band_s": c.outside_band_s,
                    "worst": c.worst,
                    "worst_at": c.worst_at.isoformat(),
                    "crossings": [
                        {
                            "start": x.start.isoformat(),
                            "end": x.end.isoformat(),
                            "worst": x.worst,
                            "samples": x.samples,
                        }
                        for x in c.crossings
                    ],
                    "met": c.met,
                }
                for c in self.quantities
            ],
            "occurrences": dict(sorted(self.occurrences.items())),
        }


def power_quality_report(
    conn: Connection,
    profile: Profile,
    meter_id: UUID,
    serial: str,
    start: datetime,
    end: datetime,
) -> PowerQualityReport:
    """Compute the report from the store's power-quality records of the meter in [start, end)."""
    if end <= start:
        raise ValueError("the report period must end after it starts")
    limits = limits_for(profile.power_quality)
    series: dict[str, tuple[str, list[float], list[float]]] = {}
    occurrences: Counter[str] = Counter()
    for r in pq_store.records(conn, meter_id, start, end):
        parameter = parameter_of(r.obis, r.kind)
        if parameter is None:
            if r.raw_value is None:
                occurrences[r.kind] += 1
            continue
        if r.raw_value is None:
            continue
        _, times, values = series.setdefault(r.obis, (parameter, [], []))
        times.append(r.captured_at.timestamp())
        values.append(r.raw_value * 10.0**r.scaler)
    quantities = tuple(
        compliance(obis, limits[p], np.asarray(t, np.float64), np.asarray(v, np.float64))
        for obis, (p, t, v) in sorted(series.items())
    )
    return PowerQualityReport(
        serial, meter_id, profile.code, start, end, quantities, dict(occurrences)
    )


def _already(conn: Connection, code: str, prefix: str) -> bool:
    t = system_event
    query = select(t.c.id).where(t.c.code == code, t.c.message.startswith(prefix, autoescape=True))
    return conn.execute(query.limit(1)).first() is not None


def _journal(
    conn: Connection,
    report: PowerQualityReport,
    *,
    code: str,
    prefix: str,
    text: str,
    details: dict[str, Any],
    at: datetime,
    actor: str,
) -> int | None:
    if _already(conn, code, prefix):
        return None
    event = record_system_event(
        conn,
        occurred_at=at,
        severity=Severity.ALARM,
        source="power_quality",
        code=code,
        message=f"{prefix} {text}",
        meter_id=report.meter_id,
        details=details,
    )
    audit.append(
        conn,
        at=at,
        actor=actor,
        action="pq.alarm",
        target_kind="meter",
        target_id=str(report.meter_id),
        details={"system_event": event, "code": code, **details},
    )
    return event


def raise_alarms(
    conn: Connection, report: PowerQualityReport, *, at: datetime, actor: str
) -> list[int]:
    """Journal each crossing and each missed share once (audited); returns the new entries' ids.

    A crossing is known by meter, quantity and start; a missed share by meter, quantity and
    report period, so recomputing a report or overlapping reports raise nothing twice.
    """
    new: list[int] = []
    for c in report.quantities:
        lim = c.limit
        for x in c.crossings:
            event = _journal(
                conn,
                report,
                code=LIMIT_CROSSED,
                prefix=f"PQ-1 {report.serial} {x.obis} {x.start.isoformat()}:",
                text=f"{lim.parameter} outside {lim.always_low:g}..{lim.always_high:g} {lim.unit} "
                f"until {x.end.isoformat()}, worst {x.worst:g} {lim.unit}",
                details={
                    "obis": x.obis,
                    "start": x.start.isoformat(),
                    "end": x.end.isoformat(),
                    "worst": x.worst,
                    "limits": [lim.always_low, lim.always_high],
                },
                at=at,
                actor=actor,
            )
            if event is not None:
                new.append(event)
        if c.share_met:
            continue
        period = f"{report.start.isoformat()}/{report.end.isoformat()}"
        event = _journal(
            conn,
            report,
            code=SHARE_MISSED,
            prefix=f"PQ-1 {report.serial} {c.obis} {period}:",
            text=f"{c.share_percent:.2f} % inside {lim.band_low:g}..{lim.band_high:g} {lim.unit} "
            f"< {lim.share_percent:g} %",
            details={
                "obis": c.obis,
                "period": period,
                "share_percent": round(c.share_percent, 4),
                "required_percent": lim.share_percent,
            },
            at=at,
            actor=actor,
        )
        if event is not None:
            new.append(event)
    return new
