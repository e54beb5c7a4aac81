"""Password policy and hashing (SEC-5, TOOL-3).

The rules come from the jurisdiction profile (PL: at least 10 characters with a letter, a digit
and a special character, history of 5, maximum age 30 days, minimum age 2 days; RU: at least 8,
mixed case, a special character, no reuse ever), so this module holds no country's numbers.
Passwords are hashed with Argon2id (RFC 9106) and only hashes are kept, for the history too:
reuse is found by verifying the candidate against each kept hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from metra.profiles.model import PasswordPolicy
from metra.security.errors import PasswordPolicyError

HASHER = PasswordHasher()
"""Argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4)."""


def _is_special(char: str) -> bool:
    return not char.isalnum() and not char.isspace()


def check_composition(policy: PasswordPolicy, password: str, *, username: str = "") -> None:
    """Raise `PasswordPolicyError` naming the first composition rule `password` breaks."""
    if len(password) < policy.min_length:
        raise PasswordPolicyError("min_length", f"at least {policy.min_length} characters")
    if policy.require_letter and not any(c.isalpha() for c in password):
        raise PasswordPolicyError("letter", "at least one letter")
    if policy.require_digit and not any(c.isdigit() for c in password):
        raise PasswordPolicyError("digit", "at least one digit")
    if policy.require_special and not any(_is_special(c) for c in password):
        raise PasswordPolicyError("special", "at least one special character")
    if policy.require_mixed_case and not (
        any(c.islower() for c in password) and any(c.isupper() for c in password)
    ):
        raise PasswordPolicyError("mixed_case", "both lower- and upper-case letters")
    if username and username.casefold() in password.casefold():
        raise PasswordPolicyError("contains_username", "must not contain the user name")


def check_reuse(policy: PasswordPolicy, password: str, earlier_hashes: Iterable[str]) -> None:
    """Refuse a password equal to a kept earlier one.

    `earlier_hashes` is newest first. With `forbid_any_reuse` every kept hash counts (rule
    `reuse`); otherwise the newest `history` do (rule `history`), the current one included.
    """
    kept = list(earlier_hashes)
    rule = "reuse" if policy.forbid_any_reuse else "history"
    window = kept if policy.forbid_any_reuse else kept[: max(policy.history, 1)]
    for earlier in window:
        if verify_password(earlier, password):
            raise PasswordPolicyError(rule, "equals an earlier password")


def check_min_age(policy: PasswordPolicy, changed_at: datetime | None, now: datetime) -> None:
    """Refuse a self-service change sooner than the minimum age (stops cycling through the
    history to get back to a favourite). A forced change is not subject to it."""
    if changed_at is not None and now - changed_at < timedelta(days=policy.min_age_days):
        raise PasswordPolicyError("min_age", f"may change only every {policy.min_age_days} days")


def is_expired(policy: PasswordPolicy, changed_at: datetime | None, now: datetime) -> bool:
    """Whether the password is past the maximum age (0 = never expires)."""
    if policy.max_age_days == 0 or changed_at is None:
        return False
    return now - changed_at >= timedelta(days=policy.max_age_days)


def hash_password(password: str) -> str:
    """An Argon2id hash in PHC string form (salt and parameters included)."""
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; a malformed hash never matches."""
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
