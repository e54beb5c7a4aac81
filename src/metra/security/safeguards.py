"""Safeguards on commands to meters (SEC-4, SEC-6, SEC-10, CMD-9): the rules that keep the
breaker in every home from being turned against the people behind it.

- **Who may ask**: each command kind needs a permission (`KIND_PERMISSIONS`); approving needs
  the same permission.
- **Two people**: a disconnection of more metering points than the profile's
  `max_points_per_command` needs a second authorised person who is not the requester; an
  emergency (rationing) request needs `emergency_approvals` people other than the requester and
  a written reason.
- **Limits per window**: disconnections ordered by one user and by everyone within the profile's
  window; beyond them a request is refused and raised as a security alarm. The emergency mode
  lifts these limits, only with its approvals and reason.
- **Controlled zone**: breaker and firmware commands (and their approvals) only from source
  addresses inside the networks this installation lists; an empty list allows none.
- **Administrator mode** (CMD-9): the measurement method only by someone holding the
  administrator role, whatever permissions other roles come to hold.
- **Deactivated functions** (SEC-10): kinds the profile or this installation switches off, and
  tariff commands to a meter whose master data says it has no time-of-use, are refused.

Every refusal is a `SafeguardRefused` naming the rule, and is recorded as a security event
first, so the caller must commit even when the request fails (as with a refused log-in).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from metra.profiles.model import Profile
from metra.security import incidents
from metra.security.errors import SecurityLayerError
from metra.security.roles import Permission, Principal, Role, require
from metra.store import commands
from metra.store.events import SecurityCategory, Severity

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

P = Permission
KIND_PERMISSIONS: dict[str, Permission] = {
    "connect": P.METERS_COMMAND,
    "disconnect": P.METERS_COMMAND,
    "power_limit": P.METERS_COMMAND,
    "emergency_power_limit": P.METERS_COMMAND,
    "han_open": P.METERS_COMMAND,
    "han_close": P.METERS_COMMAND,
    "time_sync": P.METERS_CLOCK,
    "time_set": P.METERS_CLOCK,
    "activity_calendar": P.METERS_PARAMETERISE,
    "special_days": P.METERS_PARAMETERISE,
    "data_scope": P.METERS_PARAMETERISE,
    "parameterise": P.METERS_PARAMETERISE,
    "measurement_method": P.CONFIG_MANAGE,
    "key_change": P.KEYS_MANAGE,
    "firmware_update": P.CONFIG_MANAGE,
    "credit_transfer": P.DATA_EDIT,
}
"""The permission each command kind needs (least privilege: key changes are the security
officer's, firmware the administrator's; a credit transfer puts money on a meter, so it needs
the permission that records the top-up in the ledger, not the service role's)."""

DISCONNECTION_KINDS = ("disconnect",)
#: Commands that move the breaker or replace firmware: only from the controlled zone (SEC-6).
ZONE_KINDS = frozenset({"connect", "disconnect", "firmware_update"})
#: Commands only an administrator may give or approve (CMD-9: the energy measurement method,
#: arithmetic or vector, changes only in administrator mode), whatever permissions a role holds.
ADMINISTRATOR_KINDS = frozenset({"measurement_method"})
#: Commands a meter without time-of-use capability cannot carry out.
TOU_KINDS = frozenset({"activity_calendar", "special_days"})


class SafeguardRefused(SecurityLayerError):
    """A command request broke a safeguard; `rule` names which (`permission`, `zone`,
    `disabled`, `user_limit`, `total_limit`, `emergency_reason`, `self_approval`, ...)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


@dataclass(frozen=True)
class CommandPolicy:
    """This installation's settings (not jurisdiction rules, so not in the profile).

    `controlled_zones`: the networks breaker and firmware commands may come from.
    `disabled_kinds`: functions this installation has switched off on top of the profile's.
    """

    controlled_zones: tuple[Network, ...] = ()
    disabled_kinds: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, zones: Iterable[str], disabled: Iterable[str] = ()) -> CommandPolicy:
        """From text: CIDR networks (a bare address is a /32 or /128)."""
        try:
            nets = tuple(ipaddress.ip_network(z.strip(), strict=False) for z in zones if z.strip())
        except ValueError as exc:
            raise SafeguardRefused("zone", f"not a network: {exc}") from None
        return cls(nets, frozenset(d.strip() for d in disabled if d.strip()))

    def in_zone(self, source_address: str | None) -> bool:
        """Whether an address lies inside a controlled-zone network."""
        if source_address is None:
            return False
        try:
            address = ipaddress.ip_address(source_address)
        except ValueError:
            return False
        return any(address in net for net in self.controlled_zones)


@dataclass(frozen=True)
class _Who:
    """Who asks, from where and when: what a refusal's security event names."""

    actor: Principal
    source_address: str | None
    now: datetime


def _refuse(
    conn: Connection,
    who: _Who,
    rule: str,
    message: str,
    *,
    category: SecurityCategory = SecurityCategory.UNAUTHORISED_ACCESS,
    severity: Severity = Severity.WARNING,
    details: dict[str, Any] | None = None,
) -> SafeguardRefused:
    incidents.report(
        conn,
        category,
        severity,
        f"command refused ({rule}): {message}",
        actor=who.actor.username,
        source_address=who.source_address,
        details={"rule": rule, **(details or {})},
        now=who.now,
    )
    return SafeguardRefused(rule, message)


def permission_for(kind: str) -> Permission:
    """The permission a kind needs; an unknown kind is refused outright."""
    permission = KIND_PERMISSIONS.get(kind)
    if permission is None:
        raise SafeguardRefused("kind", f"unknown command kind {kind!r}")
    return permission


def check_submission(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    policy: CommandPolicy,
    kind: str,
    meters: int,
    *,
    source_address: str | None,
    emergency: bool,
    reason: str | None,
    tou_capable: Sequence[bool | None] = (),
    now: datetime,
) -> int:
    """Apply every safeguard to a new request; returns how many second approvals it needs."""
    permission = permission_for(kind)
    where = _Who(actor, source_address, now)
    try:
        require(actor, permission)
    except SecurityLayerError:
        raise _refuse(conn, where, "permission", f"{actor.username} may not {kind}") from None
    if kind in ADMINISTRATOR_KINDS and Role.ADMINISTRATOR not in actor.roles:
        raise _refuse(conn, where, "administrator", f"{kind} only in administrator mode (CMD-9)")
    disabled = set(profile.commands.disabled_kinds) | set(policy.disabled_kinds)
    if kind in disabled:
        raise _refuse(
            conn,
            where,
            "disabled",
            f"{kind} is deactivated in this system (SEC-10)",
            category=SecurityCategory.OTHER,
        )
    if kind in TOU_KINDS and any(flag is False for flag in tou_capable):
        raise _refuse(
            conn,
            where,
            "disabled",
            f"{kind} to a meter configured without time-of-use",
            category=SecurityCategory.OTHER,
        )
    if kind in ZONE_KINDS and not policy.in_zone(source_address):
        raise _refuse(
            conn,
            where,
            "zone",
            f"{kind} only from the controlled zone, not from {source_address}",
            severity=Severity.ALARM,
        )
    if meters < 1:
        raise SafeguardRefused("meters", "a request names at least one meter")
    rules = profile.disconnection
    if emergency:
        if not reason or not reason.strip():
            raise SafeguardRefused("emergency_reason", "the emergency mode needs a reason")
        return rules.emergency_approvals
    if kind not in DISCONNECTION_KINDS:
        return 0
    since = now - timedelta(minutes=rules.window_minutes)
    mine = commands.disconnections_since(conn, DISCONNECTION_KINDS, since, by=actor.username)
    if mine + meters > rules.max_per_user_per_window:
        raise _refuse(
            conn,
            where,
            "user_limit",
            f"{actor.username} would order {mine + meters} disconnections within "
            f"{rules.window_minutes} min (limit {rules.max_per_user_per_window})",
            category=SecurityCategory.ATTEMPTED_COMPROMISE,
            severity=Severity.ALARM,
            details={"ordered": mine, "requested": meters},
        )
    everyone = commands.disconnections_since(conn, DISCONNECTION_KINDS, since)
    if everyone + meters > rules.max_total_per_window:
        raise _refuse(
            conn,
            where,
            "total_limit",
            f"{everyone + meters} disconnections within {rules.window_minutes} min "
            f"(limit {rules.max_total_per_window})",
            category=SecurityCategory.ATTEMPTED_COMPROMISE,
            severity=Severity.ALARM,
            details={"ordered": everyone, "requested": meters},
        )
    return 1 if meters > rules.max_points_per_command else 0


def check_approval(
    conn: Connection,
    approver: Principal,
    policy: CommandPolicy,
    request: commands.Request,
    *,
    source_address: str | None,
    now: datetime,
) -> None:
    """A second person: holds the kind's permission, is not the requester, has not approved
    already, and for breaker and firmware commands acts from the controlled zone (SEC-4)."""
    where = _Who(approver, source_address, now)
    try:
        require(approver, permission_for(request.kind))
    except SecurityLayerError:
        raise _refuse(
            conn,
            where,
            "permission",
            f"{approver.username} may not approve {request.kind}",
        ) from None
    if approver.username == request.requested_by:
        raise _refuse(
            conn,
            where,
            "self_approval",
            "the requester cannot approve their own request",
        )
    if approver.username in request.approvers:
        raise SafeguardRefused("already_approved", f"{approver.username} approved already")
    if request.kind in ZONE_KINDS and not policy.in_zone(source_address):
        raise _refuse(
            conn,
            where,
            "zone",
            f"approval of {request.kind} only from the controlled zone",
            severity=Severity.ALARM,
        )
    if request.status != commands.RequestStatus.AWAITING_APPROVAL.value:
        raise SafeguardRefused("state", f"request is {request.status}, not awaiting approval")
