"""Commands executed against real virtual meters over loopback, each confirmed by reading the
meter back (CMD-1, CMD-2, CMD-4, CMD-6, CMD-7, CMD-10, SEC-7, SEC-11, STO-5)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, select

from metra.dlms import axdr
from metra.dlms.client import ClientAssociation
from metra.dlms.cosem import objects
from metra.dlms.cosem.enums import ControlState
from metra.dlms.errors import SecurityError
from metra.dlms.signing import sign_raw
from metra.headend.collector import MeterTarget
from metra.headend.firmware import FirmwareRejected
from metra.meter.meter import VirtualMeter
from metra.store import commands
from metra.store.events import Severity, unacknowledged
from metra.store.masterdata import Entity, as_of
from metra.store.schema import audit_record, security_event

from .conftest import START, Rig, rig, statuses

#: Event codes (IDIS and the meter's manufacturer range, docs/meter.md) and their logs.
CLOCK_ADJUSTED_NEW, FIRMWARE_ACTIVATED, UNSIGNED_REFUSED, FIRMWARE_REFUSED = 5, 18, 205, 206
DISCONNECT_FAILURE = 68
COMMUNICATION_LOG = objects.COMMUNICATION_EVENT_LOG
FIRMWARE_LOG = objects.event_log(6)
CLOCK_LOG = objects.event_log(7)


async def relay(r: Rig, meter_id: UUID) -> ControlState:
    return ControlState(int(await r.read(meter_id, 70, objects.DISCONNECT_CONTROL, 3)))  # type: ignore[call-overload]


async def meter_time(r: Rig, meter_id: UUID) -> Any:
    raw = await r.read(meter_id, 8, objects.CLOCK, 2)
    assert isinstance(raw, bytes)
    return axdr.datetime_from_bytes(raw).to_datetime()


async def firmware_id(r: Rig, meter_id: UUID) -> Any:
    return await r.read(meter_id, 1, objects.ACTIVE_FIRMWARE_IDENTIFIER, 2)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_cmd2_relay_disconnect_and_connect_confirmed_by_read_back(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-2: the relay opens and closes, each confirmed by reading control_state back; every
    state change (received .. confirmed) is in the command's history and the audit trail."""

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            meter_id = r.ids[0]
            (off,) = r.submit("disconnect", [meter_id])
            done = await r.runner.run_once(r.targets)
            assert [(d.status, d.reason) for d in done] == [("confirmed", None)]
            assert await relay(r, meter_id) is ControlState.DISCONNECTED
            (on,) = r.submit("connect", [meter_id])
            done = await r.runner.run_once(r.targets)
            assert [d.status for d in done] == ["confirmed"]
            assert await relay(r, meter_id) is ControlState.CONNECTED
            assert await relay(r, r.ids[1]) is ControlState.CONNECTED  # the other meter untouched
            again = await r.runner.run_once(r.targets)
            assert again == []  # confirmed commands never run twice
            with file_engine.connect() as c:
                steps = [t.to_status for t in commands.history(c, off)]
                assert steps == ["received", "approved", "queued", "sent", "confirmed"]
                assert commands.get(c, on).result == {
                    "state": "connected",
                    "before": "disconnected",
                }
                actions = set(
                    c.execute(
                        select(audit_record.c.action).where(audit_record.c.target_id == str(off))
                    ).scalars()
                )
            assert {"command.received", "command.sent", "command.confirmed"} <= actions

    run(body())


def test_cmd2_limiter_and_clock_commands_confirmed(file_engine: Engine, tmp_path: Path) -> None:
    """CMD-2, CMD-5: normal and emergency limiter thresholds, time set and sync, each read back
    from the meter."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            m = r.ids[0]
            r.submit("power_limit", [m], params={"watts": 5000})
            r.submit("emergency_power_limit", [m], params={"watts": 2000})
            done = await r.runner.run_once(r.targets)
            assert sorted(d.kind for d in done if d.status == "confirmed") == [
                "emergency_power_limit",
                "power_limit",
            ], [(d.kind, d.reason) for d in done]
            assert await r.read(m, 71, objects.LIMITER, 4) == 5000
            assert await r.read(m, 71, objects.LIMITER, 5) == 2000
            assert await r.read(m, 71, objects.LIMITER, 10) is True
            assert await r.read(m, 71, objects.LIMITER, 3) == 2000  # the emergency one applies
            ahead = (r.fleet.clock.now() + timedelta(minutes=10)).isoformat()
            r.submit("time_set", [m], params={"time": ahead})
            done = await r.runner.run_once(r.targets)
            assert {d.status for d in done} == {"confirmed"}, [d.reason for d in done]
            skew = (await meter_time(r, m) - r.fleet.clock.now()).total_seconds()
            assert 590 < skew < 610
            r.submit("time_sync", [m])
            done = await r.runner.run_once(r.targets)
            assert [d.status for d in done] == ["confirmed"]
            assert abs((await meter_time(r, m) - r.fleet.clock.now()).total_seconds()) < 2
            assert done[0].details["drift_before_s"] > 590
            assert CLOCK_ADJUSTED_NEW in await r.log_codes(m, CLOCK_LOG)

    run(body())


def stick(r: Rig, meter_id: UUID) -> None:
    """Weld the meter's own relay contacts where they are (the virtual meter's fault)."""
    slot = r.fleet.by_serial()[r.targets[meter_id].serial]
    cast(VirtualMeter, r.fleet.meter(slot)).stick_relay()


def test_cmd2_relay_that_does_not_switch_is_caught(file_engine: Engine, tmp_path: Path) -> None:
    """CMD-2 (issue 7): a meter with welded contacts accepts the disconnect and moves
    control_state, but output_state (the contacts) stays closed; the executor reads both, the
    command fails naming the stuck contacts, an alarm is journaled, and the meter's own
    disconnector log carries 68. A retry of the order is not confirmed either."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            m = r.ids[0]
            stick(r, m)
            (cid,) = r.submit("disconnect")
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert done.reason is not None and "contacts stuck closed" in done.reason
            assert statuses(file_engine, [cid]) == ["failed"]
            # Observed independently: the state machine moved, the contacts did not.
            assert await relay(r, m) is ControlState.DISCONNECTED
            assert await r.read(m, 70, objects.DISCONNECT_CONTROL, 2) is True
            assert DISCONNECT_FAILURE in await r.log_codes(m, objects.DISCONNECTOR_CONTROL_LOG)
            with file_engine.connect() as c:
                alarms = [e for e in unacknowledged(c, Severity.ALARM) if e["meter_id"] == m]
            assert [(e["code"], e["source"]) for e in alarms] == [("relay_stuck", "commands")]
            assert "contacts stuck closed" in alarms[0]["message"]
            # The order again: control_state already reads disconnected, the contacts still
            # disagree, so it is failed again rather than confirmed as "already".
            r.submit("disconnect")
            (again,) = await r.runner.run_once(r.targets)
            assert again.status == "failed" and "stuck closed" in (again.reason or "")

    run(body())


def _security_events(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(security_event.c.description)).scalars())


def test_cmd6_unsigned_command_refused_by_meter_and_recorded(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-6: without the operator's signature the meter refuses the disconnection; the relay
    stays closed, the meter journals it and the head-end records the refusal."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1, operator_key=None) as r:
            (cid,) = r.submit("disconnect")
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed" and "refused by the meter" in (done.reason or "")
            assert await relay(r, r.ids[0]) is ControlState.CONNECTED
            assert UNSIGNED_REFUSED in await r.log_codes(r.ids[0], COMMUNICATION_LOG)
            assert any(
                "refused signed command disconnect" in d for d in _security_events(file_engine)
            )
            with file_engine.connect() as c:
                assert "refused" in commands.get(c, cid).result["reason"]  # type: ignore[index]

    run(body())


def test_cmd6_command_signed_with_a_key_the_meter_does_not_trust_is_refused(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-6: a command signed by anyone but the operator does not verify in the meter."""

    async def body() -> None:
        rogue = ec.generate_private_key(ec.SECP256R1())
        async with rig(file_engine, tmp_path, meters=1, operator_key=rogue) as r:
            r.submit("disconnect")
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert await relay(r, r.ids[0]) is ControlState.CONNECTED
            assert _security_events(file_engine)

    run(body())


def test_cmd6_tampered_signed_command_is_refused(
    file_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CMD-6: one byte changed in a correctly signed APDU on the way (a man in the middle) and
    the meter refuses it."""
    original = ClientAssociation._sign

    def tamper(self: ClientAssociation, apdu: bytes) -> bytes:
        signed = bytearray(original(self, apdu))
        signed[-70] ^= 0x01  # inside the ciphered content, before the signature
        return bytes(signed)

    monkeypatch.setattr(ClientAssociation, "_sign", tamper)

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            r.submit("disconnect")
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed", done
            assert await relay(r, r.ids[0]) is ControlState.CONNECTED

    run(body())


def test_cmd10_key_change_fresh_keys_per_meter_stored_and_used(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-10, SEC-7: new WAN keys per meter and client SAP, random (never shared between meters
    or derived), sent by key transfer, stored sealed in the key store, and used from then on."""

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            with file_engine.connect() as c:
                before = {m: r.keystore.association(c, m, "wan", 2) for m in r.ids}
            r.submit("key_change", r.ids[:1], params={"saps": [1, 2]})
            r.submit("key_change", r.ids[1:], params={"saps": [1, 2]})
            done = await r.runner.run_once(r.targets)
            assert {d.status for d in done} == {"confirmed"}, [d.reason for d in done]
            with file_engine.connect() as c:
                after = {
                    (m, s): r.keystore.association(c, m, "wan", s) for m in r.ids for s in (1, 2)
                }
            for m in r.ids:
                assert after[(m, 2)] != before[m]
                assert await r.read(m, 8, objects.CLOCK, 2)  # the stored new keys open
                with pytest.raises(SecurityError):
                    await r.read(m, 8, objects.CLOCK, 2, keys=before[m])  # the old ones do not
            all_keys = [k for p in after.values() for k in (p.encryption_key, p.authentication_key)]
            assert len(set(all_keys)) == len(all_keys)  # unique per meter, SAP and kind
            # The head-end goes on working with the new keys.
            r.submit("power_limit", r.ids, params={"watts": 7000})
            done = await r.runner.run_once(r.targets)
            assert {d.status for d in done} == {"confirmed"}, [d.reason for d in done]

    run(body())


def _image(key: ec.EllipticCurvePrivateKey, body: bytes) -> bytes:
    return body + sign_raw(key, body)


def test_cmd7_firmware_update_verified_activated_and_inventory_updated(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-7, SEC-11: the vendor's image is checked on the way in, sent in blocks, verified by the
    meter, activated and read back; the meter's firmware version in master data follows."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            firmware = r.runner.firmware
            assert firmware is not None
            image = _image(r.fleet.firmware_key, bytes(range(256)) * 5)
            with file_engine.begin() as c:
                image_id = firmware.add(
                    c, "MTR", "1.1.0", b"MTR-1.1.0", image, at=START, by="admin"
                )
            r.submit("firmware_update", params={"image_id": str(image_id)})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            assert await firmware_id(r, r.ids[0]) == b"MTR-1.1.0"
            assert FIRMWARE_ACTIVATED in await r.log_codes(r.ids[0], FIRMWARE_LOG)
            with file_engine.connect() as c:
                version = as_of(c, Entity.METER, r.ids[0], r.fleet.clock.now().date())
            assert version is not None and version.attributes["firmware"] == "1.1.0"

    run(body())


def test_cmd7_bad_signature_never_reaches_activation(file_engine: Engine, tmp_path: Path) -> None:
    """CMD-7: an image not signed by the vendor is refused by the central system; one the central
    system was (wrongly) made to trust is refused by the meter at verification and never
    activated."""
    impostor = ec.generate_private_key(ec.SECP256R1())

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1, vendor_key=impostor.public_key()) as r:
            firmware = r.runner.firmware
            assert firmware is not None
            forged = _image(impostor, b"\x00" * 900)
            with file_engine.begin() as c:
                with pytest.raises(FirmwareRejected):
                    firmware.add(
                        c,
                        "MTR",
                        "6.6.6",
                        b"EVIL",
                        forged[:-1] + bytes([forged[-1] ^ 1]),
                        at=START,
                        by="x",
                    )
                image_id = firmware.add(c, "MTR", "6.6.6", b"EVIL", forged, at=START, by="x")
            r.submit("firmware_update", params={"image_id": str(image_id)})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "failed"
            assert "not activated" in (done.reason or "")
            assert await firmware_id(r, r.ids[0]) == b"MTR-1.0.0"
            codes = await r.log_codes(r.ids[0], FIRMWARE_LOG)
            assert FIRMWARE_REFUSED in codes
            assert FIRMWARE_ACTIVATED not in codes

    run(body())


def test_cmd7_firmware_rolls_out_in_waves_and_pauses_on_failure(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-7: a campaign sends one wave per pass, and none once a wave had a failure."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=3) as r:
            firmware = r.runner.firmware
            assert firmware is not None
            image = _image(r.fleet.firmware_key, b"\x01" * 300)
            with file_engine.begin() as c:
                image_id = firmware.add(c, "MTR", "1.2.0", b"MTR-1.2.0", image, at=START, by="a")
            params = {"image_id": str(image_id), "wave_size": 1, "max_failures": 0}
            r.submit("firmware_update", r.ids, params=params)
            (first,) = await r.runner.run_once(r.targets)
            assert first.status == "confirmed"
            rest = [m for m in r.ids if m != first.meter_id]
            # The next meter answers at another meter's port: its keys fail, the wave fails.
            wrong = dict(r.targets)
            wrong[rest[0]] = r.targets[rest[1]]
            wrong.pop(rest[1])
            (second,) = await r.runner.run_once(wrong)
            assert second.status == "failed" and second.meter_id == rest[0]
            assert await r.runner.run_once(r.targets) == []  # paused: the last meter waits
            assert await firmware_id(r, rest[1]) == b"MTR-1.0.0"

    run(body())


def test_cmd4_undelivered_command_retried_then_delivered_or_expired(
    file_engine: Engine, tmp_path: Path
) -> None:
    """CMD-4: a meter that cannot be reached keeps its command queued (retried with back-off),
    it is executed when the meter is back, and one still undelivered at its deadline expires."""

    async def body() -> None:
        async with rig(file_engine, tmp_path) as r:
            a, b = r.ids
            unreachable = {
                m: MeterTarget(t.meter_id, t.serial, t.system_title, "127.0.0.1", 9, t.substation)
                for m, t in r.targets.items()
            }
            (ca,) = r.submit("power_limit", [a], params={"watts": 3000})
            (cb,) = r.submit("power_limit", [b], params={"watts": 3000})
            done = await r.runner.run_once(unreachable)
            assert {d.status for d in done} == {"queued"}
            with file_engine.connect() as c:
                assert commands.attempts(c, ca) == 1
            done = await r.runner.run_once({a: r.targets[a], b: unreachable[b]})
            assert {d.command_id: d.status for d in done} == {ca: "confirmed", cb: "queued"}
            r.fleet.clock.advance(timedelta(days=10))  # past 3 working days
            done = await r.runner.run_once(unreachable)
            assert [(d.command_id, d.status) for d in done] == [(cb, "expired")]
            assert statuses(file_engine, [ca, cb]) == ["confirmed", "expired"]

    run(body())


def test_cmd4_command_waits_for_its_execution_time(file_engine: Engine, tmp_path: Path) -> None:
    """CMD-4 (S1 16.8): a command naming a time executes at that time, not before."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            later = r.fleet.clock.now() + timedelta(hours=2)
            (cid,) = r.submit("power_limit", params={"watts": 4000}, execute_at=later)
            assert await r.runner.run_once(r.targets) == []
            r.fleet.clock.advance(timedelta(hours=2, minutes=1))
            (done,) = await r.runner.run_once(r.targets)
            assert done.command_id == cid and done.status == "confirmed"

    run(body())


def test_acc2_han_port_opened_and_closed_confirmed_by_read_back(
    file_engine: Engine, tmp_path: Path
) -> None:
    """ACC-2: the HAN port opens (the HAN push setups get a destination) on request and closes
    again (empty destination), each read back from both setups."""
    from metra.dlms.cosem.push import SendDestinationAndMethod
    from metra.dlms.obis import Obis

    setups = (Obis(0, 7, 25, 9, 0, 255), Obis(0, 6, 25, 9, 0, 255))

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            m = r.ids[0]
            for setup in setups:  # closed as delivered
                value = await r.read(m, 40, setup, 3)
                assert SendDestinationAndMethod.from_data(value).destination == b""
            r.submit("han_open", params={"destination": "127.0.0.1:9"})
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            for setup in setups:
                value = await r.read(m, 40, setup, 3)
                assert SendDestinationAndMethod.from_data(value).destination == b"127.0.0.1:9"
            r.submit("han_close")
            (done,) = await r.runner.run_once(r.targets)
            assert done.status == "confirmed", done.reason
            for setup in setups:
                value = await r.read(m, 40, setup, 3)
                assert SendDestinationAndMethod.from_data(value).destination == b""

    run(body())
