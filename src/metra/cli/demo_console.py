"""``metra demo``'s last step: the web console on the demo's own store, next to the scheduled
reads, so the history just read can be browsed at once.

The console is served as ``metra serve`` serves it (the API app with the console mounted); the
first administrator is created the same way, with a one-time secret printed once (or taken from
``METRA_BOOTSTRAP_SECRET``, then not printed) that must be changed at the first log-in. The
master key is the demo's own (beside a SQLite store, or ``METRA_MASTER_KEY``), so TOTP enrolment
and the console's *read now* work against the demo fleet.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import uvicorn

from metra.api import ApiSettings, create_app
from metra.api.bootstrap import ensure_administrator
from metra.headend.collector import Collector

from .demo import DemoRun, keep_reading
from .serve_cmd import console_mounts


def master_key(run: DemoRun) -> str | None:
    """The demo's master key: ``METRA_MASTER_KEY`` if set, else the file beside the store."""
    given = os.environ.get("METRA_MASTER_KEY")
    if given:
        return given
    if run.master_key_file is not None and run.master_key_file.exists():
        return run.master_key_file.read_text().strip()
    return None


def announce(run: DemoRun, url: str, say: Callable[[str], None]) -> None:
    """Create the first administrator if the store has no account yet; print where to log in."""
    first = ensure_administrator(run.engine)
    say(f"web console: {url}")
    if first.created:
        say(f"administrator {first.username!r}; change its password at the first log-in")
        if first.secret is not None:
            say(f"one-time secret (shown only now): {first.secret}")
    else:
        say("log in with an existing account (the administrator exists already)")


async def serve_and_read(
    run: DemoRun,
    collector: Collector,
    db_url: str,
    *,
    host: str,
    port: int,
    every_s: float,
    report: Callable[[dict[str, Any]], None],
    say: Callable[[str], None],
) -> None:
    """Serve the API and console on HOST:PORT while reading on schedule, until one stops."""
    settings = ApiSettings(
        db_url=db_url, profile=run.profile, master_key=master_key(run), mounts=console_mounts()
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    announce(run, f"http://{host}:{port}/console/", say)
    serving = asyncio.create_task(server.serve())
    reading = asyncio.create_task(keep_reading(run, collector, every_s, report))
    try:
        await asyncio.wait({serving, reading}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        reading.cancel()
        await asyncio.gather(serving, reading, return_exceptions=True)
