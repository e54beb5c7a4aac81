"""The fleet end to end with real virtual meters, as a head-end meets it.

The head-end's view only: the inventory (keys unwrapped with the KEK), the fleet CA, and
:class:`metra.net.client.DlmsClient` over loopback sockets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from metra.cli.main import app
from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.cosem.push import SendDestinationAndMethod
from metra.dlms.counters import InvocationCounter
from metra.dlms.data import Array, Data, Enum, Integer, LongUnsigned, OctetString
from metra.dlms.errors import DlmsError, SecurityError
from metra.dlms.protection import SecurityContext
from metra.dlms.security import decipher_apdu
from metra.dlms.wrapper import WrapperDecoder
from metra.dlms.xdlms.codec import decode_apdu
from metra.dlms.xdlms.notification import DataNotification
from metra.meter.fleet import Fleet, FleetConfig
from metra.meter.inventory import Inventory, InventoryMeter, read_inventory
from metra.meter.tls import client_context
from metra.net.client import DlmsClient, Endpoint

KEK = bytes.fromhex("000102030405060708090a0b0c0d0e0f1011121314151617")  # AES-192 KEK
CLIENT_TITLE = b"HES00001"
CLOCK = bytes((0, 0, 1, 0, 0, 255))
LOAD_PROFILE = bytes((1, 0, 99, 1, 0, 255))
DISCONNECT = bytes((0, 0, 96, 3, 10, 255))
LIMITER = bytes((0, 0, 17, 0, 0, 255))
HAN_INSTANT = bytes((0, 7, 25, 9, 0, 255))
START = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
DAY = (dt.datetime(2026, 2, 27, tzinfo=dt.UTC), dt.datetime(2026, 2, 28, tzinfo=dt.UTC))


def bounded(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh loop with a hard deadline."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 30.0))

    return run


async def started(tmp_path: Path, **overrides: Any) -> tuple[Fleet, Inventory]:
    values: dict[str, Any] = {"meters": 3, "seed": 11, "start": START, "tls_dir": tmp_path}
    values.update(overrides)
    fleet = Fleet(FleetConfig(**values))
    await fleet.start()
    fleet.write_inventory(tmp_path / "fleet.json", KEK)
    return fleet, read_inventory(tmp_path / "fleet.json", KEK)


def endpoint(meter: InventoryMeter, sap: int, **extra: Any) -> Endpoint:
    transport = "hdlc" if meter.transport == "hdlc" else "wrapper"
    return Endpoint(meter.host, meter.port, transport, sap, meter.server_address, **extra)


def gmac(meter: InventoryMeter, sap: int) -> ClientSettings:
    keys = meter.associations[sap].wan
    assert keys is not None
    return ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(CLIENT_TITLE, keys.encryption_key, keys.authentication_key),
    )


async def read_day(ep: Endpoint, settings: ClientSettings) -> Data:
    async with DlmsClient(ep, settings) as client:
        return await client.get_profile(LOAD_PROFILE, *DAY)


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
@bounded
async def test_sec2_col11_every_meter_answers_a_daily_read_with_inventory_keys(
    tmp_path: Path, transport: str
) -> None:
    # SEC-2 / COL-11: keys unwrapped from the inventory open the reading client of every meter;
    # one day of 15-minute load profile comes back (96 intervals, the range is inclusive).
    fleet, inventory = await started(tmp_path, transport=transport)
    try:
        for meter in inventory.meters:
            assert meter.associations[2].mechanism is Mechanism.HLS_GMAC
            rows = await read_day(endpoint(meter, 2), gmac(meter, 2))
            assert isinstance(rows, list) and 96 <= len(rows) <= 97
    finally:
        await fleet.stop()


@bounded
async def test_mtr2_public_client_reads_the_clock_without_keys(tmp_path: Path) -> None:
    fleet, inventory = await started(tmp_path, meters=1)
    try:
        meter = inventory.meters[0]
        assert meter.associations[16].mechanism is Mechanism.NONE
        assert meter.associations[16].wan is None
        async with DlmsClient(endpoint(meter, 16), ClientSettings()) as client:
            value = await client.get(8, CLOCK, 2)
        assert isinstance(value, OctetString) and len(value) == 12
        assert value[:2] == START.year.to_bytes(2, "big")  # the fleet clock started in 2026
    finally:
        await fleet.stop()


@bounded
async def test_sec2_tls13_to_a_virtual_meter(tmp_path: Path) -> None:
    fleet, inventory = await started(tmp_path, meters=1, tls=True)
    try:
        meter = inventory.meters[0]
        assert inventory.ca_file is not None
        ep = endpoint(meter, 2, tls=client_context(inventory.ca_file))
        rows = await read_day(ep, gmac(meter, 2))
        assert isinstance(rows, list) and rows
    finally:
        await fleet.stop()


@bounded
async def test_sec2_suite1_management_with_hls_ecdsa(tmp_path: Path) -> None:
    # Suite 1: the management client authenticates with ECDSA using the fleet's operator key
    # and verifies the meter with the meter's public key from the inventory.
    fleet, inventory = await started(tmp_path, meters=1, security="suite1")
    try:
        meter = inventory.meters[0]
        management = meter.associations[1]
        assert management.mechanism is Mechanism.HLS_ECDSA and management.suite == 1
        assert meter.meter_public_key is not None and management.wan is not None
        settings = ClientSettings(
            mechanism=Mechanism.HLS_ECDSA,
            security=SecurityContext(
                CLIENT_TITLE,
                management.wan.encryption_key,
                management.wan.authentication_key,
                suite=1,
                signing_key=inventory.signing_keys["operator"],
                peer_signing_key=meter.meter_public_key,
            ),
        )
        async with DlmsClient(endpoint(meter, 1), settings) as client:
            assert isinstance(await client.get(8, CLOCK, 2), OctetString)
    finally:
        await fleet.stop()


@bounded
async def test_sec7_counters_persist_across_sessions_so_a_replayed_session_is_refused(
    tmp_path: Path,
) -> None:
    # SEC-7: the fleet opens every association with the meter's persistent invocation counter
    # and replay guard: the meter's own counter keeps rising from session to session (no GCM IV
    # reuse), a client that continues its counter is served, and a client that starts again from
    # zero (a replay of an earlier session) is refused. Another meter's keys open nothing.
    fleet, inventory = await started(tmp_path, meters=2)
    try:
        a, b = inventory.meters
        model = fleet.meter(fleet.by_serial()[a.serial])
        first = DlmsClient(endpoint(a, 2), gmac(a, 2))
        async with first:
            await first.get_profile(LOAD_PROFILE, *DAY)
        meter_counter = model.counter_state()["wan/2"]  # type: ignore[attr-defined]
        client_counter = first.association.protection.counter.value
        second = DlmsClient(endpoint(a, 2), gmac(a, 2))
        second.association.protection.counter = InvocationCounter(client_counter)
        async with second:
            await second.get_profile(LOAD_PROFILE, *DAY)
        assert model.counter_state()["wan/2"] > meter_counter  # type: ignore[attr-defined]
        with pytest.raises(SecurityError):
            await read_day(endpoint(a, 2), gmac(a, 2))
        with pytest.raises(DlmsError):
            await read_day(endpoint(b, 2, timeout=2.0), gmac(a, 2))
    finally:
        await fleet.stop()


def test_sec2_cli_serves_and_writes_a_wrapped_inventory(tmp_path: Path) -> None:
    # `metra fleet` end to end: the inventory it writes opens with the KEK only, and holds no
    # plain key.
    path = tmp_path / "inv.json"
    args = ["fleet", "--meters", "3", "--seed", "5", "--inventory", str(path)]
    args += ["--start", "2026-02-01", "--run-for", "0.2", "--tls"]
    result = CliRunner().invoke(app, args, env={"METRA_KEK": KEK.hex()})
    assert result.exit_code == 0, result.output
    assert "serving 3 meters on 127.0.0.1" in result.output
    inventory = read_inventory(path, KEK)
    assert len(inventory.meters) == 3 and inventory.ca_file == tmp_path / "inv.ca.pem"
    assert all(meter.tls for meter in inventory.meters)
    text = path.read_text()
    assert json.loads(text)["key_wrap"] == "aes-key-wrap-rfc3394"
    for meter in inventory.meters:
        plain = [meter.han_key, meter.master_key]
        for assoc in meter.associations.values():
            for keys in (assoc.wan, assoc.optical):
                if keys is not None:
                    plain += [keys.encryption_key, keys.authentication_key]
        assert len(plain) == 14
        assert not any(key.hex() in text for key in plain)


@bounded
async def test_mtr6_cmd7_signed_disconnect_over_loopback_zeroes_the_profile(tmp_path: Path) -> None:
    # MTR-6 / CMD-6 / CMD-7 over real sockets: the management client (keys from the inventory,
    # commands signed with the operator key) opens the relay and sets a limiter emergency
    # profile; the reading client then sees a profile of zeros for the open window.
    fleet, inventory = await started(tmp_path, meters=1)
    try:
        meter = inventory.meters[0]
        keys = meter.associations[1].wan
        assert keys is not None
        management = ClientSettings(
            mechanism=Mechanism.HLS_GMAC,
            security=SecurityContext(
                CLIENT_TITLE,
                keys.encryption_key,
                keys.authentication_key,
                signing_key=inventory.signing_keys["operator"],
            ),
        )
        opened = fleet.clock.now()
        async with DlmsClient(endpoint(meter, 1), management) as client:
            with pytest.raises(DlmsError):  # CMD-6: unsigned relay command refused
                await client.action(70, DISCONNECT, 1, Integer(0))
            await client.action(70, DISCONNECT, 1, Integer(0), signed=True)
            assert await client.get(70, DISCONNECT, 3) == Enum(0)
            await client.set(71, LIMITER, 9, Array([LongUnsigned(3)]))
            assert await client.get(71, LIMITER, 9) == Array([LongUnsigned(3)])
        fleet.clock.advance(dt.timedelta(hours=3))
        async with DlmsClient(endpoint(meter, 2), gmac(meter, 2)) as client:
            rows = await client.get_profile(
                LOAD_PROFILE, opened + dt.timedelta(minutes=15), opened + dt.timedelta(hours=2)
            )
        assert isinstance(rows, list) and len(rows) >= 7
        assert all(int(v) == 0 for row in rows for v in row[2:])  # type: ignore[union-attr]
    finally:
        await fleet.stop()


@bounded
async def test_acc1_han_push_reaches_the_customer_port_over_tcp(tmp_path: Path) -> None:
    # ACC-1 end to end: the management client writes the HAN destination through DLMS; the fleet
    # then delivers wrapper-framed DataNotifications there, ciphered with the meter's HAN key
    # from the inventory. (Fleet clock at 20x so a 10-second push period passes quickly.)
    frames: asyncio.Queue[bytes] = asyncio.Queue()

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = WrapperDecoder()
        while data := await reader.read(4096):
            for frame in decoder.feed(data):
                frames.put_nowait(frame.payload)
        writer.close()

    port_server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = port_server.sockets[0].getsockname()[1]
    fleet, inventory = await started(tmp_path, meters=1, speed=20.0)
    try:
        meter = inventory.meters[0]
        keys = meter.associations[1].wan
        assert keys is not None and meter.han_key is not None
        settings = ClientSettings(
            mechanism=Mechanism.HLS_GMAC,
            security=SecurityContext(CLIENT_TITLE, keys.encryption_key, keys.authentication_key),
        )
        where = SendDestinationAndMethod(0, f"127.0.0.1:{port}".encode()).to_data()
        async with DlmsClient(endpoint(meter, 1), settings) as client:
            await client.set(40, HAN_INSTANT, 3, where)
        payloads = [await asyncio.wait_for(frames.get(), 10.0) for _ in range(2)]
        for payload in payloads:
            plain = decipher_apdu(
                payload, ek=meter.han_key, ak=meter.han_key, system_title=meter.system_title
            ).plaintext
            push = decode_apdu(plain)
            assert isinstance(push, DataNotification)
            assert push.body[0] == OctetString(HAN_INSTANT)  # type: ignore[index]
    finally:
        await fleet.stop()
        port_server.close()
        await port_server.wait_closed()
