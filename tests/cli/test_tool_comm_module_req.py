"""TOOL-6 (S0 5.17, 5.20): the tool reads from the communication module at least its signal level,
the SIM's IP address, the IMEI and the TCP port, over TLS 1.3 as the module speaks it.

``metra read`` is run as a user runs it, against a real virtual meter of a ``Fleet`` served over
loopback with TLS and verified against the fleet's CA; the keys come from the fleet's inventory.
All four facts are read from one meter in four runs: each run continues the invocation counter the
meter publishes (0-0:43.1.<client>.255), so the meter's replay protection accepts every session.
Values are checked against their standards, not against the meter's code: the IMEI is 15 digits
whose last is the Luhn check digit (3GPP TS 23.003 6.2.1 and Annex B), the signal level lies in
the range a modem can report (3GPP TS 27.007 +CSQ: -113 to -51 dBm), the SIM address is an IPv4
address, and the DLMS/COSEM TCP port is IANA's 4059 (IEC 62056-47).

Selecting the active SIM profile is not built (docs/requirements.md, Not yet built).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metra.cli.main import app
from metra.meter.fleet import Fleet, FleetConfig
from metra.meter.inventory import InventoryMeter, read_inventory

KEK = bytes(range(16))
START = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
runner = CliRunner()


@pytest.fixture
def tls_meters(tmp_path: Path) -> Iterator[tuple[list[InventoryMeter], Path]]:
    """Virtual meters behind TLS on a loop of their own thread, and the fleet CA file."""
    loop = asyncio.new_event_loop()
    fleet = Fleet(FleetConfig(meters=4, seed=7, start=START, tls=True, tls_dir=tmp_path))
    loop.run_until_complete(fleet.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        fleet.write_inventory(tmp_path / "fleet.json", KEK)
        inventory = read_inventory(tmp_path / "fleet.json", KEK)
        assert inventory.ca_file is not None and all(m.tls for m in inventory.meters)
        yield list(inventory.meters), inventory.ca_file
    finally:
        asyncio.run_coroutine_threadsafe(fleet.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _read(meter: InventoryMeter, ca: Path, obis: str) -> object:
    keys = meter.associations[2].wan
    assert keys is not None
    result = runner.invoke(
        app,
        [
            "read",
            "--host",
            meter.host,
            "--port",
            str(meter.port),
            "--transport",
            "hdlc" if meter.transport == "hdlc" else "wrapper",
            "--client",
            "2",
            "--server",
            str(meter.server_address),
            "--auth",
            "hls-gmac",
            "--system-title",
            b"HES00001".hex(),
            "--tls",
            "--ca",
            str(ca),
            "--obis",
            obis,
            "--class",
            "1",
            "--attr",
            "2",
        ],
        env={"METRA_EK": keys.encryption_key.hex(), "METRA_AK": keys.authentication_key.hex()},
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["value"]


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_luhn_check_matches_a_published_example() -> None:
    # 3GPP TS 23.003 Annex B example: IMEI 35-209900-176148 has check digit 1.
    assert _luhn_valid("352099001761481")
    assert _luhn_valid("490154203237518")  # the example most IMEI descriptions use
    assert not _luhn_valid("352099001761482")


def test_tool6_reads_signal_sim_ip_imei_and_tcp_port_over_tls(
    tls_meters: tuple[list[InventoryMeter], Path],
) -> None:
    meters, ca = tls_meters
    meter = meters[0]
    signal = _read(meter, ca, "0-0:96.12.5.255")
    sim_ip = _read(meter, ca, "0-0:96.12.128.255")
    imei = _read(meter, ca, "0-0:96.12.129.255")
    port = _read(meter, ca, "0-0:96.12.130.255")
    assert signal["type"] == "integer" and -113 <= signal["value"] <= -51  # type: ignore[index]
    assert sim_ip["type"] == "octet-string"  # type: ignore[index]
    assert ipaddress.ip_address(bytes.fromhex(sim_ip["value"])).version == 4  # type: ignore[index]
    assert imei["type"] == "visible-string"  # type: ignore[index]
    text = imei["value"]  # type: ignore[index]
    assert len(text) == 15 and text.isdigit() and _luhn_valid(text), text
    assert port == {"type": "long-unsigned", "value": 4059}
