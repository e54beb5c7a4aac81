"""Client and server association machines tested against each other in memory.

Proves: association with no authentication, LLS, HLS-GMAC (mechanism 5) and HLS-ECDSA (mechanism 7)
(SEC-2, MTR-2); access rights per client association (MTR-2); block transfer both ways; replayed
and tampered APDUs refused and reported (SEC-2, MTR-3); signed commands verified (CMD-6).
"""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from support.dlms_model import DictModel, pump, rights

from metra.dlms.acse import Mechanism
from metra.dlms.client import (
    ActionDone,
    Associated,
    AssociationRejected,
    ClientAssociation,
    ClientSettings,
    ClientState,
    GetListResult,
    GetResult,
    Released,
    SetResult,
)
from metra.dlms.data import Array, DoubleLongUnsigned, OctetString, Structure, Unsigned
from metra.dlms.errors import ProtocolError, SecurityError
from metra.dlms.protection import SecurityContext
from metra.dlms.security import CipheringKind
from metra.dlms.server import (
    AssociationConfig,
    SecurityAlarm,
    SecurityEvent,
    ServerAssociated,
    ServerAssociation,
    ServerState,
)
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
)

CLOCK = bytes.fromhex("0000010000ff")
ENERGY = bytes.fromhex("0100010800ff")
PROFILE = bytes.fromhex("0100630100ff")
DISCONNECT = bytes.fromhex("0000600300ff")

CLIENT_TITLE = bytes.fromhex("4d4d4d0000000001")
SERVER_TITLE = bytes.fromhex("4d4d4d0000bc614e")


def make_model() -> DictModel:
    profile = Array(
        [
            Structure([OctetString(bytes(12)), Unsigned(0), DoubleLongUnsigned(i * 7)])
            for i in range(400)
        ]
    )
    return DictModel(
        values={
            (8, CLOCK): {1: OctetString(CLOCK), 2: OctetString(bytes(12))},
            (3, ENERGY): {1: OctetString(ENERGY), 2: DoubleLongUnsigned(123_456)},
            (7, PROFILE): {1: OctetString(PROFILE), 2: profile},
            (70, DISCONNECT): {1: OctetString(DISCONNECT), 2: True, 3: None},
        },
        rights_by_association={
            "public": rights(read=[1]),
            "management": rights(read=[1, 2, 3], write=[2], methods=[1, 2]),
        },
    )


def keys() -> tuple[bytes, bytes]:
    return secrets.token_bytes(16), secrets.token_bytes(16)


def client_and_server(
    client_settings: ClientSettings, configs: dict[int, AssociationConfig], sap: int
) -> tuple[ClientAssociation, ServerAssociation, DictModel]:
    model = make_model()
    return ClientAssociation(client_settings), ServerAssociation(configs, sap, model), model


def associate(client: ClientAssociation, server: ServerAssociation) -> object:
    client.associate()
    pump(client, server)
    return client.next_event()


def test_public_association_without_authentication_reads_only_what_it_may() -> None:
    # MTR-2: the Public client gets read-only access to what its rights list, nothing else.
    configs = {16: AssociationConfig(16, "public")}
    client, server, _ = client_and_server(ClientSettings(), configs, 16)
    event = associate(client, server)
    assert isinstance(event, Associated)
    assert server.state is ServerState.ASSOCIATED
    invoke = client.get(AttributeDescriptor(3, ENERGY, 1))
    pump(client, server)
    assert client.next_event() == GetResult(invoke, OctetString(ENERGY))
    invoke = client.get(AttributeDescriptor(3, ENERGY, 2))
    pump(client, server)
    assert client.next_event() == GetResult(invoke, DataAccessResult.READ_WRITE_DENIED)
    invoke = client.get(AttributeDescriptor(3, bytes.fromhex("0100020800ff"), 2))
    pump(client, server)
    assert client.next_event() == GetResult(invoke, DataAccessResult.OBJECT_UNDEFINED)
    invoke = client.set(AttributeDescriptor(70, DISCONNECT, 2), False)
    pump(client, server)
    assert client.next_event() == SetResult(invoke, DataAccessResult.READ_WRITE_DENIED)


def test_lls_password_checked() -> None:
    configs = {1: AssociationConfig(1, "management", Mechanism.LLS, password=b"s3cret-pass")}
    good = ClientSettings(mechanism=Mechanism.LLS, password=b"s3cret-pass")
    client, server, _ = client_and_server(good, configs, 1)
    assert isinstance(associate(client, server), Associated)

    bad = ClientSettings(mechanism=Mechanism.LLS, password=b"guess")
    client, server, _ = client_and_server(bad, configs, 1)
    event = associate(client, server)
    assert isinstance(event, AssociationRejected)
    assert "authentication" in event.reason.lower()
    alarm = server.next_event()
    assert isinstance(alarm, SecurityEvent)
    assert alarm.alarm is SecurityAlarm.AUTHENTICATION_FAILED


def test_mechanism_mismatch_is_refused() -> None:
    # MTR-2: a non-public association cannot be opened without authentication.
    configs = {1: AssociationConfig(1, "management", Mechanism.LLS, password=b"s3cret-pass")}
    client, server, _ = client_and_server(ClientSettings(), configs, 1)
    assert isinstance(associate(client, server), AssociationRejected)


def test_unknown_client_sap_is_refused() -> None:
    client, server, _ = client_and_server(ClientSettings(), {}, 99)
    assert isinstance(associate(client, server), AssociationRejected)
    event = server.next_event()
    assert isinstance(event, SecurityEvent) and event.alarm is SecurityAlarm.UNKNOWN_CLIENT


def gmac_pair(
    kind: CipheringKind = CipheringKind.GLO,
) -> tuple[ClientSettings, dict[int, AssociationConfig]]:
    ek, ak = keys()
    client = ClientSettings(
        mechanism=Mechanism.HLS_GMAC,
        security=SecurityContext(CLIENT_TITLE, ek, ak, kind=kind),
    )
    configs = {
        1: AssociationConfig(
            1, "management", Mechanism.HLS_GMAC, security=SecurityContext(SERVER_TITLE, ek, ak)
        )
    }
    return client, configs


@pytest.mark.parametrize("kind", [CipheringKind.GLO, CipheringKind.GENERAL_GLO])
def test_hls_gmac_mutual_authentication_and_ciphered_get(kind: CipheringKind) -> None:
    # SEC-2: HLS with AES-128 GCM, the meter authenticated at session start; the server answers
    # in the ciphering kind the client used.
    settings, configs = gmac_pair(kind)
    client, server, _ = client_and_server(settings, configs, 1)
    event = associate(client, server)
    assert isinstance(event, Associated), event
    assert event.server_system_title == SERVER_TITLE
    assert isinstance(server.next_event(), ServerAssociated)
    invoke = client.get(AttributeDescriptor(3, ENERGY, 2))
    sent = client.apdus_to_send()
    assert sent[0][0] == (0xC8 if kind is CipheringKind.GLO else 0xDB)
    assert ENERGY not in sent[0]  # encrypted: the logical name is not visible
    for apdu in sent:
        server.receive_apdu(apdu)
    answers = server.apdus_to_send()
    assert answers[0][0] == (0xCC if kind is CipheringKind.GLO else 0xDB)
    for apdu in answers:
        client.receive_apdu(apdu)
    assert client.next_event() == GetResult(invoke, DoubleLongUnsigned(123_456))


def test_hls_gmac_with_wrong_key_fails_and_is_reported() -> None:
    # SEC-3 / MTR-3: a client with the wrong key gets no access; the meter records the failure.
    _settings, configs = gmac_pair()
    ek, ak = keys()
    wrong = ClientSettings(
        mechanism=Mechanism.HLS_GMAC, security=SecurityContext(CLIENT_TITLE, ek, ak)
    )
    client, server, _ = client_and_server(wrong, configs, 1)
    event = associate(client, server)
    assert isinstance(event, AssociationRejected)
    assert server.state is not ServerState.ASSOCIATED
    alarms = []
    while (e := server.next_event()) is not None:
        alarms.append(e)
    assert any(
        isinstance(a, SecurityEvent) and a.alarm is SecurityAlarm.AUTHENTICATION_FAILED
        for a in alarms
    )


def test_hls_only_the_reply_method_is_served_before_authentication() -> None:
    settings, configs = gmac_pair()
    client, server, _ = client_and_server(settings, configs, 1)
    client.associate()
    server.receive_apdu(client.apdus_to_send()[0])
    assert server.state is ServerState.AUTHENTICATING
    # A GET sent before pass 3 (crafted with a second client that shares the keys) is refused.
    sneaky = ClientAssociation(settings)
    sneaky.state = ClientState.ASSOCIATED
    sneaky.protection.peer_system_title = SERVER_TITLE
    sneaky.protection.counter.next()
    sneaky.get(AttributeDescriptor(3, ENERGY, 2))
    server.apdus_to_send()
    server.receive_apdu(sneaky.apdus_to_send()[0])
    answer = server.apdus_to_send()[0]
    assert answer[0] == 0xD8  # exception-response, no data
    assert server.state is ServerState.AUTHENTICATING


def test_replayed_apdu_is_refused_and_reported() -> None:
    # SEC-2 / MTR-3: invocation counters reject a replay; the meter journals it.
    settings, configs = gmac_pair()
    client, server, _ = client_and_server(settings, configs, 1)
    associate(client, server)
    server.next_event()
    client.get(AttributeDescriptor(3, ENERGY, 2))
    request = client.apdus_to_send()[0]
    server.receive_apdu(request)
    server.apdus_to_send()
    server.receive_apdu(request)  # the same bytes again
    answer = server.apdus_to_send()
    assert answer and answer[0][0] == 0xD8
    event = server.next_event()
    assert isinstance(event, SecurityEvent) and event.alarm is SecurityAlarm.REPLAY


def test_tampered_apdu_is_refused() -> None:
    settings, configs = gmac_pair()
    client, server, _ = client_and_server(settings, configs, 1)
    associate(client, server)
    server.next_event()
    client.get(AttributeDescriptor(3, ENERGY, 2))
    request = bytearray(client.apdus_to_send()[0])
    request[-3] ^= 0x01
    server.receive_apdu(bytes(request))
    assert server.apdus_to_send()[0][0] == 0xD8
    event = server.next_event()
    assert isinstance(event, SecurityEvent) and event.alarm is SecurityAlarm.DECIPHERING_FAILED


def test_plaintext_request_on_ciphered_association_is_refused() -> None:
    settings, configs = gmac_pair()
    client, server, _ = client_and_server(settings, configs, 1)
    associate(client, server)
    server.next_event()
    plain = bytes.fromhex("c001c100030100010800ff0200")
    server.receive_apdu(plain)
    assert server.apdus_to_send()[0][0] == 0xD8
    event = server.next_event()
    assert isinstance(event, SecurityEvent) and event.alarm is SecurityAlarm.PLAINTEXT_REFUSED


def test_long_get_travels_in_blocks() -> None:
    # The 400-row profile exceeds the client's 512-byte PDU: the server sends blocks, the client
    # asks for each next one by itself and hands back one result.
    configs = {16: AssociationConfig(16, "public")}
    model = make_model()
    model.rights_by_association["public"] = rights(read=[1, 2])
    client = ClientAssociation(ClientSettings(max_receive_pdu_size=512))
    server = ServerAssociation(configs, 16, model)
    associate(client, server)
    invoke = client.get(AttributeDescriptor(7, PROFILE, 2))
    pump(client, server)
    event = client.next_event()
    assert isinstance(event, GetResult) and event.invoke_id == invoke
    assert event.result == model.values[(7, PROFILE)][2]


def test_long_set_and_action_travel_in_blocks() -> None:
    ek, ak = keys()
    settings = ClientSettings(
        mechanism=Mechanism.HLS_GMAC, security=SecurityContext(CLIENT_TITLE, ek, ak)
    )
    configs = {
        1: AssociationConfig(
            1,
            "management",
            Mechanism.HLS_GMAC,
            security=SecurityContext(SERVER_TITLE, ek, ak),
            max_receive_pdu_size=256,
        )
    }
    client, server, model = client_and_server(settings, configs, 1)
    associate(client, server)
    big = OctetString(bytes(range(256)) * 8)
    invoke = client.set(AttributeDescriptor(70, DISCONNECT, 2), big)
    pump(client, server)
    assert client.next_event() == SetResult(invoke, DataAccessResult.SUCCESS)
    assert model.values[(70, DISCONNECT)][2] == big
    invoke = client.action(MethodDescriptor(70, DISCONNECT, 1), big)
    pump(client, server)
    assert client.next_event() == ActionDone(invoke, ActionResult.SUCCESS, None)
    assert model.calls[-1][2] == big


def test_get_with_list() -> None:
    configs = {16: AssociationConfig(16, "public")}
    client, server, _ = client_and_server(ClientSettings(), configs, 16)
    associate(client, server)
    invoke = client.get_with_list(
        [(AttributeDescriptor(3, ENERGY, 1), None), (AttributeDescriptor(3, ENERGY, 2), None)]
    )
    pump(client, server)
    assert client.next_event() == GetListResult(
        invoke, [OctetString(ENERGY), DataAccessResult.READ_WRITE_DENIED]
    )


def test_release() -> None:
    configs = {16: AssociationConfig(16, "public")}
    client, server, _ = client_and_server(ClientSettings(), configs, 16)
    associate(client, server)
    client.release()
    pump(client, server)
    assert isinstance(client.next_event(), Released)
    assert server.state is ServerState.IDLE
    with pytest.raises(ProtocolError):
        client.get(AttributeDescriptor(3, ENERGY, 1))


def suite1_pair() -> tuple[ClientSettings, dict[int, AssociationConfig]]:
    ek, ak = keys()
    client_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    client = ClientSettings(
        mechanism=Mechanism.HLS_ECDSA,
        security=SecurityContext(
            CLIENT_TITLE,
            ek,
            ak,
            suite=1,
            signing_key=client_key,
            peer_signing_key=server_key.public_key(),
        ),
    )
    configs = {
        1: AssociationConfig(
            1,
            "management",
            Mechanism.HLS_ECDSA,
            security=SecurityContext(
                SERVER_TITLE,
                ek,
                ak,
                suite=1,
                signing_key=server_key,
                peer_signing_key=client_key.public_key(),
            ),
        )
    }
    return client, configs


def test_hls_ecdsa_and_signed_command() -> None:
    # SEC-2 (HLS-ECDSA, mechanism 7) and CMD-6: a signed disconnect-control action is verified by
    # the server and flagged as signed for the meter's policy.
    settings, configs = suite1_pair()
    client, server, model = client_and_server(settings, configs, 1)
    event = associate(client, server)
    assert isinstance(event, Associated), event
    invoke = client.action(MethodDescriptor(70, DISCONNECT, 1), None, signed=True)
    sent = client.apdus_to_send()
    assert sent[0][0] == 0xDF  # general-signing
    for apdu in sent:
        server.receive_apdu(apdu)
    for apdu in server.apdus_to_send():
        client.receive_apdu(apdu)
    assert client.next_event() == ActionDone(invoke, ActionResult.SUCCESS, None)
    assert model.calls[-1][3] is True


def test_tampered_signed_command_is_refused() -> None:
    # CMD-6: a signed command altered in transit never reaches the meter model.
    settings, configs = suite1_pair()
    client, server, model = client_and_server(settings, configs, 1)
    associate(client, server)
    while server.next_event() is not None:
        pass
    client.action(MethodDescriptor(70, DISCONNECT, 1), None, signed=True)
    signed = bytearray(client.apdus_to_send()[0])
    signed[10] ^= 0xFF
    server.receive_apdu(bytes(signed))
    assert server.apdus_to_send()[0][0] == 0xD8
    assert model.calls == []
    alarms = [e.alarm for e in iter(server.next_event, None) if isinstance(e, SecurityEvent)]
    assert SecurityAlarm.SIGNATURE_INVALID in alarms


def test_hls_ecdsa_with_wrong_client_key_fails() -> None:
    settings, configs = suite1_pair()
    assert settings.security is not None
    impostor = ClientSettings(
        mechanism=Mechanism.HLS_ECDSA,
        security=SecurityContext(
            CLIENT_TITLE,
            settings.security.encryption_key,
            settings.security.authentication_key,
            suite=1,
            signing_key=ec.generate_private_key(ec.SECP256R1()),
            peer_signing_key=settings.security.peer_signing_key,
        ),
    )
    client, server, _ = client_and_server(impostor, configs, 1)
    assert isinstance(associate(client, server), AssociationRejected)


def test_settings_refuse_missing_secrets() -> None:
    # SEC-7: no default passwords or keys: an LLS or HLS association cannot be set up without one.
    with pytest.raises(SecurityError):
        ClientSettings(mechanism=Mechanism.LLS)
    with pytest.raises(SecurityError):
        ClientSettings(mechanism=Mechanism.HLS_GMAC)
    with pytest.raises(SecurityError):
        AssociationConfig(1, "management", Mechanism.LLS)
