"""Log-in through the API: no default credentials, the forced password change, TOTP where the
profile asks for it, lockout per account and per source, sessions and scoped machine tokens
(SEC-1, SEC-5, SEC-8, ACC-6)."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from metra.api import create_app
from metra.profiles import load_profile
from metra.security import audit, login, totp, users
from metra.security.roles import Role
from metra.security.schema import access_token
from metra.store.events import security_events
from metra.store.schema import audit_record

from .conftest import PASSWORD, World, month_query, settings_for

NEW = "Brand-new-pass-9"


def client_from(world: World, address: str) -> TestClient:
    return TestClient(create_app(settings_for(world)), client=(address, 40000))


@pytest.fixture
def fresh(world: World) -> Iterator[TestClient]:
    with client_from(world, "10.9.0.1") as c:
        yield c


def log_in(c: TestClient, username: str, password: str, code: str | None = None) -> dict:
    response = c.post(
        "/api/v1/auth/login", json={"username": username, "password": password, "totp": code}
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sec5_first_administrator_changes_secret_and_enrols_totp(fresh: TestClient) -> None:
    """SEC-5: the bootstrap secret opens only a setup session; the change is forced, then TOTP
    (PL requires it for administrators), then a full session with a one-time code."""
    setup = log_in(fresh, "admin", PASSWORD)
    assert setup["must_change_password"] and setup["must_enrol_totp"]
    refused = fresh.get("/api/v1/meters", headers=bearer(setup["token"]))
    assert refused.status_code == 403
    weak = fresh.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(setup["token"]),
    )
    assert weak.status_code == 422
    assert weak.json()["type"] == "urn:metra:problem:password-policy"
    changed = fresh.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=bearer(setup["token"]),
    )
    assert changed.status_code == 204
    # the setup token is spent; the next log-in still must enrol TOTP
    assert fresh.get("/api/v1/auth/me", headers=bearer(setup["token"])).status_code == 401
    second = log_in(fresh, "admin", NEW)
    assert not second["must_change_password"] and second["must_enrol_totp"]
    enrolled = fresh.post(
        "/api/v1/auth/totp", json={"password": NEW}, headers=bearer(second["token"])
    )
    assert enrolled.status_code == 200
    secret_text = enrolled.json()["secret"]
    secret = base64.b32decode(secret_text + "=" * (-len(secret_text) % 8))
    assert enrolled.json()["provisioning_uri"].startswith("otpauth://totp/metra%3Aadmin?secret=")
    no_code = fresh.post("/api/v1/auth/login", json={"username": "admin", "password": NEW})
    assert no_code.status_code == 401
    code = totp.totp(secret, time.time())
    full = log_in(fresh, "admin", NEW, code)
    assert not full["must_change_password"] and not full["must_enrol_totp"]
    me = fresh.get("/api/v1/auth/me", headers=bearer(full["token"])).json()
    assert me["roles"] == ["administrator"] and me["permissions"]["users:manage"] == "all"
    # the same code again is a replay
    replay = fresh.post(
        "/api/v1/auth/login", json={"username": "admin", "password": NEW, "totp": code}
    )
    assert replay.status_code == 401


def test_sec5_account_locked_after_failures_even_with_right_password(
    world: World, fresh: TestClient
) -> None:
    """SEC-5: the profile's limit of failures locks the account; each failure is logged."""
    limit = load_profile("pl").passwords.max_failed_logins
    for _ in range(limit):
        bad = fresh.post(
            "/api/v1/auth/login", json={"username": "user-operator", "password": "wrong-pass-1!"}
        )
        assert bad.status_code == 401
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.headers["www-authenticate"].startswith("Bearer")
    locked = fresh.post(
        "/api/v1/auth/login", json={"username": "user-operator", "password": PASSWORD}
    )
    assert locked.status_code == 401
    with world.engine.connect() as conn:
        events = security_events(
            conn, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
        )
    mine = [e for e in events if e["actor"] == "user-operator"]
    assert len(mine) == limit + 1
    assert any(e["severity"] == "alarm" for e in mine)


def test_sec5_source_blocked_after_failures_across_accounts(world: World) -> None:
    """SEC-5: one address guessing over many accounts is blocked for every account."""
    limit = load_profile("pl").passwords.max_failed_logins * login.SOURCE_FACTOR
    names = ("user-service", "user-security-officer", "user-retailer")
    with client_from(world, "10.9.0.66") as c:
        for i in range(limit):
            c.post("/api/v1/auth/login", json={"username": names[i % 3], "password": "x"})
        blocked = c.post(
            "/api/v1/auth/login", json={"username": "user-auditor", "password": PASSWORD}
        )
        assert blocked.status_code == 401
    with client_from(world, "10.9.0.67") as other:
        assert log_in(other, "user-auditor", PASSWORD)["token"].startswith("mt_")


def test_sec1_logout_and_expired_tokens_are_refused(world: World, client: TestClient) -> None:
    """SEC-1: a revoked or expired token is a 401 problem, and is logged as a security event."""
    token = world.token(Role.OPERATOR)
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    gone = client.get("/api/v1/auth/me", headers=bearer(token))
    assert gone.status_code == 401 and gone.json()["type"] == "urn:metra:problem:unauthenticated"
    old = world.token(Role.OPERATOR)
    digest = hashlib.sha256(old.encode()).digest()
    with world.engine.begin() as conn:
        conn.execute(
            update(access_token)
            .where(access_token.c.token_hash == digest)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert client.get("/api/v1/auth/me", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_sec1_acc6_machine_token_scoped_stored_hashed_and_releases_logged(
    world: World, client: TestClient
) -> None:
    """SEC-1, ACC-6: a market hub's machine token reads intervals only; its value is not stored;
    each release of data to it is in the audit trail."""
    admin = bearer(world.token(Role.ADMINISTRATOR))
    created = client.post(
        "/api/v1/users",
        json={"username": "market-hub", "kind": "machine"},
        headers=admin,
    )
    assert created.status_code == 201
    assert (
        client.post(
            "/api/v1/users/market-hub/roles", json={"role": "operator"}, headers=admin
        ).status_code
        == 200
    )
    issued = client.post(
        "/api/v1/users/market-hub/tokens",
        json={"name": "hub", "kind": "machine", "scopes": ["readings:read"], "ttl_days": 30},
        headers=admin,
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    with world.engine.connect() as conn:
        stored = conn.execute(select(access_token.c.token_hash)).scalars().all()
    assert all(token.encode() not in bytes(h) for h in stored)
    hub = bearer(token)
    meter = world.meters["b"]
    data = client.get(f"/api/v1/meters/{meter}/intervals", params=month_query(), headers=hub)
    assert data.status_code == 200 and len(data.json()["items"]) == 30 * 96 - 1
    outside = client.get(f"/api/v1/meters/{meter}", headers=hub)
    assert outside.status_code == 403 and "scopes" in outside.json()["detail"]
    unscoped = client.post(
        "/api/v1/users/market-hub/tokens", json={"name": "x", "kind": "machine"}, headers=admin
    )
    assert unscoped.status_code == 422
    with world.engine.connect() as conn:
        releases = conn.execute(
            select(audit_record).where(audit_record.c.action == "export.api.intervals")
        ).all()
        assert audit.verify(conn).ok
    assert [r.actor for r in releases] == ["market-hub"]
    assert releases[0].details["after"]["count"] == 30 * 96 - 1
    # the token can be withdrawn at once
    token_id = issued.json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 204
    assert (
        client.get(
            f"/api/v1/meters/{meter}/intervals", params=month_query(), headers=hub
        ).status_code
        == 401
    )


def test_sec4_grant_to_oneself_is_refused(world: World, client: TestClient) -> None:
    """SEC-4: an administrator cannot grant a role to itself; the refusal is a security event."""
    admin = bearer(world.token(Role.ADMINISTRATOR))
    response = client.post("/api/v1/users/admin/roles", json={"role": "auditor"}, headers=admin)
    assert response.status_code == 403
    with world.engine.connect() as conn:
        assert users.roles_of(conn, world.users[Role.ADMINISTRATOR]) == {Role.ADMINISTRATOR}
