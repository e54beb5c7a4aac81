"""The console in a real browser: Debian's Chromium, headless, driven by Playwright against a real
uvicorn server on loopback. An administrator logs in with the one-time password, changes it as
forced, enrols TOTP and logs in with a code, opens a meter's chart (drawn by plotly.js into SVG,
with no Content-Security-Policy violation), edits a value with a reason; a consumer cannot open
another consumer's data (SEC-1, SEC-4, SEC-5, DQ-2, DQ-11, ACC-6).

Never downloads a browser: without /usr/bin/chromium the tests fail and say what to install.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from api.conftest import World
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from metra.mdm import versions
from metra.security import totp

from .conftest import CHANNEL, PASSWORD, console_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEW_PASSWORD = "Browser-pass-8#"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    """The API with the console under uvicorn on a free loopback port, in a thread."""
    port = free_port()
    config = uvicorn.Config(console_app(world), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "browser tests need Debian's Chromium at /usr/bin/chromium: apt-get install chromium"
        )
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


def csp_watch(page: Page) -> list[str]:
    """Collect Content-Security-Policy violations reported in the page's console."""
    seen: list[str] = []

    def on_message(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_message)
    return seen


def log_in(page: Page, base: str, username: str, password: str, code: str = "") -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    if code:
        page.fill("input[name=totp]", code)
    page.click("#login-form button[type=submit]")


def change_password(page: Page, current: str, new: str) -> None:
    expect(page).to_have_url(re.compile(r"/console/account/password$"))
    page.fill("input[name=current]", current)
    page.fill("input[name=new]", new)
    page.fill("input[name=repeat]", new)
    page.click("#password-form button[type=submit]")
    expect(page.locator("p.notice")).to_be_visible()


def test_sec5_dq11_administrator_first_log_in_totp_chart_and_edit(
    browser: Browser, server: str, world: World
) -> None:
    """SEC-5: forced password change, TOTP enrolment and a log-in with a code; DQ-2: the meter's
    chart is drawn (plotly SVG) with the estimated interval marked; DQ-11: an edit with a reason
    becomes a served version."""
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Warsaw")
    page = context.new_page()
    violations = csp_watch(page)
    page.goto(f"{server}/console/")
    expect(page).to_have_url(f"{server}/console/login?next=/console/")
    expect(page.locator("html")).to_have_attribute("lang", "pl")  # the PL profile's language
    page.click("a[hreflang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    log_in(page, server, "admin", PASSWORD)
    change_password(page, PASSWORD, NEW_PASSWORD)
    expect(page.locator("p.notice")).to_contain_text("Log in with the new password")

    log_in(page, server, "admin", NEW_PASSWORD)
    expect(page).to_have_url(f"{server}/console/account/totp")
    page.fill("#totp-form input[name=password]", NEW_PASSWORD)
    page.click("#totp-form button[type=submit]")
    secret = page.locator("#totp-secret").inner_text().strip()
    assert page.locator("#totp-uri").inner_text().startswith("otpauth://totp/metra%3Aadmin?")
    page.click("#continue")
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    log_in(page, server, "admin", NEW_PASSWORD, totp.totp(raw, time.time()))
    expect(page).to_have_url(f"{server}/console/dashboard")
    expect(page.locator("#alarms")).to_be_visible()

    meter = world.meters["a"]
    page.goto(f"{server}/console/meters/{meter}?start=2025-03-03&days=2")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-drawn", "1", timeout=20_000)
    assert page.locator("#chart svg.main-svg").count() >= 1
    assert page.locator("#chart .scatterlayer .trace").count() >= 2  # line + estimated markers
    expect(page.locator("#chart .legend")).to_contain_text("Import (A+): estimated")

    page.fill("#edit-form input[name=at]", "2025-03-04T07:00")
    page.fill("#edit-form input[name=value]", "77.25")
    page.fill("#edit-form textarea[name=reason]", "read from the display during a site visit")
    page.click("#edit-form button[type=submit]")
    expect(page.locator("p.notice")).to_contain_text("recorded in the audit trail")
    expect(page.locator("#chart")).to_have_attribute("data-drawn", "1", timeout=20_000)
    expect(page.locator("#chart .legend")).to_contain_text("Import (A+): edited")
    with world.engine.connect() as conn:
        served = versions.served(conn, meter, CHANNEL, date(2025, 3, 4))
    assert served is not None and served.values[24] == 77.25  # 07:00 Warsaw = 06:00 UTC
    assert served.reason == "read from the display during a site visit"
    assert violations == []
    context.close()


def test_acc6_consumer_cannot_open_another_consumers_data(
    browser: Browser, server: str, world: World
) -> None:
    """ACC-6 / SEC-4: the consumer sees its own meter's consumption (chart drawn) and is refused
    the other consumer's meter, its CSV and the operator's meter page."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    violations = csp_watch(page)
    page.goto(f"{server}/console/lang/en?next=/console/login")
    log_in(page, server, "user-consumer", PASSWORD)
    change_password(page, PASSWORD, NEW_PASSWORD)
    log_in(page, server, "user-consumer", NEW_PASSWORD)
    expect(page).to_have_url(f"{server}/console/my")
    expect(page.locator("main")).to_contain_text("SN-a")
    expect(page.locator("main")).not_to_contain_text("SN-b")

    page.goto(f"{server}/console/my/meters/{world.meters['a']}?month=2025-03")
    expect(page.locator("#daily")).to_have_attribute("data-drawn", "1", timeout=20_000)
    other = world.meters["b"]
    for url in (
        f"/console/my/meters/{other}?month=2025-03",
        f"/console/my/meters/{other}/consumption.csv?month=2025-03",
        f"/console/meters/{other}",
    ):
        answer = page.goto(server + url)
        assert answer is not None and answer.status == 403, url
        expect(page.locator("#forbidden")).to_be_visible()
        assert "SN-b" not in page.content()
    assert violations == []
    context.close()
