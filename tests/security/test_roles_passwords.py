"""Roles, permissions and the password policy (SEC-4, SEC-5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from metra.profiles import Profile
from metra.security.errors import AccessDenied, PasswordPolicyError
from metra.security.passwords import (
    check_composition,
    check_min_age,
    check_reuse,
    hash_password,
    is_expired,
    verify_password,
)
from metra.security.roles import Permission, Principal, Role, Scope, allowed, require

P = Permission
NOW = datetime(2030, 3, 1, tzinfo=UTC)

# What each role may and may not do (SEC-4); every role is tested on both sides.
EXPECTED: dict[Role, tuple[set[Permission], set[Permission]]] = {
    Role.OPERATOR: ({P.READINGS_READ, P.EVENTS_READ}, {P.METERS_COMMAND, P.USERS_MANAGE}),
    Role.SERVICE: (
        {P.READINGS_READ, P.METERS_PARAMETERISE, P.METERS_CLOCK, P.METERS_COMMAND},
        {P.USERS_MANAGE, P.KEYS_MANAGE, P.AUDIT_READ, P.CONFIG_MANAGE},
    ),
    Role.ADMINISTRATOR: (set(Permission), set()),
    Role.SECURITY_OFFICER: (
        {P.KEYS_MANAGE, P.AUDIT_READ, P.INCIDENTS_MANAGE, P.SECURITY_EVENTS_READ},
        {P.METERS_COMMAND, P.USERS_MANAGE, P.READINGS_READ},
    ),
    Role.AUDITOR: ({P.AUDIT_READ}, {P.READINGS_READ, P.KEYS_MANAGE, P.INCIDENTS_MANAGE}),
    Role.RETAILER: ({P.READINGS_READ}, {P.METERS_COMMAND, P.AUDIT_READ}),
    Role.CONSUMER: ({P.READINGS_READ}, {P.EVENTS_READ, P.METERS_COMMAND, P.USERS_READ}),
}


def _principal(*roles: Role, scopes: frozenset[Permission] | None = None) -> Principal:
    return Principal(uuid4(), "u", frozenset(roles), token_scopes=scopes)


@pytest.mark.parametrize("role", list(Role))
def test_sec4_each_role_allowed_and_refused(role: Role) -> None:
    allowed_set, refused = EXPECTED[role]
    principal = _principal(role)
    for permission in allowed_set:
        assert allowed(principal, permission)
        require(principal, permission)
    for permission in refused:
        with pytest.raises(AccessDenied):
            require(principal, permission)


def test_sec4_least_privilege_new_account_may_do_nothing() -> None:
    principal = _principal()
    for permission in Permission:
        with pytest.raises(AccessDenied, match="holds no role"):
            require(principal, permission)


def test_sec4_retailer_and_consumer_are_scoped() -> None:
    assert require(_principal(Role.RETAILER), P.READINGS_READ) == Scope.OWN_CUSTOMERS
    assert require(_principal(Role.CONSUMER), P.READINGS_READ) == Scope.OWN_POINTS
    assert require(_principal(Role.CONSUMER, Role.OPERATOR), P.READINGS_READ) == Scope.ALL


def test_sec4_token_scopes_narrow_permissions() -> None:
    principal = _principal(Role.ADMINISTRATOR, scopes=frozenset({P.READINGS_READ}))
    require(principal, P.READINGS_READ)
    with pytest.raises(AccessDenied, match="token"):
        require(principal, P.USERS_MANAGE)


def test_sec5_pl_composition_rules_named(pl: Profile) -> None:
    policy = pl.passwords
    cases = {
        "Ab1!": "min_length",
        "1234567890!": "letter",
        "abcdefghij!": "digit",
        "abcdefghi1": "special",
        "alice-is-1-here": "contains_username",
    }
    for password, rule in cases.items():
        with pytest.raises(PasswordPolicyError) as caught:
            check_composition(policy, password, username="alice")
        assert caught.value.rule == rule
    check_composition(policy, "correct-horse-7", username="alice")


def test_sec5_ru_requires_mixed_case(ru: Profile) -> None:
    with pytest.raises(PasswordPolicyError) as caught:
        check_composition(ru.passwords, "lower-case!")
    assert caught.value.rule == "mixed_case"
    check_composition(ru.passwords, "Mixed-Case")


def test_sec5_pl_history_of_five(pl: Profile) -> None:
    hashes = [hash_password(f"Password-{i}") for i in range(6)][::-1]  # newest first
    for i in range(1, 6):  # the five newest are refused
        with pytest.raises(PasswordPolicyError, match="history"):
            check_reuse(pl.passwords, f"Password-{i}", hashes)
    check_reuse(pl.passwords, "Password-0", hashes)  # the sixth newest is allowed again


def test_sec5_ru_forbids_any_reuse(ru: Profile) -> None:
    hashes = [hash_password(f"Password-{i}") for i in range(8)]
    with pytest.raises(PasswordPolicyError) as caught:
        check_reuse(ru.passwords, "Password-7", hashes)
    assert caught.value.rule == "reuse"


def test_sec5_pl_ages(pl: Profile) -> None:
    with pytest.raises(PasswordPolicyError, match="min_age"):
        check_min_age(pl.passwords, NOW - timedelta(days=1), NOW)
    check_min_age(pl.passwords, NOW - timedelta(days=2), NOW)
    assert not is_expired(pl.passwords, NOW - timedelta(days=29), NOW)
    assert is_expired(pl.passwords, NOW - timedelta(days=30), NOW)


def test_sec5_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("Secret-123!")
    assert hashed.startswith("$argon2id$")
    assert "Secret-123!" not in hashed
    assert verify_password(hashed, "Secret-123!")
    assert not verify_password(hashed, "secret-123!")
    assert not verify_password("not a hash", "x")
