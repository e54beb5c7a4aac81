"""Accounts, grants, log-in, lockout, TOTP and tokens on SQLite and PostgreSQL (SEC-1, SEC-4,
SEC-5, SEC-8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from metra.profiles import Profile
from metra.security import login, users
from metra.security.errors import AccessDenied, AuthenticationFailed, PasswordPolicyError
from metra.security.roles import Permission, Role, require
from metra.security.schema import access_token, user_account
from metra.security.sealing import SecretBox
from metra.security.totp import totp
from metra.store.events import security_events, unacknowledged

NOW = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
BOX = SecretBox(bytes(range(32)))
IP = "192.0.2.10"


def _admin(conn: Connection, pl: Profile) -> tuple[users.UUID, str]:
    user_id, secret = users.bootstrap(conn, "root", now=NOW)
    result = login.login(conn, "root", secret, policy=pl.passwords, source_address=IP, now=NOW)
    assert result.restricted and result.must_change_password
    users.change_password(conn, user_id, secret, "Admin-pass-1", policy=pl.passwords, now=NOW)
    return user_id, "Admin-pass-1"


def test_sec5_bootstrap_once_with_forced_change_and_setup_session(
    conn: Connection, pl: Profile
) -> None:
    user_id, secret = users.bootstrap(conn, "root", now=NOW)
    assert len(secret) >= 20
    with pytest.raises(users.UserError):
        users.bootstrap(conn, "again", now=NOW)
    result = login.login(conn, "root", secret, policy=pl.passwords, source_address=IP, now=NOW)
    setup = login.authenticate(conn, result.token, now=NOW)
    with pytest.raises(AccessDenied):  # a setup session may do nothing but change and enrol
        require(setup, Permission.USERS_MANAGE)
    stored = conn.execute(select(user_account.c.password_hash)).scalar_one()
    assert secret not in stored
    users.change_password(conn, user_id, secret, "Admin-pass-1", policy=pl.passwords, now=NOW)
    assert not users.get(conn, user_id).must_change_password


def test_sec4_grants_and_self_grant_refused(conn: Connection, pl: Profile) -> None:
    admin_id, _ = _admin(conn, pl)
    admin = users.principal(conn, admin_id)
    bob = users.create(conn, admin, "bob", policy=pl.passwords, now=NOW)
    assert users.roles_of(conn, bob) == frozenset()  # least privilege
    users.grant(conn, admin, bob, Role.SECURITY_OFFICER, now=NOW)
    assert users.roles_of(conn, bob) == {Role.SECURITY_OFFICER}
    # The grantor did not gain the role through the grant; a grant to oneself is refused.
    assert Role.SECURITY_OFFICER not in users.roles_of(conn, admin_id)
    with pytest.raises(AccessDenied, match="oneself"):
        users.grant(conn, admin, admin_id, Role.SECURITY_OFFICER, now=NOW)
    officer = users.principal(conn, bob)
    with pytest.raises(AccessDenied):  # the officer cannot manage users
        users.grant(conn, officer, admin_id, Role.AUDITOR, now=NOW)
    users.revoke(conn, admin, bob, Role.SECURITY_OFFICER, now=NOW)
    assert users.roles_of(conn, bob) == frozenset()


def test_sec5_password_change_applies_policy(conn: Connection, pl: Profile) -> None:
    admin_id, password = _admin(conn, pl)
    with pytest.raises(PasswordPolicyError) as caught:  # minimum age of 2 days
        users.change_password(
            conn, admin_id, password, "Other-pass-2", policy=pl.passwords, now=NOW
        )
    assert caught.value.rule == "min_age"
    later = NOW + timedelta(days=3)
    with pytest.raises(PasswordPolicyError, match="history"):
        users.change_password(conn, admin_id, password, password, policy=pl.passwords, now=later)
    with pytest.raises(AccessDenied):
        users.change_password(
            conn, admin_id, "wrong", "Other-pass-2", policy=pl.passwords, now=later
        )
    users.change_password(conn, admin_id, password, "Other-pass-2", policy=pl.passwords, now=later)


def test_sec5_lockout_per_account_logged_and_alarmed(conn: Connection, pl: Profile) -> None:
    _admin(conn, pl)
    limit = pl.passwords.max_failed_logins
    for i in range(limit):
        with pytest.raises(AuthenticationFailed):
            login.login(
                conn,
                "root",
                "bad",
                policy=pl.passwords,
                source_address=IP,
                now=NOW + timedelta(seconds=i),
            )
    # Blocked now, even with the right password; free again after the lockout.
    with pytest.raises(AuthenticationFailed, match="blocked"):
        login.login(
            conn,
            "root",
            "Admin-pass-1",
            policy=pl.passwords,
            source_address="198.51.100.1",
            now=NOW + timedelta(minutes=1),
        )
    events = security_events(conn, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert sum(1 for e in events if e["actor"] == "root") == limit + 1  # SEC-8: every failure
    assert any(a["source"] == "security" for a in unacknowledged(conn))
    later = NOW + timedelta(minutes=1 + pl.passwords.lockout_minutes)
    # (root has no TOTP enrolled yet: a setup session)
    assert login.login(
        conn, "root", "Admin-pass-1", policy=pl.passwords, source_address=IP, now=later
    )


def test_sec5_lockout_per_source_address(conn: Connection, pl: Profile) -> None:
    limit = pl.passwords.max_failed_logins * login.SOURCE_FACTOR
    for i in range(limit):
        with pytest.raises(AuthenticationFailed):
            login.login(
                conn, f"guess{i}", "x", policy=pl.passwords, source_address="203.0.113.9", now=NOW
            )
    assert login.blocked_until(conn, pl.passwords, "someone", "203.0.113.9", NOW) is not None
    assert login.blocked_until(conn, pl.passwords, "someone", IP, NOW) is None


def test_sec5_totp_required_for_profile_roles_and_replay_refused(
    conn: Connection, pl: Profile
) -> None:
    admin_id, password = _admin(conn, pl)
    result = login.login(conn, "root", password, policy=pl.passwords, source_address=IP, now=NOW)
    assert result.must_enrol_totp  # PL: administrators need TOTP
    secret = users.enrol_totp(conn, admin_id, BOX, now=NOW)
    stored = conn.execute(select(user_account.c.totp_secret)).scalar_one()
    assert secret not in stored
    with pytest.raises(AuthenticationFailed, match="totp"):
        login.login(
            conn, "root", password, policy=pl.passwords, source_address=IP, box=BOX, now=NOW
        )
    code = totp(secret, NOW.timestamp())
    ok = login.login(
        conn,
        "root",
        password,
        policy=pl.passwords,
        source_address=IP,
        box=BOX,
        totp_code=code,
        now=NOW,
    )
    assert not ok.restricted
    assert require(login.authenticate(conn, ok.token, now=NOW), Permission.USERS_MANAGE)
    with pytest.raises(AuthenticationFailed, match="replayed"):
        login.login(
            conn,
            "root",
            password,
            policy=pl.passwords,
            source_address=IP,
            box=BOX,
            totp_code=code,
            now=NOW + timedelta(seconds=10),
        )


def test_sec1_tokens_expire_revoke_scope_and_store_only_hashes(
    conn: Connection, pl: Profile
) -> None:
    admin_id, _ = _admin(conn, pl)
    admin = users.principal(conn, admin_id)
    hub = users.create(conn, admin, "market-hub", policy=pl.passwords, kind="machine", now=NOW)
    users.grant(conn, admin, hub, Role.OPERATOR, now=NOW)
    token = login.issue_token(
        conn,
        hub,
        kind="machine",
        ttl=timedelta(days=30),
        scopes=[Permission.READINGS_READ],
        now=NOW,
    )
    assert (
        conn.execute(
            select(access_token).where(access_token.c.token_hash == token.encode())
        ).first()
        is None
    )
    machine = login.authenticate(conn, token, now=NOW)
    require(machine, Permission.READINGS_READ)
    with pytest.raises(AccessDenied):
        require(machine, Permission.EVENTS_READ)  # the role has it, the token's scopes do not
    with pytest.raises(AuthenticationFailed, match="expired"):
        login.authenticate(conn, token, now=NOW + timedelta(days=30))
    login.revoke_token(conn, token, now=NOW)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        login.authenticate(conn, token, now=NOW)
    with pytest.raises(AuthenticationFailed, match="unknown"):
        login.authenticate(conn, "mt_nope", now=NOW)
