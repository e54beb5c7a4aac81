"""Alerts, the incident register (SEC-8, SEC-9) and the compliance report (SEC-12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Connection

from metra.security import audit, incidents
from metra.security.errors import AccessDenied
from metra.security.roles import Principal, Role
from metra.store.events import SecurityCategory, Severity

NOW = datetime(2030, 5, 1, tzinfo=UTC)
OFFICER = Principal(uuid4(), "officer", frozenset({Role.SECURITY_OFFICER}))
AUDITOR = Principal(uuid4(), "auditor", frozenset({Role.AUDITOR}))


def test_sec9_six_categories() -> None:
    assert {c.value for c in SecurityCategory} == {
        "unauthorised_access",
        "compromise",
        "attempted_compromise",
        "denial_of_service",
        "reconnaissance",
        "other",
    }


def test_sec8_alarm_and_burst_alerts(conn: Connection) -> None:
    start = NOW
    incidents.report(
        conn, SecurityCategory.COMPROMISE, Severity.ALARM, "duplicate system title", now=NOW
    )
    for i in range(incidents.BURST_THRESHOLD):
        incidents.report(
            conn,
            SecurityCategory.RECONNAISSANCE,
            Severity.WARNING,
            "refused call",
            source_address="203.0.113.5",
            now=NOW + timedelta(seconds=i),
        )
    found = incidents.alerts(conn, start, NOW + timedelta(hours=1))
    assert [a.description for a in found] == [
        "duplicate system title",
        f"{incidents.BURST_THRESHOLD} security warnings from one source",
    ]


def test_sec9_register_open_close_and_permission(conn: Connection) -> None:
    with pytest.raises(AccessDenied):
        incidents.open_incident(conn, AUDITOR, SecurityCategory.OTHER, Severity.INFO, "t", "d")
    number = incidents.open_incident(
        conn,
        OFFICER,
        SecurityCategory.DENIAL_OF_SERVICE,
        Severity.ALARM,
        "APN flooded",
        "details",
        now=NOW,
    )
    incidents.close_incident(conn, OFFICER, number, "rate limit applied", now=NOW)
    entries = [e for e in incidents.register(conn) if e["id"] == number]
    assert entries[0]["status"] == "closed" and entries[0]["category"] == "denial_of_service"
    assert audit.verify(conn).ok


def test_sec12_compliance_report_per_control(conn: Connection) -> None:
    audit.record(conn, "bob", "reading.edit", ("reading", "r"), 1, 2, None, "typo", at=NOW)
    audit.record(conn, "hub", "export.release", ("export", "retailer"), None, 1, None, at=NOW)
    with pytest.raises(AccessDenied):
        incidents.compliance_report(conn, Principal(uuid4(), "op", frozenset({Role.OPERATOR})))
    report = {c.requirement: c for c in incidents.compliance_report(conn, AUDITOR)}
    assert set(report) >= {"SEC-1", "SEC-4", "SEC-5", "SEC-8", "SEC-9", "STO-5", "ACC-6", "DQ-11"}
    assert report["STO-5"].status == "evidence" and "intact" in report["STO-5"].evidence
    assert report["DQ-11"].status == "evidence"
