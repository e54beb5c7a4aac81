"""The fleet over real loopback sockets: inventory, keys, transports, TLS, whitelist, faults.

These tests serve a small object model of their own (``tests/support/dlms_model.py``) behind the
fleet's real serving machinery, so they prove the fleet (addresses, keys, TLS, whitelist and
transport faults) independently of the virtual meter's measurement model. The client is
:class:`metra.net.client.DlmsClient`, the same one the head-end uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import resource
import ssl
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Literal

import pytest
from support.dlms_model import DictModel, rights

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.data import OctetString, Unsigned
from metra.dlms.errors import DlmsError, SecurityError
from metra.dlms.protection import ApduProtection, SecurityContext
from metra.dlms.server import AssociationConfig, ServerEvent
from metra.meter.faults import FaultRates, MeterFaults
from metra.meter.fleet import Fleet, FleetConfig, FleetError, MeterRecipe, raise_fd_limit
from metra.meter.inventory import InventoryMeter, WrongKekError, read_inventory
from metra.meter.tls import client_context
from metra.net.client import DlmsClient, Endpoint
from metra.net.errors import RequestRefused, ResponseTimeout, TransportError

KEK = bytes(range(16))
CLIENT_TITLE = b"HES00001"
CLOCK = bytes((0, 0, 1, 0, 0, 255))
BIG = bytes((0, 0, 96, 1, 0, 255))  # device id 1 stands in for a long answer (a profile)
BIG_VALUE = OctetString(bytes(range(256)) * 16)  # 4 KiB: several blocks of 1 KiB


def bounded(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh loop with a hard deadline, so no fault can hang the run."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 20.0))

    return run


class SmallMeter:
    """A servable meter with three associations (Public, management, reading) and two objects."""

    def __init__(self, recipe: MeterRecipe) -> None:
        self.recipe = recipe
        self.faults = recipe.faults
        self.events: list[ServerEvent] = []
        read = rights([1, 2])
        self.handler = DictModel(
            values={(8, CLOCK): {1: OctetString(CLOCK), 2: Unsigned(7)}, (1, BIG): {2: BIG_VALUE}},
            rights_by_association={"public": read, "management": read, "reading": read},
        )

    def associations(
        self, interface: Literal["wan", "optical"] = "wan"
    ) -> Mapping[int, AssociationConfig]:
        keys = self.recipe.secrets.wan if interface == "wan" else self.recipe.secrets.optical
        title = self.recipe.identity.system_title
        configs = {16: AssociationConfig(16, "public")}
        for sap, name in ((1, "management"), (2, "reading")):
            ks = keys[sap]
            context = SecurityContext(title, ks.encryption_key, ks.authentication_key)
            configs[sap] = AssociationConfig(sap, name, Mechanism.HLS_GMAC, security=context)
        return configs

    def protection(self, interface: Literal["wan", "optical"], sap: int) -> ApduProtection:
        config = self.associations(interface).get(sap)
        return ApduProtection(config.security if config is not None else None)

    def on_server_event(self, event: ServerEvent) -> None:
        self.events.append(event)


def config(tmp_path: Path, **overrides: object) -> FleetConfig:
    values: dict[str, object] = {"meters": 3, "seed": 7, "tls_dir": tmp_path}
    values.update(overrides)
    return FleetConfig(**values)  # type: ignore[arg-type]


def endpoint(meter: InventoryMeter, sap: int = 16, **extra: object) -> Endpoint:
    return Endpoint(
        meter.host,
        meter.port,
        "hdlc" if meter.transport == "hdlc" else "wrapper",
        sap,
        meter.server_address,
        meter.physical_address,
        **extra,  # type: ignore[arg-type]
    )


def keyed_settings(meter: InventoryMeter, sap: int) -> ClientSettings:
    keys = meter.associations[sap].wan
    assert keys is not None
    return ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(CLIENT_TITLE, keys.encryption_key, keys.authentication_key),
    )


async def read_clock(ep: Endpoint, settings: ClientSettings) -> object:
    async with DlmsClient(ep, settings) as client:
        return await client.get(8, CLOCK, 2)


# ------------------------------------------------------------------------------ inventory


def test_sec7_same_seed_same_fleet_but_fresh_keys(tmp_path: Path) -> None:
    # SEC-7: identities repeat from the seed; keys are fresh random values every time, unique per
    # meter and per interface.
    a = Fleet(config(tmp_path, meters=20), SmallMeter)
    b = Fleet(config(tmp_path, meters=20), SmallMeter)
    assert [m.identity for m in a.meters] == [m.identity for m in b.meters]
    assert len({m.identity.system_title for m in a.meters}) == 20
    keys = [k for m in a.meters + b.meters for ks in m.secrets.wan.values() for k in ks.both()]
    keys += [k for m in a.meters + b.meters for ks in m.secrets.optical.values() for k in ks.both()]
    assert len(set(keys)) == len(keys)
    other = Fleet(config(tmp_path, meters=20, seed=8), SmallMeter)
    assert [m.identity for m in other.meters] != [m.identity for m in a.meters]


@bounded
async def test_sec2_inventory_keys_reach_the_meter_and_plain_keys_never_written(
    tmp_path: Path,
) -> None:
    # SEC-2: every key is wrapped (RFC 3394) under the KEK; the head-end unwraps and associates.
    path = tmp_path / "fleet.json"
    async with Fleet(config(tmp_path), SmallMeter) as fleet:
        fleet.write_inventory(path, KEK)
        text = path.read_text()
        for slot in fleet.meters:
            secrets = slot.secrets
            plain = [secrets.han_key] + [
                k for ks in (*secrets.wan.values(), *secrets.optical.values()) for k in ks.both()
            ]
            for key in plain:
                assert key.hex() not in text and key.hex().upper() not in text
        inventory = read_inventory(path, KEK)
        assert [m.port for m in inventory.meters] == [s.port for s in fleet.meters]
        assert len({m.port for m in inventory.meters}) == 3
        for meter in inventory.meters:
            assert meter.associations[1].mechanism is Mechanism.HLS_GMAC
            for sap in (1, 2):
                value = await read_clock(endpoint(meter, sap), keyed_settings(meter, sap))
                assert value == Unsigned(7)
        slot = fleet.by_serial()[inventory.meters[0].serial]
        assert inventory.meters[0].associations[1].wan == slot.secrets.wan[1]
        assert inventory.meters[0].associations[1].optical == slot.secrets.optical[1]
        assert inventory.meters[0].han_key == slot.secrets.han_key
        assert set(inventory.signing_keys) == {"operator", "firmware"}


@bounded
async def test_sec2_wrong_kek_refused_with_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    async with Fleet(config(tmp_path, meters=1), SmallMeter) as fleet:
        fleet.write_inventory(path, KEK)
    with pytest.raises(WrongKekError):
        read_inventory(path, bytes(16))
    with pytest.raises(SecurityError):
        read_inventory(path, b"short")


@bounded
async def test_mtr2_keys_of_another_meter_do_not_open_a_meter(tmp_path: Path) -> None:
    # MTR-2 / SEC-7: no shared keys: meter B's keys fail on meter A.
    path = tmp_path / "fleet.json"
    async with Fleet(config(tmp_path, meters=2), SmallMeter) as fleet:
        fleet.write_inventory(path, KEK)
        a, b = read_inventory(path, KEK).meters
        ep = endpoint(a, 1, timeout=2.0)
        with pytest.raises(DlmsError):
            await read_clock(ep, keyed_settings(b, 1))


@bounded
async def test_public_client_reads_without_keys(tmp_path: Path) -> None:
    # MTR-2: the Public client (SAP 16) associates with no secret and reads.
    async with Fleet(config(tmp_path, meters=1), SmallMeter) as fleet:
        slot = fleet.meters[0]
        ep = Endpoint("127.0.0.1", slot.port, "wrapper", 16)
        assert await read_clock(ep, ClientSettings()) == Unsigned(7)


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
@bounded
async def test_col11_both_transports_serve_long_answers(tmp_path: Path, transport: str) -> None:
    # COL-11: wrapper and HDLC over TCP; a 4 KiB answer crosses in blocks.
    path = tmp_path / "fleet.json"
    async with Fleet(config(tmp_path, meters=2, transport=transport), SmallMeter) as fleet:
        fleet.write_inventory(path, KEK)
        for meter in read_inventory(path, KEK).meters:
            assert meter.transport == transport
            async with DlmsClient(endpoint(meter, 2), keyed_settings(meter, 2)) as client:
                assert await client.get(1, BIG, 2) == BIG_VALUE


@bounded
async def test_sec2_tls13_with_the_fleet_ca(tmp_path: Path) -> None:
    # SEC-2: TLS 1.3 to the communication module, verified against the fleet CA written next to
    # the inventory; a client that does not trust the CA is refused.
    path = tmp_path / "fleet.json"
    async with Fleet(config(tmp_path, meters=2, tls=True, tls_stem="fleet"), SmallMeter) as fleet:
        fleet.write_inventory(path, KEK)
        inventory = read_inventory(path, KEK)
        assert inventory.ca_file == tmp_path / "fleet.ca.pem"
        meter = inventory.meters[1]
        assert meter.tls
        context = client_context(inventory.ca_file)
        async with DlmsClient(endpoint(meter, 1, tls=context), keyed_settings(meter, 1)) as c:
            assert c.stream is not None
            ssl_object = c.stream.writer.get_extra_info("ssl_object")
            assert ssl_object.version() == "TLSv1.3"
            assert await c.get(8, CLOCK, 2) == Unsigned(7)
        stranger = ssl.create_default_context()
        with pytest.raises(TransportError):
            await read_clock(endpoint(meter, 16, tls=stranger), ClientSettings())


@bounded
async def test_mtr2_whitelist_refuses_another_source(tmp_path: Path) -> None:
    # MTR-2: the communication module's IP whitelist: 127.0.0.1 may connect, 127.0.0.2 may not.
    async with Fleet(config(tmp_path, meters=1, allowed_hosts=("127.0.0.1",)), SmallMeter) as f:
        port = f.meters[0].port
        assert await read_clock(Endpoint("127.0.0.1", port), ClientSettings()) == Unsigned(7)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.2", 0)
        )
        writer.write(bytes.fromhex("0001001000010001"))  # any request: never answered
        try:
            answer = await asyncio.wait_for(reader.read(100), 2.0)
        except ConnectionResetError:
            answer = b""
        assert answer == b""
        writer.close()


def test_fleet_refuses_impossible_configurations(tmp_path: Path) -> None:
    with pytest.raises(FleetError):
        FleetConfig(meters=0)
    with pytest.raises(FleetError):
        FleetConfig(meters=10, port_base=65530)
    with pytest.raises(FleetError):
        FleetConfig(meters=1, tls=True)


# ------------------------------------------------------------------------------ faults


def faulty(tmp_path: Path, faults: MeterFaults, **overrides: object) -> Fleet:
    fleet = Fleet(config(tmp_path, meters=1, **overrides), SmallMeter)
    fleet.meters[0].faults = faults
    return fleet


@bounded
async def test_col8_offline_window_closes_at_once(tmp_path: Path) -> None:
    # COL-8: an offline meter ends the connection before answering: a typed error, quickly.
    fleet = faulty(tmp_path, MeterFaults())
    now = fleet.clock.now()
    fleet.meters[0].faults = MeterFaults(
        offline_windows=((now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)),)
    )
    async with fleet:
        ep = Endpoint("127.0.0.1", fleet.meters[0].port, timeout=5.0)
        started = time.monotonic()
        with pytest.raises(TransportError):
            await read_clock(ep, ClientSettings())
        assert time.monotonic() - started < 2.0
        fleet.clock.advance(dt.timedelta(hours=2))  # the window is over: the meter answers
        assert await read_clock(ep, ClientSettings()) == Unsigned(7)


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
@bounded
async def test_col8_session_dropped_mid_transfer(tmp_path: Path, transport: str) -> None:
    # COL-8: the session is cut after 1500 octets, in the middle of a 4 KiB answer.
    async with faulty(tmp_path, MeterFaults(drop_after_bytes=1500), transport=transport) as fleet:
        ep = Endpoint("127.0.0.1", fleet.meters[0].port, transport, 16, timeout=3.0)  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(TransportError):
            async with DlmsClient(ep, ClientSettings()) as client:
                assert await client.get(8, CLOCK, 2) == Unsigned(7)  # short answers still pass
                await client.get(1, BIG, 2)
        assert time.monotonic() - started < 3.0


@bounded
async def test_col8_slow_answers_are_slow_and_time_out_a_hasty_client(tmp_path: Path) -> None:
    async with faulty(tmp_path, MeterFaults(slow_answer_seconds=0.3)) as fleet:
        port = fleet.meters[0].port
        started = time.monotonic()
        assert await read_clock(Endpoint("127.0.0.1", port), ClientSettings()) == Unsigned(7)
        assert time.monotonic() - started >= 0.6  # association and the get: two slow answers
        hasty = Endpoint("127.0.0.1", port, timeout=0.1)
        with pytest.raises(ResponseTimeout):
            async with DlmsClient(hasty, ClientSettings()) as client:
                client.stream.max_timeouts = 0  # type: ignore[union-attr]
                await client.get(8, CLOCK, 2)


@pytest.mark.parametrize(("transport", "sap"), [("hdlc", 16), ("wrapper", 1)])
@bounded
async def test_col8_corrupted_frames_end_in_typed_errors(
    tmp_path: Path, transport: str, sap: int
) -> None:
    # COL-8: every frame corrupted: the HDLC FCS or the GCM tag catches it; the client ends with
    # a typed error in bounded time, never a hang and never a wrong value.
    path = tmp_path / "fleet.json"
    fleet = faulty(tmp_path, MeterFaults(corrupt_frame_probability=1.0), transport=transport)
    async with fleet:
        fleet.write_inventory(path, KEK)
        meter = read_inventory(path, KEK).meters[0]
        settings = keyed_settings(meter, sap) if sap != 16 else ClientSettings()
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises((DlmsError, TimeoutError)) as caught:
                await asyncio.wait_for(read_clock(endpoint(meter, sap, timeout=0.2), settings), 5)
            assert not isinstance(caught.value, TimeoutError)
        assert time.monotonic() - started < 6.0


def test_fault_rates_file_is_deterministic_per_meter(tmp_path: Path) -> None:
    # Rates per fleet from a JSON file; each meter's faults repeat from the seed.
    rates_file = tmp_path / "faults.json"
    rates_file.write_text(
        json.dumps({"drop_probability": 0.5, "slow_probability": 0.5, "offline_per_day": 1})
    )
    rates = FaultRates.load(rates_file)
    a = Fleet(config(tmp_path, meters=30, fault_rates=rates), SmallMeter)
    b = Fleet(config(tmp_path, meters=30, fault_rates=rates), SmallMeter)
    drops = [m.faults.drop_after_bytes if m.faults else None for m in a.meters]
    assert drops == [m.faults.drop_after_bytes if m.faults else None for m in b.meters]
    assert any(d is not None for d in drops) and any(d is None for d in drops)


@bounded
async def test_refused_request_is_typed(tmp_path: Path) -> None:
    # An object the meter does not have: a typed refusal, the session stays usable.
    async with Fleet(config(tmp_path, meters=1), SmallMeter) as fleet:
        ep = Endpoint("127.0.0.1", fleet.meters[0].port)
        async with DlmsClient(ep, ClientSettings()) as client:
            with pytest.raises(RequestRefused):
                await client.get(3, bytes((1, 0, 1, 8, 0, 255)), 2)
            assert await client.get(8, CLOCK, 2) == Unsigned(7)


def test_fd_limit_raised_and_impossible_fleet_refused() -> None:
    # 10,000 meters need 10,000 listening sockets: the soft limit goes up to the hard limit, and a
    # fleet that cannot fit is refused up front rather than failing half-started.
    soft = raise_fd_limit(100)
    assert soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 100
    with pytest.raises(FleetError):
        raise_fd_limit(10**12)


def test_fleet_clock_starts_at_the_chosen_date(tmp_path: Path) -> None:
    # A head-end reads weeks of history at once from a fleet started in the past.
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    fleet = Fleet(config(tmp_path, start=start), SmallMeter)
    assert start <= fleet.clock.now() < start + dt.timedelta(minutes=1)
    assert fleet.recipe(fleet.meters[0]).clock is fleet.clock
