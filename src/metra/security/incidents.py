"""Security monitoring (SEC-8, SEC-9, SEC-12): security events raised as alerts, the incident
register with the six categories of the Norwegian guide, and the compliance report per control.

Every security event goes to the store's `security_event` journal; one at ALARM severity is also
raised in the system journal (EVT-3) as an unacknowledged alarm, which is what the console shows
and an operator must acknowledge. `alerts` adds a rule over the journal: a burst of warnings from
one source address (a password-guessing or scanning run spread over accounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from metra.security import audit
from metra.security.errors import UserError
from metra.security.roles import Permission, Principal, require
from metra.security.schema import incident, login_attempt, role_grant, user_account
from metra.store.events import (
    SecurityCategory,
    Severity,
    record_security_event,
    record_system_event,
    security_events,
)
from metra.store.schema import audit_record, meter_key, security_event

ALERT_SOURCE = "security"
BURST_THRESHOLD = 10
BURST_WINDOW = timedelta(minutes=15)


def report(
    conn: Connection,
    category: SecurityCategory,
    severity: Severity,
    description: str,
    *,
    actor: str | None = None,
    source_address: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Record a security event (refused call, failed log-in, meter authentication failure,
    duplicate system title, replay); at ALARM severity also raise an alarm. Returns its id."""
    moment = now or datetime.now(UTC)
    event_id = record_security_event(
        conn,
        occurred_at=moment,
        category=category,
        severity=severity,
        description=description,
        actor=actor,
        source_address=source_address,
        details=details,
    )
    if severity is Severity.ALARM:
        record_system_event(
            conn,
            occurred_at=moment,
            severity=Severity.ALARM,
            source=ALERT_SOURCE,
            code=f"security.{category.value}",
            message=description,
            details={"security_event_id": event_id, "source_address": source_address},
        )
    return event_id


@dataclass(frozen=True)
class Alert:
    """Something a security officer should look at now."""

    at: datetime
    category: SecurityCategory
    description: str
    source_address: str | None
    event_ids: tuple[int, ...]


def alerts(conn: Connection, start: datetime, end: datetime) -> list[Alert]:
    """Alerts in [start, end): every ALARM event, and each source address with at least
    `BURST_THRESHOLD` warnings within `BURST_WINDOW` (one alert per burst)."""
    found: list[Alert] = []
    bursts: dict[str, list[dict[str, Any]]] = {}
    for event in security_events(conn, start, end):
        category = SecurityCategory(event["category"])
        if event["severity"] == Severity.ALARM.value:
            found.append(
                Alert(
                    event["occurred_at"],
                    category,
                    event["description"],
                    event["source_address"],
                    (event["id"],),
                )
            )
        elif event["severity"] == Severity.WARNING.value and event["source_address"]:
            run = bursts.setdefault(event["source_address"], [])
            run.append(event)
            while run and event["occurred_at"] - run[0]["occurred_at"] > BURST_WINDOW:
                run.pop(0)
            if len(run) == BURST_THRESHOLD:
                found.append(
                    Alert(
                        event["occurred_at"],
                        SecurityCategory.ATTEMPTED_COMPROMISE,
                        f"{BURST_THRESHOLD} security warnings from one source",
                        event["source_address"],
                        tuple(e["id"] for e in run),
                    )
                )
                run.clear()
    return sorted(found, key=lambda a: a.at)


def open_incident(
    conn: Connection,
    actor: Principal,
    category: SecurityCategory,
    severity: Severity,
    title: str,
    description: str,
    *,
    security_event_ids: tuple[int, ...] = (),
    now: datetime | None = None,
) -> int:
    """Register an incident or deviation (SEC-9); needs `incidents:manage`. Returns its id."""
    require(actor, Permission.INCIDENTS_MANAGE)
    moment = now or datetime.now(UTC)
    statement = insert(incident).values(
        opened_at=moment,
        opened_by=actor.username,
        category=category.value,
        severity=severity.value,
        title=title,
        description=description,
        security_event_ids=list(security_event_ids),
        status="open",
    )
    incident_id: int = conn.execute(statement.returning(incident.c.id)).scalar_one()
    after = {"category": category.value, "severity": severity.value, "title": title}
    audit.record(
        conn,
        actor.username,
        "incident.open",
        ("incident", str(incident_id)),
        None,
        after,
        None,
        at=moment,
    )
    return incident_id


def close_incident(
    conn: Connection,
    actor: Principal,
    incident_id: int,
    resolution: str,
    *,
    now: datetime | None = None,
) -> None:
    """Close an open incident with what was done; the record stays."""
    require(actor, Permission.INCIDENTS_MANAGE)
    moment = now or datetime.now(UTC)
    i = incident.c
    result = conn.execute(
        update(incident)
        .where(i.id == incident_id, i.status == "open")
        .values(status="closed", closed_at=moment, closed_by=actor.username, resolution=resolution)
    )
    if result.rowcount != 1:
        raise UserError(f"no open incident {incident_id}")
    audit.record(
        conn,
        actor.username,
        "incident.close",
        ("incident", str(incident_id)),
        "open",
        "closed",
        None,
        resolution,
        at=moment,
    )


def register(conn: Connection, category: SecurityCategory | None = None) -> list[dict[str, Any]]:
    """The incident register, newest first, optionally of one category."""
    query = select(incident).order_by(incident.c.opened_at.desc(), incident.c.id.desc())
    if category is not None:
        query = query.where(incident.c.category == category.value)
    return [dict(row._mapping) for row in conn.execute(query)]


@dataclass(frozen=True)
class Control:
    """One control objective of the compliance report (SEC-12)."""

    requirement: str
    objective: str
    controls: str
    evidence: str
    status: str  # "evidence" when the system holds records proving it operates, "configured"


def _count(conn: Connection, table: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def compliance_report(conn: Connection, actor: Principal) -> list[Control]:
    """Compliance status per control objective, with the evidence the system holds (SEC-12).

    Needs `audit:read`. The counts come from the database at the time of the call; the audit
    chain is verified as part of the report.
    """
    require(actor, Permission.AUDIT_READ)
    chain = audit.verify(conn)
    users = _count(conn, user_account)
    grants = _count(conn, role_grant, role_grant.c.revoked_at.is_(None))
    failures = _count(conn, login_attempt, login_attempt.c.succeeded.is_(False))
    events = _count(conn, security_event)
    incidents_open = _count(conn, incident, incident.c.status == "open")
    incidents_all = _count(conn, incident)
    keys = _count(conn, meter_key, meter_key.c.retired_at.is_(None))
    releases = _count(conn, audit_record, audit_record.c.action.like("export.%"))
    edits = _count(conn, audit_record, audit_record.c.action.like("reading.%"))
    chain_text = (
        f"audit chain intact: {chain.checked} sealed entries, {chain.pending} pending"
        if chain.ok
        else f"audit chain BROKEN at entry {chain.first_bad_seq}: {chain.problem}"
    )

    def status(ok: bool) -> str:
        return "evidence" if ok else "configured"

    return [
        Control(
            "SEC-1",
            "Protection against unauthorised interference",
            "authenticated sessions, tokens with expiry, least privilege",
            f"{users} accounts, {failures} refused log-ins recorded",
            status(users > 0),
        ),
        Control(
            "SEC-4",
            "Roles and access levels; no self-granted privilege",
            "role catalogue, grants by others only, every call declares a permission",
            f"{grants} active grants",
            status(grants > 0),
        ),
        Control(
            "SEC-5",
            "Password policy, lockout, two-factor",
            "profile policy, Argon2id, history, lockout, TOTP for the profile's roles",
            f"{failures} failed log-ins counted against limits",
            status(users > 0),
        ),
        Control(
            "SEC-7",
            "Unique keys per meter and interface, sealed",
            "key store under a master key outside the database",
            f"{keys} active wrapped meter keys",
            status(keys > 0),
        ),
        Control(
            "SEC-8",
            "Security logging, monitored, alerts",
            "security event journal, alarms in the system journal",
            f"{events} security events",
            status(events > 0),
        ),
        Control(
            "SEC-9",
            "Incident and deviation register",
            "six categories of the Norwegian guide",
            f"{incidents_all} incidents, {incidents_open} open",
            status(incidents_all > 0),
        ),
        Control(
            "STO-5",
            "Every operation recorded, tamper-evident",
            "hash-chained audit trail, metra audit verify",
            chain_text,
            status(chain.ok and chain.checked > 0),
        ),
        Control(
            "ACC-6",
            "Releases of data to third parties logged",
            "export.* audit entries",
            f"{releases} releases recorded",
            status(releases > 0),
        ),
        Control(
            "DQ-11",
            "Manual changes of registered data logged with reason",
            "reading.* audit entries with before, after and reason",
            f"{edits} edits recorded",
            status(edits > 0),
        ),
    ]
