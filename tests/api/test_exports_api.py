"""Exports over the API (ACC-4, ACC-5, ACC-6): the files `metra export` writes, downloaded with
their media type and file name, narrowed to a retailer's or consumer's own meters, and every
download recorded in the audit trail with the file's SHA-256; KPI exclusions recorded (KPI-2)."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from metra.api.app import create_app
from metra.profiles import load_profile
from metra.security.roles import Role
from metra.store.schema import audit_record

from .conftest import CHANNEL, World, settings_for

DAYS = {"first": "2025-03-03", "last": "2025-03-05"}
CIM = "{http://iec.ch/TC57/2011/MeterReadings#}"


def last_entry(world: World, action: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        row = conn.execute(
            select(audit_record)
            .where(audit_record.c.action == action)
            .order_by(audit_record.c.seq.desc())
        ).first()
    assert row is not None, action
    return dict(row._mapping)


def test_acc5_acc6_csv_download_holds_the_intervals_and_is_audited(
    client: TestClient, world: World
) -> None:
    """ACC-5, ACC-6: a consumer's CSV of its own meter: intervals of the period, and the audit
    entry names the consumer as recipient with the bytes' SHA-256."""
    response = client.get(
        "/api/v1/exports/readings",
        params={"meter": str(world.meters["a"]), **DAYS, "format": "csv"},
        headers=world.headers(Role.CONSUMER),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    name = "readings-meter-SN-a-2025-03-03-2025-03-05.csv"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    lines = [line for line in response.text.splitlines() if not line.startswith("# ")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    intervals = [r for r in rows if r["record"] == "interval" and r["channel"] == CHANNEL]
    assert len(intervals) == 96  # the seed serves (validates) one day of the three
    assert {r["meter"] for r in rows} == {"SN-a"}
    assert intervals[0]["start"] == "2025-03-04T00:00:00Z"
    assert intervals[0]["quality"] and intervals[0]["version"] == "1"
    entry = last_entry(world, "export.readings")
    assert entry["actor"] == entry["target_id"] == "user-consumer"
    details = entry["details"]
    assert details["third_party"] is True and details["format"] == "csv"
    assert details["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert details["file"] == name and details["meters"] == ["SN-a"]
    assert entry["hash"] is not None  # sealed into the chain


def test_acc5_cim_download_is_meter_readings_and_is_audited(
    client: TestClient, world: World
) -> None:
    """ACC-5, ACC-6: an operator's IEC 61968-9 MeterReadings for a substation, internal use."""
    response = client.get(
        "/api/v1/exports/readings",
        params={"substation": "SS-1", **DAYS, "format": "cim"},
        headers=world.headers(Role.OPERATOR),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-disposition"].endswith('.cim.xml"')
    root = etree.fromstring(response.content)
    assert root.tag == f"{CIM}MeterReadings"
    serials = root.findall(f"{CIM}MeterReading/{CIM}Meter/{CIM}Names/{CIM}name")
    assert "SN-a" in [s.text for s in serials]
    assert root.find(f".//{CIM}IntervalReadings/{CIM}value") is not None
    entry = last_entry(world, "export.readings")
    assert entry["details"]["selection"] == {"kind": "substation", "label": "SS-1"}
    assert entry["details"]["meters"] == ["SN-a"]  # SS-1 holds meter a only
    assert entry["target_id"] == "internal" and entry["details"]["format"] == "cim"
    assert entry["details"]["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_acc6_consumer_cannot_export_another_meter(client: TestClient, world: World) -> None:
    """ACC-6, SEC-4: another consumer's meter is refused and nothing is released."""
    before = last_entry(world, "export.readings")["seq"]
    response = client.get(
        "/api/v1/exports/readings",
        params={"meter": str(world.meters["b"]), **DAYS},
        headers=world.headers(Role.CONSUMER),
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert last_entry(world, "export.readings")["seq"] == before


def test_acc4_signed_profile_without_key_is_refused(world: World) -> None:
    """ACC-4: a profile requiring a signed wholesale report, no key: a problem, no file."""
    assert load_profile("ru").reports.signed_wholesale_report
    with TestClient(create_app(settings_for(world, profile="ru"))) as ru:
        response = ru.get(
            "/api/v1/exports/wholesale",
            params={"meter": str(world.meters["a"]), **DAYS},
            headers=world.headers(Role.ADMINISTRATOR),
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:metra:problem:signing-key"


def test_kpi2_exclusion_recorded_listed_and_audited(client: TestClient, world: World) -> None:
    """KPI-2: an exclusion recorded by the caller, listed by period, sealed in the audit trail;
    one naming two targets is refused."""
    body = {
        "reason": "customer_no_access",
        "starts_at": "2025-03-20T00:00:00Z",
        "ends_at": "2025-03-21T00:00:00Z",
        "document": "letter 17/2025",
        "substation_id": str(world.substation),
    }
    admin = world.headers(Role.ADMINISTRATOR)
    response = client.post("/api/v1/kpi/exclusions", json=body, headers=admin)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["recorded_by"] == "admin" and made["target"] == "substation"
    listed = client.get(
        "/api/v1/kpi/exclusions",
        params={"start": "2025-03-20T12:00:00Z", "end": "2025-03-22T00:00:00Z"},
        headers=admin,
    ).json()
    assert made["id"] in [e["id"] for e in listed]
    entry = last_entry(world, "kpi.exclusion")
    assert entry["details"]["exclusion"] == made["id"] and entry["hash"] is not None
    both = {**body, "meter_id": str(world.meters["a"])}
    assert client.post("/api/v1/kpi/exclusions", json=both, headers=admin).status_code == 422
