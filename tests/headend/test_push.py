"""The push receiver (COL-9) and the security events it raises (SEC-3)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import Engine

from metra.dlms.data import DateTime, DoubleLongUnsigned, OctetString, Structure, Unsigned
from metra.dlms.security import CipheringKind, SecurityControl, cipher_apdu
from metra.dlms.wrapper import WrapperFrame
from metra.dlms.xdlms.codec import encode_apdu
from metra.dlms.xdlms.common import AttributeDescriptor
from metra.dlms.xdlms.notification import DataNotification, EventNotificationRequest
from metra.headend.keystore import AssociationKeys, KeyStore, MasterKey
from metra.headend.push import PushMessage, PushReceiver
from metra.store.events import SecurityCategory, meter_events, security_events

from .conftest import add_meter

TITLE = b"MTR\x00\x00\x00\x00\x07"
AT = datetime(2025, 3, 10, 4, 0, tzinfo=UTC)
ALARM = DataNotification(
    0x40000001,
    DateTime.from_datetime(AT),
    Structure([OctetString(b"MTR00000007"), DoubleLongUnsigned(0x0000_0100)]),
)


def _cipher(plain: bytes, pair: AssociationKeys, counter: int, title: bytes = TITLE) -> bytes:
    sc = SecurityControl(suite=0, authenticated=True, encrypted=True)
    apdu = cipher_apdu(
        plain,
        CipheringKind.GENERAL_GLO,
        sc,
        title,
        counter,
        pair.encryption_key,
        pair.authentication_key,
    )
    return WrapperFrame(1, 1, apdu).encode()


async def _send(port: int, *frames: bytes, source: str = "127.0.0.1") -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    for frame in frames:
        writer.write(frame)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()


def _setup(engine: Engine) -> tuple[KeyStore, AssociationKeys, UUID]:
    keystore = KeyStore(MasterKey.generate())
    pair = AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))
    with engine.begin() as conn:
        meter_id = add_meter(conn, "MTR00000007", TITLE)
        keystore.put_association(conn, meter_id, "wan", 1, pair, at=AT, by="t")
    return keystore, pair, meter_id


def test_col9_alarm_push_verified_stored_and_raised(engine: Engine) -> None:
    keystore, pair, meter_id = _setup(engine)
    raised: list[PushMessage] = []

    async def run() -> None:
        receiver = PushReceiver(engine, keystore, on_push=raised.append, now=lambda: AT)
        server = await receiver.start()
        port = server.sockets[0].getsockname()[1]
        event = EventNotificationRequest(
            None, AttributeDescriptor(1, bytes((0, 0, 97, 98, 0, 255)), 2), Unsigned(5)
        )
        await _send(
            port, _cipher(encode_apdu(ALARM), pair, 1), _cipher(encode_apdu(event), pair, 2)
        )
        server.close()
        await server.wait_closed()
        receiver.close()

    asyncio.run(run())
    assert [m.kind for m in raised] == ["data-notification", "event-notification"]
    assert raised[0].meter_id == meter_id and raised[0].raw_code == 0x100 and raised[0].at == AT
    with engine.connect() as conn:
        stored = meter_events(conn, meter_id, AT - timedelta(1), AT + timedelta(1))
        assert sorted(e.code for e in stored) == ["push.alarm", "push.event"]
        assert not security_events(conn, AT - timedelta(1), AT + timedelta(1))


def test_sec3_bad_pushes_raise_security_events_and_store_nothing(engine: Engine) -> None:
    keystore, pair, _ = _setup(engine)
    raised: list[PushMessage] = []
    wrong = AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))

    async def run() -> None:
        receiver = PushReceiver(engine, keystore, on_push=raised.append, now=lambda: AT)
        server = await receiver.start()
        port = server.sockets[0].getsockname()[1]
        good = _cipher(encode_apdu(ALARM), pair, 10)
        await _send(
            port,
            good,
            good,  # replay of the same counter
            _cipher(encode_apdu(ALARM), wrong, 11),  # wrong keys
            _cipher(encode_apdu(ALARM), pair, 12, title=b"XYZ\x00\x00\x00\x00\x01"),  # unknown
            WrapperFrame(1, 1, encode_apdu(ALARM)).encode(),  # plain
        )
        server.close()
        await server.wait_closed()
        receiver.close()

    asyncio.run(run())
    assert len(raised) == 1
    with engine.connect() as conn:
        events = security_events(conn, AT - timedelta(1), AT + timedelta(1))
    reasons = [e["details"]["reason"] for e in events]
    assert len(events) == 4, reasons
    assert any("replay" in r for r in reasons) and any("authentication" in r for r in reasons)
    assert any("unknown" in r for r in reasons) and any("plain" in r for r in reasons)
    assert all(pair.encryption_key.hex() not in str(e) for e in events)


def test_sec3_one_title_pushing_from_two_addresses_at_once(engine: Engine) -> None:
    keystore, pair, _ = _setup(engine)

    async def run() -> None:
        receiver = PushReceiver(engine, keystore, now=lambda: AT)
        server = await receiver.start()
        port = server.sockets[0].getsockname()[1]
        await asyncio.gather(
            _send(port, _cipher(encode_apdu(ALARM), pair, 1), source="127.0.0.1"),
            _send(port, _cipher(encode_apdu(ALARM), pair, 2), source="127.0.0.2"),
        )
        server.close()
        await server.wait_closed()
        receiver.close()

    asyncio.run(run())
    with engine.connect() as conn:
        (event,) = security_events(
            conn, AT - timedelta(1), AT + timedelta(1), SecurityCategory.COMPROMISE
        )
    assert event["details"]["addresses"] == ["127.0.0.1", "127.0.0.2"]


def test_col9_garbage_on_the_push_port_closes_only_that_connection(engine: Engine) -> None:
    keystore, pair, _ = _setup(engine)
    raised: list[PushMessage] = []

    async def run() -> None:
        receiver = PushReceiver(engine, keystore, on_push=raised.append, now=lambda: AT)
        server = await receiver.start()
        port = server.sockets[0].getsockname()[1]
        await _send(port, b"\xff" * 64, secrets.token_bytes(300))
        await _send(port, WrapperFrame(1, 1, b"\xdb\x08" + b"\x00" * 4).encode())
        await _send(port, _cipher(encode_apdu(ALARM), pair, 1))
        server.close()
        await server.wait_closed()
        receiver.close()

    asyncio.run(run())
    assert len(raised) == 1
