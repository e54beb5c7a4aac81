"""The state one API process shares between requests: engine, profile, secrets box, rate
limiter, job registry and the command safeguards' installation policy. Routers reach it through
the `context` dependency; a mounted face (the web console) gets the same object, so it uses the
same database and the same limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from metra.api.jobs import JobRegistry, MeterReader
from metra.api.ratelimit import RateLimiter
from metra.api.settings import ApiSettings
from metra.profiles.model import Profile
from metra.security.safeguards import CommandPolicy
from metra.security.sealing import SecretBox


@dataclass
class ApiContext:
    """Everything a request handler needs besides the request itself."""

    settings: ApiSettings
    engine: Engine
    profile: Profile
    box: SecretBox | None
    limiter: RateLimiter
    jobs: JobRegistry
    reader: MeterReader
    policy: CommandPolicy = field(default_factory=CommandPolicy)


def context(request: Request) -> ApiContext:
    """The process's context, stored on the app by `create_app`."""
    ctx: ApiContext = request.app.state.metra
    return ctx


def connection(ctx: ApiContext = Depends(context)) -> Iterator[Connection]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    with ctx.engine.begin() as conn:
        yield conn
