"""`mount(app, ctx)`: the console's routes, its static files and plotly.js on the API's app.

plotly.js comes from the installed ``plotly`` Python package (its bundled ``plotly.min.js``) and is
served from a versioned local URL: the console needs no CDN and works on an offline machine.
"""

from __future__ import annotations

from importlib import metadata, resources

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from metra.api.context import ApiContext
from metra.api.settings import Mount
from metra.console.access import PREFIX
from metra.console.pages import ROUTERS
from metra.console.state import Console, ConsoleSettings
from metra.console.templating import Pages

PLOTLY_JS = resources.files("plotly") / "package_data" / "plotly.min.js"
PLOTLY_URL = f"{PREFIX}/vendor/plotly-{metadata.version('plotly')}.min.js"
STATIC_URL = f"{PREFIX}/static"
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def make_mount(settings: ConsoleSettings) -> Mount:
    """A mount function for `ApiSettings.mounts` with these console settings."""

    def mount_console(app: FastAPI, ctx: ApiContext) -> None:
        if not PLOTLY_JS.is_file():
            raise RuntimeError(f"plotly.js is missing from the plotly package: {PLOTLY_JS}")
        app.state.console = Console(
            ctx, settings, Pages(ctx.profile.timezone, plotly_url=PLOTLY_URL, static_url=STATIC_URL)
        )

        @app.get(PLOTLY_URL, include_in_schema=False)
        def plotly_js() -> FileResponse:
            return FileResponse(str(PLOTLY_JS), media_type="text/javascript", headers=IMMUTABLE)

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse(PREFIX + "/", status_code=307)

        app.mount(STATIC_URL, StaticFiles(packages=[("metra.console", "static")]), "console-static")
        for router in ROUTERS:
            app.include_router(router, prefix=PREFIX)

    return mount_console


def mount(app: FastAPI, ctx: ApiContext) -> None:
    """The console with settings from ``METRA_COOKIE_SECURE``, as `metra serve` mounts it."""
    make_mount(ConsoleSettings.from_env())(app, ctx)
