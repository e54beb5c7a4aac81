"""Measurement method change (CMD-9): only in administrator mode. The safeguards refuse everyone
else (recorded as security events); an administrator's command sets the meter's
measurement-method object 1-0:0.11.6.255 (vector or arithmetic apparent energy), read back, and
the meter's apparent energy register 1-0:9.8.0.255 counts by the new method from then on."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Connection, Engine, select

from metra.dlms.data import Enum
from metra.dlms.obis import Obis
from metra.headend.command_params import ParamsError, check
from metra.net.errors import RequestRefused
from metra.profiles import Profile
from metra.security.command_requests import submit
from metra.security.roles import Permission, Principal, Role, Scope
from metra.security.safeguards import SafeguardRefused
from metra.store import commands
from metra.store.masterdata import Entity, create
from metra.store.schema import security_event

from .conftest import LOCAL, START, ZONE, Rig, person, rig
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


METHOD = Obis(1, 0, 0, 11, 6, 255)
APPARENT = Obis(1, 0, 9, 8, 0, 255)
#: Active import and the reactive registers of QI and QIV: net reactive import is R1 - R4.
A_PLUS, R1, R4 = Obis(1, 0, 1, 8, 0, 255), Obis(1, 0, 5, 8, 0, 255), Obis(1, 0, 8, 8, 0, 255)
PARAMETER_LOG = Obis(0, 0, 99, 98, 8, 255)
ARITHMETIC = {"method": "arithmetic"}


async def _registers(r: Rig, meter: UUID) -> tuple[int, int, int]:
    """(apparent VAh, active Wh, net reactive varh import) read in one reading session."""
    async with r.reading(meter) as c:
        values = [await c.get(3, ln.to_bytes(), 2) for ln in (APPARENT, A_PLUS, R1, R4)]
    s, p, r1, r4 = (int(v) for v in values)  # type: ignore[call-overload]
    return s, p, r1 - r4


def test_cmd9_administrator_switches_a_meter_to_arithmetic_apparent_energy(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-9 on a real meter over loopback: the administrator's command writes the
    measurement-method object (the executor reads it back), the meter journals the parameter
    change, and its apparent energy then advances by the arithmetic sum of the phases: more than
    the vector sum sqrt(P^2 + Q^2) of the same active and reactive advances (Minkowski), never
    more than P + Q, while a single-phase meter's two sums are the same. Before the switch the
    3-phase meter counted the vector sum. The same command again writes nothing."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=5) as r:
            phases = {m.identity.serial: m.identity.phases for m in r.fleet.meters}
            three = next(i for i, t in r.targets.items() if phases[t.serial] == 3)
            one = next(i for i, t in r.targets.items() if phases[t.serial] == 1)
            assert await r.read(three, 1, METHOD, 2) == 1  # factory: vector
            s0, p0, q0 = await _registers(r, three)
            r.fleet.clock.advance(timedelta(hours=6))
            s1, p1, q1 = await _registers(r, three)
            assert abs((s1 - s0) - math.hypot(p1 - p0, q1 - q0)) <= 3
            admin = person("root", Role.ADMINISTRATOR)
            ids = r.submit("measurement_method", [three, one], params=ARITHMETIC, actor=admin)
            done = await r.runner.run_once(r.targets)
            assert [d.status for d in done] == ["confirmed", "confirmed"], done
            with file_engine.connect() as c:
                assert commands.get(c, ids[0]).result == {
                    "method": "arithmetic",
                    "before": "vector",
                }
            for meter in (three, one):
                assert await r.read(meter, 1, METHOD, 2) == 2
                assert 47 in await r.log_codes(meter, PARAMETER_LOG)  # parameter changed
            before = {m: await _registers(r, m) for m in (three, one)}
            r.fleet.clock.advance(timedelta(hours=6))
            after = {m: await _registers(r, m) for m in (three, one)}
            (sa, pa, qa), (sb, pb, qb) = before[three], after[three]
            dp, dq, ds = pb - pa, qb - qa, sb - sa
            assert dp > 100 and dq > 10
            assert math.hypot(dp, dq) + 10 < ds <= dp + dq  # 10 VAh: far above rounding
            (sa, pa, qa), (sb, pb, qb) = before[one], after[one]
            assert abs((sb - sa) - math.hypot(pb - pa, qb - qa)) <= 3
            (again,) = r.submit("measurement_method", [three], params=ARITHMETIC, actor=admin)
            (done_again,) = await r.runner.run_once(r.targets)
            assert done_again.status == "confirmed"
            with file_engine.connect() as c:
                assert commands.get(c, again).result == {"method": "arithmetic", "already": True}

    run(body())


def test_cmd9_only_the_management_client_writes_the_method(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-9 least privilege on the meter: the reading client sees the method but its write is
    refused and the method stays. A method the meters do not know is refused before submission
    with the field's path."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            (m,) = r.ids
            async with r.reading(m) as c:
                with pytest.raises(RequestRefused):
                    await c.set(1, METHOD.to_bytes(), 2, Enum(2))
            assert await r.read(m, 1, METHOD, 2) == 1
            with pytest.raises(ParamsError) as err:
                check("measurement_method", {"method": "geometric"})
            assert err.value.path == "method"

    run(body())
