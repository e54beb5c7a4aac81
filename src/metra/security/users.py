"""Accounts and role grants (SEC-4, SEC-5): creation, the first administrator, grants and
revocations, password changes and TOTP enrolment, each written to the audit trail (STO-5).

No default credentials exist: the first administrator gets a one-time secret (generated and shown
once, or given by the operator) that must be changed at the first log-in. A grant counts only for
the account it names and never for the one who made it; granting a role to oneself is refused, so
nobody can lift their own privileges (SEC-4).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from metra.profiles.model import PasswordPolicy
from metra.security import audit, passwords, totp
from metra.security.errors import AccessDenied, UserError
from metra.security.roles import Permission, Principal, Role, require
from metra.security.schema import password_history, role_grant, user_account
from metra.security.sealing import SecretBox

BOOTSTRAP_ACTOR = "bootstrap"


@dataclass(frozen=True)
class User:
    """An account as the other modules need it; the hashes and sealed secret stay inside."""

    id: UUID
    username: str
    kind: str
    party_id: UUID | None
    must_change_password: bool
    password_changed_at: datetime | None
    totp_enrolled: bool
    disabled: bool


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(
        m["id"],
        m["username"],
        m["kind"],
        m["party_id"],
        m["must_change_password"],
        m["password_changed_at"],
        m["totp_secret"] is not None,
        m["disabled_at"] is not None,
    )


def find(conn: Connection, username: str) -> User | None:
    """The account called `username`, if any."""
    row = conn.execute(select(user_account).where(user_account.c.username == username)).first()
    return None if row is None else _user(row)


def get(conn: Connection, user_id: UUID) -> User:
    """The account `user_id`; `UserError` when it does not exist."""
    row = conn.execute(select(user_account).where(user_account.c.id == user_id)).first()
    if row is None:
        raise UserError(f"no user {user_id}")
    return _user(row)


def _insert(
    conn: Connection,
    username: str,
    *,
    kind: str,
    party_id: UUID | None,
    password: str | None,
    must_change: bool,
    created_by: str,
    now: datetime,
) -> UUID:
    if find(conn, username) is not None:
        raise UserError(f"user {username!r} exists")
    user_id = uuid4()
    hashed = passwords.hash_password(password) if password is not None else None
    conn.execute(
        insert(user_account).values(
            id=user_id,
            username=username,
            kind=kind,
            party_id=party_id,
            password_hash=hashed,
            password_changed_at=now if hashed else None,
            must_change_password=must_change,
            created_at=now,
            created_by=created_by,
        )
    )
    if hashed is not None:
        conn.execute(
            insert(password_history).values(user_id=user_id, password_hash=hashed, set_at=now)
        )
    return user_id


def bootstrap(
    conn: Connection,
    username: str,
    *,
    secret: str | None = None,
    now: datetime | None = None,
    source_address: str | None = None,
) -> tuple[UUID, str]:
    """Create the first administrator; returns its id and the one-time secret.

    Refused once any account exists. The secret is generated unless the operator gives one (from
    the environment); it is not checked against the policy because it must be changed at the
    first log-in anyway.
    """
    moment = now or datetime.now(UTC)
    if conn.execute(select(func.count()).select_from(user_account)).scalar_one():
        raise UserError("accounts exist already: bootstrap runs only on an empty system")
    one_time = secret or secrets.token_urlsafe(18)
    user_id = _insert(
        conn,
        username,
        kind="person",
        party_id=None,
        password=one_time,
        must_change=True,
        created_by=BOOTSTRAP_ACTOR,
        now=moment,
    )
    conn.execute(
        insert(role_grant).values(
            user_id=user_id, role=Role.ADMINISTRATOR.value, granted_by=None, granted_at=moment
        )
    )
    audit.record(
        conn,
        BOOTSTRAP_ACTOR,
        "user.bootstrap",
        ("user", username),
        None,
        {"roles": [Role.ADMINISTRATOR.value]},
        source_address,
        at=moment,
    )
    return user_id, one_time


def create(
    conn: Connection,
    actor: Principal,
    username: str,
    *,
    policy: PasswordPolicy,
    initial_password: str | None = None,
    kind: str = "person",
    party_id: UUID | None = None,
    now: datetime | None = None,
    source_address: str | None = None,
) -> UUID:
    """Create an account with no role (least privilege); needs `users:manage`.

    An initial password must meet the policy; the holder changes it at the first log-in when the
    profile asks for that. Machine accounts usually have no password and use tokens.
    """
    require(actor, Permission.USERS_MANAGE)
    moment = now or datetime.now(UTC)
    if initial_password is not None:
        passwords.check_composition(policy, initial_password, username=username)
    user_id = _insert(
        conn,
        username,
        kind=kind,
        party_id=party_id,
        password=initial_password,
        must_change=policy.force_change_first_login and initial_password is not None,
        created_by=actor.username,
        now=moment,
    )
    after = {"kind": kind, "party_id": str(party_id) if party_id else None}
    audit.record(
        conn,
        actor.username,
        "user.create",
        ("user", username),
        None,
        after,
        source_address,
        at=moment,
    )
    return user_id


def _active_grants(user_id: UUID) -> object:
    g = role_grant.c
    return and_(
        g.user_id == user_id,
        g.revoked_at.is_(None),
        or_(g.granted_by.is_(None), g.granted_by != user_id),
    )


def roles_of(conn: Connection, user_id: UUID) -> frozenset[Role]:
    """The roles the account holds through grants made by someone else (or the bootstrap)."""
    query = select(role_grant.c.role).where(_active_grants(user_id))  # type: ignore[arg-type]
    return frozenset(Role(r) for r in conn.execute(query).scalars())


def principal(
    conn: Connection, user_id: UUID, token_scopes: frozenset[Permission] | None = None
) -> Principal:
    """The account as an actor: its roles and party, optionally narrowed to token scopes."""
    user = get(conn, user_id)
    roles = frozenset() if user.disabled else roles_of(conn, user_id)
    return Principal(user.id, user.username, roles, user.party_id, token_scopes)


def grant(
    conn: Connection,
    actor: Principal,
    user_id: UUID,
    role: Role,
    *,
    now: datetime | None = None,
    source_address: str | None = None,
) -> None:
    """Give `role` to the account; needs `users:manage`, never to oneself (SEC-4)."""
    require(actor, Permission.USERS_MANAGE)
    if user_id == actor.user_id:
        raise AccessDenied(Permission.USERS_MANAGE.value, "a role cannot be granted to oneself")
    moment = now or datetime.now(UTC)
    target = get(conn, user_id)
    before = sorted(roles_of(conn, user_id))
    if role in before:
        return
    conn.execute(
        insert(role_grant).values(
            user_id=user_id, role=role.value, granted_by=actor.user_id, granted_at=moment
        )
    )
    audit.record(
        conn,
        actor.username,
        "role.grant",
        ("user", target.username),
        before,
        sorted([*before, role]),
        source_address,
        at=moment,
    )


def revoke(
    conn: Connection,
    actor: Principal,
    user_id: UUID,
    role: Role,
    *,
    now: datetime | None = None,
    source_address: str | None = None,
) -> None:
    """Withdraw `role` from the account (the grant row stays, marked revoked)."""
    require(actor, Permission.USERS_MANAGE)
    moment = now or datetime.now(UTC)
    target = get(conn, user_id)
    before = sorted(roles_of(conn, user_id))
    g = role_grant.c
    conn.execute(
        update(role_grant)
        .where(g.user_id == user_id, g.role == role.value, g.revoked_at.is_(None))
        .values(revoked_at=moment, revoked_by=actor.user_id)
    )
    after = sorted(r for r in before if r != role)
    audit.record(
        conn,
        actor.username,
        "role.revoke",
        ("user", target.username),
        before,
        after,
        source_address,
        at=moment,
    )


def _history(conn: Connection, user_id: UUID) -> list[str]:
    h = password_history.c
    query = select(h.password_hash).where(h.user_id == user_id).order_by(h.id.desc())
    return list(conn.execute(query).scalars())


def change_password(
    conn: Connection,
    user_id: UUID,
    current: str,
    new: str,
    *,
    policy: PasswordPolicy,
    now: datetime | None = None,
    source_address: str | None = None,
) -> None:
    """Self-service change (SEC-5): the current password, then every rule of the policy.

    The minimum age does not apply to a forced change (first log-in, expiry).
    """
    moment = now or datetime.now(UTC)
    row = conn.execute(select(user_account).where(user_account.c.id == user_id)).first()
    if row is None:
        raise UserError(f"no user {user_id}")
    stored = row._mapping["password_hash"]
    if stored is None or not passwords.verify_password(stored, current):
        raise AccessDenied("password:change", "the current password is wrong")
    user = _user(row)
    forced = user.must_change_password or passwords.is_expired(
        policy, user.password_changed_at, moment
    )
    if not forced:
        passwords.check_min_age(policy, user.password_changed_at, moment)
    passwords.check_composition(policy, new, username=user.username)
    passwords.check_reuse(policy, new, _history(conn, user_id))
    hashed = passwords.hash_password(new)
    conn.execute(
        update(user_account)
        .where(user_account.c.id == user_id)
        .values(password_hash=hashed, password_changed_at=moment, must_change_password=False)
    )
    conn.execute(
        insert(password_history).values(user_id=user_id, password_hash=hashed, set_at=moment)
    )
    audit.record(
        conn,
        user.username,
        "user.password_change",
        ("user", user.username),
        None,
        None,
        source_address,
        at=moment,
    )


def enrol_totp(
    conn: Connection, user_id: UUID, box: SecretBox, *, now: datetime | None = None
) -> bytes:
    """Give the account a new TOTP secret, stored sealed; returns it once for the authenticator
    app (show it with `totp.provisioning_uri`)."""
    user = get(conn, user_id)
    secret = totp.new_secret()
    sealed = box.seal(secret, _totp_context(user_id))
    conn.execute(
        update(user_account)
        .where(user_account.c.id == user_id)
        .values(totp_secret=sealed, totp_last_step=None)
    )
    audit.record(
        conn, user.username, "user.totp_enrol", ("user", user.username), None, None, None, at=now
    )
    return secret


def _totp_context(user_id: UUID) -> bytes:
    return b"metra totp\x00" + user_id.bytes
