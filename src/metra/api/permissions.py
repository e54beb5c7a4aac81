"""Every operation declares the permission it needs (SEC-4), in its signature:

    def list_meters(grant: Grant = Depends(Need(Permission.MASTERDATA_READ))) -> ...

`Need` checks the caller's roles (and token scopes) with `metra.security.roles.require` and hands
the handler the scope it holds the permission at, so retailers and consumers are narrowed to their
own points (`metra.api.scoping`). Operations open to any valid session (log-out, password change)
depend on `current_caller` instead; the few public ones (log-in, health) say so explicitly.
`declare_all` walks the routers' routes, publishes each one's permission in the OpenAPI description
(``x-permission``) and refuses to build an app with a route that declares nothing.

Command operations (submit, approve, cancel) need the permission of the command's kind
(`metra.security.safeguards.KIND_PERMISSIONS`: a key change is the security officer's, firmware the
administrator's), which only the request's body or stored request tells. They depend on
`command_caller`, published as ``x-permission: command-kind`` with the map in
``x-permission-by-kind``; it admits callers holding at least one command permission, and the
command engine checks the kind's own permission exactly as for the CLI.

A refusal answers 403 and is raised as a security event with who, what and from where (SEC-8).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from metra.api.auth import Caller, current_caller, source_address
from metra.api.context import ApiContext
from metra.api.problems import Problem, problem_response
from metra.security import incidents
from metra.security.errors import AccessDenied
from metra.security.roles import Permission, Scope, require
from metra.security.safeguards import KIND_PERMISSIONS
from metra.store.events import SecurityCategory, Severity

PUBLIC = "public"
SESSION = "session"
COMMAND_KIND = "command-kind"
PUBLIC_ROUTE: dict[str, Any] = {"x-permission": PUBLIC}


@dataclass(frozen=True)
class Grant:
    """A caller allowed an operation, and the scope its permission reaches."""

    caller: Caller
    permission: Permission
    scope: Scope


class Need:
    """The dependency by which an operation declares its permission."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, caller: Caller = Depends(current_caller)) -> Grant:
        return Grant(caller, self.permission, require(caller.principal, self.permission))

    def __repr__(self) -> str:
        return f"Need({self.permission.value})"


def command_caller(caller: Caller = Depends(current_caller)) -> Caller:
    """The dependency of command operations: the permission is the command kind's (see the
    module docstring); callers holding none of the command permissions are refused here."""
    held = caller.principal.permissions
    if not any(p in held for p in KIND_PERMISSIONS.values()):
        raise AccessDenied(COMMAND_KIND, "no role grants any command permission")
    return caller


def _declared(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, Need):
            return sub.call.permission.value
        if sub.call is command_caller:
            return COMMAND_KIND
        if sub.call is current_caller:
            return SESSION
        found = _declared(sub)
        if found is not None:
            return found
    return None


def declared_permission(route: APIRoute) -> str:
    """The permission a route declares: a `Permission` value, "command-kind", "session" or
    "public"."""
    found = _declared(route.dependant)
    if found is not None:
        return found
    if (route.openapi_extra or {}).get("x-permission") == PUBLIC:
        return PUBLIC
    raise RuntimeError(f"{sorted(route.methods or ())} {route.path} declares no permission")


def declare_all(routers: Iterable[APIRouter]) -> None:
    """Publish the permission of every route of `routers` as ``x-permission`` (call before
    including them in the app); fail on a route that declares none."""
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                declared = declared_permission(route)
                extra: dict[str, Any] = {"x-permission": declared}
                if declared == COMMAND_KIND:
                    extra["x-permission-by-kind"] = {
                        k: p.value for k, p in KIND_PERMISSIONS.items()
                    }
                route.openapi_extra = {**(route.openapi_extra or {}), **extra}


def refuse(ctx: ApiContext, request: Request, exc: AccessDenied) -> None:
    """Raise the refusal as a security event (its own transaction: the request's is rolled back)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    with ctx.engine.begin() as conn:
        incidents.report(
            conn,
            SecurityCategory.UNAUTHORISED_ACCESS,
            Severity.WARNING,
            f"refused call {request.method} {request.url.path}",
            actor=caller.username if caller else None,
            source_address=source_address(request),
            details={"permission": exc.permission, "reason": exc.reason},
        )


def install(app: FastAPI) -> None:
    """Answer `AccessDenied` from any layer with 403 and a security event."""

    async def on_denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessDenied)
        await run_in_threadpool(refuse, request.app.state.metra, request, exc)
        return problem_response(request, Problem(403, str(exc)))

    app.add_exception_handler(AccessDenied, on_denied)
