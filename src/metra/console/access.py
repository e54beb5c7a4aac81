"""Who is looking at a console page, and what they may do: the session cookie, CSRF tokens and
the permission each page declares.

The console's session is the security layer's own session token (`metra.security.login`), kept in
an HttpOnly, SameSite=Strict cookie, so the console and the API share one notion of a session:
expiry, revocation at log-out, the *setup* session that may only change the password and enrol
TOTP. Pages declare permissions exactly as the API's operations do (`Need`) and get the same
`Grant`, so the API's scope checks (`metra.api.scoping`) and release logging (ACC-6) apply
unchanged; a refusal is the same 403 and the same security event (SEC-8).

CSRF: every form carries a token derived from the secret the browser holds in an HttpOnly
cookie (the session token, or before log-in a random pre-session value):
``SHA-256("metra console csrf" || cookie)``. A page of another site can neither read the cookie
nor the token; SameSite=Strict keeps the cookie off cross-site requests on top of that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from metra.api.auth import Caller, source_address
from metra.api.permissions import Grant, refuse
from metra.console import i18n
from metra.console.i18n import N_
from metra.security import incidents, login, passwords, users
from metra.security.errors import AccessDenied, AuthenticationFailed
from metra.security.roles import Permission, Scope, require
from metra.security.safeguards import KIND_PERMISSIONS
from metra.security.schema import access_token
from metra.store.errors import NotFound
from metra.store.events import SecurityCategory, Severity

if TYPE_CHECKING:
    from metra.console.state import Console

SESSION_COOKIE = "metra_session"
PRE_COOKIE = "metra_pre"
LANG_COOKIE = "metra_lang"
PREFIX = "/console"
LOGIN_PATH = PREFIX + "/login"
PASSWORD_PATH = PREFIX + "/account/password"
TOTP_PATH = PREFIX + "/account/totp"


class LoginRequired(Exception):
    """No valid session: the page sends the browser to the log-in form."""


class SetupRequired(Exception):
    """A setup session: the password must be changed or TOTP enrolled first."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class CsrfRefused(Exception):
    """A form arrived without the token of the session that rendered it."""


class TooManyRequests(Exception):
    """The session's (or address's) rate budget is spent; `wait` seconds until the next call."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class PageNotFound(Exception):
    """The thing a page is about does not exist (an unknown meter, substation, job)."""


def console(request: Request) -> Console:
    """The console's state, stored on the app by `mount`."""
    found: Console = request.app.state.console
    return found


def csrf_token(secret: str) -> str:
    """The form token bound to the cookie secret `secret`."""
    return hashlib.sha256(b"metra console csrf\x00" + secret.encode()).hexdigest()


@dataclass(frozen=True)
class Setup:
    """What a setup session must do before anything else."""

    change_password: bool
    enrol_totp: bool

    @property
    def path(self) -> str:
        return PASSWORD_PATH if self.change_password else TOTP_PATH


@dataclass(frozen=True)
class Viewer:
    """The browser behind a request: its language, its CSRF token and, once logged in, the
    caller (with `setup` set for a setup session)."""

    lang: str
    csrf: str
    caller: Caller | None = None
    setup: Setup | None = None

    def can(self, permission: Permission, *, all_scope: bool = False) -> bool:
        """Whether a full session holds `permission` (at scope all when `all_scope`)."""
        if self.caller is None or self.setup is not None:
            return False
        scope = self.caller.principal.permissions.get(permission)
        return scope is not None and (not all_scope or scope is Scope.ALL)

    @property
    def username(self) -> str | None:
        return None if self.caller is None else self.caller.username


NAVIGATION = (
    ("/dashboard", N_("Dashboard")),
    ("/meters", N_("Meters")),
    ("/substations", N_("Substations")),
    ("/vee", N_("VEE worklist")),
    ("/commands", N_("Commands")),
    ("/approvals", N_("Approvals")),
    ("/prepay", N_("Prepayment")),
    ("/users", N_("Users and roles")),
    ("/audit", N_("Audit trail")),
    ("/incidents", N_("Incidents")),
    ("/my", N_("My consumption")),
)


def navigation(who: Viewer) -> list[tuple[str, str]]:
    """The menu entries whose pages the viewer may open (the pages check again)."""
    if who.caller is None or who.setup is not None:
        return []
    scope = who.caller.principal.permissions.get(Permission.READINGS_READ)
    opens = {
        "/dashboard": who.can(Permission.EVENTS_READ, all_scope=True)
        or who.can(Permission.SECURITY_EVENTS_READ),
        "/meters": who.can(Permission.MASTERDATA_READ, all_scope=True),
        "/substations": who.can(Permission.MASTERDATA_READ, all_scope=True),
        "/vee": who.can(Permission.READINGS_READ, all_scope=True),
        "/commands": who.can(Permission.EVENTS_READ, all_scope=True)
        or any(who.can(p) for p in COMMAND_PERMISSIONS),
        "/approvals": any(who.can(p) for p in COMMAND_PERMISSIONS),
        "/prepay": who.can(Permission.READINGS_READ, all_scope=True),
        "/users": who.can(Permission.USERS_READ),
        "/audit": who.can(Permission.AUDIT_READ),
        "/incidents": who.can(Permission.INCIDENTS_MANAGE),
        "/my": scope is not None and scope is not Scope.ALL,
    }
    return [(PREFIX + path, label) for path, label in NAVIGATION if opens[path]]


COMMAND_PERMISSIONS = tuple(dict.fromkeys(KIND_PERMISSIONS.values()))
"""The permissions that open the command builder and the approvals inbox: each command kind
needs one of them (`metra.security.safeguards.KIND_PERMISSIONS`); which kind a viewer may submit
or approve is decided by the engine."""


def _token_kind(conn: Any, token: str) -> str | None:
    digest = hashlib.sha256(token.encode()).digest()
    found: str | None = conn.execute(
        select(access_token.c.kind).where(access_token.c.token_hash == digest)
    ).scalar_one_or_none()
    return found


def _resolve(app: Console, request: Request, token: str) -> tuple[Caller, Setup | None] | None:
    source = source_address(request)
    try:
        with app.ctx.engine.connect() as conn:
            principal = login.authenticate(conn, token)
            kind = _token_kind(conn, token)
            if kind not in ("session", "setup"):
                raise AuthenticationFailed(f"a {kind} token is not a console session")
            user = users.get(conn, principal.user_id)
    except AuthenticationFailed as exc:
        with app.ctx.engine.begin() as conn:
            incidents.report(
                conn,
                SecurityCategory.UNAUTHORISED_ACCESS,
                Severity.WARNING,
                f"console session refused: {exc.reason}",
                source_address=source,
                details={"path": request.url.path, "method": request.method},
            )
        return None
    setup = None
    if kind == "setup":
        policy = app.ctx.profile.passwords
        needs_totp = bool({r.value for r in principal.roles} & set(policy.totp_roles))
        setup = Setup(
            change_password=user.must_change_password
            or passwords.is_expired(policy, user.password_changed_at, datetime.now(UTC)),
            enrol_totp=needs_totp and not user.totp_enrolled,
        )
    return Caller(principal, token, user.kind, source), setup


def viewer(request: Request) -> Viewer:
    """Resolve the cookies of a request (anonymous viewers included); spends one call of the
    rate budget of the session, or of the source address before log-in."""
    app = console(request)
    lang = i18n.choose(request.cookies.get(LANG_COOKIE), app.ctx.profile.language)
    token = request.cookies.get(SESSION_COOKIE)
    key = (
        "t:" + hashlib.sha256(token.encode()).hexdigest()
        if token
        else "s:" + (source_address(request) or "?")
    )
    wait = app.ctx.limiter.take(key)
    if wait is not None:
        raise TooManyRequests(wait)
    if token:
        resolved = _resolve(app, request, token)
        if resolved is not None:
            caller, setup = resolved
            request.state.caller = caller  # the API's refusal report names the actor from here
            return Viewer(lang, csrf_token(token), caller, setup)
        request.state.drop_session = True
    pre = request.cookies.get(PRE_COOKIE)
    if not pre or len(pre) > 64:
        pre = secrets.token_urlsafe(32)
        request.state.new_pre = pre
    return Viewer(lang, csrf_token(pre))


def any_session(who: Viewer = Depends(viewer)) -> Viewer:
    """A logged-in viewer, setup sessions included (password change, TOTP enrolment)."""
    if who.caller is None:
        raise LoginRequired
    return who


def signed_in(who: Viewer = Depends(any_session)) -> Viewer:
    """A viewer with a full session; a setup session is sent to what it must do first."""
    if who.setup is not None:
        raise SetupRequired(who.setup.path)
    return who


class Need:
    """The permission a page declares, checked as the API checks it; `all_scope` refuses
    callers who hold it only for their own points or customers (as `scoping.require_all`)."""

    def __init__(self, permission: Permission, *, all_scope: bool = False) -> None:
        self.permission = permission
        self.all_scope = all_scope

    def __call__(self, who: Viewer = Depends(signed_in)) -> Grant:
        assert who.caller is not None
        scope = require(who.caller.principal, self.permission)
        if self.all_scope and scope is not Scope.ALL:
            raise AccessDenied(self.permission.value, "needs the permission at scope all")
        return Grant(who.caller, self.permission, scope)

    def __repr__(self) -> str:
        return f"Need({self.permission.value}{', all' if self.all_scope else ''})"


class NeedAny(Need):
    """A page open to holders of any of `permissions` (the command builder and the approvals
    inbox: every kind needs its own permission, and the engine checks the one the chosen kind
    needs, recording a refusal as a security event)."""

    def __init__(self, *permissions: Permission) -> None:
        super().__init__(permissions[0])
        self.permissions = permissions

    def __call__(self, who: Viewer = Depends(signed_in)) -> Grant:
        assert who.caller is not None
        held = who.caller.principal.permissions
        for permission in self.permissions:
            if permission in held:
                return Grant(who.caller, permission, held[permission])
        names = " or ".join(p.value for p in self.permissions)
        raise AccessDenied(names, "no role grants any of them")

    def __repr__(self) -> str:
        return f"NeedAny({', '.join(p.value for p in self.permissions)})"


ANY_COMMAND = NeedAny(*COMMAND_PERMISSIONS)
"""What the command builder, cancelling and the approvals inbox declare."""


async def posted(request: Request, who: Viewer = Depends(viewer)) -> FormData:
    """The submitted form, refused unless it carries the viewer's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, who.csrf):
        raise CsrfRefused
    return form


def safe_next(target: str | None) -> str:
    """A local console path to return to after log-in (never another site)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


def cookie_secure(request: Request) -> bool:
    """Whether cookies get the Secure flag: as configured, else when the request came over TLS."""
    configured = console(request).settings.secure_cookie
    return request.url.scheme == "https" if configured is None else configured


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    """Give the browser its session cookie (HttpOnly, SameSite=Strict, Secure as configured)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )


def drop_session(request: Request, response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=cookie_secure(request)
    )


def _finish(request: Request, response: Response) -> Response:
    if getattr(request.state, "drop_session", False):
        drop_session(request, response)
    pre = getattr(request.state, "new_pre", None)
    if pre is not None:
        response.set_cookie(
            PRE_COOKIE,
            pre,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
    return response


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """A console route: failures become pages (log-in redirect, 403, 404, 429), never JSON,
    and pending cookies are set on whatever the page answers."""

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired:
                target = request.url.path if request.method == "GET" else None
                url = LOGIN_PATH + (f"?next={target}" if target else "")
                response = RedirectResponse(url, status_code=303)
            except SetupRequired as exc:
                response = RedirectResponse(exc.path, status_code=303)
            except AccessDenied as exc:
                await run_in_threadpool(refuse, console(request).ctx, request, exc)
                response = await _error_page(request, 403, "forbidden")
            except CsrfRefused:
                response = await _error_page(request, 403, "csrf")
            except (PageNotFound, NotFound):
                response = await _error_page(request, 404, "not-found")
            except TooManyRequests as exc:
                response = await _error_page(request, 429, "rate")
                response.headers["Retry-After"] = str(max(1, round(exc.wait)))
            return _finish(request, response)

        return handler


async def _error_page(request: Request, status: int, kind: str) -> Response:
    app = console(request)
    lang = i18n.choose(request.cookies.get(LANG_COOKIE), app.ctx.profile.language)
    caller: Caller | None = getattr(request.state, "caller", None)
    who = Viewer(lang, csrf_token(caller.token) if caller else "", caller)
    context = {
        "who": who,
        "status": status,
        "kind": kind,
        "nav": navigation(who),
        "prefix": PREFIX,
        "path": request.url.path,
        "query": "",
    }
    return app.pages.render(lang, "error.html", context, status=status)
