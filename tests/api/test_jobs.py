"""On-demand read of a meter as a long job (COL-7): 202 with a job to poll, the read done by
the head-end's collector against a real DLMS server on loopback, audited; a meter that cannot
be reached gives a failed job, never a hung request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from headend.meter_model import ModelMeter

from metra.headend.keystore import KeyStore, MasterKey
from metra.security.roles import Role
from metra.store import audit, diagnostics

from .conftest import World


@pytest.fixture
def served_meter(world: World) -> Iterator[int]:
    """Meter "a" as a DLMS server (HLS-GMAC) on its own event loop; its keys in the key store."""
    meter = ModelMeter(b"MTR0000a", lambda: datetime.now(UTC))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(meter.serve(), loop).result(10)
    port = server.sockets[0].getsockname()[1]
    keystore = KeyStore(MasterKey.parse(world.master_key))
    now = datetime.now(UTC)
    with world.engine.begin() as conn:
        for sap, pair in meter.keys.items():
            keystore.put_association(conn, world.meters["a"], "wan", sap, pair, at=now, by="t")
        diagnostics.record_success(
            conn, world.meters["a"], now, ip_address="127.0.0.1", tcp_port=port
        )
    yield port
    server.close()
    asyncio.run_coroutine_threadsafe(server.wait_closed(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def poll(client: TestClient, location: str, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(location, headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_col7_on_demand_read_is_a_job_and_audited(
    world: World, client: TestClient, served_meter: int
) -> None:
    """COL-7: 202 + Location; the job reads the A+ register from the meter; audited."""
    h = world.headers(Role.OPERATOR)
    started = client.post(
        f"/api/v1/meters/{world.meters['a']}/reads",
        json={"class_id": 3, "obis": "1-0:1.8.0.255"},
        headers=h,
    )
    assert started.status_code == 202
    assert started.json()["status"] in ("queued", "running")
    job = poll(client, started.headers["location"], h)
    assert job["status"] == "succeeded", job
    assert job["result"]["obis"] == "1-0:1.8.0.255"
    assert job["result"]["value"]["value"] >= 1_000_000
    other = world.headers(Role.SERVICE)
    assert client.get(started.headers["location"], headers=other).status_code == 404
    with world.engine.connect() as conn:
        reads = [e for e in audit.entries(conn) if e.action == "read.on_demand"]
    assert reads and reads[-1].details["result"] == "ok"


def test_col7_unreadable_meter_fails_the_job_not_the_request(
    world: World, client: TestClient
) -> None:
    """A meter the head-end cannot read (no keys stored, nothing listening) gives a failed job
    with the reason, and a bad OBIS code is a 422."""
    h = world.headers(Role.OPERATOR)
    started = client.post(
        f"/api/v1/meters/{world.meters['b']}/reads",
        json={"class_id": 3, "obis": "1-0:1.8.0.255"},
        headers=h,
    )
    assert started.status_code == 202
    job = poll(client, started.headers["location"], h)
    assert job["status"] == "failed" and job["error"]
    bad = client.post(
        f"/api/v1/meters/{world.meters['b']}/reads",
        json={"class_id": 3, "obis": "not-an-obis"},
        headers=h,
    )
    assert bad.status_code == 422
