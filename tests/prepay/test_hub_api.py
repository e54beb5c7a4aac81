"""The market hub's REST endpoint (PRE-1, PRE-2, SEC-1, SEC-6): a machine account's token
scoped to `meters:command` posts messages and asks about points; other scopes are refused, a
hub outside the controlled zone is refused with a security event, retries are answered alike."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from metra.api import ApiSettings, create_app
from metra.api.routers import prepay_hub
from metra.prepay import accounts, tariffs, units
from metra.profiles import load_profile
from metra.security import login, users
from metra.security.roles import Permission, Role
from metra.store import make_engine
from metra.store.schema import security_event

from .conftest import Point, clerk, make_point

AT = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Warsaw


@dataclass
class Hub:
    engine: Engine
    point: Point
    command_token: str
    reading_token: str


@pytest.fixture
def hub_world(template_db: Path, tmp_path: Path) -> Iterator[Hub]:
    db = tmp_path / "api.db"
    shutil.copyfile(template_db, db)
    engine = make_engine(db)
    pl = load_profile("pl")
    with engine.begin() as conn:
        point = make_point(conn)
        tariffs.set_tariff(conn, clerk, "G11", "PLN", date(2025, 3, 1), units.parse_price("0.8"))
        accounts.open_account(
            conn,
            clerk,
            pl,
            point.delivery_point_id,
            unit="PLN",
            starts_on=date(2025, 3, 1),
            tariff_code="G11",
        )
        admin_id, _ = users.bootstrap(conn, "admin", secret="First-secret-1")
        admin = users.principal(conn, admin_id)
        machine = users.create(conn, admin, "market-hub", policy=pl.passwords, kind="machine")
        users.grant(conn, admin, machine, Role.SERVICE)
        tokens = [
            login.issue_token(conn, machine, kind="machine", ttl=timedelta(days=30), scopes=[scope])
            for scope in (Permission.METERS_COMMAND, Permission.READINGS_READ)
        ]
    yield Hub(engine, point, *tokens)
    engine.dispose()


def client_for(world: Hub, host: str, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("METRA_CONTROLLED_ZONES", "127.0.0.0/8")
    app = create_app(ApiSettings(db_url=str(world.engine.url.database), profile="pl"))
    app.dependency_overrides[prepay_hub.hub_clock] = lambda: AT
    return TestClient(app, client=(host, 40000))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_pre2_sec1_hub_posts_with_a_scoped_machine_token(
    hub_world: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PRE-2, SEC-1: the hub's `meters:command` token posts a disconnection (202, deadline by
    the end of Wednesday 12 March in Warsaw = 2025-03-12T23:00Z); the same message again gets
    the same answer; a `readings:read` token is refused; the point's balance is readable."""
    client = client_for(hub_world, "127.0.0.1", monkeypatch)
    message = {
        "message_id": "HUB-2025-0001",
        "kind": "disconnect",
        "delivery_point_id": str(hub_world.point.delivery_point_id),
        "retailer_id": str(hub_world.point.retailer_id),
    }
    url = "/api/v1/hub/prepayment/messages"
    first = client.post(url, json=message, headers=bearer(hub_world.command_token))
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["action"], body["status"], body["replayed"]) == ("disconnect", "queued", False)
    assert body["deadline"] == "2025-03-12T23:00:00Z"
    again = client.post(url, json=message, headers=bearer(hub_world.command_token))
    assert again.status_code == 202 and again.json()["replayed"]
    assert again.json()["command_ids"] == body["command_ids"]
    refused = client.post(url, json=message, headers=bearer(hub_world.reading_token))
    assert refused.status_code == 403 and "scopes" in refused.json()["detail"]
    point = client.get(
        f"/api/v1/hub/prepayment/points/{hub_world.point.delivery_point_id}",
        headers=bearer(hub_world.command_token),
    )
    assert point.status_code == 200
    assert point.json()["eligible"] and point.json()["balance"] == 0
    assert point.json()["unit"] == "PLN"
    bad = client.post(
        url, json={**message, "kind": "explode"}, headers=bearer(hub_world.command_token)
    )
    assert bad.status_code == 422


def test_sec6_hub_outside_the_controlled_zone_refused(
    hub_world: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEC-6, PRE-2: a hub calling from outside the controlled zone cannot move a breaker: 403
    naming the safeguard, and a security event that stays recorded."""
    client = client_for(hub_world, "192.0.2.7", monkeypatch)
    message = {
        "message_id": "HUB-2025-0002",
        "kind": "disconnect",
        "delivery_point_id": str(hub_world.point.delivery_point_id),
    }
    answer = client.post(
        "/api/v1/hub/prepayment/messages", json=message, headers=bearer(hub_world.command_token)
    )
    assert answer.status_code == 403 and "zone" in answer.json()["detail"]
    with hub_world.engine.connect() as conn:
        events = conn.execute(
            select(func.count())
            .select_from(security_event)
            .where(security_event.c.description.like("%controlled zone%"))
        ).scalar_one()
    assert events == 1
