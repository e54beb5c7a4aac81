"""Who may open which console page: the same permissions (and scopes) as the API, a refusal is a
403 page and a security event, anonymous viewers go to the log-in form, every form needs its CSRF
token, and the session cookie is HttpOnly, SameSite=Strict and Secure as configured (SEC-1,
SEC-4, SEC-8, ACC-6)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from api.conftest import World, settings_for
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metra.api import create_app
from metra.console import ConsoleSettings, make_mount
from metra.console.access import (
    COMMAND_PERMISSIONS,
    ConsoleRoute,
    Need,
    any_session,
    signed_in,
    viewer,
)
from metra.console.pages import ROUTERS
from metra.mdm import versions
from metra.security.roles import ROLE_PERMISSIONS, Permission, Role, Scope
from metra.store.schema import audit_record, command, security_event

from .conftest import CHANNEL, as_role, console_app, first_id, session_for

P = Permission
ROLES = tuple(Role)


def holds(*needs: Permission, all_scope: bool = False) -> Callable[[Role], bool]:
    """Roles whose permissions include every one of `needs` (at scope all when asked)."""

    def check(role: Role) -> bool:
        granted = ROLE_PERMISSIONS[role]
        return all(p in granted and (not all_scope or granted[p] is Scope.ALL) for p in needs)

    return check


def any_of(*checks: Callable[[Role], bool]) -> Callable[[Role], bool]:
    return lambda role: any(c(role) for c in checks)


def pages(w: World) -> list[tuple[str, Callable[[Role], bool]]]:
    """Every GET page with a valid request and who may open it, from the role map. Retailer and
    consumer are the first consumer's; meter "a" is theirs, meter "b" is not."""
    a, b = w.meters["a"], w.meters["b"]
    request_id, account_id = first_id(w, "command_request"), first_id(w, "prepay_account")
    commander = any_of(*(holds(p) for p in COMMAND_PERMISSIONS))
    with w.engine.connect() as conn:
        command_id = conn.execute(select(command.c.id)).scalars().first()
    return [
        ("/console/commands", holds(P.EVENTS_READ, all_scope=True)),
        ("/console/commands/new", commander),
        (f"/console/commands/{command_id}", holds(P.EVENTS_READ, all_scope=True)),
        (f"/console/requests/{request_id}", holds(P.EVENTS_READ, all_scope=True)),
        ("/console/campaigns", holds(P.EVENTS_READ, all_scope=True)),
        ("/console/approvals", commander),
        ("/console/prepay", holds(P.READINGS_READ, all_scope=True)),
        (f"/console/prepay/{account_id}", holds(P.READINGS_READ, all_scope=True)),
        (
            "/console/dashboard",
            any_of(holds(P.EVENTS_READ, all_scope=True), holds(P.SECURITY_EVENTS_READ)),
        ),
        ("/console/meters", holds(P.MASTERDATA_READ, all_scope=True)),
        (f"/console/meters/{a}?start=2025-03-01&days=3", holds(P.READINGS_READ, P.EVENTS_READ)),
        (
            f"/console/meters/{b}?start=2025-03-01&days=3",
            holds(P.READINGS_READ, P.EVENTS_READ, all_scope=True),
        ),
        ("/console/substations", holds(P.MASTERDATA_READ, all_scope=True)),
        ("/console/substations/SS-1?day=2025-03-04", holds(P.READINGS_READ, all_scope=True)),
        ("/console/vee?start=2025-03-01&days=30", holds(P.READINGS_READ, all_scope=True)),
        ("/console/users", holds(P.USERS_READ)),
        ("/console/audit", holds(P.AUDIT_READ)),
        ("/console/incidents", holds(P.INCIDENTS_MANAGE)),
        ("/console/my", holds(P.READINGS_READ)),
        ("/console/my/info", holds(P.READINGS_READ)),
        (f"/console/my/meters/{a}?month=2025-03", holds(P.READINGS_READ)),
        (f"/console/my/meters/{b}?month=2025-03", holds(P.READINGS_READ, all_scope=True)),
        (
            f"/console/my/meters/{b}/consumption.csv?month=2025-03",
            holds(P.READINGS_READ, all_scope=True),
        ),
    ]


def refusals(w: World) -> int:
    with w.engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(security_event)
            .where(security_event.c.description.startswith("refused call GET /console/"))
        ).scalar_one()


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_sec4_every_page_allows_and_refuses_as_the_api(
    client: TestClient, world: World, role: Role
) -> None:
    """SEC-4: each role opens exactly the pages its permissions (at the needed scope) allow;
    SEC-8: each refusal is a 403 page and a security event naming the page."""
    as_role(client, world, role)
    for url, allowed in pages(world):
        before = refusals(world)
        answer = client.get(url)
        if allowed(role):
            assert answer.status_code == 200, (role, url, answer.text[:500])
        else:
            assert answer.status_code == 403, (role, url, answer.status_code)
            assert 'id="forbidden"' in answer.text
            assert refusals(world) == before + 1, (role, url)


def test_sec1_anonymous_viewers_are_sent_to_the_log_in_form(
    client: TestClient, world: World
) -> None:
    """SEC-1: no page opens without a session; the log-in form remembers where to return."""
    client.cookies.clear()
    for url, _ in pages(world):
        answer = client.get(url)
        assert answer.status_code == 303, url
        assert answer.headers["location"].startswith("/console/login?next=/console/")
    assert client.get("/console/login").status_code == 200


def test_sec1_an_unknown_or_revoked_cookie_is_refused_and_reported(
    client: TestClient, world: World
) -> None:
    """SEC-1, SEC-8: a guessed session cookie opens nothing, is dropped and is a security
    event; an API token of a machine account is no console session."""
    client.cookies.clear()
    client.cookies.set("metra_session", "mt_guessed")
    answer = client.get("/console/dashboard")
    assert answer.status_code == 303 and "metra_session=" in answer.headers["set-cookie"]
    with world.engine.connect() as conn:
        found = conn.execute(
            select(func.count())
            .select_from(security_event)
            .where(security_event.c.description == "console session refused: unknown token")
        ).scalar_one()
    assert found >= 1


def _declares(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Need):
            return repr(sub.call)
        if sub.call in (signed_in, any_session):
            return "session"
        found = _declares(sub)
        if found is not None:
            return found
    for sub in dependant.dependencies:
        if sub.call is viewer:
            return "public"
    return None


def test_sec4_every_console_route_declares_its_permission(world: World) -> None:
    """SEC-4: like the API's operations, every console page declares a permission (or a
    session); only the log-in form and the language switch are public, and no page is in the
    API's OpenAPI description."""
    declared = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, ConsoleRoute) and not route.include_in_schema
            kind = _declares(route.dependant)
            assert kind is not None, route.path
            declared[("/console" + route.path, tuple(sorted(route.methods or ())))] = kind
    public = {key for key, kind in declared.items() if kind == "public"}
    assert public == {
        ("/console/login", ("GET",)),
        ("/console/login", ("POST",)),
        ("/console/lang/{code}", ("GET",)),
    }
    assert len(declared) >= 30
    app = console_app(world)
    assert not any(p.startswith("/console") for p in app.openapi()["paths"])


def _versions(world: World) -> int:
    with world.engine.connect() as conn:
        return len(versions.history(conn, world.meters["a"], CHANNEL, date(2025, 3, 4)))


def test_sec1_forms_without_the_csrf_token_are_refused(client: TestClient, world: World) -> None:
    """SEC-1: a form posted without (or with another session's) CSRF token changes nothing."""
    as_role(client, world, Role.ADMINISTRATOR)
    meter = world.meters["a"]
    form = {"channel": "import", "at": "2025-03-04T03:00", "value": "1", "reason": "forged"}
    before = _versions(world)
    for token in (None, "0" * 64):
        data = form if token is None else {**form, "csrf": token}
        answer = client.post(f"/console/meters/{meter}/edit", data=data)
        assert answer.status_code == 403 and 'id="csrf-refused"' in answer.text
    assert _versions(world) == before
    with world.engine.connect() as conn:
        forged = conn.execute(
            select(func.count())
            .select_from(audit_record)
            .where(audit_record.c.action == "mdm.edit", audit_record.c.actor == "admin")
        ).scalar_one()
    assert forged == 0
    client.cookies.clear()
    login = client.post("/console/login", data={"username": "admin", "password": "x"})
    assert login.status_code == 403
    logout = client.post("/console/logout", data={"csrf": "0" * 64})
    assert logout.status_code in (303, 403)


def test_sec1_session_cookie_flags(world: World) -> None:
    """SEC-1: the session cookie is HttpOnly and SameSite=Strict; Secure when configured, and
    by default when the console is reached over HTTPS."""
    for secure, base, expect in (
        (None, "http://testserver", False),
        (None, "https://testserver", True),
        (True, "http://testserver", True),
        (False, "https://testserver", False),
    ):
        mount = make_mount(ConsoleSettings(secure_cookie=secure))
        app = create_app(settings_for(world, mounts=(mount,)))
        with TestClient(app, base_url=base, follow_redirects=False) as c:
            page = c.get("/console/login")
            pre = page.headers["set-cookie"]
            assert "HttpOnly" in pre and "SameSite=strict" in pre.replace("Strict", "strict")
            assert ("Secure" in pre) is expect, (secure, base, pre)
            c.cookies.set("metra_session", session_for(world, Role.OPERATOR))
            lang = c.get("/console/lang/en?next=/console/")
            cookie = lang.headers["set-cookie"]
            assert "HttpOnly" in cookie and ("Secure" in cookie) is expect


def test_pages_carry_security_headers_and_no_remote_scripts(
    client: TestClient, world: World
) -> None:
    """Pages forbid framing and scripts from anywhere but the console (no CDN: plotly.js is
    served from the installed plotly package)."""
    as_role(client, world, Role.OPERATOR)
    page = client.get(f"/console/meters/{world.meters['a']}?start=2025-03-01&days=2")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    assert "https://" not in page.text and "http://" not in page.text
    script = next(line for line in page.text.splitlines() if "plotly-" in line)
    url = script.split('src="')[1].split('"')[0]
    js = client.get(url)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/console/static/console.css").status_code == 200


def test_the_root_opens_the_console(client: TestClient) -> None:
    assert client.get("/").headers["location"] == "/console/"
