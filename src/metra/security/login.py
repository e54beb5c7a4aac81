"""Log-in, sessions and tokens (SEC-5, SEC-8).

A log-in checks, in order: the source address and the account are not blocked (failures within
the profile's window reached its limit: the account for `lockout_minutes` after the last failure;
the source at `SOURCE_FACTOR` times the account limit, since one address may serve many people),
the password, and a TOTP code when the profile requires one for any of the account's roles. Every
failure is stored as an attempt and raised as a security event; the caller sees one generic
`AuthenticationFailed`, whose `reason` is for the log only.

A forced password change (first log-in, expiry) or a missing TOTP enrolment yields a *setup*
session with no permissions: it may only change the password and enrol TOTP.

Tokens are random 256-bit values shown once; only their SHA-256 digest is stored, so a database
leak yields no usable token. Machine tokens carry scopes that narrow their account's permissions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

from metra.profiles.model import PasswordPolicy
from metra.security import incidents, passwords, totp
from metra.security.errors import AuthenticationFailed
from metra.security.roles import Permission, Principal
from metra.security.schema import access_token, login_attempt, user_account
from metra.security.sealing import SecretBox
from metra.security.users import _totp_context, principal, roles_of
from metra.store.events import SecurityCategory, Severity

SOURCE_FACTOR = 3
SESSION_TTL = timedelta(hours=8)
SETUP_TTL = timedelta(minutes=15)
TOKEN_PREFIX = "mt_"
# Verified when the user name is unknown, so that its answer takes as long as a wrong password's
# and timing does not reveal which names exist (argon2-cffi default cost).
_NO_USER_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$0eH0twosWZkWt+qi12wgbA$"
    "ebGlA4wKn1ITI7tOq53WGWgzJZVWRr2wdVoEDZJDjAo"
)


@dataclass(frozen=True)
class LoginResult:
    """A successful log-in: the session token (shown once) and what must happen first."""

    token: str
    user_id: UUID
    expires_at: datetime
    must_change_password: bool
    must_enrol_totp: bool

    @property
    def restricted(self) -> bool:
        """Whether this is a setup session without permissions."""
        return self.must_change_password or self.must_enrol_totp


def _failures_since(
    conn: Connection, column: ColumnElement[Any], value: str, since: datetime
) -> tuple[int, datetime | None]:
    a = login_attempt.c
    query = select(func.count(), func.max(a.at)).where(
        column == value,
        a.at >= since,
        a.succeeded.is_(False),
    )
    count, newest = conn.execute(query).one()
    return int(count), newest


def blocked_until(
    conn: Connection,
    policy: PasswordPolicy,
    username: str,
    source_address: str | None,
    now: datetime,
) -> datetime | None:
    """When the account or the source may try again, or None when they may now."""
    window = timedelta(minutes=policy.failed_login_window_minutes)
    lockout = timedelta(minutes=policy.lockout_minutes)
    checks = [(login_attempt.c.username, username, policy.max_failed_logins)]
    if source_address:
        checks.append(
            (
                login_attempt.c.source_address,
                source_address,
                policy.max_failed_logins * SOURCE_FACTOR,
            )
        )
    until: datetime | None = None
    for column, value, limit in checks:
        # Failures of a lockout still count: an attacker who keeps trying stays blocked.
        count, newest = _failures_since(conn, column, value, now - window - lockout)
        if count >= limit and newest is not None and newest + lockout > now:
            until = max(until, newest + lockout) if until else newest + lockout
    return until


def _attempt(
    conn: Connection, username: str, source: str | None, now: datetime, reason: str | None
) -> None:
    conn.execute(
        insert(login_attempt).values(
            at=now,
            username=username[:64],
            source_address=source,
            succeeded=reason is None,
            reason=reason,
        )
    )


def _fail(
    conn: Connection,
    policy: PasswordPolicy,
    username: str,
    source: str | None,
    now: datetime,
    reason: str,
) -> AuthenticationFailed:
    _attempt(conn, username, source, now, reason)
    locked = reason != "blocked" and blocked_until(conn, policy, username, source, now) is not None
    incidents.report(
        conn,
        SecurityCategory.ATTEMPTED_COMPROMISE
        if reason != "blocked"
        else SecurityCategory.UNAUTHORISED_ACCESS,
        Severity.ALARM if locked else Severity.WARNING,
        "log-in blocked after repeated failures" if locked else f"log-in failed: {reason}",
        actor=username[:64],
        source_address=source,
        details={"reason": reason},
        now=now,
    )
    return AuthenticationFailed(reason)


def login(
    conn: Connection,
    username: str,
    password: str,
    *,
    policy: PasswordPolicy,
    source_address: str | None,
    totp_code: str | None = None,
    box: SecretBox | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Authenticate and open a session; raises `AuthenticationFailed` (the caller must commit
    even then, so that the failure and its security event are kept)."""
    moment = now or datetime.now(UTC)
    if blocked_until(conn, policy, username, source_address, moment) is not None:
        raise _fail(conn, policy, username, source_address, moment, "blocked")
    row = conn.execute(select(user_account).where(user_account.c.username == username)).first()
    stored = None if row is None else row._mapping["password_hash"]
    if row is None or stored is None:
        passwords.verify_password(_NO_USER_HASH, password)  # same cost as a real check
        raise _fail(conn, policy, username, source_address, moment, "unknown user")
    m = row._mapping
    if m["disabled_at"] is not None:
        raise _fail(conn, policy, username, source_address, moment, "disabled")
    if not passwords.verify_password(stored, password):
        raise _fail(conn, policy, username, source_address, moment, "wrong password")
    user_id: UUID = m["id"]
    needs_totp = bool({r.value for r in roles_of(conn, user_id)} & set(policy.totp_roles))
    enrolled = m["totp_secret"] is not None
    if needs_totp and enrolled:
        if box is None or totp_code is None:
            raise _fail(conn, policy, username, source_address, moment, "totp missing")
        secret = box.open(m["totp_secret"], _totp_context(user_id))
        step = totp.accepted_step(
            secret, totp_code, moment.timestamp(), last_used_step=m["totp_last_step"]
        )
        if step is None:
            raise _fail(conn, policy, username, source_address, moment, "totp wrong or replayed")
        conn.execute(
            update(user_account).where(user_account.c.id == user_id).values(totp_last_step=step)
        )
    _attempt(conn, username, source_address, moment, None)
    must_change = bool(m["must_change_password"]) or passwords.is_expired(
        policy, m["password_changed_at"], moment
    )
    must_enrol = needs_totp and not enrolled
    restricted = must_change or must_enrol
    ttl = SETUP_TTL if restricted else SESSION_TTL
    token = issue_token(
        conn,
        user_id,
        kind="setup" if restricted else "session",
        ttl=ttl,
        now=moment,
        scopes=() if restricted else None,
    )
    return LoginResult(token, user_id, moment + ttl, must_change, must_enrol)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue_token(
    conn: Connection,
    user_id: UUID,
    *,
    kind: str,
    ttl: timedelta,
    scopes: Iterable[Permission] | None = None,
    name: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new bearer token for the account (kind `session`, `setup`, `api` or `machine`), valid
    for `ttl`; `scopes` narrows it. The value is returned once and never stored."""
    moment = now or datetime.now(UTC)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(access_token).values(
            token_hash=_digest(token),
            user_id=user_id,
            kind=kind,
            name=name,
            scopes=None if scopes is None else sorted(p.value for p in scopes),
            created_at=moment,
            expires_at=moment + ttl,
        )
    )
    return token


def authenticate(conn: Connection, token: str, *, now: datetime | None = None) -> Principal:
    """The principal behind a bearer token; `AuthenticationFailed` when unknown, expired or
    revoked."""
    moment = now or datetime.now(UTC)
    t = access_token.c
    row = conn.execute(select(access_token).where(t.token_hash == _digest(token))).first()
    if row is None:
        raise AuthenticationFailed("unknown token")
    m = row._mapping
    if m["revoked_at"] is not None:
        raise AuthenticationFailed("revoked token")
    if m["expires_at"] <= moment:
        raise AuthenticationFailed("expired token")
    scopes = None if m["scopes"] is None else frozenset(Permission(s) for s in m["scopes"])
    return principal(conn, m["user_id"], scopes)


def revoke_token(conn: Connection, token: str, *, now: datetime | None = None) -> None:
    """End a session or withdraw a token (log-out)."""
    moment = now or datetime.now(UTC)
    t = access_token.c
    conn.execute(
        update(access_token)
        .where(t.token_hash == _digest(token), t.revoked_at.is_(None))
        .values(revoked_at=moment)
    )
