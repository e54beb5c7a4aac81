"""Random and mutated APDUs thrown at both association machines.

The server must never raise (it answers or drops and reports); the client must end in a result or
a typed DLMS error. Each run is bounded in time (MTR-3: invalid commands are ignored, DoS-proof).
"""

from __future__ import annotations

import contextlib
import random
import secrets
import time

from support.dlms_model import DictModel, pump, rights

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientAssociation, ClientSettings
from metra.dlms.data import DoubleLongUnsigned, OctetString
from metra.dlms.errors import DlmsError
from metra.dlms.protection import SecurityContext
from metra.dlms.server import AssociationConfig, ServerAssociation
from metra.dlms.xdlms.common import AttributeDescriptor

ENERGY = bytes.fromhex("0100010800ff")
CLIENT_TITLE = bytes.fromhex("4d4d4d0000000001")
SERVER_TITLE = bytes.fromhex("4d4d4d0000bc614e")


def _pair() -> tuple[ClientAssociation, ServerAssociation, list[bytes]]:
    """An associated HLS-GMAC pair plus a transcript of genuine APDUs to mutate."""
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    model = DictModel(
        values={(3, ENERGY): {1: OctetString(ENERGY), 2: DoubleLongUnsigned(5)}},
        rights_by_association={"management": rights(read=[1, 2], write=[2], methods=[1])},
    )
    configs = {
        1: AssociationConfig(
            1, "management", Mechanism.HLS_GMAC, security=SecurityContext(SERVER_TITLE, ek, ak)
        )
    }
    client = ClientAssociation(
        ClientSettings(mechanism=Mechanism.HLS_GMAC, security=SecurityContext(CLIENT_TITLE, ek, ak))
    )
    server = ServerAssociation(configs, 1, model)
    transcript: list[bytes] = []
    client.associate()
    for _ in range(4):
        for apdu in client.apdus_to_send():
            transcript.append(apdu)
            server.receive_apdu(apdu)
        for apdu in server.apdus_to_send():
            transcript.append(apdu)
            client.receive_apdu(apdu)
    client.next_event()
    client.get(AttributeDescriptor(3, ENERGY, 2))
    transcript.extend(client.apdus_to_send())
    return client, server, transcript


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            break
        pos = rng.randrange(len(buf))
        op = rng.random()
        if op < 0.5:
            buf[pos] = rng.randrange(256)
        elif op < 0.75:
            del buf[pos:]
        else:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 6))
    return bytes(buf)


def test_server_survives_random_and_mutated_apdus() -> None:
    rng = random.Random(62056)
    _, server, transcript = _pair()
    started = time.perf_counter()
    for i in range(3000):
        apdu = (
            rng.randbytes(rng.randint(0, 64))
            if i % 3 == 0
            else _mutate(rng, rng.choice(transcript))
        )
        server.receive_apdu(apdu)  # must not raise
        server.apdus_to_send()
        while server.next_event() is not None:
            pass
    assert time.perf_counter() - started < 30


def test_client_ends_in_result_or_typed_error() -> None:
    rng = random.Random(4711)
    client, _, transcript = _pair()
    started = time.perf_counter()
    for i in range(3000):
        apdu = (
            rng.randbytes(rng.randint(0, 64))
            if i % 3 == 0
            else _mutate(rng, rng.choice(transcript))
        )
        with contextlib.suppress(DlmsError):
            client.receive_apdu(apdu)
        client.apdus_to_send()
        while client.next_event() is not None:
            pass
    assert time.perf_counter() - started < 30


def test_machines_still_work_after_garbage() -> None:
    client, server, _ = _pair()
    for junk in (b"", b"\x00", b"\xc0\x01", b"\x60\x80", b"\xdb\x08" + bytes(40)):
        server.receive_apdu(junk)
    server.apdus_to_send()
    invoke = client.get(AttributeDescriptor(3, ENERGY, 2))
    pump(client, server)
    event = client.next_event()
    assert getattr(event, "invoke_id", None) == invoke
    assert getattr(event, "result", None) == 5
