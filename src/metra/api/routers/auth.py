"""Log-in, log-out, the forced password change and TOTP enrolment (SEC-1, SEC-5).

A log-in checks password, lockout (per account and per source) and TOTP through
`metra.security.login`; the failure is committed before the 401 goes out, so it counts towards
the lockout and lands in the security journal. A log-in that must first change the password or
enrol TOTP receives a *setup* token: it carries no permission and serves only this router.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select, update

from metra.api.auth import Caller, current_caller, limit, source_address
from metra.api.context import ApiContext, connection, context
from metra.api.permissions import PUBLIC_ROUTE
from metra.api.problems import Problem, responses, unauthenticated
from metra.security import login, passwords, totp, users
from metra.security.errors import AccessDenied, AuthenticationFailed
from metra.security.schema import access_token, user_account

router = APIRouter(prefix="/auth", tags=["auth"], responses=responses(401, 422, 429))


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=10, description="TOTP code when required")


class LoginOut(BaseModel):
    token: str = Field(description="bearer token, shown once")
    token_type: str = "bearer"
    expires_at: datetime
    must_change_password: bool
    must_enrol_totp: bool


class Me(BaseModel):
    username: str
    user_id: UUID
    kind: str
    roles: list[str]
    permissions: dict[str, str] = Field(description="permission -> scope")
    party_id: UUID | None
    must_change_password: bool
    totp_enrolled: bool


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class TotpIn(BaseModel):
    password: str = Field(min_length=1, max_length=256, description="the current password")


class TotpOut(BaseModel):
    secret: str = Field(description="base32 secret, shown once")
    provisioning_uri: str


@router.post(
    "/login",
    response_model=LoginOut,
    openapi_extra=PUBLIC_ROUTE,
    dependencies=[Depends(limit)],
    operation_id="login",
)
def do_login(body: LoginIn, request: Request, ctx: ApiContext = Depends(context)) -> LoginOut:
    """Log in with password (and TOTP where the profile asks for it for the account's roles)."""
    failed = False
    with ctx.engine.begin() as conn:  # committed even on failure: the attempt must count
        try:
            result = login.login(
                conn,
                body.username,
                body.password,
                policy=ctx.profile.passwords,
                source_address=source_address(request),
                totp_code=body.totp,
                box=ctx.box,
            )
        except AuthenticationFailed:
            failed = True
    if failed:
        raise unauthenticated("authentication failed")
    return LoginOut(
        token=result.token,
        expires_at=result.expires_at,
        must_change_password=result.must_change_password,
        must_enrol_totp=result.must_enrol_totp,
    )


@router.post("/logout", status_code=204, operation_id="logout")
def logout(
    caller: Caller = Depends(current_caller), conn: Connection = Depends(connection)
) -> None:
    """End the session (the token is revoked, not deleted)."""
    login.revoke_token(conn, caller.token)


@router.get("/me", response_model=Me, operation_id="me")
def me(caller: Caller = Depends(current_caller), conn: Connection = Depends(connection)) -> Me:
    """Who the token belongs to and what it may do."""
    user = users.get(conn, caller.principal.user_id)
    return Me(
        username=user.username,
        user_id=user.id,
        kind=user.kind,
        roles=sorted(r.value for r in caller.principal.roles),
        permissions={p.value: s.name.lower() for p, s in caller.principal.permissions.items()},
        party_id=user.party_id,
        must_change_password=user.must_change_password,
        totp_enrolled=user.totp_enrolled,
    )


def _revoke_setup(conn: Connection, token: str) -> None:
    digest = hashlib.sha256(token.encode()).digest()
    t = access_token.c
    conn.execute(
        update(access_token)
        .where(t.token_hash == digest, t.kind == "setup", t.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


@router.post("/password", status_code=204, responses=responses(403), operation_id="change_password")
def change_password(
    body: PasswordIn,
    request: Request,
    caller: Caller = Depends(current_caller),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> Response:
    """Change one's own password (self-service, or the change forced at log-in). A setup token
    is spent by it: log in again with the new password."""
    users.change_password(
        conn,
        caller.principal.user_id,
        body.current_password,
        body.new_password,
        policy=ctx.profile.passwords,
        source_address=source_address(request),
    )
    _revoke_setup(conn, caller.token)
    return Response(status_code=204)


@router.post(
    "/totp", response_model=TotpOut, responses=responses(403, 503), operation_id="enrol_totp"
)
def enrol_totp(
    body: TotpIn,
    caller: Caller = Depends(current_caller),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> TotpOut:
    """Enrol a new TOTP secret (RFC 6238); the current password confirms it is the holder."""
    if ctx.box is None:
        raise Problem(
            503, "no master key configured: TOTP secrets cannot be sealed", kind="master-key"
        )
    stored = conn.execute(
        select(user_account.c.password_hash).where(user_account.c.id == caller.principal.user_id)
    ).scalar_one_or_none()
    if stored is None or not passwords.verify_password(stored, body.password):
        raise AccessDenied("totp:enrol", "the current password is wrong")
    secret = users.enrol_totp(conn, caller.principal.user_id, ctx.box)
    return TotpOut(
        secret=base64.b32encode(secret).decode("ascii").rstrip("="),
        provisioning_uri=totp.provisioning_uri(secret, caller.username),
    )
