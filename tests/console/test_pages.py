"""What the console's pages show and do: a meter's chart with estimated intervals marked, a
manual edit with its reason in the audit trail, the VEE worklist's decisions, the substation
balance, the dashboard's sections by role, users, incidents and audit search, the consumer's
charts and CSV, and the on-demand read as an API job against a real DLMS server (DQ-2, DQ-11,
BAL-1, EVT-3, SEC-8, SEC-9, STO-5, ACC-6, COL-7)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
from api.conftest import World
from api.test_jobs import served_meter
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from metra.mdm import versions
from metra.mdm.estimation.methods import Method
from metra.mdm.schema import vee_finding
from metra.security import audit
from metra.security.roles import Role
from metra.store.schema import audit_record

from .conftest import CHANNEL, as_role
from .test_login import csrf

__all__ = ["served_meter"]
DAY = date(2025, 3, 4)


def figure(page: str, element: str = "chart-data") -> dict:
    found = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', page, re.S)
    assert found, page[:300]
    return json.loads(found.group(1))


def entries(world: World, action: str) -> list:
    with world.engine.connect() as conn:
        t = audit_record.c
        return list(conn.execute(select(audit_record).where(t.action == action).order_by(t.seq)))


def test_dq2_meter_chart_marks_estimated_intervals(client: TestClient, world: World) -> None:
    """DQ-2: the load profile serves validated values where they exist, and the interpolated
    interval (day 4, 02:30 UTC) is a separate, labelled marker trace."""
    as_role(client, world, Role.OPERATOR)
    client.cookies.set("metra_lang", "en")
    page = client.get(f"/console/meters/{world.meters['a']}?start=2025-03-03&days=2")
    assert page.status_code == 200
    data = figure(page.text)["data"]
    names = [t["name"] for t in data]
    assert names[0] == "Import (A+)" and "Import (A+): estimated" in names
    marked = data[names.index("Import (A+): estimated")]
    assert marked["x"] == ["2025-03-04T02:30:00+00:00"] and marked["y"] == [9.5]
    assert len(data[0]["x"]) == 2 * 96
    assert "SN-a" in page.text and "power-down" not in page.text  # an event of 1 March
    wider = client.get(f"/console/meters/{world.meters['a']}?start=2025-03-01&days=3").text
    assert "power-down" in wider and "1-0:1.8.0.255" in wider


def test_dq11_manual_edit_with_reason_is_a_version_and_audited(
    client: TestClient, world: World
) -> None:
    """DQ-11: the edit form adds a served version (the earlier stays), marked as edited in the
    chart, with the editor, before and after values and the reason sealed in the audit trail."""
    as_role(client, world, Role.ADMINISTRATOR)
    client.cookies.set("metra_lang", "en")
    meter = world.meters["a"]
    page = client.get(f"/console/meters/{meter}?start=2025-03-04&days=1").text
    # 2025-03-04 05:00 in Warsaw (UTC+1) is 04:00 UTC: interval 16 of the UTC day
    answer = client.post(
        f"/console/meters/{meter}/edit",
        data={
            "csrf": csrf(page),
            "channel": "import",
            "at": "2025-03-04T05:00",
            "value": "123,5",
            "reason": "meter exchanged, value from the removed meter's display",
        },
    )
    assert answer.status_code == 303 and "done=edited" in answer.headers["location"]
    with world.engine.connect() as conn:
        served = versions.served(conn, meter, CHANNEL, DAY)
    assert served is not None and served.kind == "manual" and served.values[16] == 123.5
    assert served.method[16] == Method.MANUAL
    edit = entries(world, "mdm.edit")[-1]
    assert edit.actor == "admin" and edit.hash is not None
    assert edit.details["reason"].startswith("meter exchanged")
    assert edit.details["before"] == [16.0] and edit.details["after"] == [123.5]
    shown = client.get(answer.headers["location"]).text
    assert "The value was changed" in shown
    edited = [t for t in figure(shown)["data"] if t["name"] == "Import (A+): edited"]
    assert edited and "2025-03-04T04:00:00+00:00" in edited[0]["x"]
    bad = client.post(
        f"/console/meters/{meter}/edit",
        data={"csrf": csrf(page), "at": "2025-03-04T05:07", "value": "1", "reason": "x"},
    )
    assert bad.status_code == 400 and "start of an interval" in bad.text


def _finding(world: World, first: datetime, minutes: int) -> int:
    with world.engine.begin() as conn:
        return int(
            conn.execute(
                insert(vee_finding)
                .values(
                    meter_id=world.meters["a"],
                    channel=CHANNEL,
                    rule="spike",
                    severity="error",
                    first_at=first,
                    last_at=first + timedelta(minutes=minutes),
                    evidence={"value": 5000.0},
                    found_at=first,
                )
                .returning(vee_finding.c.id)
            ).scalar_one()
        )


def test_dq4_dq6_worklist_accept_estimate_edit_with_reasons(
    client: TestClient, world: World
) -> None:
    """DQ-4: failed checks are listed until decided; accept records the judgement, estimate
    bridges the flagged intervals between their neighbours, edit sets them; each with its reason
    in the audit trail (DQ-11), and decided findings leave the worklist."""
    as_role(client, world, Role.ADMINISTRATOR)
    client.cookies.set("metra_lang", "en")
    with world.engine.begin() as conn:  # a spike at 12:00-12:15 UTC to estimate away
        versions.edit(
            conn,
            world.meters["a"],
            CHANNEL,
            DAY,
            {48: 5000.0, 49: 4000.0},
            actor="test",
            reason="spike",
            at=datetime.now(UTC),
        )
        audit.seal(conn)
    spike = _finding(world, datetime(2025, 3, 4, 12, tzinfo=UTC), 30)
    later = _finding(world, datetime(2025, 3, 4, 20, tzinfo=UTC), 15)
    url = "/console/vee?start=2025-03-01&days=30"
    page = client.get(url).text
    seeded = re.search(r'id="finding-(\d+)"', page)
    assert seeded and f'id="finding-{spike}"' in page and f'id="finding-{later}"' in page
    token = csrf(page)
    accept = client.post(
        f"/console/vee/{seeded.group(1)}/accept",
        data={"csrf": token, "reason": "real peak: heat pump start"},
    )
    assert accept.headers["location"].endswith("done=accepted")
    estimate = client.post(
        f"/console/vee/{spike}/estimate", data={"csrf": token, "reason": "spike from a bad read"}
    )
    assert estimate.headers["location"].endswith("done=estimated")
    edit = client.post(
        f"/console/vee/{later}/edit",
        data={"csrf": token, "value": "80", "reason": "customer's own reading"},
    )
    assert edit.headers["location"].endswith("done=edited")
    with world.engine.connect() as conn:
        served = versions.served(conn, world.meters["a"], CHANNEL, DAY)
    assert served is not None
    assert served.values[48] == 48.0 and served.values[49] == 49.0  # between 47 and 50
    assert served.values[80] == 80.0 and served.reason == "customer's own reading"
    decisions = {
        e.action: e
        for e in entries(world, "vee.accept")
        + entries(world, "vee.estimate")
        + entries(world, "vee.edit")
    }
    assert decisions["vee.accept"].details["reason"] == "real peak: heat pump start"
    assert decisions["vee.estimate"].details["after"]["versions"]
    assert decisions["vee.edit"].details["after"]["value"] == 80.0
    assert all(e.hash is not None for e in decisions.values())
    after = client.get(url).text
    assert "finding-" not in after and "Nothing to review." in after
    as_role(client, world, Role.OPERATOR)  # may read the worklist, may not decide
    assert client.get(url).status_code == 200
    page = client.get(url).text
    refused = client.post(f"/console/vee/{spike}/accept", data={"csrf": csrf(page), "reason": "x"})
    assert refused.status_code == 403


def test_bal1_substation_page_shows_balance_chart_and_table(
    client: TestClient, world: World
) -> None:
    """BAL-1: the substation's balancing meter against its customers, per interval."""
    as_role(client, world, Role.OPERATOR)
    client.cookies.set("metra_lang", "en")
    page = client.get("/console/substations/SS-1?day=2025-03-04")
    assert page.status_code == 200
    assert "BAL-SS1" in page.text and 'id="suspects"' in page.text
    data = figure(page.text)["data"]
    assert data and data[0]["type"] == "bar" and data[0]["name"] == "SS-1"
    assert client.get("/console/substations/NOPE").status_code == 404
    assert "SS-2" in client.get("/console/substations").text


def test_evt3_sec8_dashboard_sections_follow_permissions(client: TestClient, world: World) -> None:
    """EVT-3: the operator sees collection progress, KPI checkpoints and unacknowledged alarms
    and acknowledges one (audited); SEC-8: the security officer sees security events only."""
    as_role(client, world, Role.OPERATOR)
    client.cookies.set("metra_lang", "en")
    page = client.get("/console/dashboard").text
    assert 'id="progress"' in page and 'id="kpi"' in page and 'id="alarms"' in page
    assert 'id="security"' not in page and "cover opened" in page
    ack = client.post(f"/console/alarms/{world.alarm_id}/acknowledge", data={"csrf": csrf(page)})
    assert ack.headers["location"].endswith("done=acknowledged")
    assert "cover opened" not in client.get("/console/dashboard").text
    assert entries(world, "alarm.acknowledge")[-1].actor == "user-operator"
    as_role(client, world, Role.SECURITY_OFFICER)
    client.cookies.set("metra_lang", "en")
    page = client.get("/console/dashboard").text
    assert 'id="security"' in page and 'id="alarms"' not in page and 'id="kpi"' not in page
    assert (
        "refused call" in page or "console session refused" in page or "No security events." in page
    )


def test_sec4_sec9_sto5_users_incidents_audit(client: TestClient, world: World) -> None:
    """SEC-4: the administrator creates an account (no role) and grants a role, never to
    itself; SEC-9: incidents are registered and closed; STO-5: the trail is searched and its
    chain verified."""
    as_role(client, world, Role.ADMINISTRATOR)
    client.cookies.set("metra_lang", "en")
    page = client.get("/console/users").text
    token = csrf(page)
    made = client.post(
        "/console/users",
        data={"csrf": token, "username": "new.person", "initial": "Initial-pass-9"},
    )
    assert made.headers["location"].endswith("done=user-created")
    granted = client.post(
        "/console/users/new.person/roles",
        data={"csrf": token, "role": "auditor", "action": "grant"},
    )
    assert granted.headers["location"].endswith("done=role-granted")
    assert re.search(
        r"<td>new.person</td><td>person</td><td>auditor</td>", client.get("/console/users").text
    )
    itself = client.post(
        "/console/users/admin/roles", data={"csrf": token, "role": "auditor", "action": "grant"}
    )
    assert itself.status_code == 403
    page = client.get("/console/incidents").text
    opened = client.post(
        "/console/incidents",
        data={
            "csrf": csrf(page),
            "category": "reconnaissance",
            "severity": "warning",
            "title": "port scan",
            "description": "from 10.0.0.9",
        },
    )
    assert opened.headers["location"].endswith("done=incident-opened")
    page = client.get("/console/incidents").text
    number = re.search(r'action="/console/incidents/(\d+)/close"', page)
    assert number and "port scan" in page
    closed = client.post(
        f"/console/incidents/{number.group(1)}/close",
        data={"csrf": csrf(page), "resolution": "blocked at the firewall"},
    )
    assert closed.headers["location"].endswith("done=incident-closed")
    found = client.get("/console/audit?action=incident.*&verify=1").text
    assert "incident.open" in found and "incident.close" in found and "user.create" not in found
    assert 'id="verify-ok"' in found


def test_acc6_consumer_sees_own_consumption_and_downloads_csv(
    client: TestClient, world: World
) -> None:
    """ACC-6 / GDPR: a consumer's menu holds only its consumption; charts and a CSV of its own
    meter, each a logged release; another consumer's meter is refused."""
    as_role(client, world, Role.CONSUMER)
    client.cookies.set("metra_lang", "en")
    home = client.get("/console/my").text
    assert "SN-a" in home and "SN-b" not in home
    assert re.findall(r'<nav class="menu">\s*<a href="([^"]+)"', home) == ["/console/my"]
    page = client.get(f"/console/my/meters/{world.meters['a']}?month=2025-03").text
    assert figure(page, "daily-data")["data"][0]["type"] == "bar"
    csv = client.get(f"/console/my/meters/{world.meters['a']}/consumption.csv?month=2025-03")
    lines = csv.text.splitlines()
    assert csv.headers["content-type"].startswith("text/csv")
    assert lines[0] == "interval_start_utc,energy_wh,kind" and len(lines) > 1 + 96 * 29
    assert "2025-03-04T02:30:00+00:00,9.5,estimated" in lines
    released = entries(world, "export.api.console.consumption")
    assert released and released[-1].actor == "user-consumer"
    other = world.meters["b"]
    assert (
        client.get(f"/console/my/meters/{other}/consumption.csv?month=2025-03").status_code == 403
    )
    assert client.get(f"/console/meters/{other}?start=2025-03-01&days=1").status_code == 403


def test_col7_read_now_starts_the_api_job_against_a_real_meter(
    client: TestClient, world: World, served_meter: int
) -> None:
    """COL-7: the button starts the API's on-demand read job; its page shows the value read
    from the meter (a real DLMS server); another account cannot see the job."""
    as_role(client, world, Role.OPERATOR)
    client.cookies.set("metra_lang", "en")
    meter = world.meters["a"]
    page = client.get(f"/console/meters/{meter}?start=2025-03-01&days=1").text
    started = client.post(
        f"/console/meters/{meter}/read", data={"csrf": csrf(page), "what": "energy-import"}
    )
    job_url = started.headers["location"]
    assert job_url.startswith("/console/jobs/")
    deadline = time.monotonic() + 30
    while True:
        job = client.get(job_url).text
        status = re.search(r'data-status="(\w+)"', job)
        assert status
        if status.group(1) in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status.group(1) == "succeeded", job
    assert "1-0:1.8.0.255" in job
    as_role(client, world, Role.SERVICE)
    assert client.get(job_url).status_code == 404


def test_dq2_served_values_counts(world: World) -> None:
    """The counts under the chart come from the served methods (estimated, edited, missing)."""
    from metra.console.charts import load_series

    with world.engine.connect() as conn:
        series = load_series(conn, world.meters["b"], CHANNEL, DAY, 1)
    assert series.count("estimated") == 1 and len(series.values) == 96
    assert np.isclose(series.values[10], 9.5)
