"""Roles and the permission catalogue (SEC-4): what each role may do, and at which scope.

Least privilege by default: a new account holds no role and so may do nothing. Every operation a
face offers declares one `Permission`; `require` answers whether a principal holds it. Retailers
and consumers hold read permissions only at a narrowed scope (their own customers' or their own
delivery points), which the caller checks against master data with `metra.security.access`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from uuid import UUID

from metra.security.errors import AccessDenied


class Permission(StrEnum):
    """Everything the system lets someone do; faces name one per operation."""

    READINGS_READ = "readings:read"
    MASTERDATA_READ = "masterdata:read"
    EVENTS_READ = "events:read"
    MASTERDATA_EDIT = "masterdata:edit"
    DATA_EDIT = "data:edit"
    METERS_PARAMETERISE = "meters:parameterise"
    METERS_CLOCK = "meters:clock"
    METERS_COMMAND = "meters:command"
    EXPORTS_RELEASE = "exports:release"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    KEYS_MANAGE = "keys:manage"
    SECURITY_EVENTS_READ = "security-events:read"
    INCIDENTS_MANAGE = "incidents:manage"
    CONFIG_MANAGE = "config:manage"


class Scope(IntEnum):
    """How far a permission reaches; a larger value includes the smaller ones."""

    OWN_POINTS = 1  # the consumer's own delivery points (GDPR)
    OWN_CUSTOMERS = 2  # the retailer's own customers' points
    ALL = 3


class Role(StrEnum):
    """The roles of the issue; names match the profiles' `totp_roles`."""

    OPERATOR = "operator"
    SERVICE = "service"
    ADMINISTRATOR = "administrator"
    SECURITY_OFFICER = "security-officer"
    AUDITOR = "auditor"
    RETAILER = "retailer"
    CONSUMER = "consumer"


P = Permission
_READ = (P.READINGS_READ, P.MASTERDATA_READ, P.EVENTS_READ)

ROLE_PERMISSIONS: dict[Role, dict[Permission, Scope]] = {
    Role.OPERATOR: dict.fromkeys(_READ, Scope.ALL),
    Role.SERVICE: dict.fromkeys(
        (*_READ, P.METERS_PARAMETERISE, P.METERS_CLOCK, P.METERS_COMMAND), Scope.ALL
    ),
    Role.ADMINISTRATOR: dict.fromkeys(Permission, Scope.ALL),
    Role.SECURITY_OFFICER: dict.fromkeys(
        (P.KEYS_MANAGE, P.AUDIT_READ, P.SECURITY_EVENTS_READ, P.INCIDENTS_MANAGE), Scope.ALL
    ),
    Role.AUDITOR: {P.AUDIT_READ: Scope.ALL},
    Role.RETAILER: dict.fromkeys(_READ, Scope.OWN_CUSTOMERS),
    Role.CONSUMER: {P.READINGS_READ: Scope.OWN_POINTS, P.MASTERDATA_READ: Scope.OWN_POINTS},
}
"""The role -> permission map. Parameterisation means from prepared files only: the service role
applies a reviewed parameter file, it does not write arbitrary attributes (`config:manage`)."""


def permissions_of(roles: frozenset[Role]) -> dict[Permission, Scope]:
    """The union of the roles' permissions, each at the widest scope any of the roles gives."""
    merged: dict[Permission, Scope] = {}
    for role in roles:
        for permission, scope in ROLE_PERMISSIONS[role].items():
            merged[permission] = max(scope, merged.get(permission, scope))
    return merged


@dataclass(frozen=True)
class Principal:
    """Who is acting: an account, the roles it holds through grants made by *others* (SEC-4),
    the party it acts for (retailer / consumer) and, for a scoped token, the permissions the token
    narrows it to."""

    user_id: UUID
    username: str
    roles: frozenset[Role]
    party_id: UUID | None = None
    token_scopes: frozenset[Permission] | None = None
    permissions: dict[Permission, Scope] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        granted = permissions_of(self.roles)
        if self.token_scopes is not None:
            granted = {p: s for p, s in granted.items() if p in self.token_scopes}
        object.__setattr__(self, "permissions", granted)


def allowed(principal: Principal, permission: Permission) -> bool:
    """Whether the principal holds `permission` at any scope."""
    return permission in principal.permissions


def require(principal: Principal, permission: Permission) -> Scope:
    """The scope at which the principal holds `permission`; `AccessDenied` when it does not."""
    scope = principal.permissions.get(permission)
    if scope is None:
        reason = "no role grants it" if principal.roles else "the account holds no role"
        if principal.token_scopes is not None and permission not in principal.token_scopes:
            reason = "outside the token's scopes"
        raise AccessDenied(permission.value, reason)
    return scope
