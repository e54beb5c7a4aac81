"""``metra serve``: the REST API (and the web console, when installed) with uvicorn.

The database is brought to the newest schema first, and an empty system gets its first
administrator with a one-time secret printed once (or taken from ``METRA_BOOTSTRAP_SECRET``,
then not printed). ``METRA_MASTER_KEY`` opens TOTP secrets and the meter key store; without it
the server still serves data but refuses TOTP log-ins and on-demand reads.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import typer
import uvicorn

from metra.api import ApiSettings, create_app
from metra.api.bootstrap import ensure_administrator
from metra.api.settings import Mount
from metra.profiles import ProfileError, load_profile
from metra.store import make_engine, migrate

from .common import fail

CONSOLE_MODULE = "metra.console"


def console_mounts() -> tuple[Mount, ...]:
    """The web console's `mount(app, ctx)`, when the package is installed."""
    if importlib.util.find_spec(CONSOLE_MODULE) is None:
        return ()
    mount = getattr(importlib.import_module(CONSOLE_MODULE), "mount", None)
    return (mount,) if callable(mount) else ()


def serve_command(
    db: str = typer.Option(..., "--db", envvar="METRA_DB", help="Database URL or SQLite path."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
    profile: str = typer.Option("pl", "--profile", envvar="METRA_PROFILE"),
    rate: float = typer.Option(20.0, "--rate", help="Calls per second per token (0: no limit)."),
    burst: int = typer.Option(60, "--burst", help="Calls a token may make at once."),
    console: bool = typer.Option(True, "--console/--no-console", help="Serve the web console."),
) -> None:
    """Run the REST API (OpenAPI at /docs) and the console on HOST:PORT."""
    try:
        load_profile(profile)
    except ProfileError as exc:
        fail(str(exc))
    migrate(db)
    engine = make_engine(db)
    try:
        first = ensure_administrator(engine)
    finally:
        engine.dispose()
    if first.created:
        typer.echo(f"administrator {first.username!r} created; change its password at first log-in")
        if first.secret is not None:
            typer.echo(f"one-time secret (shown only now): {first.secret}")
    if not os.environ.get("METRA_MASTER_KEY"):
        typer.echo("note: METRA_MASTER_KEY is not set: TOTP log-in and meter reads are refused")
    settings = ApiSettings.from_env(
        db, profile, rate_per_s=rate, burst=burst, mounts=console_mounts() if console else ()
    )
    typer.echo(f"metra API on http://{host}:{port}/docs")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
