"""Who is calling: the bearer token, its principal and where the call comes from.

Tokens are the security layer's (`metra.security.login`): random values whose SHA-256 alone is
stored, with an expiry, optionally narrowed to scopes. A missing, unknown, expired or revoked
token is a 401 and, when a token was presented, a security event (SEC-8): a flood of guessed
tokens shows up as a burst from one source. Rate limits apply per token before the database is
asked anything, and per source address to calls without a token; a refusal (429) is a security
event too, at most once a minute per token or address.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Depends, Request

from metra.api.context import ApiContext, context
from metra.api.problems import Problem, unauthenticated
from metra.api.ratelimit import retry_after
from metra.security import incidents, login, users
from metra.security.errors import AuthenticationFailed
from metra.security.roles import Principal, Role
from metra.store.events import SecurityCategory, Severity

THIRD_PARTY_ROLES = frozenset({Role.RETAILER, Role.CONSUMER})


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. `third_party` callers (retailers, consumers, machine accounts
    of market hubs and integrations) get every data release logged (ACC-6)."""

    principal: Principal
    token: str
    account_kind: str
    source_address: str | None

    @property
    def third_party(self) -> bool:
        """Whether data given to this caller leaves the operator (ACC-6)."""
        return self.account_kind == "machine" or bool(self.principal.roles & THIRD_PARTY_ROLES)

    @property
    def username(self) -> str:
        """The account's name, as the audit trail records it."""
        return self.principal.username


def source_address(request: Request) -> str | None:
    """The peer address of the connection (a proxy in front must be configured to pass it)."""
    return request.client.host if request.client else None


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def limit(request: Request, ctx: ApiContext = Depends(context)) -> None:
    """Spend one call of the caller's budget (token, else source address); 429 when spent."""
    token = bearer(request)
    key = (
        "t:" + hashlib.sha256(token.encode()).hexdigest()
        if token
        else "s:" + (source_address(request) or "?")
    )
    wait = ctx.limiter.take(key)
    if wait is not None:
        count = ctx.limiter.refused(key)
        if count is not None:
            _report_flood(ctx, request, token, count)
        raise Problem(
            429,
            "rate limit reached for this token or address",
            headers={"Retry-After": retry_after(wait)},
        )


def _report_flood(ctx: ApiContext, request: Request, token: str | None, count: int) -> None:
    """A rate-limit refusal as a security event (SEC-8), naming the token's account if the
    token is valid; the limiter reports one key at most once a minute."""
    with ctx.engine.begin() as conn:
        actor = None
        if token is not None:
            try:
                actor = login.authenticate(conn, token).username
            except AuthenticationFailed:
                actor = None
        incidents.report(
            conn,
            SecurityCategory.DENIAL_OF_SERVICE,
            Severity.WARNING,
            f"rate limit exceeded on {request.method} {request.url.path}",
            actor=actor,
            source_address=source_address(request),
            details={
                "limited_by": "token" if token else "address",
                "refused": count,
                "rate_per_s": ctx.limiter.rate,
                "burst": ctx.limiter.burst,
            },
        )


def current_caller(
    request: Request, ctx: ApiContext = Depends(context), _: None = Depends(limit)
) -> Caller:
    """The caller behind the bearer token; 401 without a valid one."""
    token = bearer(request)
    if token is None:
        raise unauthenticated()
    source = source_address(request)
    try:
        with ctx.engine.connect() as conn:
            principal = login.authenticate(conn, token)
            kind = users.get(conn, principal.user_id).kind
    except AuthenticationFailed as exc:
        with ctx.engine.begin() as conn:
            incidents.report(
                conn,
                SecurityCategory.UNAUTHORISED_ACCESS,
                Severity.WARNING,
                f"API call with a refused token: {exc.reason}",
                source_address=source,
                details={"path": request.url.path, "method": request.method},
            )
        raise unauthenticated("the token is unknown, expired or revoked") from None
    caller = Caller(principal, token, kind, source)
    request.state.caller = caller
    return caller
