"""Accounts, role grants and tokens (SEC-4, SEC-1) through `metra.security.users` and `login`.

Who grants a role cannot grant it to themselves and cannot act through it (the security layer
enforces both); every change is in the audit trail with the acting administrator. Tokens for
machine clients (a market hub, an integration) must name their scopes, so such a client never
holds more than the reads it was given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select, update

from metra.api.auth import source_address
from metra.api.context import ApiContext, connection, context
from metra.api.paging import Page, Paging, link_header, paging
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.security import audit, login, users
from metra.security.roles import ROLE_PERMISSIONS, Permission, Role
from metra.security.schema import access_token, user_account
from metra.store.schema import party

P = Permission
router = APIRouter(tags=["users"], responses=responses(401, 403, 404, 422, 429))


class UserOut(BaseModel):
    id: UUID
    username: str
    kind: str
    party_id: UUID | None
    roles: list[Role]
    must_change_password: bool
    totp_enrolled: bool
    disabled: bool


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    kind: Literal["person", "machine"] = "person"
    party_id: UUID | None = None
    initial_password: str | None = Field(default=None, max_length=256)


class RoleIn(BaseModel):
    role: Role


class RoleOut(BaseModel):
    role: Role
    permissions: dict[str, str] = Field(description="permission -> scope")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["api", "machine"] = "machine"
    scopes: list[Permission] | None = Field(
        default=None, description="permissions the token narrows its account to"
    )
    ttl_days: int = Field(default=90, ge=1, le=365)


class TokenOut(BaseModel):
    id: int
    name: str | None
    kind: str
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    token: str = Field(description="the bearer token, shown once")


def _find(conn: Connection, username: str) -> users.User:
    user = users.find(conn, username)
    if user is None:
        raise Problem(404, f"no user {username!r}")
    return user


def _out(conn: Connection, user: users.User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        kind=user.kind,
        party_id=user.party_id,
        roles=sorted(users.roles_of(conn, user.id)),
        must_change_password=user.must_change_password,
        totp_enrolled=user.totp_enrolled,
        disabled=user.disabled,
    )


@router.get("/roles", response_model=list[RoleOut], operation_id="list_roles")
def list_roles(grant: Grant = Depends(Need(P.USERS_READ))) -> list[RoleOut]:
    """The role catalogue and what each role may do (SEC-4)."""
    return [
        RoleOut(role=role, permissions={p.value: s.name.lower() for p, s in perms.items()})
        for role, perms in ROLE_PERMISSIONS.items()
    ]


@router.get("/users", response_model=Page[UserOut], operation_id="list_users")
def list_users(
    request: Request,
    response: Response,
    page: Paging = Depends(paging),
    grant: Grant = Depends(Need(P.USERS_READ)),
    conn: Connection = Depends(connection),
) -> Page[UserOut]:
    """Accounts by name."""
    total = conn.execute(select(func.count()).select_from(user_account)).scalar_one()
    names = conn.execute(
        select(user_account.c.username)
        .order_by(user_account.c.username)
        .limit(page.limit)
        .offset(page.offset)
    ).scalars()
    items = [_out(conn, _find(conn, name)) for name in names]
    link_header(request, response, total, page)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/users/{username}", response_model=UserOut, operation_id="get_user")
def get_user(
    username: str,
    grant: Grant = Depends(Need(P.USERS_READ)),
    conn: Connection = Depends(connection),
) -> UserOut:
    """One account and its roles."""
    return _out(conn, _find(conn, username))


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses=responses(409),
    operation_id="create_user",
)
def create_user(
    body: UserIn,
    request: Request,
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> UserOut:
    """Create an account with no role (least privilege)."""
    if (
        body.party_id is not None
        and not conn.execute(
            select(func.count()).select_from(party).where(party.c.id == body.party_id)
        ).scalar_one()
    ):
        raise Problem(422, f"no party {body.party_id}", kind="invalid-data")
    users.create(
        conn,
        grant.caller.principal,
        body.username,
        policy=ctx.profile.passwords,
        initial_password=body.initial_password,
        kind=body.kind,
        party_id=body.party_id,
        source_address=source_address(request),
    )
    return _out(conn, _find(conn, body.username))


@router.post("/users/{username}/roles", response_model=UserOut, operation_id="grant_role")
def grant_role(
    username: str,
    body: RoleIn,
    request: Request,
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    conn: Connection = Depends(connection),
) -> UserOut:
    """Grant a role to another account (never to oneself, SEC-4)."""
    user = _find(conn, username)
    users.grant(
        conn, grant.caller.principal, user.id, body.role, source_address=source_address(request)
    )
    return _out(conn, user)


@router.delete("/users/{username}/roles/{role}", response_model=UserOut, operation_id="revoke_role")
def revoke_role(
    username: str,
    role: Role,
    request: Request,
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    conn: Connection = Depends(connection),
) -> UserOut:
    """Withdraw a role (the grant stays on record, marked revoked)."""
    user = _find(conn, username)
    users.revoke(
        conn, grant.caller.principal, user.id, role, source_address=source_address(request)
    )
    return _out(conn, user)


def _token_out(row: object) -> TokenOut:
    m = row._mapping  # type: ignore[attr-defined]
    return TokenOut(
        id=m["id"],
        name=m["name"],
        kind=m["kind"],
        scopes=m["scopes"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
    )


@router.get("/users/{username}/tokens", response_model=list[TokenOut], operation_id="list_tokens")
def list_tokens(
    username: str,
    grant: Grant = Depends(Need(P.USERS_READ)),
    conn: Connection = Depends(connection),
) -> list[TokenOut]:
    """An account's API and machine tokens (never their values)."""
    user = _find(conn, username)
    t = access_token.c
    rows = conn.execute(
        select(access_token)
        .where(t.user_id == user.id, t.kind.in_(["api", "machine"]))
        .order_by(t.id)
    )
    return [_token_out(row) for row in rows]


@router.post(
    "/users/{username}/tokens",
    response_model=IssuedToken,
    status_code=201,
    operation_id="issue_token",
)
def issue_token(
    username: str,
    body: TokenIn,
    request: Request,
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    conn: Connection = Depends(connection),
) -> IssuedToken:
    """Issue an API token or a scoped machine token (market hub, integration) with an expiry."""
    user = _find(conn, username)
    if body.kind == "machine" and not body.scopes:
        raise Problem(422, "a machine token must name its scopes", kind="invalid-request")
    now = datetime.now(UTC)
    token = login.issue_token(
        conn,
        user.id,
        kind=body.kind,
        ttl=timedelta(days=body.ttl_days),
        scopes=body.scopes,
        name=body.name,
        now=now,
    )
    t = access_token.c
    row = conn.execute(
        select(access_token).where(t.user_id == user.id).order_by(t.id.desc())
    ).first()
    out = _token_out(row)
    audit.record(
        conn,
        grant.caller.username,
        "token.issue",
        ("user", user.username),
        None,
        {
            "token_id": out.id,
            "kind": body.kind,
            "scopes": out.scopes,
            "expires_at": out.expires_at.isoformat(),
        },
        source_address(request),
    )
    return IssuedToken(**out.model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, operation_id="revoke_token")
def revoke_token(
    token_id: int,
    request: Request,
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    conn: Connection = Depends(connection),
) -> Response:
    """Withdraw a token at once."""
    t = access_token.c
    if not 0 < token_id < 2**62:
        raise Problem(404, f"no token {token_id}")
    done = conn.execute(
        update(access_token)
        .where(t.id == token_id, t.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if done.rowcount != 1:
        raise Problem(404, f"no active token {token_id}")
    audit.record(
        conn,
        grant.caller.username,
        "token.revoke",
        ("token", str(token_id)),
        "active",
        "revoked",
        source_address(request),
    )
    return Response(status_code=204)
