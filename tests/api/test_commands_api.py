"""Commands through the REST API, decided by the command engine's own functions as for the CLI:
idempotent submission, the two-person rule with the requester refused, the controlled zone judged
on the request's peer address, per-user limits, the emergency mode with two approvals and a
reason, deactivated functions, parameters checked before anything is stored, cancellation, state
history and a firmware campaign's progress; every safeguard refusal a typed problem and a
security event (CMD-3, CMD-4, CMD-7, SEC-4, SEC-6, SEC-8, SEC-10).

The app lists 10.20.0.0/16 as its controlled zone; one client calls from 10.20.1.5 (inside), one
from 192.0.2.7 (outside).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metra.api import create_app
from metra.profiles import load_profile
from metra.security import users
from metra.security.roles import Role
from metra.store import commands
from metra.store.commands import Status
from metra.store.events import SecurityCategory
from metra.store.masterdata import Entity, change, create
from metra.store.schema import command, security_event

from .conftest import EPOCH, PASSWORD, World, settings_for

BACKENDS = ("sqlite", "postgresql")
PROBLEM = "application/problem+json"
INSIDE, OUTSIDE = ("10.20.1.5", 40000), ("192.0.2.7", 40000)
URL = "/api/v1/command-requests"
LIMIT = load_profile("pl").disconnection.max_per_user_per_window


@dataclass
class Clients:
    inside: TestClient
    outside: TestClient
    spare: list[UUID]  # meters for the limit tests
    second_service: UUID  # a second service account (emergency requester)


@pytest.fixture(scope="module")
def api(world: World) -> Iterator[Clients]:
    with world.engine.begin() as conn:
        spare = [
            create(conn, Entity.METER, {"serial": f"SN-x{i:02d}", "model": "m1"}, effective=EPOCH)
            for i in range(LIMIT + 1)
        ]
        change(conn, Entity.METER, world.meters["b"], {"tou_capable": False}, effective=EPOCH)
        admin = users.principal(conn, world.users[Role.ADMINISTRATOR])
        second = users.create(
            conn,
            admin,
            "service-2",
            policy=load_profile("pl").passwords,
            initial_password=PASSWORD,
        )
        users.grant(conn, admin, second, Role.SERVICE)
    app = create_app(settings_for(world, controlled_zones=("10.20.0.0/16",)))
    with TestClient(app, client=INSIDE) as inside, TestClient(app, client=OUTSIDE) as outside:
        yield Clients(inside, outside, spare, second)


def headers_for(world: World, user_id: UUID) -> dict[str, str]:
    from metra.security import login

    with world.engine.begin() as conn:
        token = login.issue_token(conn, user_id, kind="session", ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


def events(world: World, like: str) -> list[dict[str, object]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(security_event).where(security_event.c.description.like(like))
        ).all()
    return [dict(r._mapping) for r in rows]


def stored_commands(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(command)).scalar_one())


def test_cmd4_submission_is_idempotent_by_request_id(world: World, api: Clients) -> None:
    """CMD-4: the first submission answers 201 and queues; the same id again answers 200 with
    the same commands and stores nothing; other content under that id is a 409."""
    h = world.headers(Role.SERVICE)
    rid = str(uuid4())
    body = {"id": rid, "kind": "time_sync", "meter_ids": [str(world.meters["a"])]}
    first = api.outside.post(URL, json=body, headers=h)
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"{URL}/{rid}"
    created = first.json()
    assert created["created"] is True and created["status"] == "approved"
    assert [c["status"] for c in created["commands"]] == ["queued"]
    count = stored_commands(world)
    again = api.outside.post(URL, json=body, headers=h)
    assert again.status_code == 200 and again.json()["created"] is False
    assert [c["id"] for c in again.json()["commands"]] == [c["id"] for c in created["commands"]]
    assert stored_commands(world) == count
    other = api.outside.post(URL, json={**body, "meter_ids": [str(world.meters["b"])]}, headers=h)
    assert other.status_code == 409
    assert other.json()["type"] == "urn:metra:problem:safeguard-request-id"


def test_sec4_bulk_disconnection_needs_a_second_person(world: World, api: Clients) -> None:
    """SEC-4: two points at once wait for approval; the requester's own approval is refused and
    recorded; an administrator's approval from the controlled zone queues the commands."""
    service = world.headers(Role.SERVICE)
    meters = [str(world.meters["a"]), str(world.meters["b"])]
    submitted = api.inside.post(
        URL, json={"kind": "disconnect", "meter_ids": meters}, headers=service
    )
    assert submitted.status_code == 201, submitted.text
    body = submitted.json()
    assert body["status"] == "awaiting_approval" and body["approvals_required"] == 1
    assert {c["status"] for c in body["commands"]} == {"received"}
    rid = body["id"]
    inbox = api.inside.get(URL, params={"status": "awaiting_approval"}, headers=service).json()
    assert rid in [r["id"] for r in inbox["items"]]
    own = api.inside.post(f"{URL}/{rid}/approve", headers=world.headers(Role.SERVICE))
    assert own.status_code == 403 and own.headers["content-type"] == PROBLEM
    assert own.json()["type"] == "urn:metra:problem:safeguard-self-approval"
    assert events(world, "command refused (self_approval)%")[-1]["actor"] == "user-service"
    approved = api.inside.post(f"{URL}/{rid}/approve", headers=world.headers(Role.ADMINISTRATOR))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["approvers"] == ["admin"]
    assert {c["status"] for c in approved.json()["commands"]} == {"queued"}
    twice = api.inside.post(f"{URL}/{rid}/approve", headers=world.headers(Role.ADMINISTRATOR))
    assert twice.status_code == 409


def test_sec6_breaker_commands_only_from_the_controlled_zone(world: World, api: Clients) -> None:
    """SEC-6: a disconnection from 192.0.2.7 is refused, raised as a security event naming that
    address; approving from outside is refused too; the same request from inside is accepted."""
    service = world.headers(Role.SERVICE)
    body = {"kind": "disconnect", "meter_ids": [str(world.meters["a"])]}
    outside = api.outside.post(URL, json=body, headers=service)
    assert outside.status_code == 403 and outside.headers["content-type"] == PROBLEM
    assert outside.json()["type"] == "urn:metra:problem:safeguard-zone"
    event = events(world, "command refused (zone)%")[-1]
    assert event["source_address"] == "192.0.2.7" and event["severity"] == "alarm"
    inside = api.inside.post(URL, json=body, headers=service)
    assert inside.status_code == 201 and inside.json()["status"] == "approved"
    bulk = api.inside.post(
        URL,
        json={"kind": "disconnect", "meter_ids": [str(world.meters["a"]), str(world.meters["b"])]},
        headers=service,
    ).json()
    assert bulk["status"] == "awaiting_approval"
    from_outside = api.outside.post(
        f"{URL}/{bulk['id']}/approve", headers=world.headers(Role.ADMINISTRATOR)
    )
    assert from_outside.status_code == 403
    assert from_outside.json()["type"] == "urn:metra:problem:safeguard-zone"
    assert events(world, "command refused (zone)%")[-1]["actor"] == "admin"


def test_sec6_per_user_limit_then_emergency_with_two_approvals(world: World, api: Clients) -> None:
    """SEC-6: more disconnections than the profile allows one user per window are refused as an
    attempted compromise; the emergency mode needs a reason, lifts the limit and waits for two
    people other than the requester."""
    requester = headers_for(world, api.second_service)
    meters = [str(m) for m in api.spare]
    over = api.inside.post(URL, json={"kind": "disconnect", "meter_ids": meters}, headers=requester)
    assert (
        over.status_code == 403 and over.json()["type"] == "urn:metra:problem:safeguard-user-limit"
    )
    limit_event = events(world, "command refused (user_limit)%")[-1]
    assert limit_event["category"] == SecurityCategory.ATTEMPTED_COMPROMISE.value
    assert limit_event["actor"] == "service-2"
    no_reason = api.inside.post(
        URL, json={"kind": "disconnect", "meter_ids": meters, "emergency": True}, headers=requester
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["type"] == "urn:metra:problem:safeguard-emergency-reason"
    emergency = api.inside.post(
        URL,
        json={"kind": "disconnect", "meter_ids": meters, "emergency": True, "reason": "rationing"},
        headers=requester,
    )
    assert emergency.status_code == 201, emergency.text
    rid = emergency.json()["id"]
    assert emergency.json()["approvals_required"] == 2
    one = api.inside.post(f"{URL}/{rid}/approve", headers=world.headers(Role.ADMINISTRATOR))
    assert one.json()["status"] == "awaiting_approval"
    two = api.inside.post(f"{URL}/{rid}/approve", headers=world.headers(Role.SERVICE))
    assert two.json()["status"] == "approved" and two.json()["approvers"] == [
        "admin",
        "user-service",
    ]
    assert len(two.json()["commands"]) == LIMIT + 1


def test_sec10_deactivated_function_and_bad_parameters_refused(world: World, api: Clients) -> None:
    """SEC-10: a tariff calendar to a meter configured without time-of-use is refused and
    recorded; parameters that make no command are refused before anything is stored."""
    service = world.headers(Role.SERVICE)
    count = stored_commands(world)
    bad = api.outside.post(
        URL,
        json={"kind": "activity_calendar", "meter_ids": [str(world.meters["a"])], "params": {}},
        headers=service,
    )
    assert bad.status_code == 422 and bad.json()["type"] == "urn:metra:problem:invalid-params"
    calendar = {
        "calendar": {
            "name": "G11",
            "seasons": [{"name": "ALL", "start": "01-01", "week": "W"}],
            "weeks": [{"name": "W", "days": [1, 1, 1, 1, 1, 1, 1]}],
            "days": [
                {"id": 1, "actions": [{"start": "00:00", "zone": 1}]},
                {"id": 4, "actions": [{"start": "00:00", "zone": 1}]},
            ],
        }
    }
    off = api.outside.post(
        URL,
        json={
            "kind": "activity_calendar",
            "meter_ids": [str(world.meters["b"])],
            "params": calendar,
        },
        headers=service,
    )
    assert off.status_code == 403 and off.json()["type"] == "urn:metra:problem:safeguard-disabled"
    assert events(world, "command refused (disabled)%")
    assert stored_commands(world) == count
    unknown = api.outside.post(
        URL, json={"kind": "time_sync", "meter_ids": [str(uuid4())]}, headers=service
    )
    assert unknown.status_code == 422


def test_cmd4_cancel_and_state_history(world: World, api: Clients) -> None:
    """CMD-4: a command held until tomorrow is cancelled with a reason; its history shows every
    state it went through; an operator may not cancel (SEC-4)."""
    service = world.headers(Role.SERVICE)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    made = api.outside.post(
        URL,
        json={"kind": "time_sync", "meter_ids": [str(world.meters["b"])], "execute_at": later},
        headers=service,
    ).json()
    rid, cid = made["id"], made["commands"][0]["id"]
    assert made["commands"][0]["not_before"] is not None
    refused = api.outside.post(
        f"{URL}/{rid}/cancel", json={"reason": "x"}, headers=world.headers(Role.OPERATOR)
    )
    assert refused.status_code == 403
    done = api.outside.post(f"{URL}/{rid}/cancel", json={"reason": "wrong meter"}, headers=service)
    assert done.status_code == 200 and done.json()["cancelled"] == [cid]
    shown = api.outside.get(f"/api/v1/commands/{cid}", headers=world.headers(Role.OPERATOR))
    assert shown.status_code == 200
    steps = [(t["from_status"], t["to_status"]) for t in shown.json()["history"]]
    assert steps == [
        (None, "received"),
        ("received", "approved"),
        ("approved", "queued"),
        ("queued", "cancelled"),
    ]
    assert shown.json()["history"][-1]["details"] == {"reason": "wrong meter"}
    listed = api.outside.get(
        "/api/v1/commands",
        params={"status": "cancelled", "meter_id": str(world.meters["b"])},
        headers=world.headers(Role.OPERATOR),
    ).json()
    assert [c["id"] for c in listed["items"]] == [cid] and listed["items"][0]["request_id"] == rid
    by_request = api.outside.get(
        "/api/v1/commands", params={"request_id": rid}, headers=world.headers(Role.OPERATOR)
    ).json()
    assert by_request["total"] == 1


def test_cmd7_firmware_campaign_progress_and_pause(world: World, api: Clients) -> None:
    """CMD-7: a firmware request over two meters with waves of one and no failure allowed; once
    one command failed (the runner's moves through the store), the campaign shows it paused."""
    admin = world.headers(Role.ADMINISTRATOR)
    meters = [str(world.meters["a"]), str(world.meters["b"])]
    body = {
        "kind": "firmware_update",
        "meter_ids": meters,
        "params": {"version": "3.0", "wave_size": 1, "max_failures": 0},
    }
    outside = api.outside.post(URL, json=body, headers=admin)
    assert outside.status_code == 403
    made = api.inside.post(URL, json=body, headers=admin)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    campaign = api.inside.get(f"{URL}/{rid}/campaign", headers=world.headers(Role.OPERATOR)).json()
    assert campaign["by_status"]["queued"] == 2 and campaign["paused"] is False
    assert (campaign["wave_size"], campaign["max_failures"], campaign["done"]) == (1, 0, 0)
    first = made.json()["commands"][0]["id"]
    now = datetime.now(UTC)
    with world.engine.begin() as conn:
        commands.transition(conn, UUID(first), Status.SENT, at=now, actor="runner")
        commands.transition(
            conn, UUID(first), Status.FAILED, at=now, actor="runner", result={"reason": "refused"}
        )
    campaign = api.inside.get(f"{URL}/{rid}/campaign", headers=world.headers(Role.OPERATOR)).json()
    assert campaign["paused"] is True and campaign["percent_done"] == 50.0
    assert [f["command_id"] for f in campaign["failures"]] == [first]
    other = api.inside.get(
        f"{URL}/{made.json()['id']}", headers=world.headers(Role.OPERATOR)
    ).json()
    assert other["kind"] == "firmware_update"
    not_firmware = api.inside.get(URL, params={"kind": "time_sync"}, headers=admin).json()
    some = not_firmware["items"][0]["id"]
    assert api.inside.get(f"{URL}/{some}/campaign", headers=admin).status_code == 404


def test_sec4_sec8_kind_permission_and_refused_roles(world: World, api: Clients) -> None:
    """SEC-4: an auditor holds no command permission: 403 before anything, a refused-call event;
    a security officer holds keys:manage but not meters:clock: the engine refuses the time sync
    (rule permission) and records it; the published description names the map per kind."""
    body = {"kind": "time_sync", "meter_ids": [str(world.meters["a"])]}
    auditor = api.outside.post(URL, json=body, headers=world.headers(Role.AUDITOR))
    assert auditor.status_code == 403 and auditor.json()["type"] == "urn:metra:problem:forbidden"
    assert events(world, f"refused call POST {URL}%")
    officer = api.outside.post(URL, json=body, headers=world.headers(Role.SECURITY_OFFICER))
    assert officer.status_code == 403
    assert officer.json()["type"] == "urn:metra:problem:safeguard-permission"
    spec = api.outside.get("/openapi.json").json()["paths"][URL]["post"]
    assert spec["x-permission"] == "command-kind"
    assert spec["x-permission-by-kind"]["key_change"] == "keys:manage"
    retailer = api.outside.get(URL, headers=world.headers(Role.RETAILER))
    assert retailer.status_code == 403
