"""PQ-1: power-quality values written into the store are judged against the profile's limits.

One week of 10-minute values with hand-placed excursions; the expected shares, worst values,
crossings and alarms are counted by hand below (EN 50160 for PL, GOST 32144 for RU), on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from sqlalchemy import Connection, select
from typer.testing import CliRunner

from metra.cli.main import app
from metra.mdm.power_quality import compliance, limits_for, power_quality_report, raise_alarms
from metra.profiles.errors import ProfileError
from metra.profiles.loader import load_profile, load_profile_file
from metra.store import audit, make_engine, migrate
from metra.store import power_quality as pq_store
from metra.store.masterdata import Entity, create
from metra.store.power_quality import PowerQualityRecord
from metra.store.schema import system_event

START = datetime(2025, 3, 3, tzinfo=UTC)
END = START + timedelta(days=7)
VOLTAGE = "1-0:32.7.0.255"
FREQUENCY = "1-0:14.7.0.255"
STEP = timedelta(minutes=10)
N = 1008  # 7 d x 144 ten-minute values

#: Voltage excursions (index range, volts): 60 values at 200 V (outside +-10 % = 207..253 V but
#: inside -15 % = 195.5 V), 3 at 190 V and 2 at 260 V (outside both bands). Inside the band:
#: 1008 - 65 = 943 values = 93.5516 % < 95 %; time outside 65 x 600 s = 39 000 s.
EXCURSIONS = ((range(100, 160), 200.0), (range(500, 503), 190.0), (range(800, 802), 260.0))
#: Frequency: 4 values at 50.6 Hz (outside 49.5..50.5 Hz, inside 47..52 Hz): 1004 / 1008 inside.
FREQ_HIGH = range(300, 304)


def _records(meter: UUID) -> list[PowerQualityRecord]:
    volts = np.full(N, 230.0)
    for span, value in EXCURSIONS:
        volts[span.start : span.stop] = value
    hz = np.full(N, 50.0)
    hz[FREQ_HIGH.start : FREQ_HIGH.stop] = 50.6
    read = END + timedelta(hours=1)
    out = []
    for i in range(N):
        at = START + i * STEP
        out.append(
            PowerQualityRecord(
                meter, VOLTAGE, "instantaneous", at, round(volts[i] * 10), -1, 35, read
            )
        )
        out.append(
            PowerQualityRecord(
                meter, FREQUENCY, "instantaneous", at, round(hz[i] * 100), -2, 44, read
            )
        )
    # A minimum column far below the limits: min/max columns are not the 10-minute mean.
    out.append(PowerQualityRecord(meter, "1-0:32.3.0.255", "min", START, 1500.0, -1, 35, read))
    # The power-quality log's occurrences, and a value after the period (not counted).
    for i, kind in ((101, "sag"), (500, "sag"), (800, "swell")):
        out.append(
            PowerQualityRecord(meter, "0-0:99.98.5.255", kind, START + i * STEP, None, 0, 255, read)
        )
    out.append(PowerQualityRecord(meter, VOLTAGE, "instantaneous", END, 100.0, -1, 35, read))
    return out


def _meter(conn: Connection) -> UUID:
    meter = create(conn, Entity.METER, {"serial": "PQ-0001"}, effective=date(2024, 1, 1))
    assert pq_store.add(conn, _records(meter)) == 2 * N + 5
    return meter


def test_pq1_week_against_en50160_compliance_and_alarms_once(conn: Connection) -> None:
    """PQ-1: PL (EN 50160) shares, worst values, time outside, crossings; alarms once, audited."""
    meter = _meter(conn)
    report = power_quality_report(conn, load_profile("PL"), meter, "PQ-0001", START, END)
    freq, volt = report.quantities  # sorted by OBIS: 14 before 32
    assert (volt.obis, volt.samples, volt.within_band) == (VOLTAGE, N, 943)
    assert volt.share_percent == pytest.approx(93.5516, abs=1e-4)
    assert volt.outside_band_s == 39_000.0 and not volt.share_met
    assert volt.worst == pytest.approx(190.0)
    assert volt.worst_at == START + 500 * STEP
    assert [(x.start, x.end, x.samples, x.worst) for x in volt.crossings] == [
        (START + 500 * STEP, START + 503 * STEP, 3, pytest.approx(190.0)),
        (START + 800 * STEP, START + 802 * STEP, 2, pytest.approx(260.0)),
    ]
    assert (freq.within_band, freq.share_met, freq.crossings, freq.met) == (1004, True, (), True)
    assert freq.share_percent == pytest.approx(99.6032, abs=1e-4)
    assert freq.worst == pytest.approx(50.6)
    assert report.occurrences == {"sag": 2, "swell": 1}

    at = END + timedelta(hours=2)
    first = raise_alarms(conn, report, at=at, actor="pq-test")
    assert len(first) == 3  # two crossings, one missed share
    assert raise_alarms(conn, report, at=at + timedelta(days=1), actor="pq-test") == []
    rows = conn.execute(select(system_event).order_by(system_event.c.id)).mappings().all()
    assert [(r["code"], r["severity"], r["meter_id"]) for r in rows] == [
        ("pq.limit_crossed", "alarm", meter),
        ("pq.limit_crossed", "alarm", meter),
        ("pq.share_missed", "alarm", meter),
    ]
    trail = [e for e in audit.entries(conn) if e.action == "pq.alarm"]
    assert [e.details["system_event"] for e in trail if e.details] == first
    assert {e.target_id for e in trail} == {str(meter)} and {e.actor for e in trail} == {"pq-test"}


def test_pq1_ru_gost_32144_limits(conn: Connection) -> None:
    """PQ-1: RU (GOST 32144): +-10 % always and 100 % of the week; frequency +-0.4 Hz always."""
    meter = _meter(conn)
    report = power_quality_report(conn, load_profile("RU"), meter, "PQ-0001", START, END)
    freq, volt = report.quantities
    assert [(x.samples, x.worst) for x in volt.crossings] == [(60, 200.0), (3, 190.0), (2, 260.0)]
    assert not volt.share_met  # 93.55 % < 100 %
    assert [(x.samples, x.worst) for x in freq.crossings] == [(4, pytest.approx(50.6))]
    assert freq.share_met  # 99.60 % >= 95 %
    assert len(raise_alarms(conn, report, at=END, actor="pq-test")) == 5


def test_pq1_limits_are_the_published_numbers() -> None:
    """PQ-1: EN 50160 LV bands 207..253 V (95 %), 195.5..253 V; 49.5..50.5 Hz, 47..52 Hz."""
    pl = limits_for(load_profile("PL").power_quality)
    v, f = pl["voltage"], pl["frequency"]
    assert (v.band_low, v.band_high, v.always_low, v.always_high) == pytest.approx(
        (207.0, 253.0, 195.5, 253.0)
    )
    assert (v.share_percent, v.period_days) == (95.0, 7)
    assert (f.band_low, f.band_high, f.always_low, f.always_high) == pytest.approx(
        (49.5, 50.5, 47.0, 52.0)
    )
    assert (f.share_percent, f.period_days) == (99.5, 365)
    ru = limits_for(load_profile("RU").power_quality)["frequency"]
    assert (ru.band_low, ru.band_high, ru.always_low, ru.always_high) == pytest.approx(
        (49.8, 50.2, 49.6, 50.4)
    )


def test_pq1_profile_refuses_always_band_inside_share_band(tmp_path: Path) -> None:
    """PQ-1: a profile whose never-leave band is narrower than the share band is refused."""
    text = Path("src/metra/profiles/data/pl.toml").read_text(encoding="utf-8")
    bad = tmp_path / "xx.toml"
    bad.write_text(
        text.replace("voltage_always_low_percent = -15.0", "voltage_always_low_percent = -5.0")
    )
    with pytest.raises(ProfileError, match=r"power_quality\.voltage_always_low_percent"):
        load_profile_file(bad)


def test_pq1_compliance_of_empty_series_is_refused() -> None:
    """PQ-1: no values is a clear error, not a 100 % share."""
    lim = limits_for(load_profile("PL").power_quality)["voltage"]
    with pytest.raises(ValueError, match="no values"):
        compliance(VOLTAGE, lim, np.array([]), np.array([]))


def test_pq1_cli_report_json_and_alarms(tmp_path: Path) -> None:
    """PQ-1: `metra pq report --json --alarms` prints the hand-computed figures, alarms once."""
    path = tmp_path / "pq.db"
    migrate(path)
    engine = make_engine(str(path))
    with engine.begin() as conn:
        _meter(conn)
    engine.dispose()
    args = ["pq", "report", "--meter", "PQ-0001", "--from", "2025-03-03", "--to", "2025-03-10"]
    args += ["--db", str(path), "--profile", "PL", "--json", "--alarms"]
    runner = CliRunner()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    volt = data["quantities"][1]
    assert (volt["share_percent"], volt["outside_band_s"], volt["met"]) == (93.5516, 39000.0, False)
    assert data["alarms_raised"] == 3 and data["occurrences"] == {"sag": 2, "swell": 1}
    again = json.loads(runner.invoke(app, args).output)
    assert again["alarms_raised"] == 0
    table = runner.invoke(app, args[:-2])
    assert table.exit_code == 0 and "NOT MET" in table.output
    unknown = runner.invoke(app, [*args[:3], "NOPE", *args[4:]])
    assert unknown.exit_code == 1 and "no single meter" in unknown.output
