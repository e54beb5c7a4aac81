"""The console's command pages against the real command engine: the builder submits through
`command_requests.submit` with the browser's address, a bulk disconnection waits in the approvals
inbox for a second person, the requester's own approval is refused and recorded, the controlled
zone and deactivated functions refuse with a clear page and a security event, a form sent twice
acts once, rejection cancels with a reason, and a firmware campaign shows its waves and pauses
(SEC-4, SEC-6, SEC-10, CMD-3, CMD-4, CMD-7)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from api.conftest import EPOCH, World, settings_for
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from metra.api import create_app
from metra.console import ConsoleSettings, make_mount
from metra.security.roles import Role
from metra.security.safeguards import CommandPolicy
from metra.store import commands
from metra.store.command_schema import command_request, firmware_image
from metra.store.commands import Status
from metra.store.masterdata import Entity, change
from metra.store.schema import audit_record, security_event

from .conftest import as_role
from .test_login import csrf

ZONES = ("10.20.0.0/16",)
INSIDE, OUTSIDE = ("10.20.1.5", 40000), ("192.0.2.7", 40000)


def app_for(world: World):  # type: ignore[no-untyped-def]
    """The console on the API's app, with the installation's controlled zone (the API's
    `controlled_zones`, shared by both faces through the context's `CommandPolicy`)."""
    mount = make_mount(ConsoleSettings(secure_cookie=False))
    return create_app(settings_for(world, mounts=(mount,), controlled_zones=ZONES))


@pytest.fixture(scope="module")
def inside(world: World) -> Iterator[TestClient]:
    """A browser inside the controlled zone."""
    with TestClient(app_for(world), follow_redirects=False, client=INSIDE) as c:
        yield c


@pytest.fixture(scope="module")
def outside(world: World) -> Iterator[TestClient]:
    """A browser on a network outside the controlled zone."""
    with TestClient(app_for(world), follow_redirects=False, client=OUTSIDE) as c:
        yield c


def requests_count(world: World) -> int:
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(command_request)).scalar_one()


def events(world: World, rule: str) -> list[str]:
    with world.engine.connect() as conn:
        return list(
            conn.execute(
                select(security_event.c.description).where(
                    security_event.c.description.startswith(f"command refused ({rule})")
                )
            ).scalars()
        )


def submit(client: TestClient, world: World, role: Role, **fields: str):  # type: ignore[no-untyped-def]
    as_role(client, world, role)
    client.cookies.set("metra_lang", "en")
    page = client.get("/console/commands/new")
    assert page.status_code == 200, page.text[:300]
    rid = re.search(r'name="request_id" value="([0-9a-f-]+)"', page.text)
    assert rid
    data = {"csrf": csrf(page.text), "request_id": rid.group(1), "reason": "test", **fields}
    return client.post("/console/commands/new", data=data)


def request_of(answer) -> UUID:  # type: ignore[no-untyped-def]
    assert answer.status_code == 303, answer.text[:500]
    found = re.search(r"/console/requests/([0-9a-f-]+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return UUID(found.group(1))


def test_sec4_bulk_disconnection_needs_a_second_person_not_the_requester(
    inside: TestClient, world: World
) -> None:
    """SEC-4: a disconnection of two points (PL: more than one) waits for approval; the
    requester's own approval is refused with a clear message and a security event; another
    authorised person's approval queues the commands."""
    answer = submit(
        inside, world, Role.SERVICE, kind="disconnect", serials="SN-a, SN-b", reason="arrears"
    )
    rid = request_of(answer)
    assert "done=awaiting-approval" in answer.headers["location"]
    with world.engine.connect() as conn:
        request = commands.get_request(conn, rid)
        cmds = commands.of_request(conn, rid)
    assert request.status == "awaiting_approval" and request.source_address == INSIDE[0]
    assert {c.status for c in cmds} == {Status.RECEIVED.value} and len(cmds) == 2

    inbox = inside.get("/console/approvals")
    card = inbox.text.split(f'id="awaiting-{rid}"')[1].split("</section>")[0]
    assert "own-request" in card and "approve-form" not in card  # the requester sees why
    before = len(events(world, "self_approval"))
    own = inside.post(f"/console/approvals/{rid}/approve", data={"csrf": csrf(inbox.text)})
    assert own.status_code == 403
    assert "a second person must approve it" in own.text and "self_approval" in own.text
    assert len(events(world, "self_approval")) == before + 1
    with world.engine.connect() as conn:
        assert commands.get_request(conn, rid).status == "awaiting_approval"

    as_role(inside, world, Role.ADMINISTRATOR)
    inside.cookies.set("metra_lang", "en")
    inbox = inside.get("/console/approvals")
    card = inbox.text.split(f'id="awaiting-{rid}"')[1].split("</section>")[0]
    assert "approve-form" in card and "SN-a" in card and "SN-b" in card
    done = inside.post(f"/console/approvals/{rid}/approve", data={"csrf": csrf(inbox.text)})
    assert done.status_code == 303 and "done=approved" in done.headers["location"]
    with world.engine.connect() as conn:
        assert commands.get_request(conn, rid).approvers == ("admin",)
        assert {c.status for c in commands.of_request(conn, rid)} == {Status.QUEUED.value}
    page = inside.get(f"/console/requests/{rid}")
    assert page.status_code == 200 and 'id="approvers">admin<' in page.text
    assert f'id="awaiting-{rid}"' not in inside.get("/console/approvals").text


def test_sec6_breaker_commands_only_from_the_controlled_zone(
    outside: TestClient, inside: TestClient, world: World
) -> None:
    """SEC-6: the same form from an address outside the zone is refused, says so, stores
    nothing and is a security alarm naming the address; inside, a single connect is queued."""
    before, alarms = requests_count(world), len(events(world, "zone"))
    answer = submit(outside, world, Role.SERVICE, kind="connect", serials="SN-a")
    assert answer.status_code == 403
    assert 'id="zone-state"><span class="bad">' in answer.text  # the builder warned as well
    assert "controlled-zone networks" in answer.text and OUTSIDE[0] in answer.text
    assert requests_count(world) == before
    assert len(events(world, "zone")) >= alarms + 1

    rid = request_of(submit(inside, world, Role.SERVICE, kind="connect", serials="SN-a"))
    with world.engine.connect() as conn:
        (cmd,) = commands.of_request(conn, rid)
    assert cmd.status == Status.QUEUED.value and cmd.priority == commands.Priority.HIGH
    detail = inside.get(f"/console/commands/{cmd.id}")
    history = detail.text.split('id="history"')[1]
    assert [s for s in ("received", "approved", "queued") if f"<td>{s}</td>" in history] == [
        "received",
        "approved",
        "queued",
    ]


def test_sec10_a_deactivated_function_is_refused_and_recorded(world: World) -> None:
    """SEC-10: this installation switched power limiting off (its `CommandPolicy`), and meter
    SN-b is configured without time-of-use; the builder marks the kind, and the engine refuses
    both with a page that says so and a security event, storing nothing."""
    app = app_for(world)
    with TestClient(app, follow_redirects=False, client=INSIDE) as c:
        app.state.metra.policy = CommandPolicy.parse(ZONES, disabled=["power_limit"])
        before = requests_count(world)
        page = submit(c, world, Role.SERVICE, kind="power_limit", serials="SN-a", watts="5000")
        assert page.status_code == 403 and "deactivated in this system" in page.text
        builder = c.get("/console/commands/new").text
        assert re.search(r'value="power_limit"[^>]*>[^<]*deactivated', builder)
        with world.engine.begin() as conn:
            change(conn, Entity.METER, world.meters["b"], {"tou_capable": False}, effective=EPOCH)
        calendar = json.dumps({"insert": [{"index": 300, "date": "12-24", "day_id": 4}]})
        tou = submit(c, world, Role.SERVICE, kind="special_days", serials="SN-b", params=calendar)
        assert tou.status_code == 403 and "deactivated in this system" in tou.text
        assert "without time-of-use" in tou.text
    assert requests_count(world) == before
    assert len(events(world, "disabled")) >= 2


def test_cmd4_bad_forms_are_refused_before_anything_is_stored(
    inside: TestClient, world: World
) -> None:
    """An unknown serial, a calendar with a bad field, both targets at once: 400 with the
    detail, nothing stored (the engine is not even asked)."""
    before = requests_count(world)
    unknown = submit(inside, world, Role.SERVICE, kind="time_sync", serials="SN-a SN-zz")
    assert unknown.status_code == 400 and "SN-zz" in unknown.text
    calendar = '{"calendar": {"name": "G12", "seasons": [], "weeks": [], "days": [{"id": 1}]}}'
    bad = submit(
        inside, world, Role.SERVICE, kind="activity_calendar", serials="SN-a", params=calendar
    )
    assert bad.status_code == 400 and "calendar.days[0]" in bad.text
    both = submit(inside, world, Role.SERVICE, kind="time_sync", serials="SN-a", substation="SS-1")
    assert both.status_code == 400
    assert requests_count(world) == before


def test_cmd3_a_form_sent_twice_acts_once_and_a_substation_is_a_target(
    inside: TestClient, world: World
) -> None:
    """CMD-3: the form's request id makes a second post a replay; a substation names every
    meter installed behind it (SS-1: meter SN-a); the execution time is local time."""
    as_role(inside, world, Role.SERVICE)
    page = inside.get("/console/commands/new")
    data = {
        "csrf": csrf(page.text),
        "request_id": str(uuid4()),
        "kind": "time_sync",
        "substation": "SS-1",
        "execute_at": "2030-01-02T08:00",
        "reason": "clock drift",
    }
    first = inside.post("/console/commands/new", data=data)
    again = inside.post("/console/commands/new", data=data)
    rid = request_of(first)
    assert request_of(again) == rid and "done=replayed" in again.headers["location"]
    with world.engine.connect() as conn:
        (cmd,) = commands.of_request(conn, rid)
    assert cmd.meter_id == world.meters["a"]
    assert cmd.not_before == datetime(2030, 1, 2, 7, tzinfo=UTC)  # Warsaw, winter: UTC+1


def test_sec4_rejecting_cancels_with_the_reason(inside: TestClient, world: World) -> None:
    """A second person rejects a bulk request with a reason: its commands are cancelled and
    the cancellation is audited with the reason."""
    rid = request_of(submit(inside, world, Role.SERVICE, kind="disconnect", serials="SN-a SN-b"))
    as_role(inside, world, Role.ADMINISTRATOR)
    inbox = inside.get("/console/approvals")
    empty = inside.post(f"/console/approvals/{rid}/reject", data={"csrf": csrf(inbox.text)})
    assert empty.status_code == 400
    done = inside.post(
        f"/console/approvals/{rid}/reject",
        data={"csrf": csrf(inbox.text), "reason": "wrong customers"},
    )
    assert done.status_code == 303 and "done=rejected" in done.headers["location"]
    with world.engine.connect() as conn:
        assert commands.get_request(conn, rid).status == "cancelled"
        assert {c.status for c in commands.of_request(conn, rid)} == {Status.CANCELLED.value}
        details = conn.execute(
            select(audit_record.c.details).where(
                audit_record.c.action == "command.cancel", audit_record.c.target_id == str(rid)
            )
        ).scalar_one()
    assert details["reason"] == "wrong customers"


def test_forms_of_the_command_pages_need_the_csrf_token(inside: TestClient, world: World) -> None:
    """SEC-1: builder, approval and rejection without the form's token change nothing."""
    as_role(inside, world, Role.ADMINISTRATOR)
    before = requests_count(world)
    data = {"request_id": str(uuid4()), "kind": "connect", "serials": "SN-a", "reason": "x"}
    for token in (None, "0" * 64):
        sent = data if token is None else {**data, "csrf": token}
        answer = inside.post("/console/commands/new", data=sent)
        assert answer.status_code == 403 and 'id="csrf-refused"' in answer.text
    rid = str(uuid4())
    for action in ("approve", "reject"):
        answer = inside.post(f"/console/approvals/{rid}/{action}", data={"reason": "x"})
        assert answer.status_code == 403 and 'id="csrf-refused"' in answer.text
    assert requests_count(world) == before


def test_cmd7_campaign_shows_waves_per_meter_state_and_pauses_on_failures(
    inside: TestClient, world: World
) -> None:
    """CMD-7: a firmware campaign of two meters in waves of one; the first wave's meter failed,
    which is more than the campaign allows (0), so the campaign shows as paused with the
    meter's reason, and the second meter waits."""
    image = uuid4()
    now = datetime.now(UTC)
    with world.engine.begin() as conn:
        conn.execute(
            insert(firmware_image).values(
                id=image,
                meter_type="m1",
                version="3.0",
                identifier=b"FW3",
                image=b"\x00" * 80,
                sha256="0" * 64,
                added_at=now,
                added_by="admin",
            )
        )
    page = submit(
        inside,
        world,
        Role.ADMINISTRATOR,
        kind="firmware_update",
        serials="SN-a SN-b",
        image_id=str(image),
        wave_size="1",
        max_failures="0",
    )
    rid = request_of(page)
    with world.engine.begin() as conn:
        first, second = commands.of_request(conn, rid)
        assert first.params == {"image_id": str(image), "wave_size": 1, "max_failures": 0}
        later = now + timedelta(minutes=1)
        commands.transition(conn, first.id, Status.SENT, at=later, actor="head-end")
        commands.transition(
            conn,
            first.id,
            Status.FAILED,
            at=later,
            actor="head-end",
            result={"reason": "refused by the meter: image verification failed"},
        )
    listing = inside.get("/console/campaigns").text
    row = listing.split(f'id="campaign-{rid}"')[1].split("</tr>")[0]
    assert "paused" in row
    detail = inside.get(f"/console/requests/{rid}").text
    assert 'id="paused"' in detail
    wave1 = detail.split("Wave 1")[1].split("Waiting to be sent")[0]
    waiting = detail.split("Waiting to be sent")[1]
    serial_failed = "SN-a" if first.meter_id == world.meters["a"] else "SN-b"
    serial_waiting = "SN-b" if serial_failed == "SN-a" else "SN-a"
    assert serial_failed in wave1 and "image verification failed" in wave1
    assert serial_waiting in waiting and "queued" in waiting
    assert second.status == Status.QUEUED.value
