"""The two-person rule in a real browser (Debian's Chromium, headless, through Playwright, against
uvicorn on loopback inside the controlled zone): a service engineer builds a bulk disconnection
of two meters, it waits in the approvals inbox, the requester's own approval is refused with the
reason on the page and a security event, and a second person approves it in the inbox, which
queues the commands (SEC-4, SEC-6, CMD-3).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
import uvicorn
from api.conftest import World
from playwright.sync_api import Browser, BrowserContext, expect
from sqlalchemy import select

from metra.security.roles import Role
from metra.store import commands
from metra.store.commands import Status
from metra.store.schema import security_event

from .conftest import console_app, session_for
from .test_browser import browser, csp_watch, free_port

__all__ = ["browser"]


@pytest.fixture(scope="module")
def zoned_server(world: World) -> Iterator[str]:
    """The console under uvicorn on loopback, with loopback in the controlled zone."""
    port = free_port()
    app = console_app(world, controlled_zones=("127.0.0.0/8",))
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(20)


def signed_in(browser: Browser, base: str, world: World, role: Role) -> BrowserContext:
    """A browser context holding the role's session cookie (log-in itself is tested in
    test_browser.py), in English."""
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Warsaw")
    context.add_cookies(
        [
            {"name": "metra_session", "value": session_for(world, role), "url": base},
            {"name": "metra_lang", "value": "en", "url": base},
        ]
    )
    return context


def test_sec4_bulk_disconnection_approved_by_a_second_person_in_the_browser(
    browser: Browser, zoned_server: str, world: World
) -> None:
    """SEC-4: submitted by one person, refused to that person's own approval, approved by
    another; SEC-6: from inside the controlled zone; no CSP violation on the way."""
    requester = signed_in(browser, zoned_server, world, Role.SERVICE)
    page = requester.new_page()
    violations = csp_watch(page)
    page.goto(f"{zoned_server}/console/commands/new")
    expect(page.locator("#zone-state")).to_contain_text("inside the controlled zone")
    page.select_option("#kind", "disconnect")
    expect(page.locator("input[name=watts]")).to_be_hidden()  # only the kind's fields
    page.fill("textarea[name=serials]", "SN-a\nSN-b")
    page.fill("textarea[name=reason]", "unpaid bills after the final notice")
    page.click("#command-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/requests/[0-9a-f-]+\?done=awaiting-approval$"))
    expect(page.locator("p.notice")).to_contain_text("a second person must approve it")
    expect(page.locator("#request-status")).to_have_text("awaiting_approval")
    found = re.search(r"/requests/([0-9a-f-]+)", page.url)
    assert found
    request_id = found.group(1)

    page.goto(f"{zoned_server}/console/approvals")
    card = page.locator(f"#awaiting-{request_id}")
    expect(card.locator(".own-request")).to_be_visible()
    expect(card.locator(".approve-form")).to_have_count(0)
    token = card.locator(".reject-form input[name=csrf]").get_attribute("value")
    own = page.request.post(
        f"{zoned_server}/console/approvals/{request_id}/approve",
        form={"csrf": token or ""},
        max_redirects=0,
    )
    assert own.status == 403
    assert "You requested this yourself: a second person must approve it" in own.text()
    with world.engine.connect() as conn:
        refused = conn.execute(
            select(security_event.c.actor).where(
                security_event.c.description.startswith("command refused (self_approval)")
            )
        ).scalars()
        assert list(refused) == ["user-service"]
        assert commands.get_request(conn, UUID(request_id)).status == "awaiting_approval"

    approver = signed_in(browser, zoned_server, world, Role.ADMINISTRATOR)
    second = approver.new_page()
    violations += csp_watch(second)
    second.goto(f"{zoned_server}/console/approvals")
    other = second.locator(f"#awaiting-{request_id}")
    expect(other.locator(".requester")).to_have_text("user-service")
    other.locator(".approve-form button[type=submit]").click()
    expect(second.locator("p.notice")).to_contain_text("You approved the request")
    expect(second.locator(f"#awaiting-{request_id}")).to_have_count(0)

    page.goto(f"{zoned_server}/console/requests/{request_id}")
    expect(page.locator("#request-status")).to_have_text("approved")
    expect(page.locator("#approvers")).to_have_text("admin")
    with world.engine.connect() as conn:
        cmds = commands.of_request(conn, UUID(request_id))
    assert len(cmds) == 2 and {c.status for c in cmds} == {Status.QUEUED.value}
    assert violations == []
    requester.close()
    approver.close()
