"""The app factory: `create_app(settings)` builds the REST API (FastAPI, OpenAPI at /docs and
/openapi.json) over the core modules, and is the seam other faces mount into.

The API's routes live under ``/api/v1``, one router per resource. Every one of them declares a
permission (checked here at build time, `metra.api.permissions`); errors are problem documents
(`metra.api.problems`). A face such as the web console is added through `ApiSettings.mounts`:
each mount receives the app and the shared `ApiContext` (engine, profile, limiter) and may
include routers and static files; its routes sit outside ``/api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from metra import __version__
from metra.api import docs_page, permissions, problems
from metra.api.context import ApiContext
from metra.api.jobs import HeadendReader, JobRegistry, MeterReader
from metra.api.ratelimit import RateLimiter
from metra.api.routers import (
    audit,
    auth,
    balance,
    billing,
    commands,
    events,
    exports,
    health,
    incidents,
    jobs,
    kpi,
    masterdata,
    prepay_hub,
    readings,
    users,
    vee,
)
from metra.api.settings import ApiSettings
from metra.profiles import load_profile
from metra.security.safeguards import CommandPolicy
from metra.security.sealing import SecretBox
from metra.store import make_engine

API_PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTERS = (
    health.router,
    auth.router,
    users.router,
    masterdata.router,
    readings.router,
    vee.router,
    kpi.router,
    balance.router,
    billing.router,
    commands.router,
    events.router,
    exports.router,
    audit.router,
    incidents.router,
    jobs.router,
    prepay_hub.router,
)


class BodyLimit:
    """Refuse request bodies above `limit` octets (declared or streamed): bounded decoding."""

    def __init__(self, app: Asgi, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = b'{"type":"urn:metra:problem:too-large","title":"Request too large","status":413}'
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", problems.MEDIA_TYPE.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _box(settings: ApiSettings) -> SecretBox | None:
    return SecretBox.parse(settings.master_key) if settings.master_key else None


def create_app(settings: ApiSettings, *, reader: MeterReader | None = None) -> FastAPI:
    """Build the API for `settings`; `reader` replaces the head-end's meter reader."""
    engine = make_engine(settings.db_url)
    profile = load_profile(settings.profile)
    headend = HeadendReader(engine, profile, settings.master_key, settings.client_system_title)
    ctx = ApiContext(
        settings=settings,
        engine=engine,
        profile=profile,
        box=_box(settings),
        limiter=RateLimiter(settings.rate_per_s, settings.burst),
        jobs=JobRegistry(settings.job_ttl_s),
        reader=reader if reader is not None else headend,
        policy=CommandPolicy.parse(settings.controlled_zones),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await ctx.jobs.drain()
        headend.close()
        engine.dispose()

    app = FastAPI(
        title="metra",
        version=__version__,
        summary="Smart metering: master data, readings, events, VEE, audit, access control",
        description=(
            "REST API of the metra central system. Authenticate with `POST /api/v1/auth/login`"
            " and send the token as `Authorization: Bearer ...`. Every operation names the "
            "permission it needs in `x-permission`; errors are RFC 9457 problem documents."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served from local assets by `docs_page`
        redoc_url=None,
        lifespan=lifespan,
        responses=problems.responses(400),
    )
    app.state.metra = ctx
    docs_page.install(app, "/openapi.json")
    problems.install(app)
    permissions.install(app)
    permissions.declare_all(ROUTERS)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.state.allow_index = [
        (compile_path(API_PREFIX + route.path)[0], set(route.methods or ()))
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    for mount in settings.mounts:
        mount(app, ctx)
    app.add_middleware(BodyLimit)
    return app
