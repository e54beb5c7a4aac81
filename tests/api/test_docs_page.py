"""The interactive API page at /docs works offline: it names only this server's URLs, each of
them loads, and in a real headless Chromium it renders every operation of the published
description without a single request to another host or a CSP violation (ACC-3).

Never downloads a browser: without Debian's /usr/bin/chromium the browser test fails and says
what to install.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from metra.api import create_app

from .conftest import World, settings_for

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class Links(HTMLParser):
    """Every URL an element of the page loads (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_acc3_docs_page_names_only_local_assets_that_load(client: TestClient) -> None:
    """ACC-3: /docs references its script, style sheet, icon and the description by local paths
    only, with no absolute URL anywhere in the page; each answers 200 with its media type."""
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"https?://|//[a-z]", page.text.replace("<!DOCTYPE html>", ""))
    parser = Links()
    parser.feed(page.text)
    spec_url = re.search(r"url: '([^']+)'", page.text)
    assert spec_url is not None
    urls = [*parser.urls, spec_url.group(1)]
    assert len(urls) == 4
    expected = {
        ".js": "text/javascript",
        ".css": "text/css",
        ".png": "image/png",
        ".json": "application/json",
    }
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
        loaded = client.get(url)
        assert loaded.status_code == 200, url
        suffix = Path(parts.path).suffix
        assert loaded.headers["content-type"].startswith(expected[suffix]), url
        assert len(loaded.content) > 1000, url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings_for(world)), host="127.0.0.1", port=port, log_level="warning"
    )
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


def test_acc3_docs_page_renders_offline_in_chromium(server: str, client: TestClient) -> None:
    """ACC-3: Chromium renders one block per published operation; every request the page made
    went to this server, and the browser reported no error (a CSP violation would be one)."""
    if not CHROMIUM.exists():
        pytest.fail("the browser test needs Debian's Chromium at /usr/bin/chromium")
    spec = client.get("/openapi.json").json()
    operations = sum(len(item) for item in spec["paths"].values())
    hosts: set[str] = set()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server}/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            rendered = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert rendered == operations
    assert title.startswith("metra")
    assert hosts == {urlsplit(server).netloc}
    assert errors == []
