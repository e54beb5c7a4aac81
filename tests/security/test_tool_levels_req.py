"""TOOL-2: three access levels as S0 5.2 defines them, driven through the real command request
code on both backends (every refusal is also a security event).

- operator mode: only reading of measurement data, events and parameters (S0 5.2.1);
- service mode: reading, parameterisation from prepared parameter files, setting the clock and
  control commands (S0 5.2.2);
- administrator mode: everything, including what the service mode may not do: firmware, keys,
  the measurement method (S0 5.2.3, 5.4).

The administrator's backup and restore of a meter's configuration is not built (see
docs/requirements.md, Not yet built).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

from sqlalchemy import Connection, func, select

from metra.profiles import Profile
from metra.security.command_requests import submit
from metra.security.roles import Permission, Principal, Role
from metra.security.safeguards import CommandPolicy, SafeguardRefused
from metra.store.masterdata import Entity, create
from metra.store.schema import security_event

P = Permission
#: Tuesday 11 March 2025, 10:00 in Warsaw: a working day.
NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
ZONE = CommandPolicy.parse(["127.0.0.0/8"])
LOCAL = "127.0.0.1"

READING = {P.READINGS_READ, P.MASTERDATA_READ, P.EVENTS_READ}
PARAMETERISE = ("parameterise", "data_scope", "activity_calendar", "special_days")
CLOCK = ("time_set", "time_sync")
CONTROL = ("connect", "disconnect", "power_limit", "emergency_power_limit")
ADMINISTRATOR_ONLY = ("firmware_update", "key_change", "measurement_method")


def _person(role: Role) -> Principal:
    return Principal(uuid4(), role.value, frozenset({role}))


def _try(conn: Connection, who: Principal, pl: Profile, kind: str) -> str:
    """Submit one command of `kind` to a fresh meter; the refusal rule, or 'accepted'."""
    meter = create(
        conn, Entity.METER, {"serial": f"T2-{uuid4().hex[:8]}"}, effective=date(2025, 1, 1)
    )
    try:
        submit(conn, who, pl, ZONE, kind, [meter], source_address=LOCAL, now=NOW)
    except SafeguardRefused as refused:
        return refused.rule
    return "accepted"


def _events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(security_event)).scalar_one())


def test_tool2_operator_mode_reads_only(conn: Connection, pl: Profile) -> None:
    """The operator holds exactly the reading permissions, and every command kind (parameters,
    clock, control, firmware) is refused as a permission breach recorded as a security event."""
    operator = _person(Role.OPERATOR)
    assert set(operator.permissions) == READING
    before = _events(conn)
    kinds = (*PARAMETERISE, *CLOCK, *CONTROL, *ADMINISTRATOR_ONLY)
    assert {kind: _try(conn, operator, pl, kind) for kind in kinds} == dict.fromkeys(
        kinds, "permission"
    )
    assert _events(conn) == before + len(kinds)


def test_tool2_service_mode_parameterises_sets_clock_and_controls(
    conn: Connection, pl: Profile
) -> None:
    """The service role reads, applies prepared parameter files, sets the clock and gives control
    commands; firmware, keys and the measurement method are refused, and it cannot write
    arbitrary configuration, manage users or keys."""
    service = _person(Role.SERVICE)
    assert set(service.permissions) == READING | {
        P.METERS_PARAMETERISE,
        P.METERS_CLOCK,
        P.METERS_COMMAND,
    }
    allowed = (*PARAMETERISE, *CLOCK, *CONTROL)
    assert {kind: _try(conn, service, pl, kind) for kind in allowed} == dict.fromkeys(
        allowed, "accepted"
    )
    assert {kind: _try(conn, service, pl, kind) for kind in ADMINISTRATOR_ONLY} == dict.fromkeys(
        ADMINISTRATOR_ONLY, "permission"
    )


def test_tool2_administrator_mode_has_the_full_range(conn: Connection, pl: Profile) -> None:
    """The administrator holds every permission and may give every kind of command, including
    the ones kept from the service mode."""
    admin = _person(Role.ADMINISTRATOR)
    assert set(admin.permissions) == set(Permission)
    kinds = (*PARAMETERISE, *CLOCK, *CONTROL, *ADMINISTRATOR_ONLY)
    assert {kind: _try(conn, admin, pl, kind) for kind in kinds} == dict.fromkeys(kinds, "accepted")


def test_tool2_levels_are_strictly_nested() -> None:
    """Each mode holds strictly more than the one below it."""
    operator, service, admin = (
        set(_person(r).permissions) for r in (Role.OPERATOR, Role.SERVICE, Role.ADMINISTRATOR)
    )
    assert operator < service < admin
