"""Log-in through the console's forms: a first log-in must change the one-time password, a role
the profile names must enrol TOTP and then log in with a code, failures count and are reported
(SEC-1, SEC-5). The browser tests repeat the flow in Chromium."""

from __future__ import annotations

import base64
import re
import time

from api.conftest import World
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metra.security import totp
from metra.security.schema import login_attempt

from .conftest import PASSWORD

NEW_PASSWORD = "Console-pass-7!"


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, page[:500]
    return found.group(1)


def log_in(client: TestClient, username: str, password: str, code: str = "") -> str:
    form = client.get("/console/login").text
    answer = client.post(
        "/console/login",
        data={"csrf": csrf(form), "username": username, "password": password, "totp": code},
    )
    assert answer.status_code in (303, 401), answer.text[:300]
    return answer.headers.get("location", "")


def test_sec5_first_log_in_forces_a_password_change(client: TestClient, world: World) -> None:
    """SEC-5: the initial password opens only the change form; after the change the setup
    session is spent and the new password opens the console."""
    client.cookies.clear()
    assert log_in(client, "user-operator", PASSWORD) == "/console/account/password"
    assert client.get("/console/dashboard").headers["location"] == "/console/account/password"
    form = client.get("/console/account/password").text
    weak = client.post(
        "/console/account/password",
        data={"csrf": csrf(form), "current": PASSWORD, "new": "short", "repeat": "short"},
    )
    assert weak.status_code == 400 and 'role="alert"' in weak.text
    done = client.post(
        "/console/account/password",
        data={"csrf": csrf(form), "current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert done.headers["location"] == "/console/login?done=password-changed"
    assert client.get("/console/dashboard").status_code == 303  # the setup session is gone
    assert log_in(client, "user-operator", NEW_PASSWORD) == "/console/"
    assert client.get("/console/dashboard").status_code == 200
    page = client.get("/console/dashboard").text
    out = client.post("/console/logout", data={"csrf": csrf(page)})
    assert out.headers["location"] == "/console/login?done=logged-out"
    assert client.get("/console/dashboard").status_code == 303


def test_sec5_roles_named_by_the_profile_enrol_totp_then_need_a_code(
    client: TestClient, world: World
) -> None:
    """SEC-5: PL asks TOTP of the service role: after the password change the console shows the
    new secret once (base32 and otpauth URI); the next log-in needs a current code, and the same
    code cannot open a second session (replay)."""
    client.cookies.clear()
    log_in(client, "user-service", PASSWORD)
    form = client.get("/console/account/password").text
    client.post(
        "/console/account/password",
        data={"csrf": csrf(form), "current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert log_in(client, "user-service", NEW_PASSWORD) == "/console/account/totp"
    form = client.get("/console/account/totp").text
    shown = client.post(
        "/console/account/totp", data={"csrf": csrf(form), "password": NEW_PASSWORD}
    )
    assert shown.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', shown.text)
    uri = re.search(r'id="totp-uri" class="wrap">(otpauth://totp/[^<]+)<', shown.text)
    assert secret and uri and f"secret={secret.group(1)}" in uri.group(1)
    raw = base64.b32decode(secret.group(1) + "=" * (-len(secret.group(1)) % 8))
    client.cookies.delete("metra_session")
    assert log_in(client, "user-service", NEW_PASSWORD) == ""  # no code: refused
    code = totp.totp(raw, time.time())
    assert log_in(client, "user-service", NEW_PASSWORD, code) == "/console/"
    assert client.get("/console/meters").status_code == 200
    client.cookies.delete("metra_session")
    assert log_in(client, "user-service", NEW_PASSWORD, code) == ""  # replayed code


def test_sec5_a_failed_log_in_is_counted_and_says_nothing_specific(
    client: TestClient, world: World
) -> None:
    """SEC-5: a wrong password is a generic 401 page, stored as a failed attempt."""
    client.cookies.clear()
    with world.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(login_attempt)).scalar_one()
    form = client.get("/console/login").text
    answer = client.post(
        "/console/login",
        data={"csrf": csrf(form), "username": "user-auditor", "password": "wrong-one"},
    )
    assert answer.status_code == 401 and 'role="alert"' in answer.text
    with world.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(login_attempt)).scalar_one()
    assert after == before + 1
