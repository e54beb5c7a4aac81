"""Measurement method change (CMD-9): only in administrator mode. The safeguards refuse everyone
else (recorded as security events); the virtual meters expose no measurement-method object, so
an administrator's command fails at execution with that reason and nothing is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from metra.profiles import Profile
from metra.security.command_requests import submit
from metra.security.roles import Permission, Principal, Role, Scope
from metra.security.safeguards import SafeguardRefused
from metra.store.masterdata import Entity, create
from metra.store.schema import security_event

from .conftest import LOCAL, START, ZONE, person, rig
from .test_execution import run

VECTOR = {"method": "vector"}


def _refused(conn: Connection, who: Principal, pl: Profile, meter: object) -> str:
    with pytest.raises(SafeguardRefused) as err:
        submit(
            conn,
            who,
            pl,
            ZONE,
            "measurement_method",
            [meter],  # type: ignore[list-item]
            params=VECTOR,
            source_address=LOCAL,
            now=START,
        )
    return err.value.rule


def test_cmd9_measurement_method_only_in_administrator_mode(conn: Connection, pl: Profile) -> None:
    """CMD-9: the service engineer, the operator and the security officer are refused; so is an
    account that came to hold config:manage without being an administrator; the administrator's
    request is accepted. Every refusal is a security event."""
    meter = create(conn, Entity.METER, {"serial": "V1"}, effective=START.date())
    for role in (Role.SERVICE, Role.OPERATOR, Role.SECURITY_OFFICER):
        assert _refused(conn, person(f"{role.value}-user", role), pl, meter) == "permission"
    granted = person("svc", Role.SERVICE)
    object.__setattr__(
        granted, "permissions", {**granted.permissions, Permission.CONFIG_MANAGE: Scope.ALL}
    )
    assert _refused(conn, granted, pl, meter) == "administrator"
    done = submit(
        conn,
        person("root", Role.ADMINISTRATOR),
        pl,
        ZONE,
        "measurement_method",
        [meter],
        params=VECTOR,
        source_address=LOCAL,
        now=START,
    )
    assert done.status == "approved" and len(done.command_ids) == 1
    events = list(conn.execute(select(security_event.c.description)).scalars())
    assert sum("measurement_method" in e for e in events) == 4


def test_cmd9_administrator_command_fails_naming_the_missing_meter_object(
    file_engine: Engine, tmp_path: Path
) -> None:
    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            r.submit("measurement_method", params=VECTOR, actor=person("root", Role.ADMINISTRATOR))
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None and "no measurement-method object" in done.reason

    run(body())
