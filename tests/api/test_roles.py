"""Every operation of the API, called by every role: allowed where the role's permissions (at the
needed scope) say so, refused with 403 and a security event otherwise (SEC-4, SEC-8, ACC-6).

The table below names a valid request per operation; a test fails when the API gains an
operation without an entry, so no endpoint escapes the matrix. Retailer and consumer act on the
first consumer's meter, which is theirs; other tests prove they cannot reach the second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metra.profiles import load_profile
from metra.security import command_requests, incidents, login, users
from metra.security.roles import ROLE_PERMISSIONS, Permission, Role, Scope
from metra.security.safeguards import KIND_PERMISSIONS, CommandPolicy
from metra.store import commands
from metra.store.events import SecurityCategory, Severity, record_system_event
from metra.store.schema import security_event

from .conftest import CHANNEL, PASSWORD, World, month_query

NEW_PASSWORD = "Changed-pass-2"
MONTH = {k: v for k, v in month_query().items() if k != "channel"}
EXPORT_DAYS = {"first": "2025-03-03", "last": "2025-03-05"}
KPI_DAY = {"day": "2025-03-10", "as_of": "2025-04-02T00:00:00Z"}


@dataclass(frozen=True)
class Call:
    method: str
    path: Callable[[World, Role], str]
    params: dict[str, Any] = field(default_factory=dict)
    body: Callable[[World, Role], Any] | None = None
    ok: frozenset[int] = frozenset({200})
    all_scope: bool = False  # refused to retailers and consumers even with the permission
    kind: str | None = None  # for "command-kind" operations: the command kind they act on


def fixed(path: str) -> Callable[[World, Role], str]:
    return lambda w, r: path


def meter(suffix: str = "") -> Callable[[World, Role], str]:
    return lambda w, r: f"/api/v1/meters/{w.meters['a']}{suffix}"


def new_alarm(w: World, r: Role) -> str:
    with w.engine.begin() as conn:
        event_id = record_system_event(
            conn,
            occurred_at=datetime.now(UTC),
            severity=Severity.ALARM,
            source="test",
            code="x",
            message="alarm",
        )
    return f"/api/v1/alarms/{event_id}/acknowledge"


def new_incident(w: World, r: Role) -> str:
    with w.engine.begin() as conn:
        admin = users.principal(conn, w.users[Role.ADMINISTRATOR])
        incident_id = incidents.open_incident(
            conn, admin, SecurityCategory.OTHER, Severity.INFO, "t", "d"
        )
    return f"/api/v1/incidents/{incident_id}/close"


def new_token(w: World, r: Role) -> str:
    with w.engine.begin() as conn:
        login.issue_token(conn, w.users[Role.AUDITOR], kind="api", ttl=timedelta(days=1))
        token_id = conn.execute(select(func.max(login.access_token.c.id))).scalar_one()
    return f"/api/v1/tokens/{token_id}"


def command_request(w: World, kind: str, *, emergency: bool = False, by: str = "requester") -> UUID:
    """A request stored by the command engine for `by` (from the loopback zone)."""
    with w.engine.begin() as conn:
        account = users.find(conn, by)
        assert account is not None
        who = users.principal(conn, account.id)
        done = command_requests.submit(
            conn,
            who,
            load_profile("pl"),
            CommandPolicy.parse(["127.0.0.0/8"]),
            kind,
            [w.meters["a"]],
            source_address="127.0.0.1",
            emergency=emergency,
            reason="rationing" if emergency else None,
        )
    return done.request_id


def approvable(w: World, r: Role) -> str:
    request_id = command_request(w, "emergency_power_limit", emergency=True)
    return f"/api/v1/command-requests/{request_id}/approve"


def cancellable(w: World, r: Role) -> str:
    return f"/api/v1/command-requests/{command_request(w, 'time_sync')}/cancel"


def a_request(w: World, r: Role) -> str:
    return f"/api/v1/command-requests/{command_request(w, 'time_sync')}"


def a_campaign(w: World, r: Role) -> str:
    return f"/api/v1/command-requests/{command_request(w, 'firmware_update', by='admin')}/campaign"


def a_command(w: World, r: Role) -> str:
    with w.engine.connect() as conn:
        first = commands.of_request(conn, command_request(w, "time_sync"))[0].id
    return f"/api/v1/commands/{first}"


CALLS: dict[str, Call] = {
    "health": Call("GET", fixed("/api/v1/health")),
    "login": Call(
        "POST",
        fixed("/api/v1/auth/login"),
        body=lambda w, r: {
            "username": "admin" if r is Role.ADMINISTRATOR else f"user-{r.value}",
            "password": PASSWORD,
        },
    ),
    "me": Call("GET", fixed("/api/v1/auth/me")),
    "logout": Call("POST", fixed("/api/v1/auth/logout"), ok=frozenset({204})),
    "change_password": Call(
        "POST",
        fixed("/api/v1/auth/password"),
        body=lambda w, r: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        ok=frozenset({204}),
    ),
    "enrol_totp": Call(
        "POST", fixed("/api/v1/auth/totp"), body=lambda w, r: {"password": PASSWORD}
    ),
    "list_roles": Call("GET", fixed("/api/v1/roles")),
    "list_users": Call("GET", fixed("/api/v1/users")),
    "get_user": Call("GET", fixed("/api/v1/users/subject")),
    "create_user": Call(
        "POST",
        fixed("/api/v1/users"),
        body=lambda w, r: {"username": f"new-{r.value}", "initial_password": PASSWORD},
        ok=frozenset({201}),
    ),
    "grant_role": Call(
        "POST", fixed("/api/v1/users/subject/roles"), body=lambda w, r: {"role": "auditor"}
    ),
    "revoke_role": Call("DELETE", fixed("/api/v1/users/subject/roles/auditor")),
    "list_tokens": Call("GET", fixed("/api/v1/users/subject/tokens")),
    "issue_token": Call(
        "POST",
        fixed("/api/v1/users/subject/tokens"),
        body=lambda w, r: {"name": "hub", "kind": "machine", "scopes": ["readings:read"]},
        ok=frozenset({201}),
    ),
    "revoke_token": Call("DELETE", new_token, ok=frozenset({204})),
    "list_substations": Call("GET", fixed("/api/v1/substations"), all_scope=True),
    "get_substation": Call(
        "GET", lambda w, r: f"/api/v1/substations/{w.substation}", all_scope=True
    ),
    "get_substation_history": Call(
        "GET", lambda w, r: f"/api/v1/substations/{w.substation}/history", all_scope=True
    ),
    "list_delivery_points": Call("GET", fixed("/api/v1/delivery-points")),
    "get_delivery_point": Call("GET", lambda w, r: f"/api/v1/delivery-points/{w.points['a']}"),
    "get_delivery_point_history": Call(
        "GET", lambda w, r: f"/api/v1/delivery-points/{w.points['a']}/history"
    ),
    "list_metering_points": Call("GET", fixed("/api/v1/metering-points")),
    "get_metering_point": Call(
        "GET", lambda w, r: f"/api/v1/metering-points/{w.metering_points['a']}"
    ),
    "get_metering_point_history": Call(
        "GET", lambda w, r: f"/api/v1/metering-points/{w.metering_points['a']}/history"
    ),
    "list_meters": Call("GET", fixed("/api/v1/meters")),
    "get_meter": Call("GET", meter()),
    "get_meter_history": Call("GET", meter("/history")),
    "get_meter_linkage": Call("GET", meter("/linkage")),
    "get_intervals": Call("GET", meter("/intervals"), params=month_query()),
    "get_channels": Call("GET", meter("/channels"), params=MONTH),
    "get_registers": Call("GET", meter("/registers"), params=MONTH),
    "get_billing_values": Call("GET", meter("/billing"), params=MONTH),
    "get_vee_day": Call("GET", meter(f"/vee/{CHANNEL}/2025-03-04")),
    "edit_vee_day": Call(
        "POST",
        meter(f"/vee/{CHANNEL}/2025-03-04/edits"),
        body=lambda w, r: {"changes": [{"index": 10, "value": 9.0}], "reason": "customer read"},
        ok=frozenset({201}),
    ),
    "list_vee_findings": Call(
        "GET", fixed("/api/v1/vee/findings"), params={**MONTH, "meter_id": "METER_A"}
    ),
    "get_daily_kpi": Call("GET", fixed("/api/v1/kpi/daily"), params=KPI_DAY, all_scope=True),
    "get_daily_kpi_summary": Call(
        "GET", fixed("/api/v1/kpi/daily/summary"), params=KPI_DAY, all_scope=True
    ),
    "get_acquisition_kpi": Call(
        "GET", fixed("/api/v1/kpi/acquisition"), params=KPI_DAY, all_scope=True
    ),
    "get_command_delivery_kpi": Call(
        "GET", fixed("/api/v1/kpi/command-delivery"), params=KPI_DAY, all_scope=True
    ),
    "get_monthly_kpi": Call(
        "GET",
        fixed("/api/v1/kpi/monthly"),
        params={"month": "2025-03", "as_of": "2025-03-02T00:00:00Z"},
        all_scope=True,
    ),
    "record_kpi_exclusion": Call(
        "POST",
        fixed("/api/v1/kpi/exclusions"),
        body=lambda w, r: {
            "reason": "grid_failure",
            "starts_at": "2025-03-10T00:00:00Z",
            "document": f"outage report {r.value}",
            "meter_id": str(w.meters["a"]),
        },
        ok=frozenset({201}),
        all_scope=True,
    ),
    "list_kpi_exclusions": Call(
        "GET", fixed("/api/v1/kpi/exclusions"), params=MONTH, all_scope=True
    ),
    "export_readings": Call(
        "GET",
        fixed("/api/v1/exports/readings"),
        params={"meter": "METER_A", **EXPORT_DAYS, "format": "csv"},
    ),
    "export_events": Call(
        "GET",
        fixed("/api/v1/exports/events"),
        params={"meter": "METER_A", **EXPORT_DAYS, "format": "cim"},
    ),
    "export_wholesale": Call(
        "GET", fixed("/api/v1/exports/wholesale"), params={"meter": "METER_A", **EXPORT_DAYS}
    ),
    "get_substation_balance": Call(
        "GET",
        lambda w, r: f"/api/v1/substations/{w.substation}/balance",
        params={"day": "2025-03-04"},
        all_scope=True,
    ),
    "list_balance_suspects": Call(
        "GET",
        lambda w, r: f"/api/v1/substations/{w.substation}/suspects",
        params={"day": "2025-03-04"},
        all_scope=True,
    ),
    "get_billing_determinants": Call(
        "GET", meter("/billing-determinants"), params={"month": "2025-03"}
    ),
    "get_billing_determinants_history": Call(
        "GET", meter("/billing-determinants/history"), params={"month": "2025-03"}
    ),
    "store_billing_determinants": Call(
        "POST", meter("/billing-determinants"), params={"month": "2025-03"}
    ),
    "submit_command_request": Call(
        "POST",
        fixed("/api/v1/command-requests"),
        body=lambda w, r: {"kind": "time_sync", "meter_ids": [str(w.meters["a"])]},
        ok=frozenset({201}),
        kind="time_sync",
    ),
    "approve_command_request": Call("POST", approvable, kind="emergency_power_limit"),
    "cancel_command_request": Call("POST", cancellable, body=lambda w, r: {}, kind="time_sync"),
    "list_command_requests": Call("GET", fixed("/api/v1/command-requests"), all_scope=True),
    "get_command_request": Call("GET", a_request, all_scope=True),
    "get_firmware_campaign": Call("GET", a_campaign, all_scope=True),
    "list_commands": Call("GET", fixed("/api/v1/commands"), all_scope=True),
    "get_command": Call("GET", a_command, all_scope=True),
    "get_meter_events": Call("GET", meter("/events"), params=MONTH),
    "list_system_events": Call("GET", fixed("/api/v1/events"), params=MONTH, all_scope=True),
    "list_alarms": Call("GET", fixed("/api/v1/alarms"), all_scope=True),
    "acknowledge_alarm": Call("POST", new_alarm, all_scope=True),
    "list_security_events": Call("GET", fixed("/api/v1/security-events"), params=MONTH),
    "list_security_alerts": Call("GET", fixed("/api/v1/security-alerts"), params=MONTH),
    "get_diagnostics": Call("GET", meter("/diagnostics")),
    "list_failing_meters": Call("GET", fixed("/api/v1/diagnostics/failing"), all_scope=True),
    "search_audit": Call("GET", fixed("/api/v1/audit")),
    "verify_audit": Call("GET", fixed("/api/v1/audit/verify")),
    "compliance_report": Call("GET", fixed("/api/v1/compliance")),
    "list_incidents": Call("GET", fixed("/api/v1/incidents")),
    "open_incident": Call(
        "POST",
        fixed("/api/v1/incidents"),
        body=lambda w, r: {
            "category": "reconnaissance",
            "severity": "warning",
            "title": "port scan",
            "description": "from 10.0.0.1",
        },
        ok=frozenset({201}),
    ),
    "close_incident": Call("POST", new_incident, body=lambda w, r: {"resolution": "blocked"}),
    "read_meter_now": Call(
        "POST",
        meter("/reads"),
        body=lambda w, r: {"class_id": 3, "obis": "1-0:1.8.0.255"},
        ok=frozenset({202}),
        all_scope=True,
    ),
    "get_job": Call(
        "GET", fixed("/api/v1/jobs/00000000-0000-4000-8000-000000000000"), ok=frozenset({404})
    ),
    # the seed's points have no prepayment account: the hub's message is refused with 409
    "receive_hub_message": Call(
        "POST",
        fixed("/api/v1/hub/prepayment/messages"),
        body=lambda w, r: {
            "message_id": f"m-{r.value}",
            "kind": "by_balance",
            "delivery_point_id": str(w.points["a"]),
        },
        ok=frozenset({409}),
    ),
    "get_prepayment_point": Call(
        "GET", lambda w, r: f"/api/v1/hub/prepayment/points/{w.points['a']}"
    ),
}
# the order in which each role runs them: spending operations last
LAST = ("logout", "enrol_totp", "change_password")
ORDER = [name for name in CALLS if name not in LAST] + list(LAST)


def operations(client: TestClient) -> dict[str, str]:
    spec = client.get("/openapi.json").json()
    return {
        op["operationId"]: op["x-permission"]
        for item in spec["paths"].values()
        for op in item.values()
    }


def expected_allowed(permission: str, role: Role, call: Call) -> bool:
    if permission in ("public", "session"):
        return True
    if permission == "command-kind":
        assert call.kind is not None
        return KIND_PERMISSIONS[call.kind] in ROLE_PERMISSIONS[role]
    scope = ROLE_PERMISSIONS[role].get(Permission(permission))
    if scope is None:
        return False
    return scope is Scope.ALL or not call.all_scope


@pytest.fixture(scope="module")
def subject(world: World) -> None:
    """A machine account to act on, and a service account that requests commands to approve."""
    policy = load_profile("pl").passwords
    with world.engine.begin() as conn:
        admin = users.principal(conn, world.users[Role.ADMINISTRATOR])
        users.create(conn, admin, "subject", policy=policy, kind="machine")
        requester = users.create(conn, admin, "requester", policy=policy, initial_password=PASSWORD)
        users.grant(conn, admin, requester, Role.SERVICE)


def test_sec4_every_operation_is_in_the_matrix(client: TestClient) -> None:
    """SEC-4: every published operation declares a permission and has a matrix entry."""
    ops = operations(client)
    assert set(ops) == set(CALLS), set(ops) ^ set(CALLS)
    assert all(ops.values())


def refusals(world: World) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(security_event)
                .where(
                    security_event.c.description.like("refused call%")
                    | security_event.c.description.like("command refused%")
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_sec4_each_role_allowed_and_refused_calls(
    role: Role, world: World, client: TestClient, subject: None
) -> None:
    """SEC-4, SEC-8: allowed calls succeed, refused ones answer 403 and raise a security event."""
    ops = operations(client)
    outcomes = {}
    session = world.headers(role)  # one token for the role; the spending calls get their own
    for name in ORDER:
        call = CALLS[name]
        params = {
            k: (str(world.meters["a"]) if v == "METER_A" else v) for k, v in call.params.items()
        }
        allowed = expected_allowed(ops[name], role, call)
        before = None if allowed else refusals(world)
        response = client.request(
            call.method,
            call.path(world, role),
            params=params,
            json=call.body(world, role) if call.body else None,
            headers=world.headers(role) if name in LAST else session,
        )
        outcomes[name] = response.status_code
        if allowed:
            assert response.status_code in call.ok, (name, response.status_code, response.text)
        else:
            assert response.status_code == 403, (name, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert before is not None and refusals(world) == before + 1, name
    assert any(code == 403 for code in outcomes.values()) or role is Role.ADMINISTRATOR
