"""Helpers of the fleet tests: master data for an imported meter, the meter's credit set the
way an operator's service tool would (the Credit object's service adjustment, for opening
balances; top-ups go through `metra.prepay.transfers`), and a real collection + VEE run so
balances come from served data."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from commands.conftest import Rig
from sqlalchemy import Engine

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem.objects import invocation_counter_object
from metra.dlms.data import DoubleLong
from metra.dlms.protection import SecurityContext
from metra.headend.collector import Collector, CollectorSettings
from metra.mdm.run import run_vee
from metra.net.client import DlmsClient, Endpoint
from metra.prepay.reconcile import CREDIT, CREDIT_CLASS

from .conftest import Point, make_point

TOOL_TITLE = b"TOOL\x00\x00\x00\x09"


def link(engine: Engine, meter_id: UUID, name: str = "a") -> Point:
    """A delivery point whose main meter is the imported `meter_id` (committed)."""
    with engine.begin() as conn:
        return make_point(conn, name, meter_id)


async def meter_credit(
    r: Rig, meter_id: UUID, *, add: int | None = None, enable: bool | None = None
) -> None:
    """Add credit to / switch the prepayment function of a meter as its management client."""
    target = r.targets[meter_id]
    public = Endpoint(target.host, target.port, client_address=16, timeout=5.0)
    async with DlmsClient(public, ClientSettings()) as client:
        start = await client.get(1, invocation_counter_object(1).to_bytes(), 2)
    assert isinstance(start, int)
    with r.engine.connect() as c:
        keys = r.keystore.association(c, meter_id, "wan", 1)
    settings = ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(TOOL_TITLE, keys.encryption_key, keys.authentication_key),
        invocation_counter=int(start),
    )
    endpoint = Endpoint(target.host, target.port, client_address=1, timeout=5.0)
    async with DlmsClient(endpoint, settings) as client:
        if add is not None:
            await client.action(CREDIT_CLASS, CREDIT.to_bytes(), 1, DoubleLong(add))
        if enable is not None:
            await client.set(CREDIT_CLASS, CREDIT.to_bytes(), 10, enable)


async def collect_and_validate(r: Rig, day: date) -> None:
    """Collect `day` (with backfill) from every meter and run VEE over it (Wh channel)."""
    settings = CollectorSettings(client_system_title=b"HES\x00\x00\x00\x00\x01", backoff_scale=0.0)
    collector = Collector(r.engine, r.keystore, r.profile, settings, now=r.fleet.clock.now)
    try:
        outcomes = await collector.collect(list(r.targets.values()), day)
    finally:
        collector.close()
    assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
    with r.engine.begin() as conn:
        run_vee(
            conn,
            sorted(r.targets),
            day,
            day + timedelta(days=1),
            r.profile,
            energy_unit_kwh=0.001,
            at=r.fleet.clock.now(),
        )


def reader(r: Rig) -> Collector:
    """A head-end collector over the rig's meters, for on-demand reads."""
    settings = CollectorSettings(client_system_title=b"HES\x00\x00\x00\x00\x02", backoff_scale=0.0)
    return Collector(r.engine, r.keystore, r.profile, settings, now=r.fleet.clock.now)
