"""KPIs, energy balances and billing determinants through the API, checked against figures
computed by hand from the seeded data (KPI-1..KPI-4, BAL-1, BAL-2, SEC-4, ACC-6).

This module's world adds to the shared seed: a balancing meter on substation SS-1 (commissioned
2025-03-01, so not yet counted by KPI-4) whose served day 2025-03-04 is twice the customer's
pattern, and served days of meter a at twice the seeded values on the like days before it, so
meter a's day 2025-03-04 (the seed's 0..95 Wh) is a shortfall that explains the imbalance; and
remote raw data of meter a for 2025-04-01/02 that arrived on time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from metra.mdm.estimation.methods import DETERMINED, Method
from metra.mdm.versions import NewDay, write
from metra.profiles import load_profile
from metra.security.roles import Role
from metra.store import intervals
from metra.store.masterdata import Entity, change, create
from metra.store.schema import audit_record

from .conftest import CHANNEL, World

BACKENDS = ("sqlite", "postgresql")
PROBLEM = "application/problem+json"
SEED_DAY = date(2025, 3, 4)
LIKE_DAYS = (
    date(2025, 2, 26),
    date(2025, 2, 27),
    date(2025, 2, 28),
    date(2025, 3, 2),
    date(2025, 3, 3),
)
PATTERN = 2.0 * np.arange(96, dtype=float)
REMOTE = intervals.status_code(intervals.Origin.REMOTE, intervals.Quality.VALID)


def served(world: World, meter: object, day: date, values: np.ndarray) -> NewDay:
    status = np.full(96, REMOTE, np.uint16)
    method = np.full(96, Method.MEASURED, np.uint8)
    return NewDay(meter, CHANNEL, day, 900, values, status, method, 1, [])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mdm_world(world: World) -> World:
    at = datetime(2025, 4, 1, 6, tzinfo=UTC)
    with world.engine.begin() as conn:
        balancing = create(
            conn,
            Entity.METER,
            {"serial": "SN-bal", "model": "m1", "commissioned_on": date(2025, 3, 1)},
            effective=date(2025, 3, 1),
        )
        world.meters["bal"] = balancing
        change(
            conn,
            Entity.SUBSTATION,
            world.substation,  # type: ignore[arg-type]
            {"balancing_meter_id": balancing},
            effective=date(2025, 3, 1),
        )
        days = [served(world, world.meters["a"], d, PATTERN) for d in LIKE_DAYS]
        days.append(served(world, balancing, SEED_DAY, PATTERN))
        write(conn, days, at=at)
        arrived = datetime(2025, 4, 3, 5, tzinfo=UTC)  # before 09:00 local of n+1 (07:00 UTC)
        intervals.write_days(
            conn,
            [
                intervals.DayReading(
                    world.meters["a"],
                    CHANNEL,
                    day,
                    [1.0] * 96,
                    [intervals.status_code(intervals.Origin.REMOTE)] * 96,
                    arrived,
                )
                for day in (date(2025, 4, 1), date(2025, 4, 2))
            ],
        )
    return world


# ------------------------------------------------------------------------------------ KPIs


def test_kpi1_kpi4_daily_report_on_time_and_missing(mdm_world: World, client: TestClient) -> None:
    """KPI-1: local day 2025-04-02 (UTC+2) is covered by meter a's rows that arrived at 05:00 UTC
    of n+1, before every checkpoint; meter b sent nothing: 1 of 2 = 50 % at each due checkpoint,
    below every target. KPI-4: the balancing meter commissioned in March counts from 06-30."""
    h = mdm_world.headers(Role.OPERATOR)
    params = {"day": "2025-04-02", "as_of": "2025-04-20T00:00:00Z"}
    report = client.get("/api/v1/kpi/daily", params=params, headers=h)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["window"] == ["2025-04-01T22:00:00Z", "2025-04-02T22:00:00Z"]
    assert body["meters"]["installed"] == 3 and body["meters"]["counted"] == 2
    assert body["meters"]["not_yet_counted"] == [
        {"meter": "SN-bal", "installed_on": "2025-03-01", "counted_from": "2025-06-30"}
    ]
    assert [f["checkpoint"] for f in body["acquisition"]] == ["n+1 09:00", "n+3 12:00", "n+7 24:00"]
    for figure in body["acquisition"]:
        assert (figure["counted"], figure["on_time"], figure["percent"]) == (2, 1, 50.0)
        assert figure["due"] is True and figure["met"] is False
        assert [(b["meter"], b["reason"]) for b in figure["below"]] == [("SN-b", "no data")]
    summary = client.get("/api/v1/kpi/daily/summary", params=params, headers=h).json()
    assert [s["percent"] for s in summary["acquisition"]] == [50.0, 50.0, 50.0]
    assert summary["meters_counted"] == 2
    acquisition = client.get("/api/v1/kpi/acquisition", params=params, headers=h).json()
    assert acquisition["acquisition"] == body["acquisition"]


def test_kpi1_figure_as_it_stood_before_the_data_arrived(
    mdm_world: World, client: TestClient
) -> None:
    """KPI-1: as of 2025-04-03T04:00Z the first checkpoint (09:00 local = 07:00Z) is not yet
    due and a's rows registered at 05:00Z are not known yet: both meters have no data."""
    h = mdm_world.headers(Role.OPERATOR)
    early = client.get(
        "/api/v1/kpi/daily",
        params={"day": "2025-04-02", "as_of": "2025-04-03T04:00:00Z"},
        headers=h,
    ).json()
    first = early["acquisition"][0]
    assert first["due"] is False and first["met"] is None and first["on_time"] == 0
    assert {b["reason"] for b in first["below"]} == {"no data"}


def test_kpi1_monthly_report_hand_counted(mdm_world: World, client: TestClient) -> None:
    """KPI-1 over March 2025. The seed's rows for UTC 03-01..03-30 arrived 04-01 00:00Z (02:00
    local). A local day needing a UTC hour the seed lacks (03-01 needs 02-28, 03-31 needs 03-31)
    or holding 03-04's missing interval is incomplete (3 days). The rest arrived on time where
    the deadline is after 04-01 02:00 local: n+1 09:00 never; n+3 12:00 for 03-29 and 03-30;
    n+7 24:00 for 03-25..03-30. Per meter below: 31 / 29 / 25 days, 9 incomplete, 76 late."""
    h = mdm_world.headers(Role.OPERATOR)
    body = client.get(
        "/api/v1/kpi/monthly",
        params={"month": "2025-03", "as_of": "2025-04-20T00:00:00Z"},
        headers=h,
    ).json()
    assert len(body["days"]) == 31
    figures = [
        (c["meter_days"], c["on_time"], c["days_due"], c["days_met"]) for c in body["acquisition"]
    ]
    assert figures == [(62, 0, 31, 0), (62, 4, 31, 2), (62, 12, 31, 6)]
    assert body["acquisition"][1]["days_missed"][-3:] == ["2025-03-27", "2025-03-28", "2025-03-31"]
    below = {b["meter"]: b for b in body["below"]}
    assert set(below) == {"SN-a", "SN-b"}
    for entry in below.values():
        assert entry["days"] == {"n+1 09:00": 31, "n+3 12:00": 29, "n+7 24:00": 25}
        assert entry["reasons"] == {"incomplete": 9, "late": 76}


def test_kpi3_command_delivery_with_no_commands(mdm_world: World, client: TestClient) -> None:
    """KPI-3: a day without commands has no group figures and nothing late."""
    h = mdm_world.headers(Role.OPERATOR)
    body = client.get(
        "/api/v1/kpi/command-delivery", params={"day": "2025-04-02"}, headers=h
    ).json()
    commands = body["commands"]
    assert commands["received"] == 0 and commands["groups"] == []
    assert commands["deadlines"] == {"met": 0, "open": 0, "late": []}
    assert commands["window_hours"] == load_profile("pl").kpi.command_delivery_hours


def test_sec4_kpis_need_events_read_at_scope_all(mdm_world: World, client: TestClient) -> None:
    """SEC-4: a retailer holds events:read for its own customers only; the KPIs span the fleet."""
    refused = client.get(
        "/api/v1/kpi/daily", params={"day": "2025-04-02"}, headers=mdm_world.headers(Role.RETAILER)
    )
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    bad = client.get(
        "/api/v1/kpi/monthly", params={"month": "2025-13"}, headers=mdm_world.headers(Role.OPERATOR)
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


# -------------------------------------------------------------------------------- balance


def test_bal1_substation_balance_hand_computed(mdm_world: World, client: TestClient) -> None:
    """BAL-1: local day 2025-03-04 runs 03-03 23:00Z..03-04 23:00Z; the first local hour has no
    data, so 92 intervals are complete: balancing 2 x (0+..+91) = 8372 Wh, customer a
    0+..+91 with interval 10 at 9.5 = 4185.5 Wh; the imbalance 4186.5 Wh is 50.006 % of the
    input, above the permissible 10 %; interval 0 (0 Wh both) is the only one not in excess."""
    h = mdm_world.headers(Role.OPERATOR)
    url = f"/api/v1/substations/{mdm_world.substation}/balance"
    response = client.get(url, params={"day": "2025-03-04"}, headers=h)
    assert response.status_code == 200, response.text
    station = response.json()["substation"]
    assert station["balancing_meter"] == "SN-bal" and station["customers"] == 1
    assert station["input_kwh"] == pytest.approx(8.372)
    assert station["customers_kwh"] == pytest.approx(4.1855)
    assert station["imbalance_kwh"] == pytest.approx(4.1865)
    assert station["imbalance_percent"] == pytest.approx(100 * 4.1865 / 8.372)
    assert (
        station["permissible_percent"] == load_profile("pl").balance.permissible_imbalance_percent
    )
    assert station["exceeded"] is True
    assert (station["complete_intervals"], station["intervals"]) == (92, 96)
    assert len(station["excess_intervals"]) == 91
    assert station["excess_intervals"][0] == "2025-03-04T00:15:00Z"
    feeders = response.json()["feeders"]
    assert [(f["code"], f["balancing_meter"], f["input_kwh"]) for f in feeders] == [
        ("F1", None, None)
    ]
    kwh = client.get(url, params={"day": "2025-03-04", "unit": "kWh"}, headers=h).json()
    assert kwh["substation"]["input_kwh"] == pytest.approx(8372.0)


def test_bal1_suspects_name_the_customer_below_its_pattern(
    mdm_world: World, client: TestClient
) -> None:
    """BAL-1: meter a metered half its like-day pattern exactly where the imbalance appeared:
    it is listed first for inspection, with a strong correlation."""
    h = mdm_world.headers(Role.OPERATOR)
    url = f"/api/v1/substations/{mdm_world.substation}/suspects"
    body = client.get(url, params={"day": "2025-03-04"}, headers=h).json()
    first = body["items"][0]
    assert (first["meter"], first["element_kind"], first["rank"]) == ("SN-a", "substation", 1)
    assert first["meter_id"] == str(mdm_world.meters["a"])
    assert first["correlation"] > 0.9 and first["score"] >= 0.5
    missing = client.get(url, params={"day": "2025-03-04", "feeder": "F9"}, headers=h)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def test_sec4_balance_needs_readings_at_scope_all(mdm_world: World, client: TestClient) -> None:
    """SEC-4: a consumer holds readings:read for its own points only: refused, 403; an unknown
    substation is a 404 problem."""
    url = f"/api/v1/substations/{mdm_world.substation}/balance"
    refused = client.get(
        url, params={"day": "2025-03-04"}, headers=mdm_world.headers(Role.CONSUMER)
    )
    assert refused.status_code == 403
    unknown = client.get(
        "/api/v1/substations/00000000-0000-4000-8000-000000000000/balance",
        params={"day": "2025-03-04"},
        headers=mdm_world.headers(Role.OPERATOR),
    )
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


# -------------------------------------------------------------------------------- billing


def test_bal2_billing_determinants_hand_computed(mdm_world: World, client: TestClient) -> None:
    """BAL-2: local March (02-28 23:00Z..03-31 22:00Z, 2972 quarter hours) holds meter a's served
    last hour of 02-28 (2 x (92+..+95) = 748 Wh), 03-02 and 03-03 (2 x 4560 Wh each) and 03-04
    (4559.5 Wh): 23547.5 Wh; 2972 - 292 intervals missing."""
    h = mdm_world.headers(Role.OPERATOR)
    url = f"/api/v1/meters/{mdm_world.meters['a']}/billing-determinants"
    response = client.get(url, params={"month": "2025-03"}, headers=h)
    assert response.status_code == 200, response.text
    figures = response.json()["determinants"]
    assert figures["energy_total_kwh"] == pytest.approx(23.5475)
    assert sum(figures["energy_kwh"].values()) == pytest.approx(23.5475)
    assert figures["missing_intervals"] == 2972 - 292
    assert (figures["first_day"], figures["last_day"]) == ("2025-03-01", "2025-03-31")
    assert len(figures["days"]) == 31
    day = next(d for d in figures["days"] if d["day"] == "2025-03-03")
    assert day["missing_intervals"] == 0  # local 03-03 = 03-02 23:00Z..03-03 23:00Z, both served
    assert response.json()["inputs"][CHANNEL]["2025-03-04"] == 1
    refused = client.get(url, params={"month": "2025-03", "tariff": "NOPE"}, headers=h)
    assert refused.status_code == 422 and refused.json()["type"].endswith("unknown-tariff")


def test_bal2_stored_versions_idempotent_and_stale(mdm_world: World, client: TestClient) -> None:
    """BAL-2: storing adds version 1, storing again adds nothing; a newer served version of an
    input day makes the record stale and the next store adds version 2; each is audited."""
    admin = mdm_world.headers(Role.ADMINISTRATOR)
    url = f"/api/v1/meters/{mdm_world.meters['a']}/billing-determinants"
    first = client.post(url, params={"month": "2025-03"}, headers=admin).json()
    assert (first["version"], first["versions_added"], first["previous_stale"]) == (1, 1, None)
    again = client.post(url, params={"month": "2025-03"}, headers=admin).json()
    assert (again["version"], again["versions_added"], again["previous_stale"]) == (1, 0, False)
    with mdm_world.engine.begin() as conn:
        values = PATTERN.copy()
        values[50] = 0.0
        status = np.full(96, DETERMINED, np.uint16)
        method = np.full(96, Method.INTERPOLATED, np.uint8)
        write(
            conn,
            [
                NewDay(
                    mdm_world.meters["a"],
                    CHANNEL,
                    date(2025, 3, 3),
                    900,
                    values,
                    status,
                    method,
                    1,
                    [],
                )
            ],
            at=datetime.now(UTC),
        )
    history = client.get(f"{url}/history", params={"month": "2025-03"}, headers=admin).json()
    assert history["stale"] is True and [v["version"] for v in history["versions"]] == [1]
    third = client.post(url, params={"month": "2025-03"}, headers=admin).json()
    assert (third["version"], third["versions_added"], third["previous_stale"]) == (2, 1, True)
    with mdm_world.engine.connect() as conn:
        actions = set(
            conn.execute(
                select(audit_record.c.action).where(
                    audit_record.c.action.in_(["mdm.billing.determinants", "api.billing.store"])
                )
            ).scalars()
        )
    assert actions == {"mdm.billing.determinants", "api.billing.store"}
    refused = client.post(url, params={"month": "2025-03"}, headers=mdm_world.headers(Role.SERVICE))
    assert refused.status_code == 403


def test_sec4_acc6_consumer_sees_own_determinants_release_logged(
    mdm_world: World, client: TestClient
) -> None:
    """SEC-4: a consumer reads its own meter's month, never another consumer's; ACC-6: the
    release is an audit entry."""
    h = mdm_world.headers(Role.CONSUMER)
    own = client.get(
        f"/api/v1/meters/{mdm_world.meters['a']}/billing-determinants",
        params={"month": "2025-03"},
        headers=h,
    )
    assert own.status_code == 200
    other = client.get(
        f"/api/v1/meters/{mdm_world.meters['b']}/billing-determinants",
        params={"month": "2025-03"},
        headers=h,
    )
    assert other.status_code == 403
    with mdm_world.engine.connect() as conn:
        released = (
            conn.execute(
                select(audit_record.c.actor).where(
                    audit_record.c.action == "export.api.billing-determinants"
                )
            )
            .scalars()
            .all()
        )
    assert "user-consumer" in released
