"""The fleet picks its meters' ports itself (walking the ephemeral range), not by bind to 0.

Why: with ten thousand listeners bound, the kernel's search for a free port makes every
bind-to-0 cost milliseconds (10,000 meters took a minute to start next to another fleet); see
:mod:`metra.meter.fleet_ports`.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from metra.meter.fleet import Fleet, FleetConfig
from metra.meter.fleet_ports import PortPicker, ephemeral_range, listening_socket


def test_candidates_walk_the_whole_range_once_from_a_random_start() -> None:
    picker = PortPicker(40000, 40009, random.Random(3))
    ports = list(picker.candidates())
    assert sorted(ports) == list(range(40000, 40010))
    start = ports[0]
    assert ports == [40000 + (start - 40000 + i) % 10 for i in range(10)]


def test_ephemeral_range_from_the_system_or_iana(tmp_path: Path) -> None:
    low, high = ephemeral_range()
    assert 1 <= low <= high <= 65535
    file = tmp_path / "range"
    file.write_text("32768\t60999\n")
    assert ephemeral_range(file) == (32768, 60999)
    file.write_text("nonsense")
    assert ephemeral_range(file) == (49152, 65535)
    assert ephemeral_range(tmp_path / "missing") == (49152, 65535)


def test_a_taken_port_is_skipped_not_an_error() -> None:
    first = listening_socket("127.0.0.1", 0, 8)
    assert first is not None
    try:
        port = first.getsockname()[1]
        assert listening_socket("127.0.0.1", port, 8) is None
        with pytest.raises(OSError):  # not a local address: raised, not skipped
            listening_socket("192.0.2.1", port, 8)
    finally:
        first.close()


def test_fleet_ports_are_distinct_and_in_the_ephemeral_range() -> None:
    async def body() -> None:
        fleet = Fleet(FleetConfig(meters=50, seed=2))
        await fleet.start()
        try:
            ports = [slot.port for slot in fleet.meters]
            low, high = ephemeral_range()
            assert len(set(ports)) == 50 and all(low <= p <= high for p in ports)
            _reader, writer = await asyncio.open_connection("127.0.0.1", ports[-1])
            writer.close()
            await writer.wait_closed()
        finally:
            await fleet.stop()

    asyncio.run(asyncio.wait_for(body(), 30))
