"""Typed failures of the security layer, so a face can map each to the right answer (403, 401,
422) without parsing messages. Messages never carry a password, secret or token."""

from __future__ import annotations


class SecurityLayerError(Exception):
    """Base of every failure the security layer raises on purpose."""


class AccessDenied(SecurityLayerError):
    """The principal lacks the permission (or the scope) an operation declares (SEC-4)."""

    def __init__(self, permission: str, reason: str) -> None:
        super().__init__(f"{permission}: {reason}")
        self.permission = permission
        self.reason = reason


class PasswordPolicyError(SecurityLayerError):
    """A new password breaks a rule of the jurisdiction's policy (SEC-5); `rule` names it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class AuthenticationFailed(SecurityLayerError):
    """A log-in or token was refused. `reason` is for the log; faces show a generic message so
    that a caller cannot tell a wrong user name from a wrong password."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SecretError(SecurityLayerError):
    """A sealed secret could not be opened (wrong master key or edited ciphertext) or the master
    key is missing or malformed."""


class UserError(SecurityLayerError):
    """A user-management request that cannot be carried out (unknown user, duplicate name)."""
